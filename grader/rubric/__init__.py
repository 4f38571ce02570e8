"""Rubrics: YAML files validated against a schema, with errors naming file, line and field.

A rubric names a *reference module* (``reference: conv_layer`` loads
``<course>/reference/conv_layer.py`` next to the ``rubrics/`` folder). Checks name functions
in that module (reference implementations, mutants, predicates, case generators); the
loader verifies that every name exists, so a typo is an instructor error at load time, not
a zero for every student.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import yaml

from ..errors import GraderError, ReferenceError_, RubricError
from ..model import EDITIONS
from .plugins import CheckTypeHooks, registered
from .schema import RUBRIC
from .spec import CheckSpec, DiagnosisSpec, ExerciseSpec, Reference, Rubric

__all__ = [
    "CheckSpec",
    "DiagnosisSpec",
    "ExerciseSpec",
    "Reference",
    "Rubric",
    "default_rubrics_dir",
    "load_all",
    "load_reference",
    "load_rubric",
]


# ---------------------------------------------------------------- YAML with line numbers


# libyaml's loader where PyYAML has it (the same nodes and marks, several times faster)
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str, path: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML; return plain data and a map from field path to 1-based line."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RubricError(path, line, "", f"not valid YAML: {problem}") from None
    lines: dict[tuple[Any, ...], int] = {}
    # a scalar's value as safe_load gives it: the composer already resolved its tag
    scalar = yaml.constructor.SafeConstructor().construct_object

    def convert(n: yaml.Node | None, where: tuple[Any, ...]) -> Any:
        if n is None:
            return None
        lines[where] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in n.value:
                key = scalar(key_node, deep=True)
                lines[(*where, key)] = key_node.start_mark.line + 1
                if key in out:
                    raise RubricError(path, key_node.start_mark.line + 1, str(key), "duplicate key")
                out[key] = convert(value_node, (*where, key))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [convert(item, (*where, i)) for i, item in enumerate(n.value)]
        return scalar(n, deep=True)

    return convert(node, ()), lines


def _line(lines: Mapping[tuple[Any, ...], int], where: tuple[Any, ...]) -> int | None:
    while True:
        if where in lines:
            return lines[where]
        if not where:
            return None
        where = where[:-1]


def _field(where: tuple[Any, ...]) -> str:
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validate(
    data: Any,
    schema: Mapping[str, Any],
    path: str,
    lines: Mapping[tuple[Any, ...], int],
    base: tuple[Any, ...] = (),
) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), e.message))
    if errors:
        err = jsonschema.exceptions.best_match(errors) or errors[0]
        where = (*base, *err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = set(err.schema.get("properties", {})) if isinstance(err.schema, dict) else set()
            extra = sorted(str(k) for k in err.instance if k not in known)
            if extra:
                where = (*where, extra[0])
                raise RubricError(
                    path, _line(lines, where), _field(where), f"unknown field {extra[0]!r}"
                )
        raise RubricError(path, _line(lines, where), _field(where) or "(top level)", err.message)


# ---------------------------------------------------------------- loading


def load_reference(rubric_path: Path, name: str) -> Reference:
    """Import ``reference/<name>.py`` beside the rubric folder under a private name."""
    candidates = [
        rubric_path.parent.parent / "reference" / f"{name}.py",
        rubric_path.parent / "reference" / f"{name}.py",
    ]
    for file in candidates:
        if file.is_file():
            break
    else:
        raise ReferenceError_(
            str(rubric_path),
            None,
            "reference",
            f"no reference module {name!r} (looked for reference/{name}.py)",
        )
    digest = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]
    mod_name = f"_grader_reference_{name}_{digest}"
    if mod_name in sys.modules:
        module = sys.modules[mod_name]
    else:
        spec = importlib.util.spec_from_file_location(mod_name, file)
        if spec is None or spec.loader is None:
            raise ReferenceError_(str(file), None, "", "cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[mod_name]
            line = getattr(exc, "lineno", None)
            raise ReferenceError_(str(file), line, "", f"import failed: {exc}") from exc
    return Reference(name, str(file), module)


def load_rubric(path: str | Path, types: Mapping[str, CheckTypeHooks] | None = None) -> Rubric:
    """Load and validate one rubric file. Raises RubricError / ReferenceError_. ``types``:
    the check types that validate their checks' options (default: every registered one,
    :func:`grader.checks.registry`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(str(p), None, "", f"cannot read: {exc}") from None
    file = str(p)
    data, lines = _compose(text, file)
    _validate(data, RUBRIC, file, lines)
    reference = load_reference(p, data["reference"]) if "reference" in data else None
    types = registered() if types is None else types
    exercises = []
    seen: set[str] = set()
    for i, ex in enumerate(data["exercises"]):
        where = ("exercises", i)
        if ex["id"] in seen:
            raise RubricError(
                file,
                _line(lines, (*where, "id")),
                _field((*where, "id")),
                f"duplicate exercise id {ex['id']!r}",
            )
        seen.add(ex["id"])
        exercises.append(_exercise(ex, where, file, lines, types, reference))
    content = text.encode() + (Path(reference.path).read_bytes() if reference else b"")
    digest = hashlib.sha256(content).hexdigest()[:12]
    return Rubric(
        id=data["rubric"],
        version=f"{data['version']}+{digest}",
        title=data["title"],
        path=file,
        editions=MappingProxyType(
            {k: tuple(v["signals"]) for k, v in data.get("editions", {}).items()}
        ),
        exercises=tuple(exercises),
        reference=reference,
    )


