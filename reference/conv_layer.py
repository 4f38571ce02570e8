"""Reference for "Convolutions for Images" (d2l 1.0 section 7.2, 0.17 section 6.2).

Every fact encoded here is from the section spec (shared/spec/conv-layer.md). Rubrics call the
functions by name:

- ``cases_<name>(rng)``: a list of argument tuples, one per hidden call;
- reference functions with the student's signature, numpy in and out (float64);
- ``mutant_<name>``: the same signature, reproducing one diagnosed bug exactly (including the
  exception the buggy code raises; numpy raises ``ValueError`` where torch raises
  ``RuntimeError`` for a broadcast mismatch);
- ``pred_<name>(value, *args)``: ``(fraction of credit, student-facing message)``;
- ``outputs_<name>(X, K)``: the acceptable outputs for the student's own inputs.

Pure numpy on purpose: this module runs in the grader's judging process.

``matmul-fixed-shape`` needs no function here: the rubric detects it by behaviour (the
``shapes`` diagnosis of a ``function`` check on :func:`cases_corr2d_matmul`, whose first cases
are the notebook's own shapes and the rest are shapes a hard-coded matrix cannot handle).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Verdict = tuple[float, str] | tuple[float, str, tuple[str, ...]]
"""(fraction of credit, student-facing message[, diagnosis ids the value exhibits])."""
_T = TypeVar("_T", bound=np.generic)

# --------------------------------------------------------------------------- helpers


def _f64(a: npt.ArrayLike) -> FloatArray:
    return np.asarray(a, dtype=np.float64)


def _as_2d(a: npt.ArrayLike) -> FloatArray:
    """A kernel or image as a matrix: drop leading batch/channel axes of size 1; 1-D is a row."""
    arr = _f64(a)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {arr.shape}")
    return arr


def _show(a: FloatArray) -> str:
    """A small array as text for a message (only ever the student's own values)."""
    flat = a.reshape(-1)
    body = ", ".join(f"{x:.3g}" for x in flat[:9])
    return f"[{body}{', ...' if flat.size > 9 else ''}] (shape {'x'.join(map(str, a.shape))})"


def _out_shape(X: FloatArray, K: FloatArray) -> tuple[int, int]:
    oh, ow = X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel {K.shape} is larger than input {X.shape}")
    return oh, ow


def _ints(rng: np.random.Generator, shape: tuple[int, int], lo: int = -4) -> FloatArray:
    return rng.integers(lo, 5, size=shape).astype(np.float64)


def _reals(rng: np.random.Generator, shape: tuple[int, int]) -> FloatArray:
    return rng.standard_normal(shape)


# --------------------------------------------------------------------------- references


def corr2d(X: npt.ArrayLike, K: npt.ArrayLike) -> FloatArray:
    """Spec `corr2d`: shape (n_h-k_h+1, n_w-k_w+1), Y[i, j] = (X[i:i+h, j:j+w] * K).sum()."""
    Xm, Km = _as_2d(X), _as_2d(K)
    h, w = Km.shape
    Y = np.zeros(_out_shape(Xm, Km))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = np.sum(Xm[i : i + h, j : j + w] * Km)
    return Y


def conv2d_forward(X: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike) -> FloatArray:
    """Spec `conv2d-layer`: the forward of Conv2D is corr2d(x, weight) + a scalar bias."""
    b = _f64(bias).reshape(-1)
    if b.size != 1:
        raise ValueError(f"the bias is a scalar, got {b.size} values")
    return corr2d(X, weight) + float(b[0])


def grads_conv2d(
    X: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike
) -> dict[str, FloatArray]:
    """Gradients of Conv2D(X).sum() (what the module check's backward computes).

    Spec `autograd-error`: PyTorch differentiates the in-place corr2d, so these must arrive.
    d/dweight = corr2d(X, ones(output shape)); d/dbias = the number of outputs.
    """
    Xm, Km = _as_2d(X), _as_2d(weight)
    out = _out_shape(Xm, Km)
    return {"weight": corr2d(Xm, np.ones(out)), "bias": np.array([float(out[0] * out[1])])}


def corr2d_matmul(X: npt.ArrayLike, K: npt.ArrayLike) -> FloatArray:
    """Spec `corr2d-as-matmul` (im2col): every k_h x k_w window of X is a row; rows @ vec(K)."""
    Xm, Km = _as_2d(X), _as_2d(K)
    oh, ow = _out_shape(Xm, Km)
    windows = np.lib.stride_tricks.sliding_window_view(Xm, Km.shape)
    return (windows.reshape(oh * ow, Km.size) @ Km.reshape(-1)).reshape(oh, ow)


# --------------------------------------------------------------------------- case generators


# (input, kernel) shapes for corr2d: square outputs first (a loop-bound bug passes those, so the
# grader's behaviour probe still finds a misnamed function), then the ones that expose shape bugs.
_CORR2D_SHAPES = [
    ((5, 5), (2, 2)),  # square output 4x4
    ((6, 6), (3, 3)),  # square output 4x4, 3x3 kernel
    ((6, 8), (1, 2)),  # the section's edge image: output 6x7 (oh < ow)
    ((4, 9), (1, 4)),  # 1xk kernel, output 4x6 (oh < ow)
    ((7, 4), (3, 1)),  # kx1 kernel, output 5x4 (oh > ow)
    ((3, 4), (3, 4)),  # kernel-sized input: output 1x1
    ((9, 4), (2, 2)),  # output 8x3 (oh > ow)
    ((10, 5), (2, 3)),  # output 9x3 (oh > ow), kernel width 3
    ((4, 10), (3, 2)),  # output 2x9 (oh < ow)
    ((7, 11), (2, 5)),  # output 6x7, non-square everything
    ((1, 8), (1, 3)),  # a single row
    ((12, 12), (4, 4)),  # larger square
]


def cases_corr2d(rng: np.random.Generator) -> list[tuple[FloatArray, FloatArray]]:
    """Hidden (X, K) for corr2d-like functions: integer entries on even cases (which the
    function check sends as float32, so they stay exact), real values on odd ones (float64)."""
    out: list[tuple[FloatArray, FloatArray]] = []
    for n, (xs, ks) in enumerate(_CORR2D_SHAPES):
        make = _ints if n % 2 == 0 else _reals
        K = make(rng, ks)
        if not K.any():
            K[0, 0] = 1.0
        out.append((make(rng, xs), _unsymmetric(K)))
    return out


def _unsymmetric(K: FloatArray) -> FloatArray:
    """``K``, changed where it equals its own 180-degree rotation (``[[2.5, 2.5]]``, drawn by
    chance): on such a kernel a flipped (true) convolution gives the right answer, so a
    flipped function would pass that input and look right for some shapes only."""
    if K.size > 1 and np.array_equal(K, K[::-1, ::-1]):
        K = K.copy()
        K[0, 0] += 1.0
    return K


def cases_corr2d_matmul(rng: np.random.Generator) -> list[tuple[FloatArray, FloatArray]]:
    """Hidden (X, K) for the matrix form. The book's 3x3 input with a 2x2 kernel comes first,
    twice (integer, then real values), so a construction hard-coded for it passes the grader's
    behaviour probe and is then caught by the ``shapes`` diagnosis; next the 6x8 edge image
    with 1x2, then shapes no hard-coded matrix can handle (1xk, kx1, kernel-sized, tall, wide)."""
    shapes = [
        ((3, 3), (2, 2)),
        ((3, 3), (2, 2)),
        ((6, 8), (1, 2)),
        ((4, 5), (2, 3)),
        ((5, 4), (3, 1)),
        ((4, 7), (1, 3)),
        ((2, 3), (2, 3)),
        ((8, 3), (2, 2)),
        ((3, 9), (2, 2)),
        ((7, 6), (3, 3)),
    ]
    out: list[tuple[FloatArray, FloatArray]] = []
    for n, (xs, ks) in enumerate(shapes):
        make = _ints if n % 2 == 0 else _reals
        out.append((make(rng, xs), _unsymmetric(make(rng, ks) + (0.5 if n % 2 == 0 else 0.0))))
    return out


def cases_conv2d(rng: np.random.Generator) -> list[tuple[FloatArray, FloatArray, FloatArray]]:
    """Hidden (X, weight, bias) for the Conv2D module; bias has shape (1,) like the book's."""
    shapes = [((6, 8), (1, 2)), ((5, 7), (2, 3)), ((7, 4), (3, 1)), ((4, 4), (2, 2))]
    out: list[tuple[FloatArray, FloatArray, FloatArray]] = []
    for xs, ks in shapes:
        out.append((_reals(rng, xs), _reals(rng, ks), rng.standard_normal(1)))
    return out


def cases_directions(rng: np.random.Generator) -> list[tuple[FloatArray]]:
    """Direction vectors v for the directional edge kernel: axis-aligned, diagonal, random."""
    angle = rng.uniform(0.2, 1.3)
    vs = [
        (1.0, 0.0),
        (0.0, 1.0),
        (1.0, 1.0),
        (1.0, -1.0),
        (np.cos(angle), np.sin(angle)),  # a random unit vector in the first quadrant
        (-np.sin(angle + 0.4), np.cos(angle + 0.4)),  # a random unit vector elsewhere
        (float(rng.uniform(1.5, 3.0)), -float(rng.uniform(0.2, 0.9))),  # non-unit
        (-float(rng.uniform(0.2, 0.9)), -float(rng.uniform(1.5, 3.0))),  # non-unit
    ]
    return [(np.array(v, dtype=np.float64),) for v in vs]


# --------------------------------------------------------------------------- mutants


def mutant_corr2d_loop_bound(X: npt.ArrayLike, K: npt.ArrayLike) -> FloatArray:
    """Diagnosis `corr2d-loop-bound`: the inner loop runs over ``range(Y.shape[0])``.

    Square outputs are right. oh < ow: the columns j >= oh keep their zeros. oh > ow: the first
    j = ow slices X short; with a kernel width >= 3 the product fails to broadcast (torch
    RuntimeError, numpy ValueError), with width 1 or 2 it broadcasts and ``Y[i, ow]`` raises
    IndexError, as in torch.
    """
    Xm, Km = _as_2d(X), _as_2d(K)
    h, w = Km.shape
    Y = np.zeros(_out_shape(Xm, Km))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[0]):
            Y[i, j] = np.sum(Xm[i : i + h, j : j + w] * Km)
    return Y


