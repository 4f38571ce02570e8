"""Read tensors and arrays out of printed cell output, without evaluating anything.

Cell output is untrusted text. :func:`parse_arrays` finds every printed tensor or array in it
with a small hand-written tokenizer and recursive-descent parser; it never calls ``eval``,
``exec`` or ``ast.literal_eval``. Understood forms:

- torch reprs: ``tensor([[1., 0.], [0., 1.]])``, ``tensor(3.)``, with trailers such as
  ``dtype=torch.float64``, ``requires_grad=True``, ``grad_fn=<AddBackward0>``,
  ``device='cuda:0'``, ``size=(0, 3)``; ``Parameter containing:`` before them is just text;
- numpy reprs: ``array([[1, 2], [3, 4]])``, ``array([...], dtype=float32)``, ``shape=(0, 3)``;
- bare lists as printed by numpy (``[[1. 0.]\\n [0. 1.]]``, space separated) or by Python
  (``[1, 2, 3]``); a list right after an identifier is indexing (``X[0]``) and
  ``torch.Size([6, 7])`` is a shape: neither is returned;
- numbers in plain or scientific notation, ``nan``, ``inf``, ``-inf``; ``True``/``False``.

Whitespace is free (outputs whose indentation was collapsed parse the same). Summarised tensors
(with ``...``) are skipped because their values are unknown; ragged or garbled constructs are
skipped; nothing raises. Input beyond :data:`MAX_CHARS` is ignored and nesting deeper than
:data:`MAX_DEPTH` is treated as garbled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from .memo import Memo

__all__ = ["MAX_CHARS", "MAX_DEPTH", "PrintedArray", "find_arrays", "parse_arrays"]

MAX_CHARS: Final = 2_000_000
MAX_DEPTH: Final = 32
MAX_TRAILER_TOKENS: Final = 64

FloatArray = npt.NDArray[np.float64]
Kind = Literal["tensor", "array", "list"]


@dataclass(frozen=True)
class PrintedArray:
    """One printed tensor/array found in a text, with where it was."""

    values: FloatArray  # float64; booleans as 0/1
    kind: Kind  # "tensor" (torch repr), "array" (numpy repr) or "list" (bare brackets)
    start: int  # character offsets of the construct in the (capped) text
    end: int
    dtype: str | None = None  # the printed dtype trailer, e.g. "torch.float64", if any


def parse_arrays(text: str) -> list[FloatArray]:
    """Every fully printed tensor/array in ``text``, in order, as float64 arrays (read-only,
    and possibly shared with other callers that parsed the same text: copy to modify)."""
    return [found.values for found in find_arrays(text)]


def find_arrays(text: str) -> list[PrintedArray]:
    """Like :func:`parse_arrays`, with the kind, position and dtype of each construct."""
    text = text[:MAX_CHARS]
    return list(
        _PARSED.get(text, lambda: tuple(_find_arrays(text)), lambda found: _cost(text, found))
    )


# Parses of recent texts: several checks read the same cell outputs, and printed outputs of
# book code recur across submissions. Entries are tuples of frozen PrintedArrays whose
# values are read-only arrays that own no writable base, so a hit cannot be corrupted.
_PARSED: Memo[str, tuple[PrintedArray, ...]] = Memo(max_entries=2048, max_cost=32 * 1024 * 1024)


def _cost(text: str, found: tuple[PrintedArray, ...]) -> int:
    return 2 * len(text) + sum(f.values.nbytes + 200 for f in found)


def _find_arrays(text: str) -> list[PrintedArray]:
    found: list[PrintedArray] = []
    pos = 0
    while (start := _START.search(text, pos)) is not None:
        parser = _Parser(text, start.start())
        try:
            item = parser.construct(start.group("kw"))
        except _Garbled as exc:
            pos = max(exc.pos, start.start() + 1)
            continue
        pos = parser.pos
        if item is not None:
            found.append(item)
    return found


# --------------------------------------------------------------------------- tokens

# A construct starts at `tensor(` / `array(` (not inside a longer identifier) or at a `[`
# that does not follow an identifier, a number or a closing bracket (that is indexing) and
# is followed by something a list can hold.
_START = re.compile(
    r"(?<!\w)(?P<kw>tensor|array)\("
    r"|(?<![\w\])])\[(?=\s*(?:[\[\]]|[+-]?(?:\d|\.\d|nan|inf)|True|False|\.\.\.))"
)
_OPENINGS = re.compile(r"[\s\[]*")
# The number pattern is unambiguous (no two quantifiers compete for the same digits) and a
# failed number is consumed whole as "junk", so long runs of digits cost linear time.
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ellipsis>\.\.\.)
      | (?P<num>[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|nan|inf)(?![\w.]))
      | (?P<word>[A-Za-z_]\w*)
      | (?P<junk>[\w.]+)
      | (?P<punct>\S)
    )""",
    re.VERBOSE,
)
_BOOLS: Final = {"True": 1.0, "False": 0.0}
_SIZE_KEYS: Final = ("size", "shape")


