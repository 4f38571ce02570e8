"""What a check sees of one submission, and the small API it uses to query it.

Values from the student's process arrive as decoded plain data (:mod:`grader.values`); the
context never hands a check a live student object. Calls into the submission are cached so
that several checks asking the same question cost one round trip.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .. import analysis
from ..behaviour import Attribution, Place
from ..errors import ProbeError
from ..i18n import N_
from ..locate import Answer
from ..markup import string_blocks
from ..model import Array, CheckResult, Edition, Execution, Notebook, Value
from ..rubric import CheckSpec, ExerciseSpec, Reference, Rubric
from ..tensor_text import parse_arrays
from ..values import as_array, decode, encode
from .base import allclose
from .literals import inline_arrays

FloatArray = npt.NDArray[np.float64]

# A request's cache key: json.dumps(request, sort_keys=True), from one shared encoder (dumps
# builds a new encoder for every call with options).
_request_key = json.JSONEncoder(sort_keys=True).encode


class ProbeChannel(Protocol):
    @property
    def alive(self) -> bool: ...

    def probe(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def probe_many(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class CallOutcome:
    """The result of calling a student function: a value, or the error it raised."""

    ok: bool
    value: Value = None
    ename: str = ""
    evalue: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def array(self) -> FloatArray | None:
        return as_array(self.value) if self.ok else None

    def describe(self) -> str:
        if self.ok:
            arr = self.array
            return (
                N_("an array of shape {shape}").format(shape=tuple(arr.shape))
                if arr is not None
                else N_("a non-array")
            )
        return f"{self.ename}: {self.evalue}"[:200]


@dataclass(frozen=True)
class Candidate:
    """A value the student produced in some cell."""

    value: FloatArray
    cell: int  # 0-based notebook index
    name: str | None  # the binding's name, None for displayed/printed values
    origin: str  # "binding" | "result" | "printed" | "inline" | "pasted" | "written"
    position: int = 0  # which result / printed array of the cell (0 for bindings)
    tier: int = 0  # 0: in the answer's own cells; else found by behaviour (see Place.tier)

    @property
    def key(self) -> tuple[int, str, str | int]:
        """What identifies it among the notebook's values (for claims)."""
        return (self.cell, self.origin, self.name if self.name is not None else self.position)


