"""`grade review` end to end in real headless Chromium (selenium, Debian's chromium-driver).

A small class is graded with the real `grade` command (kernels, sandbox), `grade review` is
started as the instructor starts it, and the browser opens an exercise, accepts a group,
overrides one answer with a reusable comment and reloads; the new score is then found in the
gradebook, in grades.csv, in the class report and the student's feedback page, with the audit
entry. The XSS corpus is opened in the same browser: no script of a submission runs.
The screenshot of the question page goes to artifacts/review-question.png (docs/ has a copy).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import chromium, console_errors
from review_server import XSS_EXERCISE, XSS_STUDENT, hostile_class, logged_in, running

from grader.gradebook import Gradebook
from grader.report.text import fmt_num
from grader.templates import asset

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
RUBRIC = REPO / "rubrics" / "conv-layer.yaml"
COMMENT = "Off by one at the border: the output should be (n-k+1) wide."


def _grade(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture
def review(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A graded class (alice and carol compute the same corr2d, bob does not) and the URL
    that `grade review` printed."""
    klass = tmp_path / "class"
    klass.mkdir()
    for name in ("alice.ipynb", "bob.ipynb", "carol.txt"):
        shutil.copy(REPO / "examples" / name, klass / name)
    graded = _grade(
        tmp_path, "class", "--rubric", str(RUBRIC), "--timeout", "20", "--gradebook", "gb.db",
        "--report", "report", "--format", "json",
    )  # fmt: skip
    assert graded.returncode in (0, 2), graded.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader.cli", "review", "--gradebook", "gb.db",
         "--reviewer", "TA Ann"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url, url
        yield tmp_path, url
    finally:
        proc.terminate()
        proc.wait(20)


def _score_of(driver: Any, student: str) -> str:
    from selenium.webdriver.common.by import By

    for article in driver.find_elements(By.CSS_SELECTOR, "article.answer"):
        if article.get_attribute("data-student") == student:
            return str(article.find_element(By.CSS_SELECTOR, ".now-score strong").text)
    raise AssertionError(f"no answer of {student} on the page")


