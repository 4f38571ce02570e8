"""The ``junit`` report: JUnit XML for CI dashboards (GitLab, Jenkins, GitHub test reporters).

``<testsuites>`` holds one ``<testsuite>`` per submission (name = student, else path; ``tests``,
``failures``, ``errors``, ``skipped``, ``time`` = notebook run seconds; ``<properties>`` carry
path, student, edition, score and max_score). Each exercise is a
``<testcase classname="<student or path>" name="<id>: <title>">``:

* ``pass``: no child (feedback, if any, goes to the test case's ``<system-out>``);
* ``fail``, ``partial``, ``missing``: ``<failure message="score x/y" type="<status>">`` with the
  feedback lines, diagnoses and a "needs review" mark as text;
* ``error``: ``<error message="score x/y" type="error">`` likewise.

An invalid submission is a suite with one errored test case named ``submission`` carrying the
error. Execution problems of a graded submission go to the suite's ``<system-err>``.

All text is made XML-safe: characters XML 1.0 cannot carry (control characters, lone
surrogates, U+FFFE/U+FFFF) are removed, and ElementTree escapes the rest.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import TYPE_CHECKING

from grader.model import ExerciseResult, SubmissionResult
from grader.report.json_report import feedback_of
from grader.report.text import execution_problems, fmt_num, one_line

if TYPE_CHECKING:
    from grader.report import ReportOptions

__all__ = ["render", "xml_safe"]

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def xml_safe(text: str) -> str:
    """``text`` without ANSI colour codes and without characters XML 1.0 forbids."""
    return _NOT_XML.sub("", _ANSI.sub("", text))


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: xml_safe(v) for k, v in attrib.items()})
    if text:
        el.text = xml_safe(text)
    return el


def _details(ex: ExerciseResult, public_only: bool) -> str:
    lines = list(feedback_of(ex, public_only))
    if ex.diagnoses:
        lines.append("diagnoses: " + " ".join(f"[{d}]" for d in ex.diagnoses))
    if ex.needs_review:
        lines.append("needs review")
    return "\n".join(lines)


def _suite_name(result: SubmissionResult) -> str:
    return result.student or result.path


def _invalid_suite(parent: ET.Element, result: SubmissionResult) -> tuple[int, int, int]:
    name = _suite_name(result)
    suite = _sub(parent, "testsuite", name=name, tests="1", failures="0", errors="1")
    suite.set("skipped", "0")
    suite.set("time", "0.000")
    props = _sub(suite, "properties")
    _sub(props, "property", name="path", value=result.path)
    error = result.error or "the submission could not be read"
    case = _sub(suite, "testcase", classname=name, name="submission", time="0")
    _sub(case, "error", error, message=one_line(error) or "invalid submission", type="invalid")
    return 1, 0, 1


def _graded_suite(
    parent: ET.Element, result: SubmissionResult, options: ReportOptions
) -> tuple[int, int, int]:
    name = _suite_name(result)
    failures = sum(e.status in ("fail", "partial", "missing") for e in result.exercises)
    errors = sum(e.status == "error" for e in result.exercises)
    seconds = result.execution.seconds if result.execution else 0.0
    suite = _sub(
        parent,
        "testsuite",
        name=name,
        tests=str(len(result.exercises)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{seconds:.3f}",
    )
    props = _sub(suite, "properties")
    _sub(props, "property", name="path", value=result.path)
    if result.student:
        _sub(props, "property", name="student", value=result.student)
    _sub(props, "property", name="edition", value=result.edition or "")
    _sub(props, "property", name="score", value=fmt_num(result.score))
    _sub(props, "property", name="max_score", value=fmt_num(result.max_score))
    for ex in result.exercises:
        title = f"{ex.id}: {ex.title}" if ex.title else ex.id
        case = _sub(suite, "testcase", classname=name, name=title, time="0")
        message = f"score {fmt_num(ex.score)}/{fmt_num(ex.max_score)}"
        details = _details(ex, options.public_only)
        if ex.status == "error":
            _sub(case, "error", details, message=message, type="error")
        elif ex.status != "pass":
            _sub(case, "failure", details, message=message, type=ex.status)
        elif details:
            _sub(case, "system-out", details)
    problems = execution_problems(result.execution)
    if result.diagnoses:
        problems.insert(0, "diagnoses: " + " ".join(f"[{d}]" for d in result.diagnoses))
    if problems:
        _sub(suite, "system-err", "\n".join(problems))
    return len(result.exercises), failures, errors


def render(results: Sequence[SubmissionResult], options: ReportOptions) -> str:
    root = ET.Element("testsuites", {"name": "grader"})
    tests = failures = errors = 0
    seconds = 0.0
    for result in results:
        if result.status == "invalid":
            counts = _invalid_suite(root, result)
        else:
            counts = _graded_suite(root, result, options)
            seconds += result.execution.seconds if result.execution else 0.0
        tests, failures, errors = tests + counts[0], failures + counts[1], errors + counts[2]
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
