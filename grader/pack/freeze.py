"""Freezing a rubric's public part: the checks a student may run, with the reference's
results on the public inputs as data.

What goes in (docs/rubrics.md, "The public part"):

- checks with ``public: true`` (the default) whose type needs no reference code to judge:
  ``error``, ``prose``, ``runs``, ``source``, and plugin types that say ``freezes = True``;
- ``function`` checks with a ``reference`` and ``module`` checks: their public cases (the
  first ``public_cases`` of the case generator, default 3, or those indices; generated with
  a *public* generator that does not depend on ``GRADER_SEED``) and the reference's, the
  gradients' and every mutant's results on exactly those cases;
- checks judged by a predicate written in Python (``property``, ``output``, ``function``
  with ``predicate``) only when the instructor declares ``public_predicate: true``: the
  predicate's source (and the helpers it needs) is published; publishing a function the
  rubric uses as a reference, a mutant, a gradient or a case generator is refused.

Everything else (hidden checks, their names, the hidden inputs, diagnoses only hidden
checks evaluate, every diagnosis's ``example``) stays out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import numpy as np

from .. import __version__
from ..checks import registry
from ..rubric import CheckSpec, DiagnosisSpec, ExerciseSpec, Reference, Rubric
from .data import decode, encode, key
from .extract import closure

FORMAT = "grader-pack/1"
DEFAULT_PUBLIC_CASES = 3
REFERENCE_FREE = frozenset({"error", "prose", "runs", "source"})
WITH_CASES = frozenset({"function", "module"})
PACK_MARK = "__grader_pack__"


def public_rng(version: str, exercise: str, label: str) -> np.random.Generator:
    """The generator of a check's public cases: the rubric's version, exercise and check,
    and no course secret, so a pack is the same wherever it is made."""
    text = f"public|{version}|{exercise}|{label}"
    return np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:16], 16))


def published_names(spec: CheckSpec) -> list[str]:
    """The reference functions a check declared ``public_predicate`` publishes."""
    if not spec.options.get("public_predicate"):
        return []
    if spec.type == "output":
        preds = [str(i["predicate"]) for i in spec.options["inputs"] if i.get("predicate")]
        return [str(spec.options["reference"]), *preds]
    if spec.type in ("property", "function") and "predicate" in spec.options:
        return [str(spec.options["predicate"])]
    return []


def left_out(spec: CheckSpec) -> str | None:
    """Why a check stays out of the public part, or None if it goes in."""
    if not spec.public:
        return "public: false"
    if spec.type in REFERENCE_FREE or spec.type == "module":
        return None
    if spec.type == "function" and "reference" in spec.options:
        return None
    if spec.type in ("function", "property", "output"):
        if spec.options.get("public_predicate"):
            return None
        return "judged by Python code (declare `public_predicate: true` to publish it)"
    if getattr(registry().get(spec.type), "freezes", False):
        return None
    return f"a `{spec.type}` check (a plugin type that does not declare `freezes = True`)"


def is_pack(rubric: Rubric) -> bool:
    return rubric.reference is not None and bool(getattr(rubric.reference.module, PACK_MARK, 0))


@dataclass(frozen=True)
class Frozen:
    """A rubric's public part: ``doc`` is the JSON document, ``published`` the reference
    functions whose source goes beside it, ``notes`` what stayed out and why (for the
    instructor only: it names hidden checks)."""

    doc: Mapping[str, Any]
    published: tuple[str, ...]
    notes: tuple[str, ...]


def _roles(rubric: Rubric) -> dict[str, str]:
    """Reference functions that must stay secret, with the role that makes them so."""
    roles: dict[str, str] = {}
    declared = {
        n for ex in rubric.exercises for c in ex.checks if c.public for n in published_names(c)
    }
    for ex in rubric.exercises:
        for d in ex.diagnoses:
            if d.mutant:
                roles.setdefault(d.mutant, f"the mutant of diagnosis {ex.id}/{d.id}")
        for c in ex.checks:
            where = f"{ex.id}/{c.label}"
            for opt in ("reference", "cases", "grads"):
                if c.type in WITH_CASES and opt in c.options:
                    roles.setdefault(str(c.options[opt]), f"the `{opt}` of {where}")
            for name in _judges(c):
                if name not in declared:
                    roles.setdefault(name, f"the judge of {where}, which is not published")
    return roles


def _judges(spec: CheckSpec) -> list[str]:
    names = [str(spec.options[o]) for o in ("predicate",) if o in spec.options]
    if spec.type == "output":
        names.append(str(spec.options["reference"]))
        names += [str(i["predicate"]) for i in spec.options["inputs"] if i.get("predicate")]
    return names


def _selection(spec: CheckSpec, count: int) -> list[int]:
    chosen = spec.options.get("public_cases", DEFAULT_PUBLIC_CASES)
    if isinstance(chosen, int):
        return list(range(min(chosen, count)))
    bad = [i for i in chosen if i >= count]
    if bad:
        raise spec.error("public_cases", f"index {bad[0]} is out of range: there are {count}")
    return list(dict.fromkeys(int(i) for i in chosen))


def _check_options(spec: CheckSpec) -> None:
    if "public_cases" in spec.options and spec.type not in WITH_CASES:
        raise spec.error("public_cases", "only `function` and `module` checks have cases")
    if spec.options.get("public_predicate") and not published_names(spec):
        raise spec.error("public_predicate", f"a `{spec.type}` check here has no predicate")


class _Functions:
    """The frozen reference calls: name -> {content key of the arguments: result}."""

    def __init__(self, reference: Reference | None) -> None:
        self.reference = reference
        self.table: dict[str, dict[str, Any]] = {}

    def record(self, name: str, args: tuple[Any, ...], spec: CheckSpec, may_raise: bool) -> None:
        entries = self.table.setdefault(name, {})
        k = key(args)
        if k in entries:
            return
        assert self.reference is not None  # a check with cases names reference functions
        try:
            value = self.reference.function(name)(*args)
        except Exception as exc:
            if not may_raise:
                raise spec.error(
                    "cases", f"the reference function {name!r} raised {exc!r} on a public case"
                ) from exc
            entries[k] = {"args": encode(args), "raises": type(exc).__name__}
            return
        entries[k] = {"args": encode(args), "value": encode(value)}


def freeze(rubric: Rubric) -> Frozen:
    """The public part of ``rubric`` (see the module's docstring). Instructor errors (a
    public predicate that would publish a secret function, a bad ``public_cases``) raise
    :class:`~grader.errors.RubricError` naming file, line and field."""
    reference = rubric.reference
    source = Path(reference.path).read_text(encoding="utf-8") if reference else ""
    where = reference.path if reference else rubric.path
    roles = _roles(rubric)
    functions = _Functions(reference)
    cases_doc: dict[str, Any] = {}
    published: list[str] = []
    notes: list[str] = []
    exercises = []
    for ex in rubric.exercises:
        checks = []
        for spec in ex.checks:
            _check_options(spec)
            why = left_out(spec)
            if why is not None:
                notes.append(f"{ex.id}/{spec.label}: left out ({why})")
                continue
            names = published_names(spec)
            for name in names:
                if reference is None or not reference.has(name):
                    raise spec.error("public_predicate", f"the reference has no {name!r}")
            leaked = [n for n in closure(source, names, where) if n in roles]
            if leaked:
                raise spec.error(
                    "public_predicate",
                    f"publishing {', '.join(names)} would publish {leaked[0]!r}, "
                    f"{roles[leaked[0]]}; keep this check hidden or stop sharing that code",
                )
            published += [n for n in names if n not in published]
            options = dict(spec.options)
            if spec.type in WITH_CASES:
                options["cases"] = _freeze_cases(rubric, ex, spec, functions, cases_doc)
            checks.append(_check_doc(spec, options))
        exercises.append(_exercise_doc(ex, checks))
    doc = {
        "format": FORMAT,
        "made_by": f"grader {__version__}",
        "rubric": {
            "id": rubric.id,
            "version": rubric.version,
            "title": rubric.title,
            "editions": {k: list(v) for k, v in rubric.editions.items()},
        },
        "reference": reference.name if reference else "",
        "exercises": exercises,
        "cases": cases_doc,
        "functions": {n: list(e.values()) for n, e in functions.table.items()},
        "published": published,
    }
    return Frozen(doc, tuple(published), tuple(notes))


def _freeze_cases(
    rubric: Rubric,
    ex: ExerciseSpec,
    spec: CheckSpec,
    functions: _Functions,
    cases_doc: dict[str, Any],
) -> str:
    """Freeze a check's public cases and the reference's results on them; returns the name
    under which the pack's reference gives those cases."""
    assert rubric.reference is not None
    generate = rubric.reference.function(str(spec.options["cases"]))
    every = list(generate(public_rng(rubric.version, ex.id, spec.label)))
    cases = [tuple(every[i]) for i in _selection(spec, len(every))]
    name = f"cases:{ex.id}/{spec.label}"
    cases_doc[name] = encode(cases)
    mutants = [d.mutant for d in ex.diagnoses if d.mutant] if spec.type == "function" else []
    for case in cases:
        for opt in ("reference", "grads"):
            if opt in spec.options:
                functions.record(str(spec.options[opt]), case, spec, may_raise=False)
        for mutant in mutants:
            functions.record(mutant, case, spec, may_raise=True)
    return name


