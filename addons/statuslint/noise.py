"""Noise control: which rules run (``--select``/``--ignore``), which traffic counts
(``--api-only``), which findings a team has
accepted (``suppress:`` in the policy, each with a reason), and which findings are not new
(a baseline file of today's findings).

A suppressed or known finding leaves every output and the exit code; what was held back
is counted, so the summary still says so. Keys are (rule, method, host, endpoint
template): they survive new ids in paths and traffic in another order.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .endpoints import split_endpoint
from .findings import Finding
from .yamlsource import LineDict, LineList, PolicyError

if TYPE_CHECKING:
    from .conditions import ConditionCompiler
    from .policy import Policy

SUPPRESS_KEYS = ("rule", "reason", "endpoint", "hosts", "paths", "methods")
BASELINE_FORMAT = "statuslint-baseline"
BASELINE_VERSION = 1

# (rule, method, host, endpoint template); API-level findings have the template "*".
Key = tuple[str, str, str, str]


def finding_key(rule: str, endpoint: str) -> Key:
    method, host, template = split_endpoint(endpoint)
    return (rule, method, host, template)


# Rule selection ---------------------------------------------------------------------------


def parse_rule_ids(values: Iterable[str] | None) -> list[str]:
    """Rule ids from repeatable, comma-separated options (``--select a,b --select c``)."""
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def select_rules(policy: Policy, select: Sequence[str], ignore: Sequence[str], option: str = "--select") -> Policy:
    """The policy with only the selected rules enabled (all when ``select`` is empty) and
    the ignored ones disabled. ValueError, with a did-you-mean, for an id the policy lacks."""
    if not select and not ignore:
        return policy
    known = [r.id for r in policy.rules]
    names = (option, option.replace("select", "ignore"))
    for ids, name in ((select, names[0]), (ignore, names[1])):
        for rule_id in ids:
            if rule_id not in known:
                close = difflib.get_close_matches(rule_id, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else " (see 'statuslint rules' for the list)"
                raise ValueError(f"{name}: no rule '{rule_id}' in policy {policy.name}{hint}")
    chosen = set(select)
    dropped = set(ignore)
    rules = [
        r if (not chosen or r.id in chosen) and r.id not in dropped else replace(r, enabled=False) for r in policy.rules
    ]
    return replace(policy, rules=rules)


def api_only(policy: Policy) -> Policy:
    """The policy with its scope narrowed to API traffic (``--api-only``)."""
    return replace(policy, scope=replace(policy.scope, api_only=True))


def narrowed(
    policy: Policy, select: Sequence[str], ignore: Sequence[str], only_api: bool, option: str = "--select"
) -> Policy:
    """The policy as --select, --ignore and --api-only (or their options) make it: what
    the CLI, the addon and audit workers all run. ValueError as ``select_rules``."""
    policy = select_rules(policy, select, ignore, option=option)
    return api_only(policy) if only_api else policy


# Suppressions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Suppression:
    rule: str
    reason: str
    origin: str  # file:line of the entry
    endpoint: str | None = None
    hosts: tuple[re.Pattern[str], ...] = ()
    paths: tuple[re.Pattern[str], ...] = ()
    methods: frozenset[str] | None = None

    def matches(self, finding: Finding, endpoint: str) -> bool:
        if finding.rule != self.rule:
            return False
        if self.endpoint is not None and " ".join(endpoint.split()) != self.endpoint:
            return False
        method, host, template = split_endpoint(endpoint)
        if self.methods is not None and method not in self.methods:
            return False
        if self.hosts and not any(g.match(host) or g.match(_bare_host(host)) for g in self.hosts):
            return False
        if self.paths:
            candidates = [template] if template.startswith("/") else []
            if finding.flow is not None:
                candidates.append(_url_path(finding.flow.url))
            if not any(g.match(p) for g in self.paths for p in candidates):
                return False
        return True

    def to_json(self, count: int) -> dict[str, Any]:
        return {"rule": self.rule, "reason": self.reason, "origin": self.origin, "count": count, "stale": not count}


def _bare_host(authority: str) -> str:
    if authority.startswith("["):
        return authority.split("]", 1)[0] + "]"
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def _url_path(url: str) -> str:
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    path = rest[slash:] if slash >= 0 else "/"
    return path.split("?", 1)[0].split("#", 1)[0]


def parse_suppressions(
    node: Any, line: int, source: str, known: Iterable[str], compiler: ConditionCompiler
) -> tuple[Suppression, ...]:
    """The ``suppress:`` list of a policy; every error names file:line."""
    if not isinstance(node, LineList):
        raise PolicyError(source, line, "'suppress' takes a list of {rule, reason, endpoint/hosts/paths/methods}")
    known = list(known)
    out: list[Suppression] = []
    for i, entry in enumerate(node):
        eline = node.line_of(i)
        if not isinstance(entry, LineDict):
            raise PolicyError(source, eline, "each suppression must be a mapping with 'rule' and 'reason'")
        for key in entry:
            if key not in SUPPRESS_KEYS:
                close = difflib.get_close_matches(key, SUPPRESS_KEYS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise PolicyError(
                    source,
                    entry.line_of(key),
                    f"unknown key '{key}' in suppression{hint} (allowed: {', '.join(SUPPRESS_KEYS)})",
                )
        rule = entry.get("rule")
        if not isinstance(rule, str) or not rule:
            raise PolicyError(source, entry.line, "suppression without a 'rule' id")
        if rule not in known:
            close = difflib.get_close_matches(rule, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise PolicyError(source, entry.line_of("rule"), f"suppression for unknown rule id '{rule}'{hint}")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise PolicyError(
                source, entry.line_of("reason"), f"suppression of '{rule}' needs a 'reason': say why it is accepted"
            )
        endpoint = entry.get("endpoint")
        if endpoint is not None:
            if not isinstance(endpoint, str) or len(endpoint.split()) != 3:
                raise PolicyError(
                    source,
                    entry.line_of("endpoint"),
                    "'endpoint' takes an endpoint as the report prints it: 'METHOD host[:port] /path/{id}'",
                )
            endpoint = " ".join(endpoint.split())
        hosts = (
            compiler.globs(entry["hosts"], entry.line_of("hosts"), "suppress.hosts", ignore_case=True)
            if "hosts" in entry
            else ()
        )
        paths = (
            compiler.globs(entry["paths"], entry.line_of("paths"), "suppress.paths", ignore_case=False)
            if "paths" in entry
            else ()
        )
        methods = compiler.methods(entry["methods"], entry.line_of("methods")) if "methods" in entry else None
        out.append(Suppression(rule, reason.strip(), f"{source}:{eline}", endpoint, hosts, paths, methods))
    return tuple(out)


# Baselines --------------------------------------------------------------------------------


class BaselineError(Exception):
    """A baseline file that cannot be read; ``str()`` is the one-line message."""


@dataclass(frozen=True)
class Baseline:
    source: str
    counts: dict[Key, int]

    @classmethod
    def load(cls, path: str) -> Baseline:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise BaselineError(f"{path}: cannot read baseline: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise BaselineError(f"{path}: baseline is not UTF-8 text") from None
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise BaselineError(f"{path}: baseline is not JSON: {e}") from None
        if not isinstance(doc, dict) or doc.get("format") != BASELINE_FORMAT:
            raise BaselineError(f"{path}: not a statuslint baseline (write one with --write-baseline)")
        if doc.get("version") != BASELINE_VERSION:
            raise BaselineError(f"{path}: unsupported baseline version {doc.get('version')!r}")
        entries = doc.get("findings")
        if not isinstance(entries, list):
            raise BaselineError(f"{path}: 'findings' must be a list")
        counts: dict[Key, int] = {}
        for i, entry in enumerate(entries):
            try:
                key = (entry["rule"], entry["method"], entry["host"], entry["endpoint"])
                count = entry.get("count", 1)
            except (TypeError, KeyError) as e:
                raise BaselineError(f"{path}: findings[{i}]: missing field {e}") from None
            if not all(isinstance(k, str) for k in key) or not isinstance(count, int):
                raise BaselineError(f"{path}: findings[{i}]: rule, method, host and endpoint must be strings")
            counts[key] = counts.get(key, 0) + count
        return cls(path, counts)


def render_baseline(counts: Counter[Key]) -> str:
    """A baseline file: sorted, one finding key per entry, for teams to commit and diff."""
    entries = [
        {"rule": rule, "method": method, "host": host, "endpoint": template, "count": n}
        for (rule, method, host, template), n in sorted(counts.items())
    ]
    # One entry per line: a fixed finding is a removed line in the team's diff.
    lines = ",\n".join("    " + json.dumps(e, ensure_ascii=False) for e in entries)
    head = json.dumps({"format": BASELINE_FORMAT, "version": BASELINE_VERSION})[:-1]
    return f'{head}, "findings": [\n{lines}\n]}}\n' if entries else f'{head}, "findings": []}}\n'


# The gate every finding passes -------------------------------------------------------------


class Gate:
    """Decides, per finding, whether it is reported, suppressed or known (in the baseline),
    and counts what it held back. ``keys`` counts every unsuppressed finding by key, for
    --write-baseline."""

    def __init__(self, suppressions: Sequence[Suppression] = (), baseline: Baseline | None = None) -> None:
        self.suppressions = tuple(suppressions)
        self.baseline = baseline
        # Keys are counted only for --write-baseline: a proxy running for days should not
        # keep one entry per (rule, endpoint) it has ever seen.
        self.record_keys = False
        self.suppressed: Counter[int] = Counter()  # suppression index -> findings held back
        self.known = 0
        self.seen_known: set[Key] = set()  # bounded by the baseline's size
        self.keys: Counter[Key] = Counter()

    @property
    def active(self) -> bool:
        return bool(self.suppressions) or self.baseline is not None

    def suppression_for(self, finding: Finding, endpoint: str) -> int | None:
        for i, s in enumerate(self.suppressions):
            if s.matches(finding, endpoint):
                return i
        return None

    def is_known(self, finding: Finding, endpoint: str) -> bool:
        return self.baseline is not None and finding_key(finding.rule, endpoint) in self.baseline.counts

    def note(self, key: Key) -> None:
        if self.record_keys:
            self.keys[key] += 1

    def admit(self, finding: Finding, endpoint: str) -> bool:
        """Whether to report a flow-level finding; counts it otherwise."""
        i = self.suppression_for(finding, endpoint)
        if i is not None:
            self.suppressed[i] += 1
            return False
        key = finding_key(finding.rule, endpoint)
        self.note(key)
        if self.baseline is not None and key in self.baseline.counts:
            self.known += 1
            self.seen_known.add(key)
            return False
        return True
