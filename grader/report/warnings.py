"""Batch-level warnings for the instructor: what is wrong with the grading set-up, not with a
submission. Each warning is given once per batch, with how many submissions it touched.

``environment``: a module of the course's list (:mod:`grader.course`) that the kernels'
environment lacks, counted over the graded submissions that imported it. The students lost
nothing for it (their feedback does not mention it); the instructor should install the module
where the kernels run, or name a course environment (``--kernel-python``, ``course.yaml``).
Results taken unchanged from the gradebook do not carry it (the gradebook does not keep it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from grader.course import counts
from grader.model import SubmissionResult

__all__ = ["BatchWarning", "batch_warnings"]


@dataclass(frozen=True)
class BatchWarning:
    kind: Literal["environment"]
    module: str
    submissions: int  # how many graded submissions it touched
    total: int  # of how many graded submissions
    message: str


def batch_warnings(results: Sequence[SubmissionResult]) -> tuple[BatchWarning, ...]:
    graded = [r for r in results if r.status == "graded"]
    gaps = counts(r.execution.environment for r in graded if r.execution is not None)
    total = len(graded)
    return tuple(
        BatchWarning(
            "environment",
            module,
            n,
            total,
            f"the grading environment lacks {module} (imported by {n} of {total} "
            f"submission{'s' if total != 1 else ''}): install it into the kernels' Python "
            "environment or pass --kernel-python (or environment.python in course.yaml); "
            "the cells it stopped were not held against the students",
        )
        for module, n in gaps.items()
    )