def _exercise(
    ex: Mapping[str, Any],
    where: tuple[Any, ...],
    file: str,
    lines: Mapping[tuple[Any, ...], int],
    types: Mapping[str, CheckTypeHooks],
    reference: Reference | None,
) -> ExerciseSpec:
    diagnoses = tuple(
        DiagnosisSpec(
            id=d["id"],
            feedback=d["feedback"],
            mutant=d.get("mutant"),
            prose=tuple(d.get("prose", ())),
            shapes=bool(d.get("shapes", False)),
            execution=d.get("execution"),
            penalty=float(d.get("penalty", 0.0)),
            example=d.get("example", ""),
            line=_line(lines, (*where, "diagnoses", j)),
        )
        for j, d in enumerate(ex.get("diagnoses", []))
    )
    for j, d in enumerate(diagnoses):
        if d.mutant and (reference is None or not reference.has(d.mutant)):
            w = (*where, "diagnoses", j, "mutant")
            raise RubricError(
                file, _line(lines, w), _field(w), f"the reference has no function {d.mutant!r}"
            )
    checks = []
    for j, c in enumerate(ex["checks"]):
        cw = (*where, "checks", j)
        check_type = types.get(c["type"])
        if check_type is None:
            raise RubricError(
                file,
                _line(lines, (*cw, "type")),
                _field((*cw, "type")),
                f"unknown check type {c['type']!r}; known: {', '.join(sorted(types))}",
            )
        _validate(c, check_type.schema, file, lines, cw)
        feedback = c.get("feedback", {})
        spec = CheckSpec(
            type=c["type"],
            points=float(c["points"]),
            label=c.get("name", f"{c['type']}-{j + 1}"),
            options=MappingProxyType(dict(c)),
            public=bool(c.get("public", True)),
            feedback_pass=feedback.get("pass", ""),
            feedback_fail=feedback.get("fail", ""),
            file=file,
            line=_line(lines, cw),
            editions=tuple(c.get("editions", ())),
            field_lines=MappingProxyType({str(k): lines[(*cw, k)] for k in c if (*cw, k) in lines}),
            path=_field(cw),
        )
        check_type.validate(spec, reference)
        checks.append(spec)
    for ed in ex.get("editions", EDITIONS):
        total = sum(c.points for c in checks if not c.editions or ed in c.editions)
        if abs(total - float(ex["points"])) > 1e-9:
            raise RubricError(
                file,
                _line(lines, (*where, "points")),
                _field((*where, "points")),
                f"is {ex['points']} but the checks' points for {ed} add up to {total:g}",
            )
    match = ex.get("match", {})
    return ExerciseSpec(
        id=ex["id"],
        title=ex["title"],
        points=float(ex["points"]),
        editions=tuple(ex.get("editions", EDITIONS)),
        kind=ex.get("kind", "exercise"),
        wording=tuple(match.get("wording", ())),
        numbers=MappingProxyType(dict(match.get("numbers", {}))),
        names=tuple(match.get("names", ())),
        checks=tuple(checks),
        diagnoses=diagnoses,
        line=_line(lines, where),
    )


def default_rubrics_dir() -> Path:
    """``rubrics/`` of the course: the current directory's, else the one shipped beside the
    package in a source checkout."""
    here = Path.cwd() / "rubrics"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "rubrics"


def rubric_path(arg: str | None) -> str:
    """The rubric to grade with: ``arg`` (``--rubric``), else the one YAML file of
    :func:`default_rubrics_dir` (a one-line error when there is none, or several)."""
    if arg:
        return arg
    d = default_rubrics_dir()
    files = sorted([*d.glob("*.yaml"), *d.glob("*.yml")])
    if not files:
        raise GraderError(
            f"no rubric found in {d}; give one with --rubric (or a public pack with --pack)"
        )
    if len(files) > 1:
        raise GraderError(
            f"several rubrics in {d} ({', '.join(f.name for f in files)}); choose one with --rubric"
        )
    return str(files[0])


def load_all(directory: str | Path | None = None) -> list[Rubric]:
    d = Path(directory) if directory is not None else default_rubrics_dir()
    files = sorted([*d.glob("*.yaml"), *d.glob("*.yml")])
    if not files:
        raise RubricError(str(d), None, "", "no rubric files (*.yaml) found")
    return [load_rubric(f) for f in files]
