"""A Markdown summary for CI job pages (``$GITHUB_STEP_SUMMARY`` in GitHub Actions)."""

from __future__ import annotations

from collections.abc import Sequence

from ..model import SubmissionResult

_MARK = {"pass": "✅", "partial": "🟡", "fail": "❌", "missing": "⬜", "error": "⚠️"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary(results: Sequence[SubmissionResult], fail_under: float | None = None) -> str:
    lines = ["## Grading results", ""]
    for r in results:
        who = _cell(r.student or r.path)
        if r.status == "invalid":
            lines += [f"### {who}: not a notebook", "", _cell(r.error or ""), ""]
            continue
        percent = 100.0 * r.score / r.max_score if r.max_score else 0.0
        verdict = ""
        if fail_under is not None:
            verdict = (
                " (passes)"
                if percent >= fail_under - 1e-9
                else f" (below the required {fail_under:g}%)"
            )
        lines += [
            f"### {who}: {r.score:g}/{r.max_score:g} ({percent:.0f}%){verdict}",
            "",
            "| exercise | score | status | feedback |",
            "|---|---|---|---|",
        ]
        for e in r.exercises:
            first = _cell(e.feedback[0]) if e.feedback else ""
            lines.append(
                f"| {e.id} | {e.score:g}/{e.max_score:g} | "
                f"{_MARK.get(e.status, '')} {e.status} | {first[:200]} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"
