"""Tests for grader.tensor_text: reading printed tensors without evaluating them."""

from __future__ import annotations

import ast
import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import tensor_text
from grader.tensor_text import find_arrays, parse_arrays


def one(text: str) -> np.ndarray:
    arrays = parse_arrays(text)
    assert len(arrays) == 1, arrays
    return arrays[0]


# --------------------------------------------------------------------------- torch reprs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tensor([[1., 0.], [0., 1.]])", [[1.0, 0.0], [0.0, 1.0]]),
        ("tensor(3.)", 3.0),
        ("tensor([1, 2])", [1.0, 2.0]),
        ("tensor(-7)", -7.0),
        ("tensor([True, False])", [1.0, 0.0]),
        ("tensor(True)", 1.0),
        ("tensor([1.0000e-03, 2.5000e+02, -1.0000e-05])", [1e-3, 250.0, -1e-5]),
        ("tensor([[-0., 1.]])", [[0.0, 1.0]]),
    ],
)
def test_torch_repr_values(text: str, expected: object) -> None:
    got = one(text)
    np.testing.assert_array_equal(got, np.array(expected, dtype=np.float64))
    assert got.dtype == np.float64


def test_nan_and_infinities() -> None:
    got = one("tensor([nan, inf, -inf, 1.])")
    assert np.isnan(got[0])
    assert got[1] == np.inf and got[2] == -np.inf and got[3] == 1.0


@pytest.mark.parametrize(
    "trailer",
    [
        "dtype=torch.float64",
        "requires_grad=True",
        "grad_fn=<AddBackward0>",
        "device='cuda:0'",
        "device='cuda:0', dtype=torch.float16, requires_grad=True",
    ],
)
def test_torch_trailers(trailer: str) -> None:
    got = one(f"tensor([[0.5000, -1.2500]], {trailer})")
    np.testing.assert_array_equal(got, [[0.5, -1.25]])


def test_dtype_is_reported() -> None:
    (found,) = find_arrays("tensor([1., 2.], dtype=torch.float64)")
    assert found.kind == "tensor"
    assert found.dtype == "torch.float64"


def test_parameter_containing() -> None:
    text = "Parameter containing:\ntensor([[ 0.9510, -1.0295]], requires_grad=True)"
    np.testing.assert_array_equal(one(text), [[0.951, -1.0295]])


def test_trailer_on_its_own_line() -> None:
    text = "tensor([[0.0751, 0.1238],\n        [0.1238, 0.2042]],\n       dtype=torch.float64)"
    np.testing.assert_array_equal(one(text), [[0.0751, 0.1238], [0.1238, 0.2042]])


def test_empty_tensor_with_size() -> None:
    assert one("tensor([], size=(0, 3))").shape == (0, 3)
    assert one("tensor([])").shape == (0,)


@pytest.mark.parametrize(
    "value",
    [
        torch.eye(3),
        torch.tensor([[1.0, -1.0]]),
        torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 7,
        torch.tensor([1e-8, 1e8, -3.5]),
        torch.tensor([[1, -2], [3, 4]], dtype=torch.int32),
        torch.tensor([True, False, True]),
        torch.tensor(2.5, requires_grad=True) * 2,
        torch.zeros(0, 4),
    ],
)
def test_roundtrip_of_real_torch_reprs(value: torch.Tensor) -> None:
    got = one(repr(value))
    expected = value.detach().double().numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_random_tensors_roundtrip() -> None:
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        shape = tuple(int(s) for s in torch.randint(1, 5, (int(torch.randint(0, 4, ())),)))
        value = torch.randn(shape, generator=gen) * 10 ** float(torch.randint(-4, 5, ()))
        expected = value.double().numpy()
        scale = float(np.abs(expected).max())
        atol = max(1e-4 * scale, 5e-5)  # torch prints 4 decimals (fixed) or 4 digits (sci)
        np.testing.assert_allclose(one(repr(value)), expected, rtol=1e-3, atol=atol)


# --------------------------------------------------------------------------- numpy and lists


