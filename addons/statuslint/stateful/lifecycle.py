"""One resource's life, URL by URL: what a DELETE, a 201's Location, a GET or a HEAD
that came before says about the answer a later request on the same URL should get.

State is kept per (source, host:port, path): recordings given one after another are
separate timelines, and so are replayed and live flows. The number of URLs is bounded;
the least recently used is forgotten first.
"""

from __future__ import annotations

from collections import Counter

from ..endpoints import endpoint_name, is_item
from ..findings import Seen
from ..lru import LRU
from . import Hit, Observation, is_success

# Answers that depend on the caller, the request's conditions or the moment rather than
# on the method: a HEAD answered so says nothing about how HEAD is implemented.
_NOT_ABOUT_HEAD = frozenset({401, 403, 406, 407, 408, 412, 416, 429, 502, 503, 504})
_READ_OR_WRITE = frozenset({"GET", "HEAD", "PUT", "PATCH"})
# DELETE answers that say the resource is gone (202 only says the deletion was accepted).
_DELETED = frozenset({200, 204})

SERVED_AFTER_DELETE = "served-after-delete"
LOCATION_NOT_FOUND = "location-not-found"
NOT_FOUND_FOR_UNSUPPORTED = "not-found-for-unsupported-method"
HEAD_GET_MISMATCH = "head-get-mismatch"
CHECK_NAMES = (SERVED_AFTER_DELETE, LOCATION_NOT_FOUND, NOT_FOUND_FOR_UNSUPPORTED, HEAD_GET_MISMATCH)


class UrlState:
    __slots__ = (
        "announced",
        "announced_by",
        "deleted",
        "deleted_at",
        "exists",
        "exists_by",
        "head_failed",
        "head_failed_by",
        "reported",
    )

    def __init__(self) -> None:
        self.deleted: Seen | None = None  # a DELETE answered 200/204, no re-creation since
        self.deleted_at: float | None = None  # when that answer arrived
        self.exists: Seen | None = None  # a GET answered 2xx, no DELETE since
        self.exists_by = 0  # the caller of that GET
        self.announced: Seen | None = None  # a 201 named this URL in Location, no GET since
        self.announced_by = 0
        self.head_failed: Seen | None = None  # a HEAD failed while the URL was not known to exist
        self.head_failed_by = 0
        self.reported: set[str] | None = None  # "check method" already reported for this URL

    def first_report(self, key: str) -> bool:
        if self.reported is None:
            self.reported = set()
        if key in self.reported or len(self.reported) >= 16:
            return False
        self.reported.add(key)
        return True


def _where(seen: Seen) -> str:
    return f"#{seen[1]}"


def _answered_at(obs: Observation) -> float | None:
    response = obs.view.response
    return response.timestamp_end or response.timestamp_start


