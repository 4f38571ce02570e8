"""Rubric loading: the real rubric loads; instructor mistakes name file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import ROOT

from grader.checks import register, registry
from grader.errors import PluginError, ReferenceError_, RubricError
from grader.model import CheckResult
from grader.rubric import CheckSpec, Reference, Rubric, load_rubric

MINIMAL = """\
rubric: mini
version: 1
title: Mini
reference: conv_layer
exercises:
  - id: corr2d
    title: corr2d
    points: 2
    checks:
      - type: function
        points: 2
        function: [corr2d]
        reference: corr2d
        cases: cases_corr2d
"""


def course(tmp_path: Path, text: str) -> Path:
    """A course folder with the real reference module and one rubric file."""
    (tmp_path / "rubrics").mkdir()
    shutil.copytree(ROOT / "reference", tmp_path / "reference")
    path = tmp_path / "rubrics" / "r.yaml"
    path.write_text(text)
    return path


def test_the_course_rubric_loads(rubric: Rubric) -> None:
    ids = [e.id for e in rubric.exercises]
    for required in [
        "corr2d",
        "conv2d-layer",
        "learn-kernel",
        "diagonal-edges",
        "diagonal-apply-kernel",
        "diagonal-transpose-input",
        "diagonal-transpose-kernel",
        "directional-edge-kernel",
        "second-derivative-kernel",
        "blur-kernel",
        "integral-kernel",
        "derivative-kernel-size",
        "autograd-error",
        "corr2d-as-matmul",
    ]:
        assert required in ids
    diagnoses = {d.id for e in rubric.exercises for d in e.diagnoses}
    spec_ids = {
        "corr2d-loop-bound",
        "corr2d-reads-output",
        "matmul-fixed-shape",
        "claims-zero-response",
        "derivative-size-central",
        "autograd-attribute-error",
        "blur-not-normalized",
        "runs-out-of-order",
        "missing-module",
    }
    assert spec_ids <= diagnoses
    assert rubric.version.startswith("2026.11-1+")
    assert sum(e.points for e in rubric.for_edition("d2l-1.0")) == 33


def test_edition_specific_exercises(rubric: Rubric) -> None:
    one = {e.id for e in rubric.for_edition("d2l-1.0")}
    old = {e.id for e in rubric.for_edition("d2l-0.17")}
    assert "blur-kernel" in one and "blur-kernel" not in old
    assert "integral-kernel" in old and "integral-kernel" not in one


def test_version_changes_with_content(tmp_path: Path) -> None:
    path = course(tmp_path, MINIMAL)
    v1 = load_rubric(path).version
    path.write_text(MINIMAL.replace("title: Mini", "title: Mini 2"))
    assert load_rubric(path).version != v1


@pytest.mark.parametrize(
    ("change", "line", "field", "words"),
    [
        (("points: 2\n    checks", "points: -2\n    checks"), 8, "exercises[0].points", "minimum"),
        (("type: function", "type: functon"), 10, "exercises[0].checks[0].type", "functon"),
        (
            ("reference: corr2d\n", "reference: corr3d\n"),
            13,
            "exercises[0].checks[0].reference",
            "corr3d",
        ),
        (
            (
                "      - type: function\n        points: 2",
                "      - type: function\n        points: 1",
            ),
            8,
            "exercises[0].points",
            "add up to 1",
        ),
        (
            ("title: corr2d\n", "title: corr2d\n    colour: red\n"),
            8,
            "exercises[0].colour",
            "colour",
        ),
        (
            ("function: [corr2d]", "function: corr2d"),
            12,
            "exercises[0].checks[0].function",
            "array",
        ),
    ],
    ids=[
        "negative-points",
        "unknown-type",
        "missing-reference-fn",
        "points-mismatch",
        "unknown-field",
        "wrong-type",
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], line: int, field: str, words: str
) -> None:
    path = course(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    err = info.value
    assert err.file == str(path)
    assert err.line == line, str(err)
    assert field in err.field, str(err)
    assert words in str(err)
    assert "\n" not in str(err)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = course(tmp_path, MINIMAL.replace("title: Mini", "title: [Mini"))
    with pytest.raises(RubricError, match=r"r\.yaml:\d+: .*not valid YAML"):
        load_rubric(path)


def test_duplicate_exercise_id(tmp_path: Path) -> None:
    text = MINIMAL + MINIMAL[MINIMAL.index("  - id: corr2d") :]
    with pytest.raises(RubricError, match="duplicate exercise id 'corr2d'") as info:
        load_rubric(course(tmp_path, text))
    assert info.value.line == 15


def test_missing_reference_module(tmp_path: Path) -> None:
    path = course(tmp_path, MINIMAL.replace("reference: conv_layer", "reference: nothere"))
    with pytest.raises(ReferenceError_, match=r"reference/nothere\.py"):
        load_rubric(path)


def test_broken_reference_module_is_an_instructor_error(tmp_path: Path) -> None:
    path = course(tmp_path, MINIMAL)
    (tmp_path / "reference" / "conv_layer.py").write_text("def corr2d(:\n")
    with pytest.raises(ReferenceError_, match="import failed"):
        load_rubric(path)


# ------------------------------------------------------------------ check-type plugins


class GoodCheck:
    name: ClassVar[str] = "always"
    handles: ClassVar[frozenset[str]] = frozenset()
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["type", "points", "verdict"],
        "properties": {"verdict": {"type": "boolean"}},
    }

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        return None

    def run(self, spec: CheckSpec, ctx: Any) -> CheckResult:
        return ctx.result(spec, 1.0 if spec.options["verdict"] else 0.0, ["custom"])  # type: ignore[no-any-return]


BUILTIN_TYPES = ("function", "property", "output", "error", "prose", "runs", "module", "source")


def test_builtin_types_come_from_entry_points() -> None:
    assert set(BUILTIN_TYPES) <= set(registry())


def test_builtin_schemas_are_valid_json_schemas() -> None:
    """The registry trusts the built-in types' schemas (no meta-schema check at start-up),
    so they are checked here, exactly as a plugin's are at registration."""
    from importlib.metadata import entry_points

    from grader.checks import _builtin, check_schema

    builtins = [ep for ep in entry_points(group="grader.checks") if _builtin(ep)]
    assert {ep.name for ep in builtins} == set(BUILTIN_TYPES)
    for ep in builtins:
        check_schema(ep.name, registry()[ep.name].schema)


