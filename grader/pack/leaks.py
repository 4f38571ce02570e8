"""The leak scan: a pack folder must hold nothing the final grade keeps secret.

:func:`scan` looks through every file of the folder for

- the reference module's source: the whole file, a ``def`` of a secret function (a
  reference, mutant, gradient or case generator, or the judge of a check that is not
  published), or any distinctive line of one;
- the name of every check left out of the pack, and the text (hints) of those checks;
- every diagnosis's ``example``;
- every hidden input and every reference output on a hidden input: the cases each
  ``function`` and ``module`` check of the full rubric generates with the course's seed
  (``GRADER_SEED``), and the reference's, the gradients' and the mutants' results on them.

Numbers are compared as numbers, not as text: a value that is not a multiple of 1/16 (a
random real) is a leak wherever it appears as a number; an array of coarse values (integer
inputs, their outputs) is a leak where an array of the same shape and values appears, if
it has at least 4 entries (fewer are not distinctive). Arrays and values the public cases
also contain are public, and skipped. The public part is computed afresh from the rubric,
so a value planted in the folder is never mistaken for a public one.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..rubric import Rubric
from .data import PackError, decode
from .freeze import WITH_CASES, _roles, freeze, iter_arrays, left_out

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
MIN_COARSE = 4


def secret_rng(seed: str, version: str, exercise: str, label: str) -> np.random.Generator:
    """The generator of a check's hidden cases (as :meth:`CheckContext.rng` makes it)."""
    text = f"{seed}|{version}|{exercise}|{label}"
    return np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:16], 16))


def _distinctive(x: float) -> bool:
    return bool(np.isfinite(x)) and float(x) * 16 != round(float(x) * 16)


def _texts(folder: Path) -> dict[str, str]:
    out = {}
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            out[str(file.relative_to(folder))] = file.read_bytes().decode("utf-8", "replace")
    return out


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _json_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _json_strings(v)


def _json_arrays(value: Any) -> Iterator[np.ndarray[Any, Any]]:
    """Packed arrays and plain (rectangular) lists of numbers anywhere in a JSON value."""
    if isinstance(value, dict):
        if set(value) == {"array"}:
            try:
                yield np.asarray(decode(value), dtype=np.float64)
                return
            except PackError:
                pass
        for v in value.values():
            yield from _json_arrays(v)
    elif isinstance(value, list):
        if value and all(isinstance(v, int | float | list) for v in value):
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (ValueError, TypeError):
                arr = None
            if arr is not None:
                yield arr
                if arr.ndim:
                    return
        for v in value:
            yield from _json_arrays(v)


def _source_secrets(source: str, secret: set[str]) -> tuple[list[str], set[str]]:
    """The secret functions' names with a ``def`` and their distinctive lines: stripped, at
    least 20 characters, and found nowhere else in the module."""
    tree = ast.parse(source)
    lines = source.splitlines()
    inside: set[int] = set()
    defs = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in secret:
            defs.append(node.name)
            inside.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    outside = {lines[i].strip() for i in range(len(lines)) if i not in inside}
    distinctive = {
        lines[i].strip()
        for i in inside
        if len(lines[i].strip()) >= 20 and lines[i].strip() not in outside
    }
    return defs, distinctive


def hidden_values(rubric: Rubric, seed: str) -> list[tuple[str, np.ndarray[Any, Any]]]:
    """(what, array) for every hidden input and every reference output on one."""
    ref = rubric.reference
    out: list[tuple[str, np.ndarray[Any, Any]]] = []
    if ref is None:
        return out
    for ex in rubric.exercises:
        mutants = [d.mutant for d in ex.diagnoses if d.mutant]
        for spec in ex.checks:
            if spec.type not in WITH_CASES or "cases" not in spec.options:
                continue
            where = f"{ex.id}/{spec.label}"
            gen = ref.function(str(spec.options["cases"]))
            for n, case in enumerate(gen(secret_rng(seed, rubric.version, ex.id, spec.label))):
                for arr in iter_arrays(tuple(case)):
                    out.append((f"hidden input {n} of {where}", arr))
                fns = [str(spec.options[o]) for o in ("reference", "grads") if o in spec.options]
                fns += mutants if spec.type == "function" else []
                for name in fns:
                    try:
                        result = ref.function(name)(*case)
                    except Exception:
                        continue
                    for arr in iter_arrays(result if isinstance(result, dict) else (result,)):
                        out.append((f"{name}'s output on hidden input {n} of {where}", arr))
    return out