class ResourceLifecycle:
    def __init__(self, limit: int, enabled: set[str], evaluated: Counter[str]) -> None:
        self.urls: LRU[tuple[str, str, str], UrlState] = LRU(limit)
        self.enabled = enabled
        self.evaluated = evaluated

    def observe(self, obs: Observation) -> list[Hit]:
        key = obs.url_key
        hits: list[Hit] = []
        state = self.urls.get(key)
        if state is not None:
            self._check(obs, state, hits)
        self._update(obs, key, state)
        return hits

    # Checks: what this answer means, given what came before ---------------------------

    def _check(self, obs: Observation, st: UrlState, hits: list[Hit]) -> None:
        view = obs.view
        method, status, ok = view.method, view.status, is_success(view.status)
        on = self.enabled

        if (
            st.deleted is not None
            and method in _READ_OR_WRITE
            and status != 201  # a PUT or PATCH that re-creates it is fine
            and SERVED_AFTER_DELETE in on
            and self._after(obs, st.deleted, st.deleted_at)
        ):
            self.evaluated[SERVED_AFTER_DELETE] += 1
            if ok:
                deleted = st.deleted
                st.deleted = None  # once per deletion, not on every later read
                hits.append(
                    self._hit(
                        SERVED_AFTER_DELETE,
                        obs,
                        f"{method} answered {status} after DELETE {obs.path} answered {deleted[3]} "
                        f"({_where(deleted)}) with no re-creation in between: "
                        "a deleted resource answers 404 Not Found or 410 Gone",
                        deleted,
                    )
                )

        # Another caller may rightly not see a resource: only the same credentials count.
        same_caller = view.caller

        if st.announced is not None and method == "GET" and LOCATION_NOT_FOUND in on:
            announced = st.announced
            if st.announced_by == same_caller and obs.seen[1] > announced[1]:
                self.evaluated[LOCATION_NOT_FOUND] += 1
                if status == 404:
                    st.announced = None
                    hits.append(
                        self._hit(
                            LOCATION_NOT_FOUND,
                            obs,
                            f"GET answered 404 on the Location of a 201 ({announced[2]} {_where(announced)}), "
                            "which was not deleted since: Location must name the created resource",
                            announced,
                        )
                    )
            if ok:
                st.announced = None

        if (
            st.exists is not None
            and method not in ("GET", "HEAD", "OPTIONS")  # OPTIONS: CORS middleware answers it
            and st.exists_by == same_caller
            and NOT_FOUND_FOR_UNSUPPORTED in on
        ):
            self.evaluated[NOT_FOUND_FOR_UNSUPPORTED] += 1
            if status == 404 and st.first_report(f"{NOT_FOUND_FOR_UNSUPPORTED} {method}"):
                hits.append(
                    self._hit(
                        NOT_FOUND_FOR_UNSUPPORTED,
                        obs,
                        f"{method} answered 404 on {obs.path}, which exists (GET answered {st.exists[3]} at "
                        f"{_where(st.exists)}): a method the resource does not support is "
                        "405 Method Not Allowed, with Allow",
                        st.exists,
                    )
                )

        if HEAD_GET_MISMATCH in on:
            if method == "HEAD" and st.exists is not None and st.exists_by == same_caller:
                self.evaluated[HEAD_GET_MISMATCH] += 1
                if _head_failed(status) and st.first_report(HEAD_GET_MISMATCH):
                    hits.append(
                        self._hit(
                            HEAD_GET_MISMATCH,
                            obs,
                            f"HEAD answered {status} while GET on the same URL answered {st.exists[3]} "
                            f"({_where(st.exists)}): HEAD is answered as GET would be, without the body",
                            st.exists,
                        )
                    )
            elif method == "GET" and ok and st.head_failed is not None and st.head_failed_by == same_caller:
                self.evaluated[HEAD_GET_MISMATCH] += 1
                head = st.head_failed
                st.head_failed = None
                if st.first_report(HEAD_GET_MISMATCH):
                    # The HEAD broke the rule; this GET only shows it.
                    hits.append(
                        Hit(
                            HEAD_GET_MISMATCH,
                            f"HEAD answered {head[3]} while GET on the same URL answered {status} "
                            f"({_where(obs.seen)}): HEAD is answered as GET would be, without the body",
                            head,
                            view.path,
                            endpoint_name("HEAD", obs.endpoint.split(" ", 2)[1], obs.template),
                            (obs.seen,),
                        )
                    )

    @staticmethod
    def _after(obs: Observation, earlier: Seen, answered_at: float | None) -> bool:
        """Whether this request was sent after ``earlier`` was answered. A request sent
        before, or while, the earlier one was in flight (browsers fetch in parallel) may
        rightly have seen the old state, even if it was answered later."""
        if obs.seen[1] < earlier[1]:
            return False
        started = obs.view.request.timestamp_start
        return not (started and answered_at and started < answered_at)

    @staticmethod
    def _hit(check: str, obs: Observation, message: str, *evidence: Seen) -> Hit:
        return Hit(check, message, obs.seen, obs.view.path, obs.endpoint, evidence)

    # Updates: what this answer says about the resource from now on ---------------------

    def _update(self, obs: Observation, key: tuple[str, str, str], st: UrlState | None) -> None:
        view = obs.view
        method, status, ok = view.method, view.status, is_success(view.status)
        if method == "DELETE" and ok:
            st = st or self.urls.setdefault(key, UrlState)
            st.exists = st.announced = st.head_failed = None
            # Deleting a collection empties it; it may well answer 200 afterwards.
            if status in _DELETED and is_item(obs.template):
                st.deleted = obs.seen
                st.deleted_at = _answered_at(obs)
        elif method == "GET" and ok:
            st = st or self.urls.setdefault(key, UrlState)
            st.exists, st.exists_by = obs.seen, view.caller
            st.head_failed = None
        elif method == "GET" and status in (404, 410):
            if st is not None:
                st.exists = None
        elif method == "HEAD" and _head_failed(status):
            if (st is None or st.exists is None) and HEAD_GET_MISMATCH in self.enabled:
                st = st or self.urls.setdefault(key, UrlState)
                st.head_failed, st.head_failed_by = obs.seen, view.caller
        elif method in ("POST", "PUT", "PATCH") and ok and st is not None:
            st.head_failed = None  # a write may have created what the HEAD missed
            if status == 201:
                st.deleted = None
        if status == 201 and self.enabled & {LOCATION_NOT_FOUND, SERVED_AFTER_DELETE, HEAD_GET_MISMATCH}:
            self._announce(obs)

    def _announce(self, obs: Observation) -> None:
        target = obs.view.location_target
        if target is None or not target[0]:
            return
        st = self.urls.setdefault((obs.seen[0], *target), UrlState)
        st.deleted = None  # created (again) at this URL
        st.head_failed = None
        if LOCATION_NOT_FOUND in self.enabled:
            st.announced, st.announced_by = obs.seen, obs.view.caller


def _head_failed(status: int) -> bool:
    return status >= 400 and status not in _NOT_ABOUT_HEAD
