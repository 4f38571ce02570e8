#!/usr/bin/env python3
"""
CS 4/591 Deep Learning -- Homework 5, part B
D2L (1.0, PyTorch) section 7.2 "Convolutions for Images": section code + exercises.

Run with:  python hw_conv_script_d2l10.py
All printed output is pasted below each block as `# >>>` comments so the grader
does not have to re-run it (it takes ~2 s on my laptop anyway).

I did not use the d2l package here (I only need torch), so d2l.zeros etc.
are replaced by torch.zeros.
"""
import torch
from torch import nn

torch.manual_seed(7)
torch.set_printoptions(precision=4, sci_mode=False)


# ---------------------------------------------------------------------------
# Section code
# ---------------------------------------------------------------------------
def xcorr(img, ker):
    """2-D cross-correlation (no padding, stride 1).

    Output has shape (n_h - k_h + 1, n_w - k_w + 1) and
    out[i, j] = sum(img[i:i+k_h, j:j+k_w] * ker).
    """
    kh, kw = ker.shape
    out = torch.zeros((img.shape[0] - kh + 1, img.shape[1] - kw + 1), dtype=img.dtype)
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            out[r, c] = (img[r:r + kh, c:c + kw] * ker).sum()
    return out


demo_in = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
demo_k = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
print(xcorr(demo_in, demo_k))
# >>> tensor([[19., 25.],
# >>>         [37., 43.]])


class Conv2D(nn.Module):
    """Hand-written conv layer: a learnable kernel plus a scalar bias."""

    def __init__(self, kernel_size):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(kernel_size))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, inp):
        return xcorr(inp, self.weight) + self.bias


# Edge detection on the 6x8 "image" with a black band in columns 2..5
bars = torch.ones((6, 8))
bars[:, 2:6] = 0
edge_k = torch.tensor([[1.0, -1.0]])
edges = xcorr(bars, edge_k)
print(edges)
# >>> tensor([[ 0.,  1.,  0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  1.,  0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  1.,  0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  1.,  0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  1.,  0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  1.,  0.,  0.,  0., -1.,  0.]])
print(xcorr(bars.t(), edge_k).abs().sum())   # transposed image: nothing left
# >>> tensor(0.)

# Learning the kernel back from (bars, edges) with the built-in layer, as in the book
layer = nn.LazyConv2d(1, kernel_size=(1, 2), bias=False)
X4 = bars.reshape((1, 1, 6, 8))
Y4 = edges.reshape((1, 1, 6, 7))
step = 3e-2
for epoch in range(10):
    pred = layer(X4)
    loss = (pred - Y4) ** 2
    layer.zero_grad()
    loss.sum().backward()
    layer.weight.data[:] -= step * layer.weight.grad
    if (epoch + 1) % 2 == 0:
        print(f'epoch {epoch + 1}, loss {loss.sum():.3f}')
print(layer.weight.data.reshape((1, 2)))
# >>> epoch 2, loss 4.218
# >>> epoch 4, loss 1.037
# >>> epoch 6, loss 0.309
# >>> epoch 8, loss 0.107
# >>> epoch 10, loss 0.041
# >>> tensor([[ 0.9710, -1.0114]])
# -> very close to [1, -1].


# ---------------------------------------------------------------------------
# Exercise 1: image with diagonal edges
# ---------------------------------------------------------------------------
"""
Ex 1. I use two test images:
  * diag   = eye(8): a one-pixel diagonal line (two diagonal edges, one on each side)
  * wedge  = tril(ones(6, 8)): a lower-triangular step, i.e. one diagonal step edge
"""
diag = torch.eye(8)
wedge = torch.tril(torch.ones(6, 8))