def scan(folder: str | Path, rubric: Rubric, seed: str | None = None) -> list[str]:
    """The leaks found in the pack ``folder`` made from ``rubric`` (empty: none)."""
    if seed is None:
        seed = os.environ.get("GRADER_SEED", "")
    texts = _texts(Path(folder))
    parsed: dict[str, Any] = {}
    for name, text in texts.items():
        if name.endswith(".json"):
            try:
                parsed[name] = json.loads(text)
            except json.JSONDecodeError:
                parsed[name] = None
    haystack = {
        name: "\n".join([text, *_json_strings(parsed.get(name))]) for name, text in texts.items()
    }
    stripped = {name: {ln.strip() for ln in text.splitlines()} for name, text in haystack.items()}
    leaks: list[str] = []

    def find(needle: str, what: str) -> None:
        for name, text in haystack.items():
            if needle and needle in text:
                leaks.append(f"{what} in {name}")
                return

    def find_line(line: str, what: str) -> None:
        for name, found in stripped.items():
            if line in found:
                leaks.append(f"{what} in {name}")
                return

    # the reference's source
    ref = rubric.reference
    source = Path(ref.path).read_text(encoding="utf-8") if ref else ""
    find(source.strip(), "the reference module's source")
    defs, lines = _source_secrets(source, set(_roles(rubric)))
    for fn in defs:
        rx = re.compile(rf"\bdef\s+{re.escape(fn)}\s*\(")
        for name, text in haystack.items():
            if rx.search(text):
                leaks.append(f"the definition of {fn} in {name}")
    for line in sorted(lines):
        find_line(line, f"a line of a secret reference function ({line[:30]}...)")

    # hidden checks and diagnoses' examples
    public = freeze(rubric).doc  # the public part, afresh: nothing planted counts as public
    public_strings = set(_json_strings(public))
    packed = {s.label for ex in rubric.exercises for s in ex.checks if left_out(s) is None}
    for ex in rubric.exercises:
        for spec in ex.checks:
            if left_out(spec) is None:
                continue
            if spec.label not in packed and spec.label not in public_strings:
                rx = re.compile(rf"(?<![\w-]){re.escape(spec.label)}(?![\w-])")
                for name, text in haystack.items():
                    if rx.search(text):
                        leaks.append(f"the hidden check {ex.id}/{spec.label}'s name in {name}")
            for t in _json_strings(dict(spec.options)):
                if len(t) >= 20 and t not in public_strings:
                    find(t, f"text of the hidden check {ex.id}/{spec.label}")
        for d in ex.diagnoses:
            if d.example.strip():
                find(d.example.strip(), f"the example of diagnosis {ex.id}/{d.id}")

    # hidden inputs and outputs
    public_arrays = [a for a in _json_arrays(public["cases"])]
    public_arrays += list(_json_arrays(public["functions"]))
    public_values = {float(x) for a in public_arrays for x in a.ravel() if _distinctive(x)}
    public_keys = {(a.shape, a.tobytes()) for a in public_arrays}
    numbers: dict[float, str] = {}
    shaped: dict[tuple[tuple[int, ...], bytes], str] = {}
    for name, text in texts.items():
        for token in _NUMBER.findall(text):
            numbers.setdefault(float(token), name)
        for arr in _json_arrays(parsed.get(name)):
            shaped.setdefault((arr.shape, arr.tobytes()), name)
    for what, arr in hidden_values(rubric, seed):
        a = np.asarray(arr, dtype=np.float64)
        if (a.shape, a.tobytes()) in public_keys:
            continue
        hit = next(
            (
                numbers[float(x)]
                for x in a.ravel()
                if _distinctive(x) and float(x) not in public_values and float(x) in numbers
            ),
            None,
        )
        if hit is None and a.size >= MIN_COARSE:
            hit = shaped.get((a.shape, a.tobytes()))
        if hit is not None:
            leaks.append(f"a value of the {what} in {hit}")
    return list(dict.fromkeys(leaks))
