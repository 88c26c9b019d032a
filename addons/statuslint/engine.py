"""Running a policy's per-flow rules on one flow, fast: rules are indexed by the status
and method they can apply to and by the headers their ``when`` requires present, so a
flow only meets the rules that might fire on it.

The engine also counts, per rule, the flows it was evaluated on (its ``when`` held, so
its ``require`` was put to the test) and the flows it could not decide: the rule
coverage of the summary.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

from .conditions import Predicate, specialize
from .escape import escape
from .flowview import FlowView, Undecidable
from .policy import Policy, Rule
from .redact import redact_path, redact_text

logger = logging.getLogger(__name__)

# Distinct (status, method, headers present) keys seen; custom methods are unbounded in theory, so the
# index is reset rather than allowed to grow without limit on a long-running proxy.
_INDEX_LIMIT = 4096

# What a plan knows of a rule's ``require`` before looking at the flow.
EVALUATE, PASSES, VIOLATED, WHEN_ONLY = 0, 1, 2, 3

# A rule to run on a flow: (rule, what is left of ``when`` or None where the status and
# method decide it holds, what the plan knows of ``require``, what is left of
# ``require`` for EVALUATE, has exclude_paths).
Step = tuple[Rule, "Predicate | None", int, "Predicate | None", bool]
# (ids counted on every such flow, steps in policy order, rules without ``require`` whose
# exclude_paths say whether they count).
Plan = tuple[tuple[str, ...], tuple[Step, ...], tuple[Rule, ...]]
Gates = tuple[tuple[str, int], ...]  # (lower-cased header name, its bit)
# Per (status, method): the gates that matter, and the plans by the gate bits present.
Entry = tuple[Gates, Gates, dict[int, Plan]]

try:
    # What Counter.update runs once past its isinstance(Mapping) test (an ABC check per call).
    from collections import _count_elements as _count  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - every CPython has it
    _count = Counter.update


class _StatusAndMethod:
    """All a static predicate may read of a flow."""

    __slots__ = ("method", "status")

    def __init__(self, status: int, method: str) -> None:
        self.status = status
        self.method = method


def _step(rule: Rule, known: _StatusAndMethod) -> Step | str | None:
    """How to run a rule on the flows of one status and method: its id where it passes
    on all of them (only counted), None where its ``when`` holds on none, else a step
    without the parts of ``when`` and ``require`` the status and method answer."""
    when = specialize(rule.when_rest, known)
    if when is False:
        return None
    outcome, require = WHEN_ONLY, None
    if rule.require is not None:
        decided = specialize(rule.require, known)
        if decided is True:
            outcome = PASSES
        elif decided is False:
            outcome = VIOLATED
        else:
            outcome, require = EVALUATE, decided
    has_excludes = bool(rule.exclude_paths)
    if when is True and outcome == PASSES and not has_excludes:
        return rule.id
    return (rule, None if when is True else when, outcome, require, has_excludes)


class Engine:
    def __init__(
        self, policy: Policy, evaluated: Counter[str] | None = None, undecidable: Counter[str] | None = None
    ) -> None:
        self.policy = policy
        # Stateful rules (``check``) run in statuslint.stateful, not here.
        self.rules: tuple[Rule, ...] = tuple(r for r in policy.enabled_rules if r.check is None)
        # One bit per header some rule's ``when`` requires present.
        gates = sorted({need for r in self.rules for need in r.needs_headers})
        self._bits = {need: 1 << i for i, need in enumerate(gates)}
        self._response_gates = tuple((name, self._bits[side, name]) for side, name in gates if side == "response")
        self._request_gates = tuple((name, self._bits[side, name]) for side, name in gates if side == "request")
        self._index: dict[tuple[int, str, int], tuple[Rule, ...]] = {}
        self._entries: dict[tuple[int, str], Entry] = {}
        self._when_only: dict[str, tuple[Rule, ...]] = {}
        self.failed_rules: dict[str, str] = {}  # rule id -> first error, reported once
        self.evaluated: Counter[str] = evaluated if evaluated is not None else Counter()
        self.undecidable: Counter[str] = undecidable if undecidable is not None else Counter()

    def rules_for(self, status: int, method: str, present: int = -1) -> tuple[Rule, ...]:
        """The rules that may fire on a flow of this status and method whose gate headers
        present are the bits of ``present`` (-1: all of them)."""
        key = (status, method, present)
        rules = self._index.get(key)
        if rules is None:
            if len(self._index) >= _INDEX_LIMIT:
                self._index.clear()
                self._entries.clear()
                self._when_only.clear()
            rules = tuple(r for r in self.rules if r.applies_to(status, method) and self._gated_in(r, present))
            self._index[key] = rules
        return rules

    def plan(self, status: int, method: str, present: int = -1) -> Plan:
        """What to do for a flow's rules, decided before the flow is looked at: the ids
        counted on every such flow (rules that pass on the status and method alone, and
        rules without ``require`` that exclude no path), the steps left, in policy order,
        and the rules without ``require`` whose exclude_paths decide whether they count."""
        plans = self._entry(status, method)[2]
        plan = plans.get(present)
        if plan is None:
            known = _StatusAndMethod(status, method)
            counted: list[str] = []
            steps: list[Step] = []
            for rule in self.rules_for(status, method, present):
                step = _step(rule, known)
                if isinstance(step, str):
                    counted.append(step)
                elif step is not None:
                    steps.append(step)
            when_only = self._when_only_rules(method)
            counted += (r.id for r in when_only if not r.exclude_paths)
            excluding = tuple(r for r in when_only if r.exclude_paths)
            plan = plans[present] = (tuple(counted), tuple(steps), excluding)
        return plan

    def _gated_in(self, rule: Rule, present: int) -> bool:
        needed = 0
        for need in rule.needs_headers:
            needed |= self._bits[need]
        return needed & present == needed

    @staticmethod
    def _present(response_gates: Gates, request_gates: Gates, view: FlowView) -> int:
        """The bits of the gate headers the flow has, among those of the rules that can
        apply to its status and method (``_entry``: a request's headers are not indexed for
        gates no such rule has)."""
        present = 0
        if response_gates:
            names = view.response_headers.by_name
            for name, bit in response_gates:
                if name in names:
                    present |= bit
        if request_gates:
            names = view.request_headers.by_name
            for name, bit in request_gates:
                if name in names:
                    present |= bit
        return present

    def _entry(self, status: int, method: str) -> Entry:
        key = (status, method)
        entry = self._entries.get(key)
        if entry is None:
            used = 0
            for rule in self.rules_for(status, method):
                for need in rule.needs_headers:
                    used |= self._bits[need]
            entry = self._entries[key] = (
                tuple(g for g in self._response_gates if g[1] & used),
                tuple(g for g in self._request_gates if g[1] & used),
                {},
            )
        return entry

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
        status, method = view.status, view.method
        entry = self._entries.get((status, method)) or self._entry(status, method)
        response_gates, request_gates, plans = entry
        present = self._present(response_gates, request_gates, view)
        counted, steps, excluding = plans.get(present) or self.plan(status, method, present)
        evaluated = self.evaluated
        _count(evaluated, counted)
        for rule in excluding:
            if not rule.excludes(view.path):
                evaluated[rule.id] += 1
        if not steps:
            return
        decided: list[str] = []  # ids of the steps decided on this flow, counted at once
        try:
            for rule, when, outcome, require, has_excludes in steps:
                try:
                    if has_excludes and rule.excludes(view.path):
                        continue
                    if when is not None and not when(view):
                        continue
                    if outcome == EVALUATE:
                        violated = not require(view)  # type: ignore[misc]
                    elif outcome == WHEN_ONLY:
                        yield rule, rule.format_message(view)
                        continue
                    else:
                        violated = outcome == VIOLATED
                    decided.append(rule.id)  # only decided flows count
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
        finally:
            # Also when the caller stops early: what was decided is counted.
            _count(evaluated, decided)