def test_numpy_array_repr() -> None:
    np.testing.assert_array_equal(one("array([[1, 2],\n       [3, 4]])"), [[1, 2], [3, 4]])
    (found,) = find_arrays("array([1., 2.], dtype=float32)")
    assert found.kind == "array" and found.dtype == "float32"
    np.testing.assert_array_equal(found.values, [1.0, 2.0])
    assert one("array([], shape=(0, 3), dtype=float64)").shape == (0, 3)


@pytest.mark.parametrize(
    "value",
    [
        np.eye(2),
        np.array([[1, -1], [0, 2]]),
        np.array([1e-3, 2.0, np.nan, -np.inf]),
        np.array([True, False]),
        np.arange(12.0).reshape(2, 2, 3) - 5.5,
        np.array(3.0),
    ],
)
def test_roundtrip_of_numpy_repr_and_str(value: np.ndarray) -> None:
    for text in (repr(value), str(value)):
        arrays = parse_arrays(text)
        if value.ndim == 0:  # str() of a 0-d array is just a number: not an array
            assert len(arrays) == (1 if text.startswith("array") else 0)
            continue
        assert len(arrays) == 1, text
        np.testing.assert_allclose(arrays[0], value.astype(np.float64), equal_nan=True)


def test_bare_numpy_print() -> None:
    (found,) = find_arrays("[[1. 0.]\n [0. 1.]]")
    assert found.kind == "list"
    np.testing.assert_array_equal(found.values, np.eye(2))


def test_python_list_print() -> None:
    np.testing.assert_array_equal(one("[[1, 2], [3, 4]]"), [[1, 2], [3, 4]])


def test_mixed_separators_are_garbled() -> None:
    assert parse_arrays("[1 2, 3]") == []


# --------------------------------------------------------------------------- real outputs

# Verbatim outputs of student-a.ipynb (whitespace collapsed when it was collected).
STUDENT_A_EYE = (
    "tensor([[ 1., 0., 0., 0., 0., 0., 0.],\n [-1., 1., 0., 0., 0., 0., 0.],\n"
    " [ 0., -1., 1., 0., 0., 0., 0.],\n [ 0., 0., -1., 1., 0., 0., 0.],\n"
    " [ 0., 0., 0., -1., 1., 0., 0.],\n [ 0., 0., 0., 0., -1., 1., 0.]])"
)
STUDENT_A_STREAM = (
    "Blur kernel sum:1.0\ntensor([[0.0751, 0.1238, 0.0751],\n [0.1238, 0.2042, 0.1238],\n"
    " [0.0751, 0.1238, 0.0751]], dtype=torch.float64)\ntensor([[1., 1., 0., 0., 0., 0., 1., 1.],\n"
    " [1., 1., 0., 0., 0., 0., 1., 1.]])\n"
)


def test_collapsed_whitespace_output() -> None:
    got = one(STUDENT_A_EYE)
    expected = np.eye(6, 7) - np.eye(6, 7, k=-1)
    np.testing.assert_array_equal(got, expected)


def test_several_tensors_in_a_stream_in_order() -> None:
    blur, image = parse_arrays(STUDENT_A_STREAM)
    assert blur.shape == (3, 3)
    assert blur.sum() == pytest.approx(1.0, abs=1e-3)
    assert image.shape == (2, 8)


def test_training_log_then_tensor() -> None:
    text = "epoch 2, loss 8.644\nepoch 4, loss 2.690\ntensor([[ 0.9510, -1.0295]])"
    np.testing.assert_array_equal(one(text), [[0.951, -1.0295]])


def test_transcript_with_code_around() -> None:
    text = (
        "In [None]:\nK = torch.tensor([[1.0,-1.0]])\n\nIn [None]:\nY = corr2d(X,K)\nY\n\n"
        "tensor([[ 0.,  1.,  0.,  0.,  0., -1.,  0.],\n"
        "        [ 0.,  1.,  0.,  0.,  0., -1.,  0.]])"
    )
    first, second = parse_arrays(text)
    np.testing.assert_array_equal(first, [[1.0, -1.0]])
    assert second.shape == (2, 7)


def test_submissions_folder_if_present() -> None:
    path = Path("/work/shared/submissions/student-b-transcript.txt")
    if not path.exists():
        pytest.skip("shared submissions not available")
    shapes = [a.shape for a in parse_arrays(path.read_text())]
    assert (8, 5) in shapes  # corr2d(X.t(), K): the all-zero response of the section
    assert (6, 7) in shapes


