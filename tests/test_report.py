"""Tests of grader.report: every reporter on hand-built SubmissionResult objects."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import jsonschema
import pytest

from grader.model import (
    CellError,
    CheckResult,
    ExecutionSummary,
    ExerciseResult,
    SubmissionResult,
)
from grader.report import REPORTERS, ReportOptions, render
from grader.report.json_report import JSON_SCHEMA, public_feedback, to_dict

HIDDEN_LINE = "Hidden test: the 7x7 input with a 3x3 kernel gives the wrong shape."
PUBLIC_LINE = "Your corr2d output has the right shape but the wrong values."
ANSI = re.compile(r"\x1b\[")

# --------------------------------------------------------------------------- fixtures


def _ex(
    ex_id: str,
    score: float,
    max_score: float,
    status: str,
    *feedback: str,
    title: str = "",
    **kw: object,
) -> ExerciseResult:
    return ExerciseResult(
        id=ex_id,
        title=title or f"Exercise {ex_id}",
        score=score,
        max_score=max_score,
        status=status,  # type: ignore[arg-type]
        feedback=feedback,
        **kw,  # type: ignore[arg-type]
    )


def perfect() -> SubmissionResult:
    return SubmissionResult(
        path="subs/alice_1001.ipynb",
        student="alice",
        status="graded",
        edition="d2l-1.0",
        score=10.0,
        max_score=12.0,  # deliberately not the sum of the exercise maxima: never re-summed
        exercises=(
            _ex("6.2.1", 4, 4, "pass", "Well done.", title="Cross-correlation"),
            _ex("6.2.2", 4, 4, "pass", title="Edge detection"),
        ),
        execution=ExecutionSummary(seconds=3.14159, errors=(), killed=None),
    )


def partial() -> SubmissionResult:
    """Partial, missing, error and needs-review exercises, a hidden check, a cell error."""
    checks = (
        CheckResult("6.2.1/0", "function", 1.5, 2, False, feedback=(PUBLIC_LINE,)),
        CheckResult("6.2.1/1", "function", 0, 2, False, feedback=(HIDDEN_LINE,), public=False),
    )
    return SubmissionResult(
        path="subs/bob_1002.ipynb",
        student="bob",
        status="graded",
        edition="d2l-0.17",
        score=1.5 + 4 / 3,
        max_score=12.0,
        exercises=(
            _ex(
                "6.2.1",
                1.5,
                4,
                "partial",
                PUBLIC_LINE,
                HIDDEN_LINE,
                title="Cross-correlation",
                diagnoses=("flipped-kernel",),
                checks=checks,
            ),
            _ex("6.2.2", 0, 4, "missing", title="Edge detection"),
            _ex("6.2.3", 0, 2, "error", "Could not be checked: the kernel died.", title="Learn"),
            _ex(
                "6.2.4",
                4 / 3,
                2,
                "partial",
                "The explanation mentions padding but not stride.",
                title="Prose",
                needs_review=True,
            ),
        ),
        diagnoses=("imports-late",),
        execution=ExecutionSummary(
            seconds=12.34567,
            errors=(CellError(cell=7, ename="NameError", evalue="name 'X' is not defined"),),
            killed=None,
            notes=("added missing import torch",),
        ),
    )


def killed() -> SubmissionResult:
    return SubmissionResult(
        path="subs/dave_1004.ipynb",
        student="dave",
        status="graded",
        edition="d2l-1.0",
        score=0.0,
        max_score=12.0,
        exercises=(
            _ex(
                "6.2.1",
                0,
                4,
                "missing",
                "The notebook was stopped before this exercise could be checked.",
            ),
        ),
        execution=ExecutionSummary(seconds=600.0, errors=(), killed="timeout"),
    )


def invalid() -> SubmissionResult:
    return SubmissionResult(
        path="subs/carol_1003.ipynb",
        student="carol",
        status="invalid",
        error="not a notebook: Expecting value: line 1 column 1\n(the file is empty)",
    )


ALL = (perfect, partial, killed, invalid)


def _json(results: list[SubmissionResult], **opts: Any) -> Any:
    out = render("json", results, ReportOptions(**opts))
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


# --------------------------------------------------------------------------- registry


def test_registry_has_the_five_reporters_and_each_returns_a_document() -> None:
    assert set(REPORTERS) == {"text", "json", "junit", "gradescope", "csv"}
    results = [f() for f in ALL]
    for name in REPORTERS:
        out = render(name, results, ReportOptions())
        assert out.strip(), name
        assert out.endswith("\n"), name


def test_unknown_reporter_names_the_valid_ones() -> None:
    with pytest.raises(KeyError) as info:
        render("xlsx", [perfect()], ReportOptions())
    message = str(info.value)
    assert "xlsx" in message
    for name in ("text", "json", "junit", "gradescope", "csv"):
        assert name in message


# --------------------------------------------------------------------------- json


def test_json_schema_is_a_valid_2020_12_schema() -> None:
    assert JSON_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(JSON_SCHEMA)


def test_json_validates_and_is_one_document_with_a_trailing_newline() -> None:
    out = render("json", [f() for f in ALL], ReportOptions())
    assert out.endswith("}\n")
    doc = json.loads(out)  # raises on trailing garbage: exactly one document
    jsonschema.validate(doc, JSON_SCHEMA, cls=jsonschema.Draft202012Validator)
    assert set(doc) == {"submissions"}
    assert [s["student"] for s in doc["submissions"]] == ["alice", "bob", "dave", "carol"]


def test_json_round_trips_the_values() -> None:
    doc = _json([partial()])
    sub = doc["submissions"][0]
    assert sub["path"] == "subs/bob_1002.ipynb"
    assert sub["status"] == "graded"
    assert sub["error"] is None
    assert sub["edition"] == "d2l-0.17"
    assert sub["score"] == 2.83
    assert sub["max_score"] == 12.0
    assert sub["diagnoses"] == ["imports-late"]
    assert [e["id"] for e in sub["exercises"]] == ["6.2.1", "6.2.2", "6.2.3", "6.2.4"]
    assert [e["status"] for e in sub["exercises"]] == ["partial", "missing", "error", "partial"]
    first = sub["exercises"][0]
    assert first["title"] == "Cross-correlation"
    assert first["feedback"] == [PUBLIC_LINE, HIDDEN_LINE]
    assert first["diagnoses"] == ["flipped-kernel"]
    assert first["needs_review"] is False
    assert sub["exercises"][3]["score"] == 1.33  # 4/3 rounded to 2 decimals
    assert sub["exercises"][3]["needs_review"] is True
    assert sub["execution"] == {
        "seconds": 12.346,  # rounded to 3 decimals
        "errors": [{"cell": 7, "ename": "NameError", "evalue": "name 'X' is not defined"}],
        "killed": None,
        "notes": ["added missing import torch"],
    }


def test_json_invalid_and_killed_submissions() -> None:
    doc = _json([invalid(), killed()])
    bad, stopped = doc["submissions"]
    assert bad["status"] == "invalid"
    assert bad["execution"] is None
    assert bad["exercises"] == []
    assert bad["error"].startswith("not a notebook")
    assert stopped["execution"]["killed"] == "timeout"


def test_to_dict_drops_exercises_and_execution_of_an_invalid_submission() -> None:
    odd = SubmissionResult(
        path="x.ipynb",
        status="invalid",
        error="broken",
        exercises=(_ex("1", 0, 1, "fail"),),
        execution=ExecutionSummary(seconds=1.0, errors=(), killed=None),
    )
    d = to_dict(odd)
    assert d["exercises"] == []
    assert d["execution"] is None
    jsonschema.validate({"submissions": [d]}, JSON_SCHEMA)


def test_json_schema_rejects_what_the_contract_forbids() -> None:
    good = to_dict(partial())
    jsonschema.validate({"submissions": [good]}, JSON_SCHEMA)
    bad_docs = [
        {"submissions": [good], "extra": 1},
        {"submissions": [{**good, "status": "done"}]},
        {"submissions": [{**to_dict(invalid()), "execution": good["execution"]}]},
        {"submissions": [{**good, "exercises": [{**good["exercises"][0], "status": "ok"}]}]},
        {"submissions": [{k: v for k, v in good.items() if k != "score"}]},
        {"submissions": [good], "public_only": False},
    ]
    for bad in bad_docs:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, JSON_SCHEMA)


def test_json_public_only_drops_feedback_of_non_public_checks() -> None:
    full = render("json", [partial()], ReportOptions())
    assert HIDDEN_LINE in full
    assert '"public_only"' not in full

    out = render("json", [partial()], ReportOptions(public_only=True))
    assert HIDDEN_LINE not in out
    doc = json.loads(out)
    jsonschema.validate(doc, JSON_SCHEMA)
    assert doc["public_only"] is True
    first = doc["submissions"][0]["exercises"][0]
    assert first["feedback"] == [PUBLIC_LINE]
    assert first["score"] == 1.5  # nothing recomputed


def test_public_feedback_keeps_lines_a_public_check_also_gave() -> None:
    shared = "Check the kernel orientation."
    ex = _ex(
        "1",
        0,
        2,
        "fail",
        shared,
        "only hidden",
        "added by the pipeline",
        checks=(
            CheckResult("1/0", "function", 0, 1, False, feedback=(shared,)),
            CheckResult(
                "1/1", "function", 0, 1, False, feedback=(shared, "only hidden"), public=False
            ),
        ),
    )
    assert public_feedback(ex) == (shared, "added by the pipeline")


def test_json_refuses_non_finite_scores() -> None:
    broken = SubmissionResult(path="x.ipynb", status="graded", score=float("nan"))
    with pytest.raises(ValueError):
        render("json", [broken], ReportOptions())


# --------------------------------------------------------------------------- text


def test_text_has_header_rows_feedback_and_execution_problems() -> None:
    out = render("text", [partial()], ReportOptions())
    lines = out.splitlines()
    assert "subs/bob_1002.ipynb" in lines[0]
    assert "d2l-0.17" in lines[0]
    assert "2.83/12" in lines[0]
    assert re.search(r"^  6\.2\.1 +Cross-correlation +1\.5/4 +partial$", out, re.M)
    assert re.search(r"^  6\.2\.2 +Edge detection +0/4 +missing$", out, re.M)
    assert re.search(r"^  6\.2\.3 +Learn +0/2 +error$", out, re.M)
    assert re.search(r"^  6\.2\.4 +Prose +1\.33/2 +partial +needs review$", out, re.M)
    assert "      " + PUBLIC_LINE in lines  # feedback indented below its row
    assert "      [flipped-kernel]" in lines
    assert "[imports-late]" in out
    assert "cell 7: NameError: name 'X' is not defined" in out
    assert "note: added missing import torch" in out
    assert "summary:" not in out  # one submission: no summary line
    assert not ANSI.search(out)


def test_text_killed_and_invalid() -> None:
    out = render("text", [killed(), invalid()], ReportOptions())
    assert "the notebook was stopped: timeout" in out
    invalid_line = next(line for line in out.splitlines() if "carol" in line)
    assert "INVALID" in invalid_line
    # the multi-line error is shown on one line
    assert "not a notebook: Expecting value: line 1 column 1 (the file is empty)" in invalid_line


def test_text_summary_has_counts_and_mean_of_the_score_fields() -> None:
    out = render("text", [perfect(), partial(), invalid()], ReportOptions())
    last = out.rstrip("\n").splitlines()[-1]
    # mean of 10 and 2.8333 (the score fields); the invalid one is not averaged
    assert "graded 2, invalid 1, mean score 6.42/12" in last


def test_text_wraps_long_feedback_at_100_characters() -> None:
    long_line = "Your kernel is flipped left to right. " * 10
    sub = SubmissionResult(
        path="a.ipynb",
        status="graded",
        score=0,
        max_score=1,
        exercises=(_ex("1", 0, 1, "fail", long_line),),
    )
    out = render("text", [sub], ReportOptions())
    body = [line for line in out.splitlines() if "flipped" in line]
    assert len(body) >= 4
    assert all(len(line) <= 100 for line in body)
    assert " ".join(" ".join(line.split()) for line in body) == " ".join(long_line.split())


def test_text_colour_only_when_asked() -> None:
    dirty = _ex("1", 0, 1, "fail", "output was \x1b[31mred\x1b[0m\x07 text")
    sub = SubmissionResult(
        path="a.ipynb", status="graded", max_score=2, exercises=(dirty, _ex("2", 1, 1, "pass"))
    )
    plain = render("text", [sub], ReportOptions())
    assert not ANSI.search(plain)  # student ANSI codes are stripped too
    assert "\x07" not in plain
    assert "output was red text" in plain
    coloured = render("text", [sub], ReportOptions(color=True))
    assert "\x1b[32mpass" in coloured
    assert "\x1b[31mfail" in coloured


def test_text_public_only_and_show_checks() -> None:
    full = render("text", [partial()], ReportOptions(show_checks=True))
    assert HIDDEN_LINE in full
    assert "check 6.2.1/0" in full
    assert "check 6.2.1/1" in full
    public = render("text", [partial()], ReportOptions(show_checks=True, public_only=True))
    assert HIDDEN_LINE not in public
    assert PUBLIC_LINE in public
    assert "check 6.2.1/0" in public
    assert "check 6.2.1/1" not in public
    assert "check 6.2.1/0" not in render("text", [partial()], ReportOptions())


# --------------------------------------------------------------------------- junit


def _junit(results: list[SubmissionResult], **opts: Any) -> ET.Element:
    out = render("junit", results, ReportOptions(**opts))
    assert out.startswith("<?xml")
    return ET.fromstring(out.encode("utf-8"))


def test_junit_counts_failures_and_errors() -> None:
    root = _junit([perfect(), partial(), invalid()])
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["alice", "bob", "carol"]

    alice, bob, carol = suites
    assert (alice.get("tests"), alice.get("failures"), alice.get("errors")) == ("2", "0", "0")
    assert alice.findall("testcase/failure") == []

    assert (bob.get("tests"), bob.get("failures"), bob.get("errors")) == ("4", "3", "1")
    assert bob.get("time") == "12.346"
    cases = bob.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "6.2.1: Cross-correlation",
        "6.2.2: Edge detection",
        "6.2.3: Learn",
        "6.2.4: Prose",
    ]
    assert {c.get("classname") for c in cases} == {"bob"}
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "score 1.5/4"
    assert PUBLIC_LINE in (failure.text or "")
    assert cases[2].find("error") is not None
    assert cases[2].find("failure") is None
    assert "needs review" in (cases[3].findtext("failure") or "")
    assert "cell 7: NameError" in (bob.findtext("system-err") or "")

    assert (carol.get("tests"), carol.get("failures"), carol.get("errors")) == ("1", "0", "1")
    error = carol.find("testcase/error")
    assert error is not None
    assert "not a notebook" in (error.get("message") or "")

    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "3", "2")


def test_junit_survives_control_characters_and_markup() -> None:
    nasty = 'bad \x00byte \x1b[31mred\x1b[0m \x0c<tag> & "quotes" \ud800end'
    sub = SubmissionResult(
        path="subs/</evil>\x01.ipynb",
        student="m\x02allory",
        status="graded",
        max_score=1,
        exercises=(_ex("1", 0, 1, "fail", nasty, title="a <b> & c"),),
    )
    root = _junit([sub])
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "mallory"
    case = suite.find("testcase")
    assert case is not None
    assert case.get("name") == "1: a <b> & c"
    text = case.findtext("failure") or ""
    assert 'bad byte red <tag> & "quotes" end' in text


def test_junit_public_only_hides_non_public_feedback() -> None:
    out = render("junit", [partial()], ReportOptions(public_only=True))
    assert HIDDEN_LINE not in out
    assert PUBLIC_LINE in out
    assert HIDDEN_LINE in render("junit", [partial()], ReportOptions())


# --------------------------------------------------------------------------- gradescope


def _gradescope(results: list[SubmissionResult], **opts: Any) -> Any:
    doc = json.loads(render("gradescope", results, ReportOptions(**opts)))
    assert isinstance(doc, dict)
    return doc


def test_gradescope_fields_and_scores() -> None:
    sub = partial()
    doc = _gradescope([sub])
    assert {"score", "output", "tests", "visibility", "stdout_visibility"} <= set(doc)
    assert doc["visibility"] == "visible"
    assert doc["stdout_visibility"] == "hidden"
    assert doc["output_format"] == "text"
    assert doc["score"] == 2.83
    tests = doc["tests"]
    assert isinstance(tests, list)
    assert len(tests) == 4
    for test in tests:
        assert set(test) == {"name", "score", "max_score", "output", "visibility", "status"}
        assert test["visibility"] == "visible"
    assert sum(t["score"] for t in tests) == pytest.approx(2.83, abs=0.01)
    assert [t["status"] for t in tests] == ["failed"] * 4
    assert tests[0]["name"] == "6.2.1: Cross-correlation"
    assert tests[0]["max_score"] == 4
    assert tests[0]["output"] == f"{PUBLIC_LINE}\n{HIDDEN_LINE}"
    output = doc["output"]
    assert isinstance(output, str)
    assert "cell 7: NameError: name 'X' is not defined" in output


def test_gradescope_uses_the_first_submission_only() -> None:
    doc = _gradescope([perfect(), partial()])
    assert doc["score"] == 10.0
    tests = doc["tests"]
    assert isinstance(tests, list)
    assert [t["status"] for t in tests] == ["passed", "passed"]
    assert sum(t["score"] for t in tests) == 8.0  # what was given; the total is the score field


def test_gradescope_invalid_killed_and_empty() -> None:
    bad = _gradescope([invalid()])
    assert bad["tests"] == []
    assert bad["score"] == 0.0
    assert "not a notebook" in str(bad["output"])

    stopped = _gradescope([killed()])
    assert "the notebook was stopped: timeout" in str(stopped["output"])

    empty = _gradescope([])
    assert empty["score"] == 0.0
    assert empty["tests"] == []


def test_gradescope_public_only() -> None:
    doc = _gradescope([partial()], public_only=True)
    tests = doc["tests"]
    assert isinstance(tests, list)
    assert tests[0]["output"] == PUBLIC_LINE
    assert HIDDEN_LINE not in json.dumps(doc)


# --------------------------------------------------------------------------- csv


def _csv(results: list[SubmissionResult], layout: str = "canvas") -> list[list[str]]:
    out = render("csv", results, ReportOptions(csv_layout=layout))  # type: ignore[arg-type]
    return list(csv.reader(io.StringIO(out, newline="")))


def test_csv_canvas_layout_parses_back() -> None:
    rows = _csv([perfect(), partial(), invalid()])
    header, points, *students = rows
    assert header == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "6.2.1",
        "6.2.2",
        "6.2.3",
        "6.2.4",
        "Final Points",
    ]
    assert points[0] == "Points Possible"
    assert points[5:9] == ["4", "4", "2", "2"]
    by_student = {row[0]: dict(zip(header, row, strict=True)) for row in students}
    assert set(by_student) == {"alice", "bob", "carol"}
    alice, bob, carol = by_student["alice"], by_student["bob"], by_student["carol"]
    assert alice["SIS Login ID"] == "alice"
    assert (alice["6.2.1"], alice["6.2.2"], alice["6.2.3"]) == ("4", "4", "")
    assert alice["Final Points"] == "10"  # the score field, though the cells add up to 8
    assert [float(bob[c]) for c in ("6.2.1", "6.2.2", "6.2.3", "6.2.4")] == [1.5, 0, 0, 1.33]
    assert float(bob["Final Points"]) == 2.83
    assert carol["6.2.1"] == ""
    assert float(carol["Final Points"]) == 0


def test_csv_columns_are_the_union_in_order_of_first_appearance() -> None:
    a = SubmissionResult(
        path="a.ipynb", student="a", status="graded", exercises=(_ex("b", 1, 1, "pass"),)
    )
    b = SubmissionResult(
        path="b.ipynb",
        student="b",
        status="graded",
        exercises=(_ex("c", 1, 2, "partial"), _ex("b", 0, 1, "fail"), _ex("a", 1, 1, "pass")),
    )
    header = _csv([a, b])[0]
    assert header[5:-1] == ["b", "c", "a"]
    assert _csv([a, b], "moodle")[0] == ["Student", "b", "c", "a", "Total", "Max total"]


def test_csv_escapes_formula_cells() -> None:
    evil = SubmissionResult(
        path="subs/=HYPERLINK(1).ipynb",
        student="=cmd|' /C calc'!A0",
        status="graded",
        score=1,
        max_score=1,
        exercises=(_ex("1", 1, 1, "pass"),),
    )
    plus = SubmissionResult(path="+1.ipynb", student="@SUM(A1)", status="invalid", error="x")
    nameless = SubmissionResult(path="-2+3.ipynb", status="invalid", error="x")
    rows = _csv([evil, plus, nameless])
    cells = [cell for row in rows[2:] for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells
    assert "'@SUM(A1)" in cells
    assert "'-2+3.ipynb" in cells
    for cell in cells:
        if cell and cell[0] in "=+@":
            pytest.fail(f"unescaped formula cell {cell!r}")
        if cell.startswith("-"):
            float(cell)  # only numbers may start with a minus sign


def test_csv_a_file_name_cannot_pose_as_the_points_possible_row() -> None:
    sneaky = SubmissionResult(
        path="Points Possible.ipynb", status="graded", exercises=(_ex("1", 1, 1, "pass"),)
    )
    rows = _csv([sneaky])
    # Canvas treats any row whose first cell matches /Points Possible/ as the points row
    assert [bool(re.search("Points Possible", r[0])) for r in rows] == [False, True, False]
    assert rows[2][-1] == "0"


def test_csv_moodle_layout_skips_rows_without_a_student() -> None:
    nameless = SubmissionResult(
        path="x.ipynb",
        status="graded",
        score=3,
        max_score=4,
        exercises=(_ex("1", 3, 4, "partial"),),
    )
    rows = _csv([perfect(), nameless, partial()], "moodle")
    header, *students = rows
    assert header == ["Student", "6.2.1", "6.2.2", "6.2.3", "6.2.4", "Total", "Max total"]
    assert [r[0] for r in students] == ["alice", "bob"]
    assert students[0][-2:] == ["10", "12"]
    assert "Points Possible" not in {r[0] for r in rows}


def test_every_report_can_be_written_as_utf8_despite_undecodable_file_names() -> None:
    # os.fsdecode turns undecodable bytes of a file name into lone surrogates
    sub = SubmissionResult(
        path="subs/caf\udce9.ipynb",
        student="caf\udce9",
        status="graded",
        score=1,
        max_score=1,
        exercises=(_ex("1", 1, 1, "pass", "ok \udce9"),),
    )
    for name in REPORTERS:
        out = render(name, [sub], ReportOptions())
        out.encode("utf-8")  # raises UnicodeEncodeError on a lone surrogate
        assert ("ok" if name == "gradescope" else "caf") in out, name
