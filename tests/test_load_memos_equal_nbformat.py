"""The loader's schema check: per-cell verdicts remembered by content, the same notes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from nbformat import validator

from grader import load

NOTEBOOKS = sorted(
    p
    for p in [*ROOT.glob("reference/*.ipynb"), *ROOT.glob("tests/corpus/*.ipynb")]
    if p.name not in ("not-nbformat.ipynb", "truncated-json.ipynb")
)


def _nbformat_notes(data: dict[str, Any], minor: int) -> list[str]:
    """What _schema_notes said before it had a fast path: nbformat's validator alone."""
    errors = list(validator.iter_validate(data, version=4, version_minor=minor))
    if not errors:
        return []
    first = errors[0]
    where = load._schema_location(list(first.absolute_path))
    count = f"{len(errors)} problems" if len(errors) > 1 else "1 problem"
    return [
        f"the file does not fully follow the notebook format ({count}; first, {where}: "
        f"{load._one_line(first.message, 120)}); read it anyway"
    ]


def _variants(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = [data]

    def edit(change: Any) -> None:
        d = copy.deepcopy(data)
        change(d)
        out.append(d)

    if data["cells"]:
        edit(lambda d: d["cells"][0].pop("metadata"))
        edit(lambda d: d["cells"][-1].update(cell_type="heading"))
        edit(lambda d: d["cells"][0].update(extra=1))
        edit(lambda d: d["cells"][0].update(source=3))
    edit(lambda d: d["cells"].append({"cell_type": "code", "source": "", "metadata": {}}))
    edit(lambda d: d["cells"].append("not a cell"))
    edit(lambda d: d.update(extra=1))
    edit(lambda d: d.pop("metadata"))
    edit(lambda d: d["metadata"].update(kernelspec=1))
    edit(lambda d: d["cells"].clear())
    for i, cell in enumerate(data["cells"]):
        if cell.get("cell_type") == "code":
            edit(lambda d, i=i: d["cells"][i].update(outputs=[{"output_type": "nope"}]))
            edit(lambda d, i=i: d["cells"][i].update(execution_count="1"))
            break
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_schema_notes_are_nbformats(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    small = {**data, "cells": data["cells"][:6]}  # broken variants: nbformat words them slowly
    broken = 0
    for variant in [data, *_variants(small)]:
        for minor in (0, 4, 5) if variant is data else (4,):
            load._CELL_VERDICTS.clear()
            want = _nbformat_notes(copy.deepcopy(variant), minor)
            broken += bool(want)
            assert load._schema_notes(copy.deepcopy(variant), 4, minor) == want
            assert load._schema_notes(copy.deepcopy(variant), 4, minor) == want  # remembered
    assert broken >= len(_variants(small)) - 2  # all but the unchanged and the emptied one


def test_cell_verdicts_are_remembered_by_content() -> None:
    data = json.loads((ROOT / "reference" / "d2l-1.0.ipynb").read_text(encoding="utf-8"))
    load._CELL_VERDICTS.clear()
    assert load._schema_notes(data, 4, 5) == []
    misses = load._CELL_VERDICTS.misses
    assert misses == len({json.dumps(c) for c in data["cells"]})
    assert load._schema_notes(copy.deepcopy(data), 4, 5) == []
    assert load._CELL_VERDICTS.misses == misses  # every cell a hit
    changed = copy.deepcopy(data)
    changed["cells"][0]["metadata"] = []  # a different cell: validated, and found invalid
    assert load._schema_notes(changed, 4, 5) == _nbformat_notes(changed, 5) != []
    assert load._CELL_VERDICTS.misses == misses + 1
    load._CELL_VERDICTS.clear()


def test_cell_verdicts_are_bounded() -> None:
    load._CELL_VERDICTS.clear()
    limit = load._CELL_VERDICTS.max_entries
    base = {"cell_type": "markdown", "id": "a", "metadata": {}, "source": ""}
    for i in range(limit + 10):
        assert load._valid_v4({"cells": [{**base, "source": str(i)}], "metadata": {},
                               "nbformat": 4, "nbformat_minor": 5}, 5)  # fmt: skip
    assert len(load._CELL_VERDICTS) == limit
    load._CELL_VERDICTS.clear()