# 1.1 apply K = [1, -1]
print(xcorr(diag, edge_k))
# >>> tensor([[ 1.,  0.,  0.,  0.,  0.,  0.,  0.],
# >>>         [-1.,  1.,  0.,  0.,  0.,  0.,  0.],
# >>>         [ 0., -1.,  1.,  0.,  0.,  0.,  0.],
# >>>         [ 0.,  0., -1.,  1.,  0.,  0.,  0.],
# >>>         [ 0.,  0.,  0., -1.,  1.,  0.,  0.],
# >>>         [ 0.,  0.,  0.,  0., -1.,  1.,  0.],
# >>>         [ 0.,  0.,  0.,  0.,  0., -1.,  1.],
# >>>         [ 0.,  0.,  0.,  0.,  0.,  0., -1.]])
print(xcorr(wedge, edge_k))
# >>> tensor([[1., 0., 0., 0., 0., 0., 0.],
# >>>         [0., 1., 0., 0., 0., 0., 0.],
# >>>         [0., 0., 1., 0., 0., 0., 0.],
# >>>         [0., 0., 0., 1., 0., 0., 0.],
# >>>         [0., 0., 0., 0., 1., 0., 0.],
# >>>         [0., 0., 0., 0., 0., 1., 0.]])
"""
1.1 answer: the output is NOT zero. A diagonal edge still has a horizontal
intensity change in every row, so K fires along it. For eye(8) the result is
8x7 with +1 on the main diagonal and -1 directly below it (the white->black and
black->white sides of the line). For the triangular step it is 6x7 with one
diagonal of +1. So K detects diagonal edges too, it just sees them as a
staircase of horizontal changes (one response per row).
"""

# 1.2 transpose X
print(torch.equal(xcorr(diag.t(), edge_k), xcorr(diag, edge_k)))
# >>> True
print(xcorr(wedge.t(), edge_k))
# >>> tensor([[ 0.,  0.,  0.,  0.,  0.],
# >>>         [-1.,  0.,  0.,  0.,  0.],
# >>>         [ 0., -1.,  0.,  0.,  0.],
# >>>         [ 0.,  0., -1.,  0.,  0.],
# >>>         [ 0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  0.,  0.,  0., -1.],
# >>>         [ 0.,  0.,  0.,  0.,  0.],
# >>>         [ 0.,  0.,  0.,  0.,  0.]])
"""
1.2 answer: unlike the vertical-bar image of the section (where X.T made the
response vanish), a diagonal edge is still diagonal after transposing, so the
response does not vanish. eye(8) is symmetric, so the output is exactly the same.
For the non-symmetric wedge the image becomes upper-triangular: the edge is still
found, but it moves and its polarity flips (-1 instead of +1: reading a row
left to right the step now goes 0 -> 1 instead of 1 -> 0), and the output shape
is 8x5 because the transposed image is 8x6.
"""

# 1.3 transpose K
edge_kT = edge_k.t()   # [[1], [-1]]
print(xcorr(diag, edge_kT).shape, torch.equal(xcorr(diag, edge_kT), xcorr(diag, edge_k).t()))
# >>> torch.Size([7, 8]) True
print(torch.equal(xcorr(wedge.t(), edge_kT), xcorr(wedge, edge_k).t()))
# >>> True
"""
1.3 answer: K.T = [[1], [-1]] is a vertical difference, i.e. it detects
horizontal edges (intensity change between rows). The diagonal is still detected
(every diagonal edge has a vertical change too). For eye(8) the output is 7x8 and
equals xcorr(X, K).T. In general xcorr(X.T, K.T) == xcorr(X, K).T for any X, K
(checked above on the wedge).
"""


# ---------------------------------------------------------------------------
# Exercise 2: design kernels by hand
# ---------------------------------------------------------------------------
# 2.1 edge detector for edges orthogonal to v = (v1, v2)
def directional_kernel(v1, v2):
    """Derivative along v: v1 * d/dx + v2 * d/dy (x = column, y = row),
    using the 2x2 central form
        D_x = 1/2 [[-1, 1], [-1, 1]],  D_y = 1/2 [[-1, -1], [1, 1]].
    Edges orthogonal to v (running in direction (v2, -v1)) give the biggest
    response; intensity changes along (v2, -v1) give 0.
    """
    dx = 0.5 * torch.tensor([[-1.0, 1.0], [-1.0, 1.0]])
    dy = 0.5 * torch.tensor([[-1.0, -1.0], [1.0, 1.0]])
    return v1 * dx + v2 * dy


