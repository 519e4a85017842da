"""The loaded-file cache of the page, bounded by size, count and age.

`st.cache_data(max_entries=16)` kept every loaded upload for good: sixteen visitors' 1M-row files held about 1 GB
that nothing counted. This cache knows what it holds in bytes (`bytes_held`, which the run queue counts against
the memory budget), drops entries older than `ttl_s`, and evicts the least recently used beyond `max_entries` or
`max_bytes`; a file bigger than the whole cache is loaded and returned but not kept.

The cached value (a loaded Dataset) is shared by every session that loads the same bytes with the same options,
as `st.cache_resource` would: callers treat it as read-only (the runner copies its frame before the agent sees it).
Standard library only.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Value = TypeVar("Value")


@dataclass
class _Entry(Generic[Value]):
    value: Value
    size: int
    stored: float


class FileCache(Generic[Value]):
    """A least-recently-used cache bounded by total bytes, entry count and entry age.

    Args:
        max_bytes: What all entries may hold together.
        max_entries: How many entries at most.
        ttl_s: An entry older than this is loaded again.
        clock: Seconds (monotonic); tests pass their own.
    """

    def __init__(
        self,
        max_bytes: int,
        max_entries: int = 16,
        ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self.max_entries = max(0, int(max_entries))
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry[Value]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # how many times `load` ran (tests read it)

    def get_or_load(self, key: Hashable, load: Callable[[], Value], size_of: Callable[[Value], int]) -> Value:
        """The cached value for `key`, else `load()` (kept when it fits). Errors of `load` are not cached."""
        with self._lock:
            self._expire()
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry.value
        value = load()  # outside the lock: a big file must not hold up other sessions' cache hits
        self.loads += 1
        size = max(0, int(size_of(value)))
        with self._lock:
            if size <= self.max_bytes and self.max_entries:
                self._entries[key] = _Entry(value, size, self._clock())
                self._entries.move_to_end(key)
                self._evict()
        return value

    @property
    def bytes_held(self) -> int:
        with self._lock:
            self._expire()
            return sum(entry.size for entry in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, e in self._entries.items() if now - e.stored > self.ttl_s]:
            del self._entries[key]

    def _evict(self) -> None:
        total = sum(entry.size for entry in self._entries.values())
        while self._entries and (len(self._entries) > self.max_entries or total > self.max_bytes):
            _, oldest = self._entries.popitem(last=False)
            total -= oldest.size


def dataset_bytes(dataset: Any) -> int:
    """What a loaded Dataset holds in memory: its segment table, (a time series) its daily totals, and the raw rows
    kept for the agent (`tools.raw_rows`, up to 32 MB)."""
    total = 0
    for frame in (getattr(dataset, "frame", None), getattr(dataset, "daily", None)):
        if frame is not None:
            total += int(frame.memory_usage(deep=True).sum())
    raw = getattr(dataset, "raw_rows", None)
    if raw is not None:
        total += raw.nbytes
    return total


_shared: FileCache | None = None
_shared_lock = threading.Lock()


def shared_file_cache(max_bytes: int, max_entries: int, ttl_s: float) -> FileCache:
    """The app's one file cache (every session shares it); the operator's latest limits apply."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FileCache(max_bytes, max_entries, ttl_s)
        else:
            _shared.max_bytes, _shared.max_entries, _shared.ttl_s = max(0, int(max_bytes)), max_entries, ttl_s
        return _shared
