# %%
# d2l.ai ch. 7.2 "Convolutions for Images" -- my solutions (PyTorch)
# Kenji Watanabe -- posted to my notes repo; outputs pasted below each print as docstrings.
import torch
from torch import nn

torch.manual_seed(1)


def corr2d(X, K):
    """Compute 2D cross-correlation."""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


class Conv2D(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(kernel_size))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return corr2d(x, self.weight) + self.bias


# ---------------------------------------------------------------- learning a kernel
X = torch.ones((6, 8))
X[:, 2:6] = 0
K = torch.tensor([[1.0, -1.0]])
Y = corr2d(X, K)
conv2d = nn.LazyConv2d(1, kernel_size=(1, 2), bias=False)
X4, Y4 = X.reshape((1, 1, 6, 8)), Y.reshape((1, 1, 6, 7))
for i in range(10):
    l = (conv2d(X4) - Y4) ** 2
    conv2d.zero_grad()
    l.sum().backward()
    conv2d.weight.data[:] -= 3e-2 * conv2d.weight.grad
learned = conv2d.weight.data.reshape((1, 2))
print(learned)
"""
tensor([[ 0.9952, -0.9896]])
"""

# ---------------------------------------------------------------- Exercise 1: image with diagonal edges
X_diag = torch.tril(torch.ones((6, 8)))
print(X_diag)
"""
tensor([[1., 0., 0., 0., 0., 0., 0., 0.],
        [1., 1., 0., 0., 0., 0., 0., 0.],
        [1., 1., 1., 0., 0., 0., 0., 0.],
        [1., 1., 1., 1., 0., 0., 0., 0.],
        [1., 1., 1., 1., 1., 0., 0., 0.],
        [1., 1., 1., 1., 1., 1., 0., 0.]])
"""

# -- 1.1 apply K
# K keeps responding: one +1 per row exactly where the row drops from 1 to 0, i.e. along the
# diagonal step. Not a zero matrix; K detects the diagonal edge.
print(corr2d(X_diag, K))
"""
tensor([[1., 0., 0., 0., 0., 0., 0.],
        [0., 1., 0., 0., 0., 0., 0.],
        [0., 0., 1., 0., 0., 0., 0.],
        [0., 0., 0., 1., 0., 0., 0.],
        [0., 0., 0., 0., 1., 0., 0.],
        [0., 0., 0., 0., 0., 1., 0.]])
"""

# -- 1.2 transpose X
# X.T is upper triangular (8x6): the edge is still detected, but every row now goes 0 -> 1,
# so the diagonal comes out as -1 instead of +1 (one row lower).
print(corr2d(X_diag.T, K))
"""
tensor([[ 0.,  0.,  0.,  0.,  0.],
        [-1.,  0.,  0.,  0.,  0.],
        [ 0., -1.,  0.,  0.,  0.],
        [ 0.,  0., -1.,  0.,  0.],
        [ 0.,  0.,  0., -1.,  0.],
        [ 0.,  0.,  0.,  0., -1.],
        [ 0.,  0.,  0.,  0.,  0.],
        [ 0.,  0.,  0.,  0.,  0.]])
"""

# -- 1.3 transpose K
# K.T = [[1], [-1]] takes differences between a row and the row below (vertical change), so
# it detects horizontal edges; the diagonal step still shows up, as a -1 diagonal (5x8).
print(corr2d(X_diag, K.T))
"""
tensor([[ 0., -1.,  0.,  0.,  0.,  0.,  0.,  0.],
        [ 0.,  0., -1.,  0.,  0.,  0.,  0.,  0.],
        [ 0.,  0.,  0., -1.,  0.,  0.,  0.,  0.],
        [ 0.,  0.,  0.,  0., -1.,  0.,  0.,  0.],
        [ 0.,  0.,  0.,  0.,  0., -1.,  0.,  0.]])
"""


# ---------------------------------------------------------------- Exercise 2.1 directional kernel
# Derivative along v = v1 * d/dx + v2 * d/dy (x = column, y = row). Central differences in
# 3x3 (Prewitt-like). The entries sum to 0; edges in the direction (v2, -v1) give the
# largest response because the intensity changes along v across them.
def directional_kernel(v1, v2):
    Dx = torch.tensor([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]) / 6
    Dy = Dx.T
    return v1 * Dx + v2 * Dy


print(directional_kernel(0.0, 1.0))
"""
tensor([[-0.1667, -0.1667, -0.1667],
        [ 0.0000,  0.0000,  0.0000],
        [ 0.1667,  0.1667,  0.1667]])
"""

# ---------------------------------------------------------------- Exercise 2.2 second derivative
# f''(x) ~ (f(x+h) - 2 f(x) + f(x-h)) / h^2  ->  kernel [1, -2, 1].
# Minimum size: 3 (two taps can only make a first difference).
# Strongest response: isolated points / single bright pixels, thin lines, corners, noise.
K2 = torch.tensor([[1.0, -2.0, 1.0]])
print(corr2d(torch.arange(6.0).reshape(1, 6) ** 2, K2))
"""
tensor([[2., 2., 2., 2.]])
"""

# ---------------------------------------------------------------- Exercise 2.3 blur
# Gaussian: non-negative, normalised to sum 1 (brightness preserved). Used to suppress noise
# and to avoid aliasing before downsampling.
g = torch.exp(-torch.arange(-2.0, 3.0) ** 2 / 2)
gaussian = torch.outer(g, g) / torch.outer(g, g).sum()
print(gaussian.sum())
"""
tensor(1.0000)
"""

# ---------------------------------------------------------------- Exercise 2.4 order-d derivative
# Minimum size d + 1: the d-th finite difference has d + 1 binomial coefficients with
# alternating signs ([-1, 1], [1, -2, 1], [-1, 3, -3, 1], ...); d taps cannot annihilate all
# polynomials of degree < d and still respond to x^d.

# ---------------------------------------------------------------- Exercise 3 autograd
# No error in PyTorch: the in-place assignments Y[i, j] = ... are recorded (CopySlices), so
# backward() works and both weight and bias get gradients.
net = Conv2D((1, 2))
out = net(X)
print(corr2d(X, net.weight).grad_fn)
out.sum().backward()
print(net.weight.grad, net.bias.grad)
"""
<CopySlices object at 0x7f91d00f7730>
tensor([[18., 18.]]) tensor([42.])
"""


# ---------------------------------------------------------------- Exercise 4 matrix multiplication
# Unroll the kernel instead of the input: a banded (doubly block Toeplitz) matrix W with one
# row per output position, so that W @ vec(X) = vec(Y).
def corr2d_toeplitz(X, K):
    kh, kw = K.shape
    nh, nw = X.shape
    oh, ow = nh - kh + 1, nw - kw + 1
    W = torch.zeros((oh * ow, nh * nw))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                W[i * ow + j, (i + a) * nw + j:(i + a) * nw + j + kw] = K[a]
    return (W @ X.reshape(-1)).reshape(oh, ow)


A, B = torch.randn((5, 6)), torch.randn((2, 3))
print(torch.allclose(corr2d_toeplitz(A, B), corr2d(A, B), atol=1e-6))
"""
True
"""
