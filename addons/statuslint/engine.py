"""Running a policy's per-flow rules on one flow, fast: rules are indexed by the status
and method they can apply to, so a flow only meets the rules that might fire on it.

The engine also counts, per rule, the flows it was evaluated on (its ``when`` held, so
its ``require`` was put to the test) and the flows it could not decide: the rule
coverage of the summary.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

from .escape import escape
from .flowview import FlowView, Undecidable
from .policy import Policy, Rule
from .redact import redact_path, redact_text

logger = logging.getLogger(__name__)

# Distinct (status, method) pairs seen; custom methods are unbounded in theory, so the
# index is reset rather than allowed to grow without limit on a long-running proxy.
_INDEX_LIMIT = 4096


class Engine:
    def __init__(
        self, policy: Policy, evaluated: Counter[str] | None = None, undecidable: Counter[str] | None = None
    ) -> None:
        self.policy = policy
        # Stateful rules (``check``) run in statuslint.stateful, not here.
        self.rules: tuple[Rule, ...] = tuple(r for r in policy.enabled_rules if r.check is None)
        self._index: dict[tuple[int, str], tuple[Rule, ...]] = {}
        self._when_only: dict[str, tuple[Rule, ...]] = {}
        self.failed_rules: dict[str, str] = {}  # rule id -> first error, reported once
        self.evaluated: Counter[str] = evaluated if evaluated is not None else Counter()
        self.undecidable: Counter[str] = undecidable if undecidable is not None else Counter()

    def rules_for(self, status: int, method: str) -> tuple[Rule, ...]:
        key = (status, method)
        rules = self._index.get(key)
        if rules is None:
            if len(self._index) >= _INDEX_LIMIT:
                self._index.clear()
                self._when_only.clear()
            rules = tuple(r for r in self.rules if r.applies_to(status, method))
            self._index[key] = rules
        return rules

    def _when_only_rules(self, method: str) -> tuple[Rule, ...]:
        """Rules without ``require``: matching ``when`` is the violation, so they count as
        evaluated on every flow of their methods, whatever the answer."""
        rules = self._when_only.get(method)
        if rules is None:
            rules = tuple(r for r in self.rules if r.require is None and (r.methods is None or method in r.methods))
            self._when_only[method] = rules
        return rules

    def violations(self, view: FlowView) -> Iterator[tuple[Rule, str]]:
        """(rule, message) for every rule the flow violates. A rule that raises is
        reported once and skipped; the others still run."""
        evaluated = self.evaluated
        for rule in self._when_only_rules(view.method):
            if not (rule.exclude_paths and rule.excludes(view.path)):
                evaluated[rule.id] += 1
        for rule in self.rules_for(view.status, view.method):
            try:
                if rule.exclude_paths and rule.excludes(view.path):
                    continue
                if not rule.when_rest(view):
                    continue
                if rule.require is None:
                    yield rule, rule.format_message(view)
                    continue
                violated = not rule.require(view)
                evaluated[rule.id] += 1  # only decided flows count
                if violated:
                    yield rule, rule.format_message(view)
            except Undecidable:
                self.undecidable[rule.id] += 1
                continue
            except Exception as e:
                if rule.id not in self.failed_rules:
                    # An exception's text may quote the traffic: no secret in the report or the log.
                    self.failed_rules[rule.id] = redact_text(f"{type(e).__name__}: {e}")
                    logger.warning(
                        "statuslint: internal error in rule %s on %s %s: %s "
                        "(reported once; the rule is skipped where it fails)",
                        rule.id,
                        escape(view.method),
                        escape(redact_path(view.path)),
                        escape(self.failed_rules[rule.id]),
                    )