def _check_doc(spec: CheckSpec, options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": spec.type,
        "points": spec.points,
        "label": spec.label,
        "options": options,
        "feedback_pass": spec.feedback_pass,
        "feedback_fail": spec.feedback_fail,
        "editions": list(spec.editions),
        "path": spec.path,
        "line": spec.line,
    }


def _exercise_doc(ex: ExerciseSpec, checks: list[dict[str, Any]]) -> dict[str, Any]:
    types = registry()
    handled: set[str] = set()
    for c in checks:
        handled |= set(getattr(types.get(c["type"]), "handles", frozenset()))
        if c["options"].get("public_predicate"):
            handled.add("predicate")
    diagnoses = [
        {
            "id": d.id,
            "feedback": d.feedback,
            "mutant": d.mutant,
            "prose": list(d.prose),
            "shapes": d.shapes,
            "execution": d.execution,
            "penalty": d.penalty,
        }
        for d in ex.diagnoses
        if d.kind in handled
    ]
    return {
        "id": ex.id,
        "title": ex.title,
        "points": ex.points,
        "editions": list(ex.editions),
        "kind": ex.kind,
        "wording": list(ex.wording),
        "numbers": dict(ex.numbers),
        "names": list(ex.names),
        "line": ex.line,
        "checks": checks,
        "diagnoses": diagnoses,
    }