def mutant_corr2d_reads_output(X: npt.ArrayLike, K: npt.ArrayLike) -> FloatArray:
    """Diagnosis `corr2d-reads-output`: ``(Y[i:i+h, j:j+w] * K).sum()`` reads the zeros of Y.

    The result is all zeros, except that near the bottom/right border the slice of Y is 2..h-1
    rows (or 2..w-1 columns) tall, which fails to broadcast with K (ValueError here, torch
    RuntimeError): that happens when a kernel side is >= 3 and the output side >= 2.
    """
    Xm, Km = _as_2d(X), _as_2d(K)
    h, w = Km.shape
    Y = np.zeros(_out_shape(Xm, Km))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = np.sum(Y[i : i + h, j : j + w] * Km)
    return Y


def mutant_corr2d_flipped(X: npt.ArrayLike, K: npt.ArrayLike) -> FloatArray:
    """True convolution (kernel flipped in both axes) instead of cross-correlation: the
    "flip the kernel" answer to the matmul exercise, or a convolution from a signal-processing
    course. Equal to corr2d only for point-symmetric kernels."""
    return corr2d(X, _as_2d(K)[::-1, ::-1])


def mutant_corr2d_no_plus_one(X: npt.ArrayLike, K: npt.ArrayLike) -> FloatArray:
    """Output shape (n_h-k_h, n_w-k_w) (the "+1" forgotten): the last row and column are
    missing; a kernel-sized input gives an empty result."""
    Xm, Km = _as_2d(X), _as_2d(K)
    h, w = Km.shape
    Y = np.zeros((Xm.shape[0] - h, Xm.shape[1] - w))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = np.sum(Xm[i : i + h, j : j + w] * Km)
    return Y


