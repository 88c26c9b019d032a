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

from .conditions import Predicate, is_static
from .escape import escape
from .flowview import FlowView, Undecidable
from .policy import Policy, Rule
from .redact import redact_path, redact_text

logger = logging.getLogger(__name__)

# Distinct (status, method, headers present) keys seen; custom methods are unbounded in theory, so the
# index is reset rather than allowed to grow without limit on a long-running proxy.
_INDEX_LIMIT = 4096

# What a plan knows of a rule before looking at the flow.
EVALUATE, PASSES, VIOLATED, _NEVER = 0, 1, 2, 3


# A rule to run on a flow: (rule, VIOLATED or EVALUATE, when_rest, require, has exclude_paths).
Step = tuple[Rule, int, Predicate, "Predicate | None", bool]
Plan = tuple[tuple[str, ...], tuple[Step, ...]]
Gates = tuple[tuple[str, int], ...]  # (lower-cased header name, its bit)


class _StatusAndMethod:
    """All a static predicate may read of a flow."""

    __slots__ = ("method", "status")

    def __init__(self, status: int, method: str) -> None:
        self.status = status
        self.method = method


def _decided(rule: Rule, known: _StatusAndMethod) -> int:
    """PASSES, VIOLATED or _NEVER (its ``when`` cannot hold) for a rule decided by the
    status and the method alone; EVALUATE for the rest."""
    if rule.exclude_paths or not is_static(rule.when_rest):
        return EVALUATE
    if rule.require is not None and not is_static(rule.require):
        return EVALUATE
    try:
        if not rule.when_rest(known):  # type: ignore[arg-type]
            return _NEVER
        if rule.require is None:
            return VIOLATED
        return PASSES if rule.require(known) else VIOLATED  # type: ignore[arg-type]
    except Exception:
        return EVALUATE  # it read more than it said: ask the flow


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
        self._plans: dict[tuple[int, str, int], Plan] = {}
        self._gates: dict[tuple[int, str], tuple[Gates, Gates]] = {}
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
                self._plans.clear()
                self._gates.clear()
                self._when_only.clear()
            rules = tuple(r for r in self.rules if r.applies_to(status, method) and self._gated_in(r, present))
            self._index[key] = rules
        return rules

    def plan(self, status: int, method: str, present: int = -1) -> Plan:
        """What to do for a flow's rules, decided before the flow is looked at: the ids
        of rules that pass on the status and method alone (only counted), and the
        others in policy order, each VIOLATED (decided by status and method too) or
        EVALUATE."""
        key = (status, method, present)
        plan = self._plans.get(key)
        if plan is None:
            known = _StatusAndMethod(status, method)
            passed: list[str] = []
            steps: list[Step] = []
            for rule in self.rules_for(status, method, present):
                decided = _decided(rule, known)
                if decided == PASSES:
                    passed.append(rule.id)
                elif decided != _NEVER:
                    steps.append((rule, decided, rule.when_rest, rule.require, bool(rule.exclude_paths)))
            self._plans[key] = plan = (tuple(passed), tuple(steps))
        return plan

    def _gated_in(self, rule: Rule, present: int) -> bool:
        needed = 0
        for need in rule.needs_headers:
            needed |= self._bits[need]
        return needed & present == needed

    def _present(self, view: FlowView) -> int:
        """The bits of the gate headers the flow has, among those of the rules that can
        apply to its status and method (a request's headers are not indexed for gates no
        such rule has)."""
        response_gates, request_gates = self._gates_for(view.status, view.method)
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

    def _gates_for(self, status: int, method: str) -> tuple[Gates, Gates]:
        key = (status, method)
        gates = self._gates.get(key)
        if gates is None:
            used = 0
            for rule in self.rules_for(status, method):
                for need in rule.needs_headers:
                    used |= self._bits[need]
            gates = self._gates[key] = (
                tuple(g for g in self._response_gates if g[1] & used),
                tuple(g for g in self._request_gates if g[1] & used),
            )
        return gates

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
        path = view.path
        for rule in self._when_only_rules(view.method):
            if not (rule.exclude_paths and rule.excludes(path)):
                evaluated[rule.id] += 1
        passed, steps = self.plan(view.status, view.method, self._present(view))
        evaluated.update(passed)
        for rule, known, when_rest, require, has_excludes in steps:
            try:
                if known == VIOLATED:
                    if require is not None:
                        evaluated[rule.id] += 1
                    yield rule, rule.format_message(view)
                    continue
                if has_excludes and rule.excludes(path):
                    continue
                if not when_rest(view):
                    continue
                if require is None:
                    yield rule, rule.format_message(view)
                    continue
                violated = not require(view)
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
