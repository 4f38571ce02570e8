"""Bounded, content-keyed memo tables for the grader's own pure computations.

In a class the same code cells and printed outputs recur across students (book code copied
into every notebook), so remembering what the grader computed from a piece of text (static
facts of a cell, the arrays printed in an output) or a predicate's verdict on a value saves
CPU across checks and across submissions. Keys are content (text, or a digest of an array's
dtype, shape and bytes), never a student object: nothing from a submission has its own
``__eq__``/``__hash__`` called. Cached values must be immutable (frozen dataclasses, tuples,
read-only arrays) because every hit hands out the same object.

A :class:`Memo` is bounded both in entries and in total cost (an estimate of the bytes it
holds), evicting the least recently used entries; it is safe to share between threads.
Every memo table is known to :func:`clear_all`, which a grading session calls when it
closes (:mod:`grader.session`): a batch keeps what it learnt for its own duration only.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar, cast

import numpy as np
import numpy.typing as npt

from .model import Array, Opaque

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """A least-recently-used table with at most ``max_entries`` entries and ``max_cost``
    total cost. An entry whose own cost exceeds ``max_cost // 8`` is computed, not kept."""

    def __init__(self, max_entries: int, max_cost: int) -> None:
        self.max_entries = max_entries
        self.max_cost = max_cost
        self._table: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._cost = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        _ALL.add(self)

    def __len__(self) -> int:
        return len(self._table)

    def get(self, key: K, compute: Callable[[], V], cost: Callable[[V], int] | None = None) -> V:
        """The value remembered for ``key``, else ``compute()`` (remembered if it fits).
        ``cost(value)`` estimates its size; without it every entry costs 1."""
        with self._lock:
            entry = self._table.get(key)
            if entry is not None:
                self._table.move_to_end(key)
                self.hits += 1
                return entry[0]
            self.misses += 1
        value = compute()  # outside the lock: computing may be slow (or re-enter)
        size = cost(value) if cost is not None else 1
        if size > self.max_cost // 8:
            return value
        with self._lock:
            if key not in self._table:
                self._table[key] = (value, size)
                self._cost += size
                while self._table and (
                    len(self._table) > self.max_entries or self._cost > self.max_cost
                ):
                    _, (_, evicted) = self._table.popitem(last=False)
                    self._cost -= evicted
        return value

    def clear(self) -> None:
        with self._lock:
            self._table.clear()
            self._cost = 0
            self.hits = self.misses = 0


_ALL: weakref.WeakSet[Memo[Any, Any]] = weakref.WeakSet()


def clear_all() -> None:
    """Empty every memo table of this process (module-level ones and those of rubrics'
    references alike)."""
    for table in list(_ALL):
        table.clear()


def value_key(value: object) -> Hashable | None:
    """A content key for a grader-side value (numpy arrays, :class:`~grader.model.Array`,
    :class:`~grader.model.Opaque`, exact ``bool``/``int``/``float``/``str``/``None`` and
    tuples of these), or None when the value must not be memoised. Only exact types are
    keyed, so no subclass's ``__eq__``/``__hash__`` is ever involved; arrays are keyed by
    dtype, shape, memory layout and a digest of their bytes, floats by their bits (``-0.0``
    is not ``0.0``)."""
    kind = type(value)  # exact types only: never isinstance, never the value's own methods
    if value is None:
        return ("none",)
    if kind is bool or kind is int or kind is str:
        return (kind.__name__, value)
    if kind is float:
        return ("float", struct.pack("<d", value))
    if kind is np.ndarray:
        return _array_key(cast("npt.NDArray[Any]", value))
    if kind is Array:
        arr = cast(Array, value)
        data = _array_key(arr.data) if type(arr.data) is np.ndarray else None
        if data is None or type(arr.kind) is not str or type(arr.requires_grad) is not bool:
            return None
        return ("Array", data, arr.kind, arr.requires_grad)
    if kind is tuple:
        items = tuple(value_key(v) for v in cast("tuple[object, ...]", value))
        return None if any(i is None for i in items) else ("tuple", items)
    if kind is Opaque:
        op = cast(Opaque, value)
        if (
            type(op.type_name) is not str
            or type(op.callable) is not bool
            or not (op.params is None or type(op.params) is int)
        ):
            return None
        return ("Opaque", op.type_name, op.callable, op.params)
    return None


def _array_key(arr: npt.NDArray[Any]) -> Hashable | None:
    if arr.dtype.hasobject or arr.dtype.fields is not None:
        return None  # object or structured arrays: their bytes are not their values
    digest = hashlib.blake2b(arr.tobytes(), digest_size=32).digest()
    shape = tuple(int(s) for s in arr.shape)
    strides = tuple(int(s) for s in arr.strides)  # the memory layout, too (summation order)
    return ("ndarray", arr.dtype.str, shape, strides, digest)
