"""A dict with a size limit that forgets the least recently used entry first: the state
a proxy keeps across flows must stay flat however long it runs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.evicted = 0
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def setdefault(self, key: K, factory: Callable[[], V]) -> V:
        value = self.get(key)
        if value is None:
            value = self._data[key] = factory()
            while len(self._data) > self.limit:
                self._data.popitem(last=False)
                self.evicted += 1
        return value

    def items(self) -> list[tuple[K, V]]:
        """A snapshot, least recently used first (reading it does not reorder)."""
        return list(self._data.items())

    def __len__(self) -> int:
        return len(self._data)