# --------------------------------------------------------------------------- skipped input


def test_elided_tensor_is_skipped_entirely() -> None:
    text = repr(torch.zeros(40, 40)) + "\n" + repr(torch.ones(2))
    assert "..." in text
    (only,) = parse_arrays(text)
    np.testing.assert_array_equal(only, [1.0, 1.0])  # no rows of the elided one leak out


def test_elided_numpy_print_is_skipped() -> None:
    assert parse_arrays(str(np.zeros((50, 50)))) == []
    assert parse_arrays("[0 1 2 ... 7 8 9]") == []


@pytest.mark.parametrize(
    "text",
    [
        "[[1, 2], [3]]",
        "tensor([[1, 2], [3]])",
        "tensor([[1, 2], [3, foo]])",
        "tensor([1.+2.j])",
        "array(['a', 'b'], dtype='<U1')",
        "tensor([1, 2]",
        "tensor([1, 2], __import__('os').system('echo hi'))",
        "tensor(__import__('os'))",
        "[1, [2, 3]]",
        "[[1], 2]",
        "[1, 2,]",
        "[np.float64(1.0), np.float64(2.0)]",
    ],
)
def test_garbled_or_ragged_is_skipped(text: str) -> None:
    assert parse_arrays(text) == []


def test_garbled_construct_does_not_hide_a_later_one() -> None:
    got = parse_arrays("tensor([[1, 2], [3, foo]]) then [5, 6]")
    assert len(got) == 1
    np.testing.assert_array_equal(got[0], [5, 6])


def test_not_arrays_indexing_shapes_and_prose() -> None:
    assert parse_arrays("X[0] = 5; Y[:, 2:6] = 0") == []
    assert parse_arrays("torch.Size([6, 7])") == []
    assert parse_arrays("loss 8.644, epoch 2") == []
    assert parse_arrays("[epoch 1] done") == []


def test_list_of_tensors_yields_each_tensor() -> None:
    got = parse_arrays("[tensor(1.), tensor([2., 3.])]")
    assert [a.shape for a in got] == [(), (2,)]


def test_depth_cap() -> None:
    depth = tensor_text.MAX_DEPTH
    assert one("[" * depth + "1" + "]" * depth).ndim == depth
    assert parse_arrays("[" * (depth + 1) + "1" + "]" * (depth + 1)) == []


def test_length_cap() -> None:
    pad = " " * (tensor_text.MAX_CHARS - 5)
    assert parse_arrays(pad + "[1, 2]") == []  # cut by the cap
    assert len(parse_arrays(pad[:-10] + "[1, 2]")) == 1


def test_fuzzed_input_never_raises() -> None:
    rng = random.Random(1)
    alphabet = "[](), .0123456789-e+naifTrueFalsensorray=<>'\n..."
    seeds = [repr(torch.randn(3, 4)), STUDENT_A_STREAM, str(np.eye(3))]
    for _ in range(500):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        else:
            seed = rng.choice(seeds)
            cut = rng.randint(0, len(seed))
            text = seed[:cut] + rng.choice(alphabet) + seed[cut + rng.randint(0, 3) :]
        for array in parse_arrays(text):
            assert array.dtype == np.float64


def test_results_are_read_only() -> None:
    got = one("tensor([1., 2.])")
    with pytest.raises(ValueError):
        got[0] = 5.0


def test_module_never_evaluates_text() -> None:
    tree = ast.parse(Path(tensor_text.__file__).read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not names & {"eval", "exec", "compile", "__import__"}
    assert not attributes & {"literal_eval", "loads"}
    assert not imported & {"ast", "pickle"}


@pytest.mark.parametrize(
    "text",
    [
        "[" + "1" * 400_000 + "x",
        "[[[[" * 100_000,
        "tensor(" * 50_000,
        "[1 " * 130_000,
        "[-" * 200_000,
        "[" + "1 " * 200_000 + "[",
    ],
)
def test_adversarial_text_stays_fast(text: str) -> None:
    started = time.perf_counter()
    assert parse_arrays(text) == []
    assert time.perf_counter() - started < 5.0
