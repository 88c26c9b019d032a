"""Policies: loading, validating and merging the YAML that says which rules apply.

A policy file may ``extends`` another (``default`` or a path), change rules it
inherits through ``overrides``, narrow the traffic it audits with ``scope``, and add
rules of its own. Everything is checked at load time; a flow never meets a half-built
policy.
"""

from __future__ import annotations

import difflib
import re
import string
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from .conditions import ALWAYS, ConditionCompiler, Predicate, StatusSet
from .endpoints import PathTemplate
from .evidence import LooksAt, looks_at
from .findings import Severity
from .flowview import DEFAULT_LIMITS, FlowView, Undecidable, ValueLimits
from .noise import Suppression, parse_suppressions
from .redact import RedactConfig, redact_path
from .stateful import CHECKS
from .traffic import non_api_kind
from .urls import printable
from .yamlsource import LineDict, LineList, PolicyError, load_yaml

BUILTIN_NAME = "default"

POLICY_KEYS = (
    "name",
    "description",
    "extends",
    "limits",
    "endpoints",
    "scope",
    "overrides",
    "rules",
    "suppress",
    "redact",
)
REDACT_KEYS = ("headers", "query", "json_fields")
RULE_KEYS = (
    "id",
    "severity",
    "summary",
    "why",
    "example",
    "fix",
    "reference",
    "enabled",
    "exclude_paths",
    "message",
    "messages",
    "when",
    "require",
    "check",
)
DOC_KEYS = ("why", "example", "fix", "reference")
OVERRIDE_KEYS = ("severity", "enabled", "exclude_paths")
SCOPE_KEYS = ("include", "exclude", "api_only")
SCOPE_FILTER_KEYS = ("hosts", "paths", "methods")
MESSAGE_FIELDS = ("method", "status", "path", "host")
# A message is formatted for every finding: a format spec may pad, within reason, and
# nothing else (``{path:>2000000000}`` would allocate 2 GB per finding).
MESSAGE_SPEC_RE = re.compile(r"[<>^]?[0-9]{0,2}")
# limits: fields, with the largest value each may take (a bound on the bound).
LIMIT_MAXIMA = {"max_header_value": 1024 * 1024, "max_body": 64 * 1024 * 1024, "max_json_depth": 512}
RULE_ID_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def builtin_policy_path() -> Path:
    """policies/default.yaml: inside the package once built as a wheel (pyproject maps
    policies/ to statuslint/policies), beside it in a source checkout or editable install."""
    here = Path(__file__).resolve().parent
    packaged = here / "policies" / "default.yaml"
    return packaged if packaged.is_file() else here.parents[1] / "policies" / "default.yaml"


@dataclass
class Rule:
    id: str
    severity: Severity
    summary: str
    why: str
    example: str
    fix: str
    reference: str
    enabled: bool
    message: str
    when_yaml: Any
    require_yaml: Any
    origin: str  # file:line where the rule is defined
    # Compiled. The engine indexes rules by the status and method parts of ``when``;
    # ``when_rest`` is whatever else ``when`` says.
    statuses: StatusSet | None
    methods: frozenset[str] | None
    when_rest: Predicate
    require: Predicate | None
    exclude_paths: tuple[re.Pattern[str], ...] = ()
    # A stateful check implemented in Python (statuslint.stateful) instead of when/require.
    check: str | None = None
    # ``messages``: (condition, message) pairs tried in order before ``message``.
    message_cases: tuple[tuple[Predicate, str], ...] = ()
    # Headers ``when`` requires present, as ("request"|"response", lower-cased name):
    # the engine leaves the rule out of a flow without one, unasked.
    needs_headers: frozenset[tuple[str, str]] = frozenset()

    @cached_property
    def looks_at(self) -> LooksAt:
        """The headers and bodies the condition reads, for a finding's evidence: read off
        the YAML once per rule, not once per finding."""
        return looks_at(self.when_yaml, self.require_yaml)

    def applies_to(self, status: int, method: str) -> bool:
        return (self.statuses is None or status in self.statuses) and (self.methods is None or method in self.methods)

    def excludes(self, path: str) -> bool:
        return any(g.match(path) for g in self.exclude_paths)

    def condition_text(self) -> str:
        """``when``/``require`` (or ``check``) as YAML, as the rule's documentation shows them."""
        pairs = (("when", self.when_yaml), ("require", self.require_yaml), ("check", self.check))
        condition = {k: v for k, v in pairs if v is not None}
        return yaml.safe_dump(condition, sort_keys=False, allow_unicode=True).rstrip()

    def needs(self) -> str:
        """What traffic the rule needs before it can say anything (for rule coverage)."""
        if self.check is not None:
            return CHECKS[self.check]
        return _describe_when(self.methods, self.when_yaml)

    def format_message(self, view: FlowView) -> str:
        path = printable(redact_path(view.path))
        return self._message_for(view).format(
            method=view.method, status=view.status, path=path, host=printable(view.host)
        )

    def _message_for(self, view: FlowView) -> str:
        for condition, message in self.message_cases:
            try:
                if condition(view):
                    return message
            except Undecidable:
                continue
        return self.message