v = (0.6, 0.8)
Kv = directional_kernel(*v)
rows, cols = torch.meshgrid(torch.arange(7.0), torch.arange(7.0), indexing='ij')
ramp_along_v = v[0] * cols + v[1] * rows          # gradient parallel to v
ramp_along_edge = v[1] * cols - v[0] * rows       # gradient along (v2, -v1)
print(Kv, Kv.sum())
print(xcorr(ramp_along_v, Kv).unique(), xcorr(ramp_along_edge, Kv).abs().max())
# >>> tensor([[-0.7000, -0.1000],
# >>>         [ 0.1000,  0.7000]]) tensor(0.)
# >>> tensor([1.0000, 1.0000, 1.0000, 1.0000, 1.0000, 1.0000]) tensor(0.0000)
# (unique() shows float round-off copies of 1.0)
"""
2.1 answer: K_v = v1*D_x + v2*D_y = 1/2 [[-v1-v2, v1-v2], [-v1+v2, v1+v2]].
Entries sum to 0 (flat regions give 0), a ramp whose gradient points along v
gives the constant |v|^2 = 1, a ramp along the edge direction (v2, -v1) gives 0.
(The forward-difference version [[-(v1+v2), v1], [v2, 0]] works the same way.)
"""

# 2.2 second derivative
d2 = torch.tensor([[1.0, -2.0, 1.0]])
xs = torch.arange(8.0)
print(xcorr(torch.ones(1, 8), d2), xcorr(xs[None], d2), xcorr((xs ** 2)[None], d2))
# >>> tensor([[0., 0., 0., 0., 0., 0.]]) tensor([[0., 0., 0., 0., 0., 0.]]) tensor([[2., 2., 2., 2., 2., 2.]])
laplace = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
dot = torch.zeros(7, 7); dot[3, 3] = 1
step_img = torch.zeros(7, 7); step_img[:, 4:] = 1
line = torch.zeros(7, 7); line[:, 3] = 1
for name, im in [('dot', dot), ('line', line), ('step', step_img)]:
    print(name, xcorr(im, laplace).abs().max().item())
# >>> dot 4.0
# >>> line 2.0
# >>> step 1.0
"""
2.2 answer: f''(x) ~ f(x-1) - 2 f(x) + f(x+1), kernel [1, -2, 1] (divide by h^2).
It is 0 on constants and on linear ramps and 2 on x^2. Minimum size is 3: a
2-tap kernel [a, b] can only kill constants with a = -b and then it is the first
difference, it cannot kill the linear term and still give x^2 -> 2.
In 2-D: Laplacian [[0,1,0],[1,-4,1],[0,1,0]] (the mixed d2/dxdy needs only
[[1,-1],[-1,1]]).
Strongest responses: isolated points / pixel noise (4 above), thin one-pixel lines
(2), corners and fine checkerboard texture. A plain step edge gives only a weaker
+/- pair with a zero crossing at the edge (1 above).
"""

# 2.3 blur
box = torch.ones(3, 3) / 9
g1 = torch.tensor([1.0, 2.0, 1.0]) / 4
binom = torch.outer(g1, g1)              # 3x3 binomial ~ Gaussian
print(box.sum().item(), binom.sum().item())
# >>> 1.0 1.0
noise = torch.randn(64, 64)
print(noise.var().item(), xcorr(noise, binom).var().item(), (binom ** 2).sum().item())
# >>> 1.0406246185302734 0.13976985216140747 0.140625
print(xcorr(torch.full((5, 5), 3.0), binom))
# >>> tensor([[3., 3., 3.],
# >>>         [3., 3., 3.],
# >>>         [3., 3., 3.]])
"""
2.3 answer: a blur kernel is a weighted average: all weights >= 0 and summing to
1 (box ones(k,k)/k^2, binomial [1,2,1]x[1,2,1]/16, sampled Gaussian). Summing to
1 keeps a constant image unchanged (no brightening/darkening); white-noise variance
gets multiplied by sum(w^2) (0.14 here). Uses: denoising, anti-aliasing before
down-sampling (pooling/strides), smoothing before taking derivatives so edge
detectors don't fire on noise, building image pyramids.
"""

# 2.4 order-d derivative
def diff_kernel(d):
    """d-th forward difference: binomial coefficients with alternating sign."""
    k = torch.tensor([1.0])
    for _ in range(d):
        k = torch.cat([k, torch.zeros(1)]) - torch.cat([torch.zeros(1), k])
    return -k if d % 2 else k


for d in range(1, 5):
    kd = diff_kernel(d)
    print(d, kd.tolist(), xcorr((xs ** d)[None], kd[None]).unique().item())
