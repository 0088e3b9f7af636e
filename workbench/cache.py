"""A memory cache bounded in bytes: least recently used entries go first once the budget is spent.

The app serves many images (input photos, fitted views, small gray copies); caching
them by entry count alone lets a few large ones (or thousands of small ones)
take any amount of memory. :class:`ByteLRU` counts the bytes of what it holds
(``len`` of ``bytes``, ``nbytes`` of arrays, plus a fixed overhead per entry,
so even empty results are bounded) and evicts the least recently used
entries past its budget. :func:`bounded_cache` memoises a function with one.

One cache is shared by every session of the app (Streamlit runs sessions in
threads), so every operation holds a lock; values are computed outside it.
Cached arrays are made read-only: callers share them.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

__all__ = ["ENTRY_OVERHEAD_BYTES", "ByteLRU", "bounded_cache", "size_of"]

log = logging.getLogger(__name__)

# What one entry costs beyond its value (key tuple, dict node): a rough figure that keeps the count bounded too.
ENTRY_OVERHEAD_BYTES = 256

F = TypeVar("F", bound=Callable[..., Any])


def size_of(value: Any) -> int:
    """The bytes a cached value holds: buffer length for bytes and arrays, ``sys.getsizeof`` otherwise."""
    if value is None:
        return 0
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    return sys.getsizeof(value)


class ByteLRU:
    """A thread-safe least-recently-used map whose values (plus a per-entry overhead) fit in ``max_bytes``.

    A value larger than the whole budget is not kept (the caller still gets it).
    """

    def __init__(self, max_bytes: int, name: str = "cache"):
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = int(max_bytes)
        self.name = name
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def keys(self) -> list[Hashable]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._entries)

    @property
    def total_bytes(self) -> int:
        """The bytes held now (values and per-entry overhead)."""
        return self._bytes

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value under ``key`` (marked as just used), or ``default``."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return default
            self._entries.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key``, evicting the least recently used entries past the budget."""
        cost = size_of(value) + ENTRY_OVERHEAD_BYTES
        if isinstance(value, np.ndarray):
            value.setflags(write=False)  # shared by every caller: nobody may change it in place
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if cost > self.max_bytes:
                log.debug("%s: a %d-byte value exceeds the %d-byte budget; not kept", self.name, cost, self.max_bytes)
                return
            self._entries[key] = (value, cost)
            self._bytes += cost
            while self._bytes > self.max_bytes:
                _, (_, freed) = self._entries.popitem(last=False)
                self._bytes -= freed
                self.evictions += 1

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def bounded_cache(max_bytes: int) -> Callable[[F], F]:
    """Memoise a function of hashable arguments in a :class:`ByteLRU` of ``max_bytes``.

    The cache is the wrapper's ``cache`` attribute. Put what makes a result
    stale (a file's mtime, say) among the arguments: entries are never
    invalidated otherwise.
    """

    def decorate(fn: F) -> F:
        cache = ByteLRU(max_bytes, fn.__qualname__)
        signature = inspect.signature(fn)
        missing = object()

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            # One key however the call spells it: f(p, 1) and f(p, stamp=1) and an omitted default are the same.
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            key = tuple(bound.arguments.values())
            value = cache.get(key, missing)
            if value is missing:
                value = fn(*args, **kwargs)
                cache.put(key, value)
            return value

        wrapper.cache = cache  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