def test_review_a_question_end_to_end_in_the_browser(
    review: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    work, url = review
    base = url.split("/?token=")[0]
    with Gradebook(work / "gb.db") as book:
        before = {s: r for s, r in book.newest_graded()}
    bob_before = next(e for e in before["bob"].exercises if e.id == "corr2d").score

    with chromium(monkeypatch) as driver:
        driver.get(base + "/")
        assert "403" in driver.find_element(By.TAG_NAME, "body").text  # no token
        console_errors(driver)  # reading the log empties it: that 403 was expected
        driver.get(url)
        assert driver.find_element(By.ID, "reviewer").text == "TA Ann"
        driver.find_element(By.CSS_SELECTOR, 'a[href="/question?ex=corr2d"]').click()
        assert driver.find_element(By.ID, "exercise").text == "corr2d"

        # keyboard: j = first answer, n = next group, s = the answer's score field
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys("j")
        current = driver.find_element(By.CSS_SELECTOR, "article.answer.current")
        assert current.get_attribute("id") == "g1-a1"
        body.send_keys("n")
        assert (
            driver.find_element(By.CSS_SELECTOR, "article.answer.current").get_attribute("id")
            == "g2-a1"
        )
        body.send_keys("s")
        focused = driver.switch_to.active_element
        assert "score" in (focused.get_attribute("class") or "")

        # group 1 is alice and carol (the same verdict): accept it
        group = driver.find_element(By.ID, "g1")
        members = [a.get_attribute("data-student") for a in group.find_elements(
            By.CSS_SELECTOR, "article.answer")]  # fmt: skip
        assert sorted(members) == ["alice", "carol"]
        group.find_element(By.CSS_SELECTOR, "form.group-form button.accept").click()
        WebDriverWait(driver, 20).until(lambda d: d.current_url.endswith("#g1"))
        assert driver.current_url == f"{base}/question?ex=corr2d#g1"

        # a reusable comment with -0.5 points, applied to bob's answer
        details = driver.find_element(By.CSS_SELECTOR, "details#comments")
        if details.get_attribute("open") is None:  # open by default while there is none
            details.find_element(By.TAG_NAME, "summary").click()
        form = driver.find_element(By.ID, "new-comment")
        form.find_element(By.NAME, "text").send_keys(COMMENT)
        form.find_element(By.NAME, "adjustment").send_keys("-0.5")
        form.find_element(By.CSS_SELECTOR, "button").click()
        WebDriverWait(driver, 20).until(lambda d: d.current_url.endswith("#comments"))
        bob = driver.find_element(By.CSS_SELECTOR, 'article.answer[data-student="bob"]')
        Select(bob.find_element(By.CSS_SELECTOR, "select.comment")).select_by_index(1)
        bob.find_element(By.CSS_SELECTOR, "button.apply-comment").click()
        WebDriverWait(driver, 20).until(lambda d: re.search(r"#g\d+-a\d+$", d.current_url))

        driver.refresh()
        expected = bob_before - 0.5
        assert _score_of(driver, "bob") == f"{expected:g}"
        assert _score_of(driver, "alice") == "3"
        decision = driver.find_element(
            By.CSS_SELECTOR, 'article.answer[data-student="bob"] .decision'
        ).text
        assert decision.startswith("comment by TA Ann at") and COMMENT in decision

        # the screenshot for docs/instructors.md: the question page, from the top
        driver.set_window_size(1280, 1500)
        driver.execute_script("window.scrollTo(0, 0)")
        artifacts = REPO / "artifacts"
        artifacts.mkdir(exist_ok=True)
        shot = artifacts / "review-question.png"
        assert driver.save_screenshot(str(shot))
        with capsys.disabled():
            print(f"\nscreenshot: {shot}")

        # the audit view, the live class report and bob's feedback page
        driver.get(base + "/audit")
        rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tr.audit-entry")]
        assert len(rows) == 3
        assert "TA Ann bob corr2d" in rows[0] and "comment (comment #1)" in rows[0]
        assert COMMENT in rows[0]
        driver.get(base + "/report/index.html")
        table = driver.find_element(By.ID, "decision-table").text
        assert f"bob corr2d {expected:g} comment TA Ann" in table
        driver.find_element(By.CSS_SELECTOR, '#decision-table a[href="feedback/bob.html"]').click()
        page = driver.find_element(By.TAG_NAME, "body").text
        assert f"instructor's comment: {COMMENT}" in page
        assert "Decided by TA Ann on" in page
        total = before["bob"].score - 0.5
        assert driver.find_element(By.ID, "total").text.startswith(f"Total: {fmt_num(total)}/")
        assert console_errors(driver) == []

    # the gradebook, and the report and grades.csv that `grade` writes from it
    with Gradebook(work / "gb.db") as book:
        latest = {r.student: r for r in book.latest()}
        assert next(e for e in latest["bob"].exercises if e.id == "corr2d").score == expected
        audit = book.audit()
        assert (audit[0].student, audit[0].kind, audit[0].author) == ("bob", "comment", "TA Ann")
    again = _grade(
        work, "class", "--rubric", str(RUBRIC), "--gradebook", "gb.db", "--report", "report2",
        "--format", "json",
    )  # fmt: skip
    assert again.returncode in (0, 2), again.stderr
    rows = list(csv.reader(io.StringIO((work / "report2" / "grades.csv").read_text())))
    bob_row = next(r for r in rows if "bob" in r)
    assert any(_close(cell, total) for cell in bob_row), bob_row
    feedback = (work / "report2" / "feedback" / "bob.html").read_text(encoding="utf-8")
    assert f"instructor&#x27;s comment: {COMMENT}" in feedback
    index = (work / "report2" / "index.html").read_text(encoding="utf-8")
    assert re.search(r'data-v="bob".*?data-v="' + re.escape(repr(expected)), index, re.S)


def _close(cell: str, value: float) -> bool:
    try:
        return abs(float(cell) - value) < 0.01
    except ValueError:
        return False


PAGES = ("/", "/question?ex={ex}", "/audit", "/report/index.html", "/report/feedback/{slug}.html")


def test_no_script_from_a_hostile_submission_runs_in_the_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    with Gradebook(hostile_class(tmp_path)) as book, running(book) as base:
        comment = book.add_comment(XSS_EXERCISE, "<script>window.pwned='c'</script>", None, "x")
        book.decide([XSS_STUDENT], XSS_EXERCISE, author="<b>TA</b>", comment=comment.id)
        ex = urllib.parse.quote(XSS_EXERCISE, safe="")
        client = logged_in(base)
        question = client.get(f"/question?ex={ex}").text
        found = re.search(r'href="/report/feedback/([^"]+)\.html"', question)
        assert found
        with chromium(monkeypatch) as driver:
            driver.get(f"{base}/?token=test-token-0123456789")
            for page in PAGES:
                driver.get(base + page.format(ex=ex, slug=found.group(1)))
                try:
                    alert = driver.switch_to.alert
                    raise AssertionError(f"an alert ran on {page}: {alert.text}")
                except NoAlertPresentException:
                    pass
                assert driver.execute_script("return window.pwned") is None, page
                assert driver.execute_script(
                    "return document.querySelectorAll('a[href^=\"javascript:\" i], [onerror],"
                    " img:not([src^=\"data:image/\"])').length"
                ) == 0, page  # fmt: skip
                scripts = driver.execute_script(
                    "return Array.from(document.scripts).map(s => s.src || s.textContent)"
                )
                own = {f"{base}/static/review.js", asset("report/sort.js")}
                assert set(scripts) <= own, page  # only the app's and the report's own
            # the question page shows the student's HTML as text, and the good picture
            driver.get(f"{base}/question?ex={ex}")
            text = driver.find_element(By.TAG_NAME, "body").text
            assert "<script>window.pwned='html'</script>" in text
            assert XSS_STUDENT in text
            pictures = driver.execute_script(
                "return Array.from(document.images).map(i => [i.complete, i.naturalWidth])"
            )
            assert pictures == [[True, 1], [True, 1]]  # one per answer; the bogus one is dropped