@dataclass
class Scope:
    include: list[Predicate] = field(default_factory=list)
    exclude: list[Predicate] = field(default_factory=list)
    api_only: bool = False  # leave out images, scripts, styles, fonts, pages, beacons

    def admits(self, view: FlowView) -> bool:
        return self.rejects(view) is None

    def rejects(self, view: FlowView) -> str | None:
        """Why a flow is out of scope ("scope" or the kind of non-API traffic), or None."""
        if (self.include and not all(p(view) for p in self.include)) or (
            self.exclude and any(p(view) for p in self.exclude)
        ):
            return "scope"
        if self.api_only:
            return non_api_kind(view)
        return None

    def extend(self, other: Scope) -> Scope:
        return Scope(self.include + other.include, self.exclude + other.exclude, self.api_only or other.api_only)


@dataclass
class Policy:
    name: str
    source: str
    description: str
    rules: list[Rule]
    scope: Scope
    endpoints: tuple[PathTemplate, ...] = ()
    suppressions: tuple[Suppression, ...] = ()
    # Names whose values are masked in every output, beyond the built-in lists.
    redact: RedactConfig = field(default_factory=RedactConfig)
    limits: ValueLimits = DEFAULT_LIMITS

    @property
    def enabled_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy file, or the built-in policy for None / ``default``."""
    if path is None or str(path) == BUILTIN_NAME:
        path = builtin_policy_path()
        return _load(path, str(path), ())
    p = Path(path)
    return _load(p, str(path), ())


def _load(path: Path, source: str, chain: tuple[Path, ...]) -> Policy:
    resolved = path.resolve()
    if resolved in chain:
        raise PolicyError(source, None, "policy extends itself (cycle through 'extends')")
    if not path.is_file():
        raise PolicyError(source, None, "policy file not found" if not path.exists() else "policy path is not a file")
    doc = load_yaml(path, source, trusted=resolved == builtin_policy_path().resolve())
    if doc is None:
        raise PolicyError(source, 1, "policy is empty")
    if not isinstance(doc, LineDict):
        raise PolicyError(source, getattr(doc, "line", 1), "a policy must be a mapping at the top level")
    _check_keys(doc, POLICY_KEYS, source, "policy")
    compiler = ConditionCompiler(source)

    parent: Policy | None = None
    if "extends" in doc:
        ext = doc["extends"]
        line = doc.line_of("extends")
        if not isinstance(ext, str) or not ext:
            raise PolicyError(source, line, "'extends' takes 'default' or a path to a policy file")
        # A relative path is relative to the extending file (an absolute one stays as is).
        parent_path = builtin_policy_path() if ext == BUILTIN_NAME else path.parent / ext
        parent_source = str(parent_path)
        try:
            parent = _load(parent_path, parent_source, (*chain, resolved))
        except PolicyError as e:
            if e.line is None and e.source == parent_source:
                raise PolicyError(source, line, f"cannot extend '{ext}': {e.message}") from e
            raise

    limits = _limits(doc, parent.limits if parent else DEFAULT_LIMITS, source)
    name = _string(doc, "name", source, default=path.stem)
    description = _string(doc, "description", source, default="")
    scope = _scope(doc, compiler, source)
    endpoints = _endpoints(doc, source)
    redact = _redact(doc, source)

    rules: list[Rule] = list(parent.rules) if parent else []
    known = {r.id: i for i, r in enumerate(rules)}
    rules_node = doc.get("rules", LineList())
    if not isinstance(rules_node, LineList):
        raise PolicyError(source, doc.line_of("rules"), "'rules' takes a list of rules")
    for i, node in enumerate(rules_node):
        rule = _rule(node, rules_node.line_of(i), compiler, source)
        if rule.id in known:
            where = rules[known[rule.id]].origin
            raise PolicyError(
                source,
                rules_node.line_of(i),
                f"rule '{rule.id}' is already defined at {where}: change it with 'overrides', or give yours another id",
            )
        known[rule.id] = len(rules)
        rules.append(rule)

    overrides = doc.get("overrides", LineDict())
    if not isinstance(overrides, LineDict):
        raise PolicyError(source, doc.line_of("overrides"), "'overrides' takes a mapping of rule id to changes")
    for rule_id, change in overrides.items():
        line = overrides.line_of(rule_id)
        if rule_id not in known:
            raise PolicyError(source, line, f"override for unknown rule id '{rule_id}'{_suggest(rule_id, known)}")
        idx = known[rule_id]
        rules[idx] = _override(rules[idx], change, line, compiler, source)

    suppressions = (
        parse_suppressions(doc["suppress"], doc.line_of("suppress"), source, known, compiler)
        if "suppress" in doc
        else ()
    )
    if parent:
        suppressions = parent.suppressions + suppressions
        scope = parent.scope.extend(scope)
        # This policy's templates are tried first: the more specific file wins.
        endpoints += tuple(t for t in parent.endpoints if t.text not in {e.text for e in endpoints})
        redact = parent.redact.extend(redact)
    return Policy(
        name=name,
        source=source,
        description=description,
        rules=rules,
        scope=scope,
        endpoints=endpoints,
        suppressions=suppressions,
        redact=redact,
        limits=limits,
    )


def _redact(doc: LineDict, source: str) -> RedactConfig:
    """``redact: {headers: [...], query: [...], json_fields: [...]}``: names (``*`` as a
    wildcard, any case) whose values are masked, added to the built-in lists."""
    node = doc.get("redact")
    if node is None:
        return RedactConfig()
    if not isinstance(node, LineDict):
        raise PolicyError(
            source,
            doc.line_of("redact"),
            "'redact' takes a mapping of headers, query and/or json_fields to lists of names",
        )
    _check_keys(node, REDACT_KEYS, source, "redact")
    lists: dict[str, tuple[str, ...]] = {}
    for key in REDACT_KEYS:
        if key not in node:
            continue
        names = node[key]
        if not isinstance(names, LineList):
            raise PolicyError(source, node.line_of(key), f"'redact.{key}' takes a list of names")
        for i, name in enumerate(names):
            if not isinstance(name, str) or not name.strip():
                raise PolicyError(
                    source, names.line_of(i), f"'redact.{key}' entries must be non-empty names, not {name!r}"
                )
            if any(c.isspace() for c in name.strip()):
                raise PolicyError(source, names.line_of(i), f"'redact.{key}': a name has no spaces: {name!r}")
        lists[key] = tuple(n.strip() for n in names)
    return RedactConfig(**lists)


def _limits(doc: LineDict, inherited: ValueLimits, source: str) -> ValueLimits:
    """``limits:`` over the parent's (or the defaults): only the fields given change."""
    node = doc.get("limits")
    if node is None:
        return inherited
    if not isinstance(node, LineDict):
        raise PolicyError(source, doc.line_of("limits"), f"'limits' takes a mapping of {', '.join(LIMIT_MAXIMA)}")
    _check_keys(node, tuple(LIMIT_MAXIMA), source, "limits")
    changes: dict[str, int] = {}
    for key, value in node.items():
        top = LIMIT_MAXIMA[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise PolicyError(source, node.line_of(key), f"limits.{key} takes a whole number from 1 to {top}")
        changes[key] = value
    return replace(inherited, **changes)


def _endpoints(doc: LineDict, source: str) -> tuple[PathTemplate, ...]:
    node = doc.get("endpoints")
    if node is None:
        return ()
    if not isinstance(node, LineList):
        raise PolicyError(
            source, doc.line_of("endpoints"), "'endpoints' takes a list of path templates like /v1/orgs/{org}"
        )
    templates: list[PathTemplate] = []
    for i, text in enumerate(node):
        line = node.line_of(i)
        if not isinstance(text, str):
            raise PolicyError(source, line, f"an endpoint template must be a string, not {type(text).__name__}")
        try:
            template = PathTemplate.parse(text.strip())
        except ValueError as e:
            raise PolicyError(source, line, str(e)) from None
        if any(t.text == template.text for t in templates):
            raise PolicyError(source, line, f"endpoint template {template.text!r} is listed twice")
        templates.append(template)
    return tuple(templates)


def _rule(node: Any, line: int, compiler: ConditionCompiler, source: str) -> Rule:
    if not isinstance(node, LineDict):
        raise PolicyError(source, line, "each rule must be a mapping with at least 'id', 'severity' and 'summary'")
    rule_id = node.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise PolicyError(source, node.line, "rule without an 'id'")
    if not RULE_ID_RE.match(rule_id):
        raise PolicyError(
            source,
            node.line_of("id"),
            f"rule id '{rule_id}' must be lower-case words joined by '-' (like created-without-location)",
        )
    _check_keys(node, RULE_KEYS, source, f"rule '{rule_id}'")
    for required in ("severity", "summary"):
        if required not in node:
            raise PolicyError(source, node.line, f"rule '{rule_id}' has no '{required}'")
    check = node.get("check")
    if check is not None:
        if not isinstance(check, str) or check not in CHECKS:
            raise PolicyError(
                source,
                node.line_of("check"),
                f"unknown check {check!r}{_suggest(str(check), CHECKS)} (stateful checks: {', '.join(CHECKS)})",
            )
        for key in ("when", "require", "message", "messages"):
            if key in node:
                raise PolicyError(
                    source,
                    node.line_of(key),
                    f"rule '{rule_id}': '{key}' cannot be combined with 'check' (a stateful check decides which "
                    "flows it looks at and words its own message; narrow it with exclude_paths or scope)",
                )
    elif "when" not in node and "require" not in node:
        raise PolicyError(source, node.line, f"rule '{rule_id}' needs 'when', 'require' or both (or a 'check')")
    severity = _severity(node["severity"], source, node.line_of("severity"))
    texts = {k: _string(node, k, source, default="") for k in ("summary", *DOC_KEYS)}
    if not texts["summary"].strip():
        raise PolicyError(source, node.line_of("summary"), f"rule '{rule_id}' has an empty summary")
    message = _string(node, "message", source, default=texts["summary"])
    _check_message(message, source, node.line_of("message"))
    enabled = _bool(node, "enabled", source, default=True)

    statuses: StatusSet | None = None
    methods: frozenset[str] | None = None
    when_rest: Predicate = ALWAYS
    when = node.get("when")
    if when is not None:
        wline = node.line_of("when")
        if not isinstance(when, LineDict) or not when:
            raise PolicyError(source, wline, f"'when' of rule '{rule_id}' must be a non-empty mapping of predicates")
        rest = LineDict({k: v for k, v in when.items() if k not in ("status", "method")})
        rest.line, rest.key_lines = when.line, when.key_lines
        if "status" in when:
            statuses = compiler.statuses(when["status"], when.line_of("status"))
        if "method" in when:
            methods = compiler.methods(when["method"], when.line_of("method"))
        if rest:
            when_rest = compiler.compile(rest, wline)
    require = compiler.compile(node["require"], node.line_of("require")) if "require" in node else None
    exclude = _globs(node, "exclude_paths", compiler)
    message_cases = _message_cases(node, compiler, source, rule_id)

    return Rule(
        id=rule_id,
        severity=severity,
        summary=texts["summary"].strip(),
        why=texts["why"].strip(),
        example=texts["example"].rstrip(),
        fix=texts["fix"].rstrip(),
        reference=texts["reference"].strip(),
        enabled=enabled,
        message=message.strip(),
        when_yaml=_plain(when),
        require_yaml=_plain(node.get("require")),
        origin=f"{source}:{node.line}",
        statuses=statuses,
        methods=methods,
        when_rest=when_rest,
        require=require,
        exclude_paths=exclude,
        check=check,
        message_cases=message_cases,
        needs_headers=_needed_headers(when),
    )


# Header tests that fail on an absent header (``valid`` holds there: nothing to parse).
_FAIL_WHEN_ABSENT = frozenset({"equals", "matches", "has_token", "challenge", "same_url_as"})


def _needed_headers(when: Any) -> frozenset[tuple[str, str]]:
    """The headers a ``when`` cannot hold without, from its top-level conjuncts."""
    needed = set()
    if isinstance(when, dict):
        for side in ("request", "response"):
            tests = when.get(f"{side}_header")
            if isinstance(tests, dict):
                needed.update((side, name.lower()) for name, test in tests.items() if _needs_header(test))
    return frozenset(needed)


def _needs_header(test: Any) -> bool:
    return test == "present" or (isinstance(test, dict) and len(test) == 1 and set(test) <= _FAIL_WHEN_ABSENT)


def _message_cases(
    node: LineDict, compiler: ConditionCompiler, source: str, rule_id: str
) -> tuple[tuple[Predicate, str], ...]:
    """``messages: [{when: CONDITION, message: TEXT}, ...]``: the first case whose
    condition holds words the finding; ``message`` is the fallback."""
    cases = node.get("messages")
    if cases is None:
        return ()
    line = node.line_of("messages")
    if not isinstance(cases, LineList) or not cases:
        raise PolicyError(source, line, f"'messages' of rule '{rule_id}' takes a list of {{when: ..., message: ...}}")
    out = []
    for i, case in enumerate(cases):
        case_line = cases.line_of(i)
        if not isinstance(case, LineDict) or set(case) != {"when", "message"} or not isinstance(case["message"], str):
            raise PolicyError(
                source, case_line, f"each of 'messages' of rule '{rule_id}' is {{when: ..., message: TEXT}}"
            )
        _check_message(case["message"], source, case.line_of("message"))
        out.append((compiler.compile(case["when"], case.line_of("when")), case["message"].strip()))
    return tuple(out)


def _override(rule: Rule, change: Any, line: int, compiler: ConditionCompiler, source: str) -> Rule:
    if not isinstance(change, LineDict) or not change:
        raise PolicyError(source, line, f"override for '{rule.id}' must be a mapping of {', '.join(OVERRIDE_KEYS)}")
    _check_keys(change, OVERRIDE_KEYS, source, f"override for '{rule.id}'")
    updated = rule
    if "severity" in change:
        updated = replace(updated, severity=_severity(change["severity"], source, change.line_of("severity")))
    if "enabled" in change:
        updated = replace(updated, enabled=_bool(change, "enabled", source, default=True))
    if "exclude_paths" in change:
        updated = replace(updated, exclude_paths=rule.exclude_paths + _globs(change, "exclude_paths", compiler))
    return updated


def _scope(doc: LineDict, compiler: ConditionCompiler, source: str) -> Scope:
    node = doc.get("scope")
    if node is None:
        return Scope()
    if not isinstance(node, LineDict):
        raise PolicyError(source, doc.line_of("scope"), "'scope' takes a mapping with 'include' and/or 'exclude'")
    _check_keys(node, SCOPE_KEYS, source, "scope")
    scope = Scope(api_only=_bool(node, "api_only", source, default=False))
    for part in ("include", "exclude"):
        if part not in node:
            continue
        filters = node[part]
        if not isinstance(filters, LineDict) or not filters:
            raise PolicyError(
                source, node.line_of(part), f"'scope.{part}' takes a mapping of hosts, paths and/or methods"
            )
        _check_keys(filters, SCOPE_FILTER_KEYS, source, f"scope.{part}")
        preds: list[Predicate] = []
        for key, value in filters.items():
            kline = filters.line_of(key)
            if key == "methods":
                methods = compiler.methods(value, kline)
                preds.append(lambda v, m=methods: v.method in m)
            else:
                globs = compiler.globs(value, kline, f"scope.{part}.{key}", ignore_case=key == "hosts")
                if key == "hosts":
                    preds.append(lambda v, g=globs: any(x.match(v.host) for x in g))
                else:
                    preds.append(lambda v, g=globs: any(x.match(v.path) for x in g))
        if part == "include":
            scope.include.extend(preds)
        else:
            scope.exclude.extend(preds)
    return scope


def _check_keys(node: LineDict, allowed: tuple[str, ...], source: str, what: str) -> None:
    for key in node:
        if key not in allowed:
            raise PolicyError(
                source,
                node.line_of(key),
                f"unknown key '{key}' in {what}{_suggest(key, allowed)} (allowed: {', '.join(allowed)})",
            )


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _string(node: LineDict, key: str, source: str, *, default: str) -> str:
    if key not in node:
        return default
    value = node[key]
    if not isinstance(value, str):
        raise PolicyError(source, node.line_of(key), f"'{key}' must be a string, not {type(value).__name__}")
    return value


def _bool(node: LineDict, key: str, source: str, *, default: bool) -> bool:
    if key not in node:
        return default
    value = node[key]
    if not isinstance(value, bool):
        raise PolicyError(source, node.line_of(key), f"'{key}' must be true or false, not {value!r}")
    return value


def _severity(value: Any, source: str, line: int) -> Severity:
    if not isinstance(value, str):
        raise PolicyError(source, line, f"severity must be error, warning or info, not {value!r}")
    try:
        return Severity.parse(value)
    except ValueError as e:
        raise PolicyError(source, line, str(e)) from None


def _globs(node: LineDict, key: str, compiler: ConditionCompiler) -> tuple[re.Pattern[str], ...]:
    if key not in node:
        return ()
    return compiler.globs(node[key], node.line_of(key), key, ignore_case=False)


def _check_message(message: str, source: str, line: int) -> None:
    try:
        fields = [(f, spec or "", conv) for _, f, spec, conv in string.Formatter().parse(message) if f is not None]
    except ValueError as e:
        raise PolicyError(source, line, f"bad message template: {e}") from None
    for name, spec, conversion in fields:
        if name not in MESSAGE_FIELDS:
            raise PolicyError(
                source, line, f"unknown placeholder '{{{name}}}' in message (allowed: {', '.join(MESSAGE_FIELDS)})"
            )
        if not MESSAGE_SPEC_RE.fullmatch(spec):
            raise PolicyError(
                source,
                line,
                f"format spec ':{spec}' of '{{{name}}}' in message is not allowed (at most a width below 100, "
                "like {path:<40})",
            )
        if conversion not in (None, "r", "s", "a"):
            raise PolicyError(source, line, f"bad conversion '!{conversion}' of '{{{name}}}' in message")


def _describe_when(methods: frozenset[str] | None, when: Any) -> str:
    """``when`` in words, as far as a sentence can say it: "a DELETE request answered 200"."""
    if not when:
        return "any audited flow"
    if methods:
        names = sorted(methods)
        subject = f"a {_or(names)} request"
    else:
        subject = "a request"
    status = when.get("status")
    if status is not None:
        codes = [str(s) for s in status] if isinstance(status, list) else [str(status)]
        subject += f" answered {_or(codes)}"
    if any(k not in ("method", "status") for k in when):
        subject += " (as its 'when' says)"
    return subject


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _plain(value: Any) -> Any:
    """LineDict/LineList back to plain dict/list, for documentation output."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