# --------------------------------------------------------------------------- predicates

_DIAGONALS = ((1, 1), (1, -1))
_AXES = ((1, 0), (0, 1))


def _shift(a: npt.NDArray[_T], d: tuple[int, int]) -> npt.NDArray[_T]:
    """out[p] = a[p - d], 0 where p - d is outside."""
    out = np.zeros_like(a)
    dr, dc = d
    h, w = a.shape
    if abs(dr) >= h or abs(dc) >= w:
        return out
    src = a[max(0, -dr) : h - max(0, dr), max(0, -dc) : w - max(0, dc)]
    out[max(0, dr) : h - max(0, -dr), max(0, dc) : w - max(0, -dc)] = src
    return out


def _chain_lengths(M: FloatArray, sig: BoolArray, d: tuple[int, int]) -> npt.NDArray[np.int64]:
    """For each significant entry of a difference map, the length of the chain along d of
    entries with the same sign and nearly the same size (0 where not significant)."""
    a = np.where(sig, M, 0.0)
    back = (-d[0], -d[1])
    nxt = _shift(a, back)  # nxt[p] = a[p + d]
    big = np.maximum(np.abs(a), np.abs(nxt))
    link = sig & (a * nxt > 0) & (np.abs(a - nxt) <= 0.25 * big)  # link p -> p + d
    link_i = link.astype(np.int64)
    ones = sig.astype(np.int64)
    fwd, bwd = ones.copy(), ones.copy()
    for _ in range(max(a.shape)):
        new_fwd = ones + _shift(fwd * link_i, d)
        new_bwd = ones + link_i * _shift(bwd, back)
        if np.array_equal(new_fwd, fwd) and np.array_equal(new_bwd, bwd):
            break
        fwd, bwd = new_fwd, new_bwd
    return np.where(sig, fwd + bwd - 1, 0)