class CheckContext:
    def __init__(
        self,
        *,
        notebook: Notebook,
        execution: Execution,
        channel: ProbeChannel | None,
        rubric: Rubric,
        exercise: ExerciseSpec,
        answers: Mapping[str, Answer],
        edition: Edition | None,
        cache: dict[str, Any],
        seed: str = "",
        attribution: Attribution | None = None,
    ) -> None:
        self.notebook = notebook
        self.execution = execution
        self.channel = channel
        self.rubric = rubric
        self.exercise = exercise
        # the answers as the text placed them; they grow as checks find answers by behaviour
        self.attribution = attribution or Attribution(notebook, rubric, answers)
        self.edition = edition
        self._cache = cache  # shared by all checks of one submission
        self._seed = seed

    # ----------------------------------------------------------------- reference & rng
    @property
    def reference(self) -> Reference:
        if self.rubric.reference is None:
            raise ProbeError("this rubric has no reference module")
        return self.rubric.reference

    def rng(self, label: str) -> np.random.Generator:
        """A deterministic generator per rubric version, exercise and label."""
        key = f"{self._seed}|{self.rubric.version}|{self.exercise.id}|{label}"
        return np.random.default_rng(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))

    # ----------------------------------------------------------------- located answers
    @property
    def answers(self) -> Mapping[str, Answer]:
        return self.attribution.answers

    def answer(self, exercise_id: str | None = None) -> Answer:
        return self.attribution.answer(exercise_id or self.exercise.id)

    def candidates(
        self, exercise_ids: Sequence[str] | None = None, evidence: str | None = None
    ) -> list[Candidate]:
        """Arrays the student bound, displayed or printed in the given exercises' cells. A
        cell the text gives them only weakly (code after a pasted list of questions) counts
        only if it shows ``evidence`` (see :meth:`Attribution.shows`)."""
        cells: set[int] = set()
        for eid in exercise_ids or [self.exercise.id]:
            a = self.answer(eid)
            weak = set(a.weak)
            cells.update(
                i for i in a.code_cells if i not in weak or self.attribution.shows(i, evidence, eid)
            )
        return self._values({i: 0 for i in cells})

    def elsewhere(
        self,
        exercise_ids: Sequence[str] | None = None,
        evidence: str | None = None,
        latest: bool = True,
        allow: Sequence[str] = (),
    ) -> list[Candidate]:
        """Arrays in the cells outside the given exercises' answers where their answer may
        be (:meth:`Attribution.places`), unclaimed by other exercises and, with
        ``evidence``, only from cells that show it; nearest tier first, then the latest
        cell first (a student's last attempt) or, with ``latest=False``, the earliest.
        Values claimed by the exercises in ``allow`` count too."""
        eid = self.exercise.id
        places: list[Place] = self.attribution.places(exercise_ids or [eid])
        tiers = {p.cell: p.tier for p in places if self.attribution.shows(p.cell, evidence, eid)}
        found = self._values(tiers)
        # unclaimed, or claimed by an exercise in ``allow`` (an input another answer made)
        found = [
            c
            for c in found
            if not self.attribution.taken(c.key, eid) or self.attribution.owner(c.key) in allow
        ]
        found.sort(key=lambda c: (c.tier, -c.cell if latest else c.cell))
        return found

    def mentioned(self, exercise_ids: Sequence[str] | None = None) -> frozenset[str]:
        """Names the given answers' text writes as code (`` `D` = 7x7 anti-diagonal ``): the
        student saying which of their values is the answer."""
        names: set[str] = set()
        for eid in exercise_ids or [self.exercise.id]:
            for span in _CODE_SPAN.findall(self.answer(eid).prose):
                names.update(_IDENTIFIER.findall(span))
        return frozenset(names)

    def pasted(self, exercise_ids: Sequence[str] | None = None) -> list[Candidate]:
        """Arrays the student *wrote* rather than computed, in the code cells of the given
        exercises' answers: in top-level strings (outputs pasted into docstrings: origin
        "pasted"), and anywhere in cells that could not run (origin "written"). Evidence of
        what the student saw, weighed below anything the grader computed. (A kernel named
        only in prose is the written answer's business, not a value's.)"""
        out: list[Candidate] = []
        failed = {r.index for r in self.execution.cells if r.error is not None}
        for eid in exercise_ids or [self.exercise.id]:
            for i in self.answer(eid).code_cells:
                source = self.notebook.cells[i].source
                if i in failed:
                    texts, origin = [source], "written"
                else:
                    texts, origin = string_blocks(source), "pasted"
                k = 0
                for text in texts:
                    for arr in parse_arrays(text):
                        out.append(Candidate(arr, i, None, origin, k))
                        k += 1
        return out

    def inline(self, exercise_ids: Sequence[str] | None = None) -> list[Candidate]:
        """Arrays written inline in the given exercises' code cells that ran cleanly
        (``corr2d(x, torch.tensor([[1., -2., 1.]]))``, ``torch.ones(1, n)``): origin
        "inline", read from the source (:mod:`grader.checks.literals`), never evaluated."""
        out: list[Candidate] = []
        runs = {r.index: r for r in self.execution.cells}
        for eid in exercise_ids or [self.exercise.id]:
            for i in self.answer(eid).code_cells:
                run = runs.get(i)
                if run is None or run.error is not None:
                    continue
                scalars = {
                    k: float(v)
                    for k, v in self.env(i).items()
                    if isinstance(v, int) and not isinstance(v, bool)
                }
                source = self.notebook.cells[i].source
                for k, arr in enumerate(inline_arrays(source, scalars)):
                    out.append(Candidate(arr, i, None, "inline", k))
        return out

    def returned(self, cells: Sequence[int]) -> list[Candidate]:
        """Arrays returned by the student's functions of no arguments that only build a
        value (:func:`grader.analysis.value_makers`: ``def blur_kernel(): return ...``),
        defined in ``cells`` and called in their process: origin "returned", named
        ``blur_kernel()``."""
        out: list[Candidate] = []
        for i in dict.fromkeys(cells):
            for k, fn in enumerate(analysis.value_makers(self.notebook.cells[i].source)):
                if self.attribution.defined_in(fn) != i:
                    continue  # redefined later: the namespace holds the later one
                try:
                    arr = self.call(fn, []).array
                except ProbeError:
                    return out
                if arr is not None and arr.ndim >= 1:
                    out.append(Candidate(arr, i, f"{fn}()", "returned", k))
        return out

    def claim(self, candidate: Candidate) -> None:
        """``candidate`` answers this exercise: other exercises' searches skip it."""
        self.attribution.claim(candidate.key, self.exercise.id)

    def adopt(self, cell: int, note: str) -> None:
        """``cell`` holds this exercise's answer (found by behaviour)."""
        self.attribution.adopt(self.exercise.id, cell, note)

    def _values(self, tiers: Mapping[int, int]) -> list[Candidate]:
        out: list[Candidate] = []
        for run in self.execution.cells:
            tier = tiers.get(run.index)
            if tier is None:
                continue
            for name, value in run.bindings.items():
                arr = as_array(value)
                if arr is not None and arr.ndim >= 1:
                    out.append(Candidate(arr, run.index, name, "binding", 0, tier))
            for k, value in enumerate(run.results):
                arr = as_array(value)
                if arr is not None:
                    out.append(Candidate(arr, run.index, None, "result", k, tier))
            results = [as_array(v) for v in run.results]
            for k, arr in enumerate(parse_arrays(run.text)):
                if not any(
                    r is not None and r.shape == arr.shape and allclose(r, arr) for r in results
                ):
                    out.append(Candidate(arr, run.index, None, "printed", k, tier))
        return out

    def shown_source(self, candidate: Candidate) -> str:
        """The code that showed ``candidate``: its own print or expression where that can be
        told (:func:`grader.analysis.shown_by`), else its whole cell."""
        source = self.notebook.cells[candidate.cell].source
        if candidate.origin not in ("result", "printed"):
            return source
        run = next((r for r in self.execution.cells if r.index == candidate.cell), None)
        printed = len(parse_arrays(run.text)) if run is not None else -1
        return analysis.shown_by(source, candidate.origin, candidate.position, printed)

    def failed_cells_note(self, exercise_id: str | None = None) -> str:
        """' (cell 5 raised SyntaxError: ...)' when a cell of the answer failed, else ''."""
        cells = set(self.answer(exercise_id).code_cells)
        for run in self.execution.cells:
            if run.index in cells and run.error is not None:
                err = run.error
                return " " + N_("(cell {cell} raised {ename}: {evalue})").format(
                    cell=err.cell, ename=err.ename, evalue=err.evalue[:100]
                )
        return ""

    def env(self, upto_cell: int | None = None) -> dict[str, Value]:
        """Names bound by the cells that ran up to ``upto_cell`` (inclusive), latest wins."""
        env: dict[str, Value] = {}
        for run in self.execution.cells:
            env.update(run.bindings)
            if upto_cell is not None and run.index == upto_cell:
                break
        return env

    # ----------------------------------------------------------------- the live process
    @property
    def alive(self) -> bool:
        return self.channel is not None and self.channel.alive

    def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        key = _request_key(request)
        if key not in self._cache:
            if self.channel is None or not self.channel.alive:
                raise ProbeError("the notebook's process is not running")
            self._cache[key] = self.channel.probe(request)
        reply: dict[str, Any] = self._cache[key]
        return reply

    def namespace(self) -> Mapping[str, Mapping[str, Any]]:
        """The student's top-level names: type, whether callable, parameter count."""
        reply = self._request({"op": "namespace"})
        ns = reply.get("namespace")
        if not reply.get("ok") or not isinstance(ns, dict):
            raise ProbeError(
                "the notebook's names could not be listed "
                f"({reply.get('ename', 'no reply')}: {str(reply.get('evalue', ''))[:100]})"
            )
        return {str(k): v for k, v in ns.items() if isinstance(v, dict)}

    def get(self, name: str) -> Value:
        reply = self._request({"op": "get", "name": name})
        return decode(reply["value"]) if reply.get("ok") else None

    def _requests(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Like :meth:`_request` for several requests, sent in one round trip where the
        channel can batch them (``probe_many``), in order."""
        keys = [_request_key(r) for r in requests]
        todo = {k: r for k, r in zip(keys, requests, strict=True) if k not in self._cache}
        if todo:
            if self.channel is None or not self.channel.alive:
                raise ProbeError("the notebook's process is not running")
            if len(todo) > 1:
                replies = self.channel.probe_many(list(todo.values()))
            else:
                replies = [self.channel.probe(r) for r in todo.values()]
            self._cache.update(zip(todo, replies, strict=True))
        return [self._cache[k] for k in keys]

    def call(self, name: str, args: Sequence[Any], kind: str = "torch") -> CallOutcome:
        req = {"op": "call", "target": name, "args": [encode(a, kind) for a in args]}
        return self._outcome(self._request(req))

    def call_many(
        self, name: str, calls: Sequence[Sequence[Any]], kind: str = "torch"
    ) -> list[CallOutcome]:
        """``call`` for each argument list, in order, in one round trip."""
        reqs = [
            {"op": "call", "target": name, "args": [encode(a, kind) for a in args]}
            for args in calls
        ]
        return [self._outcome(reply) for reply in self._requests(reqs)]

    def replay_many(
        self,
        params: Sequence[str],
        body: str,
        result: str,
        calls: Sequence[Sequence[Any]],
        kind: str = "torch",
    ) -> list[CallOutcome]:
        """Run the student's statements ``body`` as a function of ``params`` returning
        ``result``, in their process, for each argument list (:mod:`grader.checks.rebuild`)."""
        reqs = [
            {
                "op": "replay",
                "params": list(params),
                "body": body,
                "result": result,
                "args": [encode(a, kind) for a in args],
            }
            for args in calls
        ]
        return [self._outcome(reply) for reply in self._requests(reqs)]

    def module(
        self,
        name: str,
        init_args: Sequence[Any],
        params: Mapping[str, Any],
        inputs: Sequence[Any],
        backward: bool = False,
    ) -> CallOutcome:
        """Build the class ``name`` with ``init_args``, set its parameters, run forward on
        ``inputs`` (and backward of the output's sum)."""
        return self.module_many(name, [(init_args, params, inputs)], backward)[0]

    def module_many(
        self,
        name: str,
        runs: Sequence[tuple[Sequence[Any], Mapping[str, Any], Sequence[Any]]],
        backward: bool = False,
    ) -> list[CallOutcome]:
        """``module`` for each (init_args, params, inputs), in order, in one round trip."""
        reqs = [
            {
                "op": "module",
                "target": name,
                "init_args": [encode(a) for a in init_args],
                "params": {k: encode(v) for k, v in params.items()},
                "inputs": [encode(a) for a in inputs],
                "backward": backward,
            }
            for init_args, params, inputs in runs
        ]
        return [self._outcome(reply) for reply in self._requests(reqs)]

    @staticmethod
    def _outcome(reply: Mapping[str, Any]) -> CallOutcome:
        if not reply.get("ok"):
            return CallOutcome(
                False,
                ename=str(reply.get("ename", "Error")),
                evalue=str(reply.get("evalue", ""))[:300],
            )
        extra = {k: v for k, v in reply.items() if k in ("grads", "params")}
        return CallOutcome(True, decode(reply.get("value")), extra=extra)

    def functions(self, params: int | None = None, classes: bool = False) -> list[str]:
        """Callables the student defined, optionally with a given positional arity."""
        out = []
        for name, entry in self.namespace().items():
            if not entry.get("callable") or not entry.get("owner"):
                continue
            if bool(entry.get("is_class")) != classes:
                continue
            if params is not None and entry.get("params") != params:
                continue
            out.append(name)
        return out

    def find_callable(
        self,
        names: Sequence[str],
        params: int | None,
        behaves: Callable[[str], bool] | None = None,
        classes: bool = False,
        only: set[str] | None = None,
    ) -> tuple[str | None, str]:
        """A student callable by name/alias, else by behaviour (among ``only``, if given,
        preferring those the exercise's cells define). Returns (name, how)."""
        ns = self.namespace()
        for name in names:
            entry = ns.get(name)
            if entry and entry.get("callable") and bool(entry.get("is_class")) == classes:
                return name, "name"
        if behaves is not None:
            defined_here = set(self.answer().defines)
            eid = self.exercise.id

            def rank(name: str) -> tuple[int, str]:
                # this answer's own first, then code no other question's text holds (the
                # section's `xcorr2d` before exercise 4's `corr2d_matmul`), by name
                if name in defined_here:
                    return 0, name
                cell = self.attribution.defined_in(name)
                held = cell is not None and self.attribution.held_by_another(cell, eid)
                return 1 + held, name

            ordered = sorted(
                (n for n in self.functions(params, classes) if only is None or n in only),
                key=rank,
            )
            for name in ordered[:12]:
                if behaves(name):
                    return name, "behaviour"
        return None, "missing"

    # ----------------------------------------------------------------- results
    def result(
        self,
        spec: CheckSpec,
        fraction: float,
        feedback: Sequence[str] = (),
        diagnoses: Sequence[str] = (),
        *,
        needs_review: bool = False,
        found: bool = True,
        errored: bool = False,
    ) -> CheckResult:
        fraction = min(1.0, max(0.0, fraction))
        passed = fraction >= 1.0 - 1e-9
        lines = list(feedback)
        if passed and spec.feedback_pass:
            lines.insert(0, spec.feedback_pass)
        if not passed and spec.feedback_fail and found:
            lines.append(spec.feedback_fail)
        return CheckResult(
            check=f"{self.exercise.id}/{spec.label}",
            type=spec.type,
            score=round(spec.points * fraction, 4),
            max_score=spec.points,
            passed=passed,
            feedback=tuple(lines),
            diagnoses=tuple(dict.fromkeys(diagnoses)),
            needs_review=needs_review,
            public=spec.public,
            found=found,
            errored=errored,
        )

    def diagnosis(self, diagnosis_id: str) -> str:
        for d in self.exercise.diagnoses:
            if d.id == diagnosis_id:
                return d.feedback
        return ""

    def iter_diagnoses(self, kind: str) -> Iterator[Any]:
        for d in self.exercise.diagnoses:
            if (
                (kind == "mutant" and d.mutant)
                or (kind == "shapes" and d.shapes)
                or (kind == "prose" and d.prose)
                or (kind == "execution" and d.execution)
            ):
                yield d


_CODE_SPAN = re.compile(r"`([^`\n]{1,60})`")
_IDENTIFIER = re.compile(r"(?<![.\w])[A-Za-z_]\w*")


def is_array(value: Value) -> bool:
    return isinstance(value, Array)
