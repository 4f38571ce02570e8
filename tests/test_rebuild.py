"""A kernel built for the one direction a cell binds is judged as a function of it
(grader.checks.rebuild, the probe's ``replay`` op and the function check's ``rebuild``)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from fakes import FakeRun, context

from grader.checks import rebuild, registry
from grader.model import Array, Cell, CellRun, Execution, Notebook
from grader.probe import Probe
from grader.rubric import Rubric

DX = np.array([[0.0, 0.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]) / 2
QUESTION = (
    "### 2.1 Given a directional vector v = (v1, v2), derive an edge-detection kernel "
    "that detects edges orthogonal to v."
)


def arr(x: Any) -> Array:
    return Array(np.asarray(x, dtype=np.float32))


def graded(rubric: Rubric, source: str, bindings: dict[str, Any], namespace: dict[str, Any]) -> Any:
    notebook = Notebook(
        "t.ipynb", "ipynb", (Cell(0, "markdown", QUESTION), Cell(1, "code", source))
    )
    execution = Execution(cells=(CellRun(index=1, bindings=bindings),), seconds=0.1)
    fake = FakeRun({}, namespace={"torch": torch, **namespace})
    ex = rubric.exercise("directional-edge-kernel")
    spec = next(c for c in ex.checks if c.label == "directional-kernel")
    ctx = context(rubric, "directional-edge-kernel", notebook, execution, fake)
    return registry()[spec.type].run(spec, ctx), fake


# ------------------------------------------------------------------ reading the source


def test_a_kernel_built_from_the_numbers_its_cell_binds_is_found_with_its_statements() -> None:
    source = (
        "v2 = 0.96  #@param\n"
        "v1 = 0.28  #@param\n"
        "Dx = torch.tensor([[0., 0., 0.], [-1., 0., 1.], [0., 0., 0.]]) / 2\n"
        "Dy = Dx.T\n"
        "print(Dx)\n"
        "K_v = v1 * Dx + v2 * Dy\n"
    )
    env = {"v1": 0.28, "v2": 0.96, "Dx": arr(DX), "Dy": arr(DX.T), "K_v": arr(0.28 * DX)}
    found = {i.target: i for i in rebuild.find(0, source, env)}
    k = found["K_v"]
    assert k.params == ("v1", "v2") and k.bound == (0.28, 0.96) and not k.vector
    assert k.body.splitlines() == [
        "Dx = torch.tensor([[0., 0., 0.], [-1., 0., 1.], [0., 0., 0.]]) / 2",
        "Dy = Dx.T",
        "K_v = v1 * Dx + v2 * Dy",
    ]  # the print and the bindings of v1, v2 are left out
    assert found["Dx"].body == ""  # built from neither: typed out for this v


def test_in_place_edits_and_a_vector_are_part_of_the_rebuilt_value() -> None:
    source = (
        "v = torch.tensor([1., 2.])\n"
        "h = 2.0\n"
        "K = torch.zeros(2, 2)\n"
        "K[0, 0] = -(v[0] + v[1]) / h\n"
        "K[0, 1] = v[0] / h\n"
        "K[1, 0] = v[1] / h\n"
    )
    env = {"v": arr([1.0, 2.0]), "h": 2.0, "K": arr([[-1.5, 0.5], [1.0, 0.0]])}
    (k,) = rebuild.find(0, source, env)
    assert k.params == ("v",) and k.vector and k.bound == (1.0, 2.0)
    assert k.body.count("\n") == 3  # zeros + three edits; h stays a constant of the notebook


def test_a_value_a_loop_or_another_cell_makes_is_not_rebuilt() -> None:
    env = {"v1": 1.0, "v2": 0.0, "K": arr([[1.0, -1.0]])}
    looped = "v1, v2 = 1.0, 0.0\nfor _ in range(2):\n    K = K * v1\n"
    assert rebuild.find(0, looped, env) == []
    # K comes from elsewhere: rerunning the edit would change the student's own K
    edited = "v1, v2 = 1.0, 0.0\nK[0, 1] = -v1\n"
    assert all(i.body == "" for i in rebuild.find(0, edited, env))


def test_components_are_ordered_by_their_names_and_other_numbers_are_constants() -> None:
    source = "vy, vx, h = 0.6, 0.8, 2.0\nK = torch.tensor([[-vx - vy, vx], [vy, 0.]]) / h\n"
    env = {"vx": 0.8, "vy": 0.6, "h": 2.0, "K": arr(np.zeros((2, 2)))}
    (k,) = rebuild.find(0, source, env)
    assert k.params == ("vx", "vy") and k.bound == (0.8, 0.6)


# ------------------------------------------------------------------ the probe's replay


def test_replay_runs_the_statements_as_a_function_and_leaves_the_namespace_alone() -> None:
    ns: dict[str, Any] = {"torch": torch, "Dx": torch.tensor(DX), "K_v": "untouched"}
    request = {
        "op": "replay",
        "params": ["v1", "v2"],
        "body": "Dy = Dx.T\nK_v = v1 * Dx + v2 * Dy",
        "result": "K_v",
        "args": [{"t": "num", "v": 2.0}, {"t": "num", "v": 0.0}],
    }
    reply = Probe(ns).handle(json.dumps(request))
    assert reply["ok"] and reply["value"]["shape"] == [3, 3]
    assert ns["K_v"] == "untouched" and "Dy" not in ns


def test_replay_refuses_a_parameter_that_is_not_a_name() -> None:
    request = {"op": "replay", "params": ["v1=os.system('x')"], "body": "K = 1", "result": "K"}
    reply = Probe({}).handle(json.dumps(request))
    assert not reply["ok"] and reply["ename"] == "ValueError"


# ------------------------------------------------------------------ the function check


def test_a_kernel_built_for_one_direction_is_judged_for_every_hidden_direction(
    rubric: Rubric,
) -> None:
    source = "v1, v2 = 0.28, 0.96\nDy = Dx.T\nK_v = v1 * Dx + v2 * Dy\nprint(K_v)"
    bindings = {"v1": 0.28, "v2": 0.96, "Dy": arr(DX.T), "K_v": arr(0.28 * DX + 0.96 * DX.T)}
    result, fake = graded(rubric, source, bindings, {"Dx": torch.tensor(DX)})
    assert result.score == result.max_score == 2
    assert "as a function of v1, v2" in result.feedback[0]
    assert sum(r["op"] == "replay" for r in fake.requests) >= 9  # its own v, then every case


def test_a_rebuilt_kernel_that_does_not_sum_to_zero_is_diagnosed(rubric: Rubric) -> None:
    source = "v1, v2 = 0.28, 0.96\nK_v = v1 * Dx + v2 * Dx.T + 0.1\n"
    bindings = {"v1": 0.28, "v2": 0.96, "K_v": arr(0.28 * DX + 0.96 * DX.T + 0.1)}
    result, _ = graded(rubric, source, bindings, {"Dx": torch.tensor(DX)})
    assert result.score == 0 and "directional-not-zero-sum" in result.diagnoses


def test_a_kernel_typed_out_for_the_bound_direction_earns_half_the_points(rubric: Rubric) -> None:
    source = "v = (1.0, 1.0)\nK = torch.tensor([[-2., 1.], [1., 0.]])\n"
    bindings = {"v": (1.0, 1.0), "K": arr([[-2.0, 1.0], [1.0, 0.0]])}
    result, _ = graded(rubric, source, bindings, {})
    assert result.score == 1 and result.max_score == 2
    assert "typed out" in " ".join(result.feedback)


def test_statements_that_do_not_give_back_the_notebooks_value_earn_nothing(rubric: Rubric) -> None:
    # Dx was changed by a later cell (to another right difference kernel): rerunning K_v's
    # statements gives a right kernel, but not the one the notebook built and showed
    source = "v1, v2 = 0.28, 0.96\nK_v = v1 * Dx + v2 * Dx.T\n"
    bindings = {"v1": 0.28, "v2": 0.96, "K_v": arr(0.28 * DX + 0.96 * DX.T)}
    result, _ = graded(rubric, source, bindings, {"Dx": torch.tensor([[-1.0, 1.0], [0.0, 0.0]])})
    assert result.score == 0 and not any("function of" in f for f in result.feedback)


def test_a_kernel_function_of_an_angle_is_called_with_each_directions_angle(
    rubric: Rubric,
) -> None:
    import math

    def dir_kernel(theta: float) -> Any:
        c, s = math.cos(theta), math.sin(theta)  # raises on a vector
        return 0.5 * np.array([[-c - s, c - s], [-c + s, c + s]])

    source = "def dir_kernel(theta):\n    c, s = math.cos(theta), math.sin(theta)\n    ..."
    notebook = Notebook(
        "t.ipynb", "ipynb", (Cell(0, "markdown", QUESTION), Cell(1, "code", source))
    )
    execution = Execution(cells=(CellRun(index=1),), seconds=0.1)
    ex = rubric.exercise("directional-edge-kernel")
    spec = next(c for c in ex.checks if c.label == "directional-kernel")
    fake = FakeRun({"dir_kernel": dir_kernel})
    ctx = context(rubric, "directional-edge-kernel", notebook, execution, fake)
    result = registry()[spec.type].run(spec, ctx)
    assert result.score == result.max_score
    assert "takes an angle" in " ".join(result.feedback)
