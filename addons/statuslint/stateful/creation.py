"""put-created-without-201: a PUT that brought a missing resource into being.

A URL is known to be missing when a GET or HEAD on it answered 404 or 410, or a DELETE of
one item answered 200/204. A PUT on it that then succeeds created the resource, and a
creation is answered 201 (RFC 9110 §9.3.4). State is kept per (source, host:port, path),
like the resource lifecycle's, for as many URLs as the lifecycle keeps.
"""

from __future__ import annotations

from collections import Counter

from ..endpoints import is_item
from ..findings import Seen
from ..lru import LRU
from . import Hit, Observation, answered_at, is_success, sent_after

PUT_CREATED = "put-created-without-201"
CHECK_NAMES = (PUT_CREATED,)

_MISSING = frozenset({404, 410})
_DELETED = frozenset({200, 204})


class _Missing:
    __slots__ = ("answered_at", "caller", "seen")

    def __init__(self) -> None:
        self.seen: Seen | None = None  # the answer that said the URL names nothing; None: it exists again
        self.caller = 0
        self.answered_at: float | None = None


class PutCreation:
    def __init__(self, limit: int, evaluated: Counter[str]) -> None:
        self.urls: LRU[tuple[str, str, str], _Missing] = LRU(limit)
        self.evaluated = evaluated

    def observe(self, obs: Observation) -> list[Hit]:
        view = obs.view
        method, status = view.method, view.status
        key = obs.url_key
        hits: list[Hit] = []
        st = self.urls.get(key)
        if method == "PUT" and st is not None and st.seen is not None:
            missing = st.seen
            # Another caller may rightly have been told 404; a PUT sent while the 404 was
            # in flight may have been the one that created it.
            if st.caller == view.caller and sent_after(obs, missing, st.answered_at):
                self.evaluated[PUT_CREATED] += 1
                if status in (200, 204):
                    hits.append(self._hit(obs, missing))
            if is_success(status):
                st.seen = None
        elif (method in ("GET", "HEAD") and status in _MISSING) or (
            method == "DELETE" and status in _DELETED and is_item(obs.template)
        ):
            st = st or self.urls.setdefault(key, _Missing)
            st.seen, st.caller, st.answered_at = obs.seen, view.caller, answered_at(obs)
        elif st is not None and is_success(status) and method != "DELETE":
            st.seen = None  # it exists (again): a later PUT replaces it
        if status == 201:
            self._created_at_location(obs)
        return hits

    def _created_at_location(self, obs: Observation) -> None:
        target = obs.view.location_target
        if target is None:
            return
        st = self.urls.get((obs.seen[0], *target))
        if st is not None:
            st.seen = None

    @staticmethod
    def _hit(obs: Observation, missing: Seen) -> Hit:
        before = "was deleted" if missing[2] == "DELETE" else f"answered {missing[3]} to {missing[2]}"
        message = (
            f"PUT answered {obs.view.status} on {obs.path}, which {before} (#{missing[1]}) and was not created "
            "since: this PUT created the resource, and a PUT that creates one is answered 201 Created"
        )
        return Hit(PUT_CREATED, message, obs.seen, obs.view.path, obs.endpoint, (missing,))