def test_only_this_packages_check_types_are_builtin() -> None:
    from importlib.metadata import EntryPoint

    from grader.checks import _builtin

    foreign = EntryPoint("plot", "grader.checks.plot:PlotCheck", "grader.checks")
    assert not _builtin(foreign)  # no distribution: a plugin, validated in full


def test_a_course_can_register_its_own_check_type(tmp_path: Path) -> None:
    register("always", GoodCheck)
    text = MINIMAL.replace(
        "      - type: function\n        points: 2\n        function: [corr2d]\n"
        "        reference: corr2d\n        cases: cases_corr2d\n",
        "      - type: always\n        points: 2\n        verdict: true\n",
    )
    rubric = load_rubric(course(tmp_path, text))
    assert rubric.exercises[0].checks[0].type == "always"
    (tmp_path / "b").mkdir()
    bad = course(tmp_path / "b", text.replace("verdict: true", "verdict: maybe"))
    with pytest.raises(RubricError, match="verdict"):
        load_rubric(bad)


def test_plugin_without_run_is_named() -> None:
    class NoRun:
        schema: ClassVar[dict[str, Any]] = {"type": "object"}

        def validate(self, spec: Any, reference: Any) -> None: ...

    with pytest.raises(PluginError) as info:
        register("norun", NoRun)
    assert info.value.plugin == "norun" and info.value.hook == "run"


def test_plugin_with_wrong_signature_names_the_argument() -> None:
    class WrongArgs:
        schema: ClassVar[dict[str, Any]] = {"type": "object"}

        def validate(self, spec: Any, reference: Any) -> None: ...

        def run(self, spec: Any) -> None: ...

    with pytest.raises(PluginError) as info:
        register("wrongargs", WrongArgs)
    assert (info.value.hook, info.value.argument) == ("run", "ctx")
    assert "'wrongargs'" in str(info.value)


def test_plugin_with_invalid_schema() -> None:
    class BadSchema(GoodCheck):
        schema: ClassVar[dict[str, Any]] = {"type": "objekt"}

    with pytest.raises(PluginError, match="schema"):
        register("badschema", BadSchema)