def pred_diagonal_image(X: npt.ArrayLike, *args: npt.ArrayLike) -> Verdict:
    """Spec `diagonal-edges`: X has a diagonal line or step edge (eye, tril, anti-diagonal...).

    The horizontal and vertical differences of X are its edge pixels. Accepted: the edges are
    sparse (not noise, texture or a ramp), at least 60% of them lie on straight chains of
    equal steps (a line, not scattered pixels), and one chain runs diagonally for at least
    max(3, min(h, w) // 3) pixels (less only when the image is too small for that).
    """
    try:
        img = _as_2d(X)
    except ValueError:
        return 0.0, "X should be a 2-D image (a matrix); this value is not one."
    h, w = img.shape
    if min(h, w) < 3:
        return 0.0, f"X is only {h}x{w}: make an image of at least 3x3 (e.g. 8x8) with a diagonal."
    span = float(np.ptp(img))
    if span == 0:
        return 0.0, "X is constant, so it has no edges; draw a diagonal line, e.g. torch.eye(8)."
    maps = [np.diff(img, axis=1), np.diff(img, axis=0)]
    sigs = [np.abs(m) > 0.05 * span for m in maps]
    total = sum(int(s.sum()) for s in sigs)
    density = total / sum(s.size for s in sigs)
    if density > 0.7:
        return 0.0, (
            "X changes between most neighbouring pixels (noise, a texture or a ramp), so it has "
            "no clear edge; construct a diagonal line or step, e.g. torch.eye(8)."
        )
    short = min(h, w) - 1  # the longest diagonal chain that fits
    need = min(max(3, min(h, w) // 3), short)
    on_chain = 0
    longest_diag = 0
    for m, s in zip(maps, sigs, strict=True):
        diag = np.max([_chain_lengths(m, s, d) for d in _DIAGONALS], axis=0)
        axis = np.max([_chain_lengths(m, s, d) for d in _AXES], axis=0)
        on_chain += int((s & (np.maximum(diag, axis) >= min(3, short))).sum())
        longest_diag = max(longest_diag, int(np.max(np.where(diag > axis, diag, 0))))
    if on_chain < 0.6 * total:
        return 0.0, (
            "X's edges are scattered pixels (it looks like noise), not a line; construct a "
            "diagonal line or step edge on purpose, e.g. torch.eye(8) or torch.tril(...)."
        )
    if longest_diag < need:
        return 0.0, (
            "X's edges are vertical or horizontal only (no diagonal line or step of at least "
            f"{need} pixels); use e.g. torch.eye(8) or torch.tril(torch.ones(6, 8))."
        )
    return 1.0, f"X has a diagonal edge ({longest_diag} pixels long)."


def _ramp(shape: tuple[int, ...], gx: float, gy: float) -> FloatArray:
    """The image gx * column + gy * row (gradient (gx, gy) with x = column, y = row)."""
    rows, cols = np.indices(shape, dtype=np.float64)
    return _f64(gx * cols + gy * rows)


def _parallel(a: FloatArray, b: FloatArray, tol: float = 1e-3) -> bool:
    cross = a[0] * b[1] - a[1] * b[0]
    return bool(abs(cross) <= tol * np.linalg.norm(a) * np.linalg.norm(b))


def pred_directional_kernel(K: npt.ArrayLike, v: npt.ArrayLike) -> Verdict:
    """Spec `directional-edge-kernel`: K is the derivative along v, K_v = v1*D_x + v2*D_y.

    Tests: the entries sum to 0; on a linear ramp whose gradient is along v the response is
    constant and non-zero; on a ramp along (v2, -v1) it is 0. Sign flips of K are fine and so
    is either axis convention (x = column, y = row, or x = row, y = column); a per-call
    predicate cannot check that the convention is the same for every v. For axis-aligned v the
    two conventions swap the axes, so such v cannot expose the (v2, -v1) mistake: judge the
    function on diagonal and random v too. Derivative along (v2, -v1): 0.5.
    """
    try:
        Km = _as_2d(K)
    except ValueError:
        return 0.0, "The kernel should be a 2-D array (e.g. 2x2)."
    u = _f64(v).reshape(-1)
    u = u / np.linalg.norm(u)
    scale = float(np.abs(Km).sum())
    if scale == 0 or not np.all(np.isfinite(Km)):
        return 0.0, "The kernel is all zeros (or not finite), so it detects nothing."
    total = float(Km.sum())
    if abs(total) > 1e-3 * scale:
        return (
            0.0,
            (
                f"The kernel's entries sum to {total:.3g}, not 0, so it responds to flat regions "
                "and to edges of every orientation; use the derivative along v: v1*D_x + v2*D_y."
            ),
            ("directional-not-zero-sum",),
        )
    shape = (Km.shape[0] + 2, Km.shape[1] + 2)
    # responses to the unit ramps along x (= columns) and y (= rows): constant because sum(K) = 0
    m = np.array(
        [corr2d(_ramp(shape, 1.0, 0.0), Km)[0, 0], corr2d(_ramp(shape, 0.0, 1.0), Km)[0, 0]]
    )
    if np.linalg.norm(m) <= 1e-6 * scale:
        return 0.0, (
            "The kernel gives 0 on every linear ramp, so it is not a first-derivative edge "
            "detector; use the derivative along v: v1*D_x + v2*D_y."
        )
    along = u
    across = np.array([u[1], -u[0]])
    swapped = m[::-1]
    if _parallel(m, along) or _parallel(swapped, along):
        return 1.0, (
            "The kernel differentiates along v: 0 on ramps along (v2, -v1), so it detects "
            "edges orthogonal to v."
        )
    if _parallel(m, across) or _parallel(swapped, across):
        return 0.5, (
            "The kernel differentiates along (v2, -v1), so it detects edges parallel to v; "
            "edges in the direction (v2, -v1) need the derivative along v: v1*D_x + v2*D_y."
        )
    return 0.0, (
        "The kernel responds to ramps both along v and along (v2, -v1), so it is not tuned to "
        "edges orthogonal to v; use the derivative along v: v1*D_x + v2*D_y."
    )


def _moment(K: FloatArray, p: int, q: int) -> float:
    """sum K * x^p * y^q with x = column, y = row: K's response to the monomial x^p y^q."""
    rows, cols = np.indices(K.shape, dtype=np.float64)
    return float(np.sum(K * cols**p * rows**q))


def pred_second_derivative(K: npt.ArrayLike, *args: npt.ArrayLike) -> Verdict:
    """Spec `second-derivative-kernel`: 0 on constants and linear ramps, non-zero on x^2.

    Accepts [1, -2, 1] (1x3, 3x1 or flat) times any non-zero scale, wider or higher-order
    stencils, the Laplacian and its 8-neighbour/scaled variants, and the mixed d2/dxdy kernel
    [[1, -1], [-1, 1]]. A 2-tap kernel cannot pass (it cannot cancel linear ramps).
    """
    try:
        Km = _as_2d(K)
    except ValueError:
        return 0.0, "The kernel should be a 1-D or 2-D array such as [1, -2, 1]."
    hint = "the second difference is [1, -2, 1] (minimum size 3: no 2-tap kernel can do it)."
    scale = float(np.abs(Km).sum()) * max(Km.shape) ** 2
    if scale == 0 or not np.all(np.isfinite(Km)):
        return 0.0, f"The kernel is all zeros (or not finite); {hint}"
    tol = 1e-4 * scale
    if abs(_moment(Km, 0, 0)) > tol:
        return (
            0.0,
            f"The kernel does not give 0 on a constant image (entries sum to "
            f"{Km.sum():.3g}); {hint}",
        )
    if abs(_moment(Km, 1, 0)) > tol or abs(_moment(Km, 0, 1)) > tol:
        return (
            0.0,
            f"The kernel responds to linear ramps, so it is (partly) a first derivative; {hint}",
        )
    second = [_moment(Km, 2, 0), _moment(Km, 0, 2), _moment(Km, 1, 1)]
    if all(abs(s) <= tol for s in second):
        return (
            0.0,
            f"The kernel gives 0 on x^2 and y^2 too, so it is not a second derivative; {hint}",
        )
    kind = (
        "the mixed derivative d2/dxdy"
        if abs(second[0]) <= tol and abs(second[1]) <= tol
        else "a second derivative"
    )
    return 1.0, (
        f"The kernel is {kind}: 0 on constants and linear ramps, non-zero on quadratics "
        "(the minimum size along an axis is 3, as in [1, -2, 1])."
    )


def pred_blur(K: npt.ArrayLike, *args: npt.ArrayLike) -> Verdict:
    """Spec `blur-kernel`: non-negative, sums to 1, sum(w^2) < 1 (reduces noise variance).

    Not normalised (diagnosis `blur-not-normalized`): 0.5 (the shape is a blur, the
    brightness changes). Negative entries (sharpening/edges) or a single 1 (identity): 0.
    """
    try:
        Km = _as_2d(K)
    except ValueError:
        return 0.0, "The blur kernel should be a 1-D or 2-D array of weights."
    if not np.all(np.isfinite(Km)) or not Km.any():
        return 0.0, "The kernel is all zeros (or not finite); a blur averages: e.g. ones(3, 3) / 9."
    if Km.min() < -1e-6 * float(np.abs(Km).max()):
        return (
            0.0,
            (
                "The kernel has negative entries: that sharpens or detects edges instead of "
                "blurring; a blur uses non-negative weights that sum to 1 (box or Gaussian)."
            ),
            ("blur-negative-weights",),
        )
    total = float(Km.sum())
    if abs(total - 1) > 1e-4:
        return (
            0.5,
            (
                f"The weights sum to {total:.4g}, not 1, so the blur changes the image's "
                "brightness (a constant image is multiplied by that sum); divide the kernel by "
                "its sum."
            ),
            ("blur-not-normalized",),
        )
    gain = float(np.sum(Km**2))
    if gain > 1 - 1e-6:
        return 0.0, (
            "The kernel is a single 1 (identity or shift): it does not blur; spread the weight "
            "over several pixels, e.g. ones(3, 3) / 9."
        )
    return 1.0, (
        f"A proper blur: non-negative weights summing to 1 (constants unchanged) that multiply "
        f"the variance of pixel noise by {gain:.3g} < 1."
    )


def _ones_run(a: FloatArray) -> int | None:
    """Length of the run of equal positive weights that is the whole non-zero part of a 1-D
    kernel (trapezoid half-weight ends allowed), or None if it is not such a kernel."""
    nz = np.flatnonzero(np.abs(a) > 1e-9 * float(np.abs(a).max()))
    if nz.size == 0 or nz[-1] - nz[0] + 1 != nz.size:
        return None
    run = a[nz[0] : nz[-1] + 1]
    c = float(np.max(run))
    inner = run[1:-1] if run.size > 2 else run
    ends = np.array([run[0], run[-1]])
    if c <= 0 or not np.allclose(inner, c, rtol=1e-4):
        return None
    if not np.all(np.isclose(ends, c, rtol=1e-4) | np.isclose(ends, c / 2, rtol=1e-4)):
        return None
    return int(run.size)


def pred_integral(K: npt.ArrayLike, *signal: npt.ArrayLike) -> Verdict:
    """Spec `integral-kernel` (0.17): the running sum (cumsum), the inverse of [-1, 1].

    K is 1-D (a row or a column) or a 2-D block; its non-zero part must be a run of equal
    positive weights (any scale h; a trapezoid rule's half-weight ends and zeros on one side,
    i.e. a step kernel, are fine). Full credit if the run is as long as the signal: with zero
    padding on one side it gives the cumsum (2-D: the summed-area table). ``signal``
    (optional) is the student's signal or image; without it a run of 4 or more taps counts
    as signal-length. Shorter: 0.5 (a windowed, box sum). Anything else: 0.
    """
    try:
        Km = _as_2d(K)
    except ValueError:
        return 0.0, "The integral kernel should be a 1-D or 2-D array of ones."
    if not np.all(np.isfinite(Km)) or not Km.any():
        return 0.0, "The kernel is all zeros (or not finite); the running sum uses a ones kernel."
    not_ones = (
        "The kernel is not a run of equal positive weights: the integral (running sum, the "
        "inverse of the derivative [-1, 1]) is a ones kernel with zero padding."
    )
    if Km.shape[0] == 1:
        lines = [(Km[0], 1)]
    elif Km.shape[1] == 1:
        lines = [(Km[:, 0], 0)]
    else:  # 2-D: must be the outer product of two such runs (a block of ones)
        r, q = np.unravel_index(int(np.argmax(Km)), Km.shape)
        row, col = Km[r], Km[:, q] / Km[r, q]
        if not np.allclose(Km, np.outer(col, row), rtol=1e-4, atol=1e-9):
            return 0.0, not_ones
        lines = [(row, 1), (col, 0)]
    shape = np.shape(np.squeeze(_f64(signal[0]))) if signal else ()
    long_enough = True
    for vec, axis in lines:
        run = _ones_run(vec)
        if run is None:
            return 0.0, not_ones
        need = (shape[axis] if len(shape) == 2 else shape[0]) if shape else 4
        long_enough = long_enough and run >= need
    if long_enough:
        return 1.0, (
            "A ones kernel spanning the signal: with zero padding on one side it gives the "
            "running sum (cumsum), the discrete integral."
        )
    return 0.5, (
        "A short ones kernel gives a windowed (box) sum, not the integral; the running sum "
        "needs a ones kernel as long as the signal with zero padding on the left (cumsum)."
    )


def pred_learned_kernel(K: npt.ArrayLike, *args: npt.ArrayLike) -> Verdict:
    """Spec `learn-kernel`: after 10 epochs at lr 3e-2 the kernel is close to [[1, -1]]
    (within 0.15 per entry; 0.5 within 0.4: training has not converged; 0.5 for [-1, 1], the
    kernel a flipped corr2d made Y with: the training worked, the flip is charged to corr2d)."""
    Km = _f64(K)
    if Km.size != 2:
        return 0.0, f"The learned kernel should have 2 entries (shape 1x2), not {Km.size}."
    err = float(np.max(np.abs(Km.reshape(-1) - [1.0, -1.0])))
    if err <= 0.15:
        return 1.0, f"The learned kernel {_show(Km.reshape(1, 2))} is close to [1, -1]."
    if err <= 0.4:
        return 0.5, (
            f"The learned kernel {_show(Km.reshape(1, 2))} is not yet close to [1, -1]; train "
            "for more epochs (the book uses lr 3e-2 and 10 epochs)."
        )
    if float(np.max(np.abs(Km.reshape(-1) - [-1.0, 1.0]))) <= 0.15:
        # training worked; Y was made by a flipped corr2d (a convolution), charged there
        return 0.5, (
            f"The learned kernel {_show(Km.reshape(1, 2))} is [1, -1] flipped: training "
            "recovered the kernel that made Y, so Y came from a convolution (a flipped kernel), "
            "not from the cross-correlation corr2d(X, K)."
        )
    return 0.0, (
        f"The learned kernel {_show(Km.reshape(1, 2))} is far from [1, -1]: check that Y was made "
        "with K = [[1, -1]], the learning rate (3e-2) and that the gradient is zeroed each epoch."
    )


# --------------------------------------------------------------------------- output checks


def outputs_apply_kernel(X: npt.ArrayLike, K: npt.ArrayLike) -> list[FloatArray]:
    """Spec `diagonal-apply-kernel`: corr2d(X, K) on the student's diagonal X (not zeros)."""
    return [corr2d(X, K)]


def outputs_transpose_input(X: npt.ArrayLike, K: npt.ArrayLike) -> list[FloatArray]:
    """Spec `diagonal-transpose-input`: corr2d(X.T, K) (X is the untransposed image)."""
    return [corr2d(_as_2d(X).T, K)]


def outputs_transpose_kernel(X: npt.ArrayLike, K: npt.ArrayLike) -> list[FloatArray]:
    """Spec `diagonal-transpose-kernel`: corr2d(X, K.T); also corr2d(X.T, K.T) = corr2d(X, K).T
    for a student who kept the transposed X of the previous question."""
    Xm, Km = _as_2d(X), _as_2d(K)
    return [corr2d(Xm, Km.T), corr2d(Xm.T, Km.T)]


def outputs_integral(x: npt.ArrayLike) -> list[FloatArray]:
    """Spec `integral-kernel`: the running sum of the student's signal (1-D: cumsum, inclusive
    or exclusive of the current sample; 2-D: the summed-area table)."""
    a = np.squeeze(_f64(x))
    if a.ndim == 2:
        return [a.cumsum(axis=0).cumsum(axis=1)]
    a = a.reshape(-1)
    inclusive = a.cumsum()
    return [inclusive, inclusive - a]
