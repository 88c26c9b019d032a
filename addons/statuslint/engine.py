"""Running a policy's rules on one flow, fast: rules are indexed by the status and
method they can apply to, so a flow only meets the rules that might fire on it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from .flowview import FlowView, Undecidable
from .policy import Policy, Rule

logger = logging.getLogger(__name__)

# Distinct (status, method) pairs seen; custom methods are unbounded in theory, so the
# index is reset rather than allowed to grow without limit on a long-running proxy.
_INDEX_LIMIT = 4096


class Engine:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.rules: tuple[Rule, ...] = tuple(policy.enabled_rules)
        self._index: dict[tuple[int, str], tuple[Rule, ...]] = {}
        self.failed_rules: dict[str, str] = {}  # rule id -> first error, reported once

    def rules_for(self, status: int, method: str) -> tuple[Rule, ...]:
        key = (status, method)
        rules = self._index.get(key)
        if rules is None:
            if len(self._index) >= _INDEX_LIMIT:
                self._index.clear()
            rules = tuple(r for r in self.rules if r.applies_to(status, method))
            self._index[key] = rules
        return rules

    def violations(self, view: FlowView) -> Iterator[tuple[Rule, str]]:
        """(rule, message) for every rule the flow violates. A rule that raises is
        reported once and skipped; the others still run."""
        for rule in self.rules_for(view.status, view.method):
            try:
                if rule.violated_by(view):
                    yield rule, rule.format_message(view)
            except Undecidable:
                continue
            except Exception as e:
                if rule.id not in self.failed_rules:
                    self.failed_rules[rule.id] = f"{type(e).__name__}: {e}"
                    logger.warning(
                        "statuslint: internal error in rule %s on %s %s: %s "
                        "(reported once; the rule is skipped where it fails)",
                        rule.id,
                        view.method,
                        view.path,
                        self.failed_rules[rule.id],
                    )
