"""grader: automated, tamper-resistant grading of Dive into Deep Learning notebooks.

Library API (the ``grade`` command is a thin layer over it)::

    from grader import Grader, executor, load_rubric
    grader = Grader(load_rubric("rubrics/conv-layer.yaml"), executor("nbclient"))
    result = grader.grade_path("submission.ipynb")

Stages: :mod:`grader.load` -> :mod:`grader.execute` -> :mod:`grader.locate` ->
:mod:`grader.checks` -> :mod:`grader.report`. Errors: :mod:`grader.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .execute import executor
    from .pipeline import Grader, Options
    from .rubric import load_rubric

_LAZY = {
    "Grader": ("pipeline", "Grader"),
    "Options": ("pipeline", "Options"),
    "executor": ("execute", "executor"),
    "load_rubric": ("rubric", "load_rubric"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(name)


__all__ = ["Grader", "Options", "__version__", "executor", "load_rubric"]
