"""The public pack without kernels: what goes in, what stays out, the leak scan, the CLI's
errors, and hiding expected values from students (grader/pack, docs/rubrics.md "The public
part"). The corpus graded both ways, with real kernels, is in tests/test_pack_corpus.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, RUBRIC, code_notebook

from grader.checks import CheckContext
from grader.checks.base import difference
from grader.cli import main
from grader.errors import RubricError
from grader.model import CheckResult, Execution, ExerciseResult, SubmissionResult
from grader.pack import PackError, freeze, load_pack, public_rubric, scan, write_pack
from grader.pack.data import decode, encode, key
from grader.pack.leaks import hidden_values, secret_rng
from grader.report import ReportOptions, render
from grader.report.json_report import feedback_of
from grader.rubric import Rubric, load_rubric

SECRET = "course-secret-2026"
CORR2D_CASES = "cases:corr2d/corr2d"


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pack") / "grader-pack"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADER_SEED", SECRET)
        write_pack(load_rubric(RUBRIC), out)
    return out


def _copy(packed: Path, tmp_path: Path) -> Path:
    target = tmp_path / "grader-pack"
    shutil.copytree(packed, target)
    return target


def _doc(folder: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((folder / "pack.json").read_text(encoding="utf-8"))
    return doc


def _save(folder: Path, doc: dict[str, Any]) -> None:
    (folder / "pack.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")


def _hidden(rubric: Rubric, prefix: str) -> np.ndarray[Any, Any]:
    return next(a for what, a in hidden_values(rubric, SECRET) if what.startswith(prefix))


# ------------------------------------------------------------------- what the pack holds


def test_the_pack_holds_the_public_checks_and_only_plain_files(
    packed: Path, rubric: Rubric
) -> None:
    assert sorted(p.name for p in packed.iterdir()) == ["README.md", "pack.json", "predicates.py"]
    doc = _doc(packed)
    labels = {c["label"] for e in doc["exercises"] for c in e["checks"]}
    assert labels == {
        "corr2d",
        "conv2d-forward",
        "learned-kernel",
        "runs",
        "diagonal-image",
        "second-derivative-kernel",
        "blur-kernel",
        "integral-kernel",
        "autograd-evidence",
        "matmul-equals-corr2d",
        "uses-matrix-product",
    }
    # every exercise is listed (titles are the book's questions), prose checks never are
    assert [e["id"] for e in doc["exercises"]] == [e.id for e in rubric.exercises]
    assert not any(c["type"] == "prose" for e in doc["exercises"] for c in e["checks"])
    # diagnoses that only hidden checks evaluate stay out, and no example goes in
    ids = {d["id"] for e in doc["exercises"] for d in e["diagnoses"]}
    assert "corr2d-flipped" in ids and "matmul-fixed-shape" in ids
    assert "claims-zero-response" not in ids and "derivative-size-central" not in ids
    assert "example" not in json.dumps(doc["exercises"])
    # three public cases per function and module check, and their frozen results
    assert len(decode(doc["cases"][CORR2D_CASES])) == 3
    assert len(doc["functions"]["corr2d"]) == 6  # corr2d's 3 cases + the matmul check's 3
    assert len(doc["functions"]["mutant_corr2d_flipped"]) == 3
    # the published predicates and the helpers they need; not corr2d, not a case generator
    source = (packed / "predicates.py").read_text(encoding="utf-8")
    assert "def pred_blur(" in source and "def _as_2d(" in source
    assert "def corr2d(" not in source and "def cases_" not in source


def test_the_public_inputs_do_not_depend_on_the_course_secret(
    monkeypatch: pytest.MonkeyPatch, rubric: Rubric
) -> None:
    monkeypatch.setenv("GRADER_SEED", "one secret")
    first = freeze(rubric).doc
    monkeypatch.setenv("GRADER_SEED", "another")
    assert freeze(rubric).doc == first


def test_public_cases_chooses_which_generated_cases_are_public(tmp_path: Path) -> None:
    text = RUBRIC.read_text(encoding="utf-8").replace(
        "        cases: cases_corr2d\n",
        "        cases: cases_corr2d\n        public_cases: [2, 4]\n",
    )
    full = _course(tmp_path, text)
    every = full.reference.function("cases_corr2d")(np.random.default_rng(0))  # type: ignore[union-attr]
    cases = decode(freeze(full).doc["cases"][CORR2D_CASES])
    assert [tuple(a.shape for a in c) for c in cases] == [
        tuple(a.shape for a in every[i]) for i in (2, 4)
    ]


def _course(tmp_path: Path, text: str) -> Rubric:
    (tmp_path / "rubrics").mkdir()
    shutil.copytree(ROOT / "reference", tmp_path / "reference")
    path = tmp_path / "rubrics" / "conv-layer.yaml"
    path.write_text(text, encoding="utf-8")
    return load_rubric(path)


def test_a_public_predicate_that_would_publish_the_reference_is_refused(tmp_path: Path) -> None:
    text = RUBRIC.read_text(encoding="utf-8").replace(
        "        predicate: pred_directional_kernel\n",
        "        predicate: pred_directional_kernel\n        public_predicate: true\n",
    )
    with pytest.raises(RubricError) as err:
        freeze(_course(tmp_path, text))
    message = str(err.value)
    assert "conv-layer.yaml:" in message and ".public_predicate:" in message
    assert "pred_directional_kernel" in message and "'corr2d'" in message


def test_public_cases_on_a_check_without_cases_is_an_instructor_error(tmp_path: Path) -> None:
    text = RUBRIC.read_text(encoding="utf-8").replace(
        "        predicate: pred_blur\n", "        predicate: pred_blur\n        public_cases: 2\n"
    )
    with pytest.raises(RubricError, match=r"public_cases: only `function` and `module`"):
        freeze(_course(tmp_path, text))


def test_packed_values_read_back_bit_for_bit() -> None:
    values = (
        np.array([[0.1, -0.0], [np.nan, np.inf]]),
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.zeros((0, 3)),
        1.5,
        7,
        {"w": np.array([1e-300])},
    )
    back = decode(json.loads(json.dumps(encode(values))))
    assert key(back) == key(values)
    assert np.array_equal(back[0], values[0], equal_nan=True) and back[2].shape == (0, 3)
    with pytest.raises(PackError):
        decode({"array": {"dtype": "object", "shape": [1], "data": [1]}})
    with pytest.raises(PackError):
        decode({"array": {"dtype": "float64", "shape": [2], "data": [1]}})


def test_the_hidden_inputs_are_the_ones_the_checks_generate(rubric: Rubric) -> None:
    ex = rubric.exercise("corr2d")
    ctx = CheckContext(
        notebook=code_notebook(),
        execution=Execution(cells=(), seconds=0.0),
        channel=None,
        rubric=rubric,
        exercise=ex,
        answers={},
        edition=None,
        cache={},
        seed=SECRET,
    )
    assert secret_rng(SECRET, rubric.version, "corr2d", "corr2d").random() == (
        ctx.rng("corr2d").random()
    )


# ------------------------------------------------------------------- the leak scan


def test_the_written_pack_passes_the_leak_scan(packed: Path, rubric: Rubric) -> None:
    assert scan(packed, rubric, SECRET) == []
    assert scan(packed, rubric, "") == []  # nor with the default (empty) seed's inputs


def _plant_case(folder: Path, value: np.ndarray[Any, Any]) -> None:
    doc = _doc(folder)
    doc["cases"][CORR2D_CASES]["list"][0]["list"][0] = encode(value)
    _save(folder, doc)


def test_the_leak_scan_finds_a_planted_hidden_real_input(
    packed: Path, rubric: Rubric, tmp_path: Path
) -> None:
    folder = _copy(packed, tmp_path)
    _plant_case(folder, _hidden(rubric, "hidden input 1 of corr2d/corr2d"))
    leaks = scan(folder, rubric, SECRET)
    assert leaks == ["a value of the hidden input 1 of corr2d/corr2d in pack.json"]


def test_the_leak_scan_finds_a_planted_hidden_integer_input(
    packed: Path, rubric: Rubric, tmp_path: Path
) -> None:
    folder = _copy(packed, tmp_path)
    _plant_case(folder, _hidden(rubric, "hidden input 0 of corr2d/corr2d"))
    assert "a value of the hidden input 0 of corr2d/corr2d in pack.json" in scan(
        folder, rubric, SECRET
    )


def test_the_leak_scan_finds_a_reference_output_on_a_hidden_input(
    packed: Path, rubric: Rubric, tmp_path: Path
) -> None:
    folder = _copy(packed, tmp_path)
    out = _hidden(rubric, "conv2d_forward's output on hidden input 2")
    doc = _doc(folder)
    doc["functions"]["conv2d_forward"][0]["value"] = encode(out)
    _save(folder, doc)
    leaks = scan(folder, rubric, SECRET)
    assert any("conv2d_forward's output on hidden input 2" in leak for leak in leaks), leaks


def test_the_leak_scan_finds_a_hidden_value_written_as_text(
    packed: Path, rubric: Rubric, tmp_path: Path
) -> None:
    folder = _copy(packed, tmp_path)
    weight = _hidden(rubric, "hidden input 3 of conv2d-layer/conv2d-forward")
    with (folder / "README.md").open("a", encoding="utf-8") as fh:
        fh.write(f"\nhint: try {weight.ravel()[0]!r}\n")
    assert scan(folder, rubric, SECRET) == [
        "a value of the hidden input 3 of conv2d-layer/conv2d-forward in README.md"
    ]


def test_the_leak_scan_finds_a_hidden_checks_name_and_text(
    packed: Path, rubric: Rubric, tmp_path: Path
) -> None:
    folder = _copy(packed, tmp_path)
    doc = _doc(folder)
    doc["exercises"][0]["checks"][0]["feedback_fail"] = "see blur-why"
    _save(folder, doc)
    assert scan(folder, rubric, SECRET) == [
        "the hidden check blur-kernel/blur-why's name in pack.json"
    ]
    hint = rubric.exercise("blur-kernel").checks[1].options["required"][0]["hint"]
    (folder / "README.md").write_text(hint, encoding="utf-8")
    assert "text of the hidden check blur-kernel/blur-why in README.md" in scan(
        folder, rubric, SECRET
    )


def test_the_leak_scan_finds_reference_code_and_diagnosis_examples(
    packed: Path, rubric: Rubric, tmp_path: Path
) -> None:
    folder = _copy(packed, tmp_path)
    source = (ROOT / "reference" / "conv_layer.py").read_text(encoding="utf-8")
    corr2d = source[source.index("def corr2d(") : source.index("def conv2d_forward(")]
    renamed = corr2d.replace("def corr2d(", "def helper(")
    with (folder / "predicates.py").open("a", encoding="utf-8") as fh:
        fh.write("\n\n" + renamed)
    leaks = scan(folder, rubric, SECRET)
    assert leaks and all("a line of a secret reference function" in leak for leak in leaks)
    (folder / "README.md").write_text(source, encoding="utf-8")
    assert "the reference module's source in README.md" in scan(folder, rubric, SECRET)
    folder = _copy(packed, tmp_path / "again")
    example = rubric.exercise("blur-kernel").diagnoses[0].example
    doc = _doc(folder)
    doc["exercises"][10]["diagnoses"][0]["example"] = example
    _save(folder, doc)
    assert scan(folder, rubric, SECRET) == [
        "the example of diagnosis blur-kernel/blur-not-normalized in pack.json"
    ]


def test_grade_pack_refuses_to_write_a_pack_that_would_leak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a rubric whose public predicate's message would print a hidden check's name
    text = RUBRIC.read_text(encoding="utf-8").replace(
        "what: blur kernel", "what: blur kernel (see matmul-explained)"
    )
    rubric = _course(tmp_path, text)
    with pytest.raises(PackError, match="the pack would leak: the hidden check"):
        write_pack(rubric, tmp_path / "out")
    assert not (tmp_path / "out" / "pack.json").exists()


# ------------------------------------------------------------------- loading and the CLI


def test_a_pack_reads_back_into_the_same_public_part(packed: Path, rubric: Rubric) -> None:
    from_disk, in_memory = load_pack(packed), public_rubric(rubric)
    assert from_disk.version == in_memory.version == rubric.version
    assert [(e.id, e.checks, e.diagnoses) for e in from_disk.exercises] == [
        (
            e.id,
            tuple(c.__class__(**{**c.__dict__, "file": from_disk.path}) for c in e.checks),
            e.diagnoses,
        )
        for e in in_memory.exercises
    ]
    ref = from_disk.reference
    assert ref is not None
    X, K = ref.function(CORR2D_CASES)(None)[2]
    assert np.array_equal(ref.function("corr2d")(X, K), rubric.reference.function("corr2d")(X, K))  # type: ignore[union-attr]
    with pytest.raises(LookupError):
        ref.function("corr2d")(X + 1, K)  # only the public cases' results are in the pack


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("missing", "no public pack here (no pack.json)"),
        ("not-json", "the public pack is corrupt (not JSON"),
        ("other-format", "not a public pack of this grader"),
        ("no-predicates", "the public pack is corrupt (predicates.py is missing)"),
        ("bad-array", "the public pack is corrupt (a packed array of shape"),
        ("no-exercises", "the public pack is corrupt (missing 'exercises')"),
    ],
)
def test_a_missing_or_corrupt_pack_is_a_one_line_error(
    packed: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
    says: str,
) -> None:
    folder = _copy(packed, tmp_path)
    doc = _doc(folder)
    if damage == "missing":
        shutil.rmtree(folder)
    elif damage == "not-json":
        (folder / "pack.json").write_text(json.dumps(doc)[:-200], encoding="utf-8")
    elif damage == "other-format":
        _save(folder, {**doc, "format": "something-else/9"})
    elif damage == "no-predicates":
        (folder / "predicates.py").unlink()
    elif damage == "bad-array":
        doc["cases"][CORR2D_CASES]["list"][0]["list"][0]["array"]["data"].pop()
        _save(folder, doc)
    else:
        del doc["exercises"]
        _save(folder, doc)
    notebook = tmp_path / "mine.ipynb"
    notebook.write_text("{}", encoding="utf-8")
    assert main(["--check", "--pack", str(folder), str(notebook)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("grade: error: ") and says in err, err


def test_grade_pack_writes_the_pack_and_lists_what_stayed_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grader-pack"
    assert main(["pack", "-o", str(out), "--rubric", str(RUBRIC)]) == 0
    printed = capsys.readouterr()
    assert "11 of 26 checks, 9 public inputs" in printed.out
    assert "the leak scan found nothing" in printed.out
    assert "blur-kernel/blur-why: left out (public: false)" in printed.err
    assert load_pack(out).id == "conv-layer"
    assert main(["pack", "-o", str(out), "--rubric", str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err.startswith("grade pack: error: ")


# ------------------------------------------------------------------- hiding expected values


def _submission(line: str) -> SubmissionResult:
    check = CheckResult(
        check="corr2d/corr2d",
        type="function",
        score=0.0,
        max_score=3.0,
        passed=False,
        feedback=(line,),
    )
    ex = ExerciseResult(
        id="corr2d",
        title="corr2d",
        score=0.0,
        max_score=3.0,
        status="fail",
        feedback=(line,),
        checks=(check,),
    )
    return SubmissionResult(
        path="alice.ipynb",
        status="graded",
        score=0.0,
        max_score=3.0,
        exercises=(ex,),
        student="alice",
    )


def test_hide_expected_keeps_the_wrong_entry_and_drops_the_hidden_answer(tmp_path: Path) -> None:
    got = np.array([[1.0, 2.0], [3.0, 4.0]])
    expected = np.array([[1.0, -2.5], [3.0, 40.0]])
    line = f"`corr2d` is wrong on 1 of 12 hidden test inputs; e.g. ...: {difference(got, expected)}"
    assert "expected -2.5" in line and "expected 40" in line
    result = _submission(line)
    (hidden,) = feedback_of(result.exercises[0], False, hide_expected=True)
    assert hidden.endswith(
        "2 of 4 entries differ: [0, 1] is 2, not the expected value; [1, 1] is 4, "
        "not the expected value"
    )
    # student-facing: gradescope; the instructor's json keeps the values
    doc = json.loads(render("gradescope", [result], ReportOptions(hide_expected=True)))
    assert "expected -2.5" not in doc["tests"][0]["output"]
    assert "[0, 1] is 2" in doc["tests"][0]["output"]
    full = render("json", [result], ReportOptions(hide_expected=True))
    assert "expected -2.5" in full
    # a shape mismatch says what shape is expected (that is not an answer)
    shape = difference(np.zeros((2, 3)), np.zeros((2, 2)))
    assert feedback_of(_submission(shape).exercises[0], False, True) == (shape,)


def test_hide_expected_applies_to_feedback_pages_and_annotated_notebooks(tmp_path: Path) -> None:
    from grader.report.site import write_site

    notebook = tmp_path / "alice.ipynb"
    shutil.copy(ROOT / "tests" / "corpus" / "flipped-conv.ipynb", notebook)
    line = "`corr2d` is wrong: " + difference(np.array([1.0, 2.0]), np.array([1.0, 7.25]))
    result = _submission(line).__class__(**{**_submission(line).__dict__, "path": str(notebook)})
    shown = write_site([result], tmp_path / "report")
    hidden = write_site([result], tmp_path / "hidden", hide_expected=True)
    assert "expected 7.25" in shown.feedback[0].read_text(encoding="utf-8")
    assert "expected 7.25" in shown.notebooks[0].read_text(encoding="utf-8")
    page = hidden.feedback[0].read_text(encoding="utf-8")
    assert "expected 7.25" not in page and "[1] is 2, not the expected value" in page
    assert "expected 7.25" not in hidden.notebooks[0].read_text(encoding="utf-8")


# ------------------------------------------------------------------- edges


TINY = """\
rubric: tiny
version: "1"
title: Tiny
exercises:
  - id: runs
    title: The notebook runs
    points: 1
    checks:
      - type: runs
        points: 1