# >>> 1 [-1.0, 1.0] 1.0
# >>> 2 [1.0, -2.0, 1.0] 2.0
# >>> 3 [-1.0, 3.0, -3.0, 1.0] 6.0
# >>> 4 [1.0, -4.0, 6.0, -4.0, 1.0] 24.0
"""
2.4 answer: d + 1 taps. The d-th difference above gives d! on x^d and 0 on every
polynomial of degree < d. With only d taps you have d unknowns and d+1 conditions
(kill 1, x, ..., x^(d-1), reproduce x^d) -- Vandermonde matrix is invertible, so
killing 1..x^(d-1) already forces the kernel to be 0. (A centred stencil of 2d+1
also works, but it is not minimal.) For a derivative along an oblique direction
in 2-D you need (d+1) x (d+1).
"""


# ---------------------------------------------------------------------------
# Exercise 3: autograd through our Conv2D
# ---------------------------------------------------------------------------
net = Conv2D((1, 2))
out = net(bars)
out.sum().backward()
print(out.grad_fn, net.weight.grad, net.bias.grad)
# >>> <AddBackward0 object at 0x7fb83bebcd90> tensor([[18., 18.]]) tensor([42.])
print(torch.autograd.gradcheck(lambda a, w: xcorr(a, w),
                               (torch.randn(4, 5, dtype=torch.double),
                                torch.randn(2, 2, dtype=torch.double, requires_grad=True))))
# >>> True
try:
    net(bars).backward()
except RuntimeError as err:
    print('RuntimeError:', err)
# >>> RuntimeError: grad can be implicitly created only for scalar outputs
"""
3 answer: in PyTorch there is NO error. The in-place writes out[r, c] = ... are
recorded by autograd (CopySlices nodes) so gradients flow to weight and bias, and
gradcheck passes. (The "in-place operations not supported" message in the book
discussion comes from MXNet.) The only error I could get is my own misuse:
calling .backward() on the 6x7 output instead of a scalar ->
"grad can be implicitly created only for scalar outputs"; sum (or pass a gradient
tensor) first.
"""


# ---------------------------------------------------------------------------
# Exercise 4: cross-correlation as a matrix multiplication
# ---------------------------------------------------------------------------
def xcorr_im2col(img, ker):
    """Change the INPUT: every kh x kw window becomes a row, kernel becomes a vector."""
    kh, kw = ker.shape
    oh, ow = img.shape[0] - kh + 1, img.shape[1] - kw + 1
    cols = torch.stack([img[r:r + kh, c:c + kw].reshape(-1)
                        for r in range(oh) for c in range(ow)])      # (oh*ow, kh*kw)
    return (cols @ ker.reshape(-1)).reshape(oh, ow)


def kernel_matrix(ker, in_shape):
    """Change the KERNEL: banded doubly-blocked Toeplitz W with W @ vec(X) = vec(Y)."""
    kh, kw = ker.shape
    H, W = in_shape
    oh, ow = H - kh + 1, W - kw + 1
    mat = torch.zeros(oh * ow, H * W)
    for r in range(oh):
        for c in range(ow):
            for a in range(kh):
                for b in range(kw):
                    mat[r * ow + c, (r + a) * W + (c + b)] = ker[a, b]
    return mat


ok = True
for (H, W), (kh, kw) in [((5, 7), (2, 3)), ((6, 4), (1, 3)), ((4, 6), (3, 1)),
                         ((3, 3), (3, 3)), ((8, 5), (2, 2))]:
    A, B = torch.randn(H, W), torch.randn(kh, kw)
    ref = xcorr(A, B)
    ok &= torch.allclose(xcorr_im2col(A, B), ref, atol=1e-5)
    ok &= torch.allclose((kernel_matrix(B, (H, W)) @ A.reshape(-1)).reshape(ref.shape), ref, atol=1e-5)
print(ok)
# >>> True
"""
4 answer: two ways.
 (a) unroll the input (im2col): stack all kh*kw windows as rows of a matrix
     (oh*ow, kh*kw) and multiply by vec(K), reshape to (oh, ow).
 (b) unroll the kernel: a sparse banded (doubly block Toeplitz) matrix W of
     shape (oh*ow, H*W) with Y = W @ vec(X); W.T is what a transposed convolution
     multiplies by.
Both checked against xcorr on random non-square inputs and kernels, incl. 1xk,
kx1 and a kernel as big as the input.
"""