# ----------------------------------------------------------------------------- building


class FrozenCallError(Exception):
    """What a frozen mutant raises where the real one raised (its type's name is kept)."""


def _frozen_function(name: str, entries: Sequence[Mapping[str, Any]]) -> Callable[..., Any]:
    table = {key(decode(e["args"])): e for e in entries}

    def call(*args: Any) -> Any:
        entry = table.get(key(args))
        if entry is None:
            raise LookupError(f"the public pack has no result of {name} for these arguments")
        if "raises" in entry:
            raise FrozenCallError(str(entry["raises"]))
        return decode(entry["value"])

    call.__name__ = call.__qualname__ = name.replace(":", "_").replace("/", "_")
    return call


def _frozen_cases(cases: tuple[Any, ...]) -> Callable[[Any], list[Any]]:
    def generate(rng: Any) -> list[Any]:  # the public cases; the generator is not needed
        return list(cases)

    return generate


def build(doc: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]], path: str) -> Rubric:
    """A :class:`Rubric` that grades from a frozen ``doc``: its reference module answers
    with the frozen results, and ``functions`` (the published predicates)."""
    module = ModuleType("_grader_public_pack")
    setattr(module, PACK_MARK, True)
    for name, entries in doc["functions"].items():
        setattr(module, name, _frozen_function(name, entries))
    for name, cases in doc["cases"].items():
        setattr(module, name, _frozen_cases(decode(cases)))
    for name, fn in functions.items():
        setattr(module, name, fn)
    reference = Reference(str(doc["reference"]), path, module)
    meta = doc["rubric"]
    return Rubric(
        id=str(meta["id"]),
        version=str(meta["version"]),
        title=str(meta["title"]),
        path=path,
        editions=MappingProxyType({k: tuple(v) for k, v in meta["editions"].items()}),
        exercises=tuple(_exercise(e, path) for e in doc["exercises"]),
        reference=reference,
    )


def _exercise(e: Mapping[str, Any], path: str) -> ExerciseSpec:
    return ExerciseSpec(
        id=str(e["id"]),
        title=str(e["title"]),
        points=float(e["points"]),
        editions=tuple(e["editions"]),
        kind=str(e["kind"]),
        wording=tuple(e["wording"]),
        numbers=MappingProxyType(dict(e["numbers"])),
        names=tuple(e["names"]),
        checks=tuple(_check(c, path) for c in e["checks"]),
        diagnoses=tuple(_diagnosis(d) for d in e["diagnoses"]),
        line=e["line"],
    )


def _check(c: Mapping[str, Any], path: str) -> CheckSpec:
    return CheckSpec(
        type=str(c["type"]),
        points=float(c["points"]),
        label=str(c["label"]),
        options=MappingProxyType(dict(c["options"])),
        public=True,
        feedback_pass=str(c["feedback_pass"]),
        feedback_fail=str(c["feedback_fail"]),
        file=path,
        line=c["line"],
        editions=tuple(c["editions"]),
        path=str(c["path"]),
    )


def _diagnosis(d: Mapping[str, Any]) -> DiagnosisSpec:
    return DiagnosisSpec(
        id=str(d["id"]),
        feedback=str(d["feedback"]),
        mutant=d["mutant"],
        prose=tuple(d["prose"]),
        shapes=bool(d["shapes"]),
        execution=d["execution"],
        penalty=float(d["penalty"]),
    )


def public_rubric(rubric: Rubric) -> Rubric:
    """The public part of ``rubric`` as a rubric that grades from frozen data, exactly as
    its pack does (``grade --check`` with the full course uses this)."""
    if is_pack(rubric):
        return rubric
    frozen = freeze(rubric)
    ref = rubric.reference
    live = {n: ref.function(n) for n in frozen.published} if ref is not None else {}
    return build(frozen.doc, live, rubric.path)


def iter_arrays(value: Any) -> Iterator[np.ndarray[Any, Any]]:
    """Every array in a decoded value (nested tuples and dicts)."""
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, tuple | list):
        for v in value:
            yield from iter_arrays(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_arrays(v)