@dataclass(frozen=True)
class _Token:
    kind: str  # "ellipsis" | "num" | "word" | "junk" | "punct" | "end"
    text: str
    start: int
    end: int
    spaced: bool  # whitespace (or the start of the construct) precedes it


class _Garbled(Exception):
    """Not a well-formed construct; scanning resumes at ``pos``."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


@dataclass
class _Node:
    """A parsed list: its shape and values in row-major order."""

    shape: tuple[int, ...]
    flat: list[float]
    elided: bool = False
    ragged: bool = False


# --------------------------------------------------------------------------- parser


class _Parser:
    """Parses one construct starting at ``pos``; ``pos`` ends just after it."""

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos
        self.separator: str | None = None  # "comma" or "space", fixed by the first one seen
        self._cached: _Token | None = None  # the token at ``_cached_at``
        self._cached_at = -1

    def construct(self, keyword: str | None) -> PrintedArray | None:
        start = self.pos
        if keyword is None:
            return self._bare_list(start)
        self.pos += len(keyword) + 1  # past "tensor(" / "array("
        self.separator = "comma"
        node = self._value()
        trailer = self._trailer()
        if node.elided or node.ragged:
            return None
        values = _to_array(node, _size(trailer))
        kind: Kind = "tensor" if keyword == "tensor" else "array"
        return PrintedArray(values, kind, start, self.pos, trailer.get("dtype"))

    def _bare_list(self, start: int) -> PrintedArray | None:
        self._take()  # "["
        node = self._list(1)
        if node.elided or node.ragged or self.text.endswith("Size(", 0, start):
            return None
        return PrintedArray(_to_array(node, None), "list", start, self.pos)

    # -- tokens

    def _peek(self) -> _Token:
        if self._cached is None or self._cached_at != self.pos:
            self._cached, self._cached_at = self._lex(), self.pos
        return self._cached

    def _lex(self) -> _Token:
        m = _TOKEN.match(self.text, self.pos)
        if m is None:
            return _Token("end", "", len(self.text), len(self.text), True)
        kind = m.lastgroup or "punct"
        spaced = m.start(kind) > self.pos or self.pos == 0
        return _Token(kind, m.group(kind), m.start(kind), m.end(), spaced)

    def _take(self) -> _Token:
        token = self._peek()
        self.pos = token.end
        return token

    def _expect(self, text: str) -> _Token:
        token = self._take()
        if token.text != text:
            raise _Garbled(token.start)
        return token

    # -- values

    def _value(self) -> _Node:
        """A scalar or a list, at the top of a tensor(...)/array(...)."""
        token = self._take()
        if token.text == "[":
            return self._list(1)
        return _Node((), [_scalar(token)])

    def _list(self, depth: int) -> _Node:
        """The rest of a list whose "[" was taken."""
        if depth > MAX_DEPTH:  # skip the whole run of brackets, not one at a time
            run = _OPENINGS.match(self.text, self.pos)
            raise _Garbled(run.end() if run else self.pos)
        scalars: list[float] = []
        children: list[_Node] = []
        elided = False
        while True:
            token = self._peek()
            if token.text == "]" and not (scalars or children or elided):
                self._take()
                return _Node((0,), [])
            if scalars or children or elided:
                if token.text == "]":
                    self._take()
                    return _combine(scalars, children, elided)
                token = self._separator(token)
            self._take()
            if token.kind == "ellipsis":
                elided = True
            elif token.text == "[":
                children.append(self._list(depth + 1))
            else:
                scalars.append(_scalar(token))

    def _separator(self, token: _Token) -> _Token:
        """Consume the separator before the next element; return the element's token."""
        if token.text == ",":
            self._set_separator("comma", token)
            self._take()
            return self._peek()
        if token.spaced:
            self._set_separator("space", token)
            return token
        raise _Garbled(token.start)

    def _set_separator(self, kind: str, token: _Token) -> None:
        if self.separator not in (None, kind):
            raise _Garbled(token.start)
        self.separator = kind

    # -- trailer: `, name=value` pairs up to the closing parenthesis

    def _trailer(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        budget = MAX_TRAILER_TOKENS
        while (token := self._take()).text == ",":
            name = self._take()
            if name.kind != "word":
                raise _Garbled(name.start)
            self._expect("=")
            value, used = self._trailer_value(budget)
            fields[name.text] = value
            budget -= used
        if token.text != ")":
            raise _Garbled(token.start)
        return fields

    def _trailer_value(self, budget: int) -> tuple[str, int]:
        """Tokens up to the next top-level "," or ")", as text (brackets not allowed)."""
        parts: list[str] = []
        depth = 0
        while True:
            token = self._peek()
            if token.kind == "end" or token.text in ("[", "]") or len(parts) >= budget:
                raise _Garbled(token.start)
            if depth == 0 and token.text in (",", ")"):
                return "".join(parts), len(parts)
            depth += {"(": 1, ")": -1}.get(token.text, 0)
            parts.append(self._take().text)


# --------------------------------------------------------------------------- helpers


def _scalar(token: _Token) -> float:
    if token.kind == "num":
        return float(token.text)
    if token.kind == "word" and token.text in _BOOLS:
        return _BOOLS[token.text]
    raise _Garbled(token.start)


def _combine(scalars: list[float], children: list[_Node], elided: bool) -> _Node:
    if elided or any(child.elided for child in children):
        return _Node((), [], elided=True)
    if scalars and children:  # numbers mixed with lists: ragged
        return _Node((), [], ragged=True)
    if scalars:
        return _Node((len(scalars),), scalars)
    first = children[0].shape
    if any(child.ragged or child.shape != first for child in children):
        return _Node((), [], ragged=True)
    flat = [x for child in children for x in child.flat]
    return _Node((len(children), *first), flat)


def _size(trailer: dict[str, str]) -> tuple[int, ...] | None:
    """The ``size=(0, 3)`` / ``shape=(0, 3)`` of an empty tensor/array, if printed."""
    for key in _SIZE_KEYS:
        text = trailer.get(key, "").strip("()")
        parts = [p for p in text.split(",") if p]
        if parts and all(p.isdigit() for p in parts):
            return tuple(int(p) for p in parts)
    return None


def _to_array(node: _Node, size: tuple[int, ...] | None) -> FloatArray:
    shape = size if size is not None and not node.flat and 0 in size else node.shape
    # Read-only over immutable bytes: the flag cannot be turned back on (parses are shared).
    raw = np.array(node.flat, dtype=np.float64).tobytes()
    return np.frombuffer(raw, dtype=np.float64).reshape(shape)