"""


def test_a_rubric_without_a_reference_module_packs_and_reads_back(tmp_path: Path) -> None:
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "tiny.yaml").write_text(TINY, encoding="utf-8")
    rubric = load_rubric(tmp_path / "rubrics" / "tiny.yaml")
    write_pack(rubric, tmp_path / "out")
    back = load_pack(tmp_path / "out")
    assert [c.type for c in back.exercises[0].checks] == ["runs"]
    (check,) = public_rubric(rubric).exercises[0].checks
    assert (check.label, check.points) == (back.exercises[0].checks[0].label, 1.0)


def test_grade_pack_will_not_write_into_a_folder_of_other_files(
    packed: Path, tmp_path: Path, rubric: Rubric
) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(PackError, match=r"holds other files \(notes\.txt\)"):
        write_pack(rubric, tmp_path)
    again = _copy(packed, tmp_path / "again")  # an older pack is simply replaced
    write_pack(rubric, again)
    assert (again / "notes.txt").exists() is False and scan(again, rubric, "") == []


def test_a_folder_of_notebooks_does_not_grade_the_packs_files(packed: Path, tmp_path: Path) -> None:
    from grader.cli import collect

    _copy(packed, tmp_path)
    (tmp_path / "mine.ipynb").write_text("{}", encoding="utf-8")
    assert collect([str(tmp_path)]) == [str(tmp_path / "mine.ipynb")]
