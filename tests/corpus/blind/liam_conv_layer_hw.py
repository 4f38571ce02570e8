# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Convolutions for Images (D2L v0.17, section 6.2) -- Liam O'Connor
#
# I keep my notebooks as jupytext `.py` files (diffs are readable in git). Outputs are pasted as
# comments under each cell (`# >>>`). The written answers are the `ANSWER_...` strings; `print_answers()`
# at the bottom dumps them all.

# %%
import torch
from torch import nn
import torch.nn.functional as F

torch.manual_seed(4)


# %% [markdown]
# ## Cross-correlation

# %%
def correlate2d(img, kernel):
    """Valid 2-D cross-correlation: output (H - kh + 1) x (W - kw + 1)."""
    kh, kw = kernel.shape
    res = torch.zeros((img.shape[0] - kh + 1, img.shape[1] - kw + 1))
    for r in range(res.shape[0]):
        for c in range(res.shape[1]):
            res[r, c] = (img[r:r + kh, c:c + kw] * kernel).sum()
    return res


demo = torch.arange(9.).reshape(3, 3)
demo_kernel = torch.tensor([[0., 1.], [2., 3.]])
print(correlate2d(demo, demo_kernel))
# >>> tensor([[19., 25.],
# >>>         [37., 43.]])


# %% [markdown]
# ## Convolutional layer

# %%
class Conv2D(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(kernel_size))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return correlate2d(x, self.weight) + self.bias


# %% [markdown]
# ## Edge detection

# %%
board = torch.ones((6, 8))
board[:, 2:6] = 0
diff_h = torch.tensor([[1.0, -1.0]])
resp = correlate2d(board, diff_h)
print(resp)
print(correlate2d(board.T, diff_h).abs().sum())   # transposed: nothing detected
# >>> tensor([[ 0.,  1.,  0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  1.,  0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  1.,  0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  1.,  0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  1.,  0.,  0.,  0., -1.,  0.],
# >>>         [ 0.,  1.,  0.,  0.,  0., -1.,  0.]])
# >>> tensor(0.)

# %% [markdown]
# ## Learning the kernel

# %%
c2d = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)
X4, Y4 = board.reshape((1, 1, 6, 8)), resp.reshape((1, 1, 6, 7))
lr = 3e-2
for epoch in range(10):
    Y_hat = c2d(X4)
    l = (Y_hat - Y4) ** 2
    c2d.zero_grad()
    l.sum().backward()
    c2d.weight.data[:] -= lr * c2d.weight.grad
    if (epoch + 1) % 2 == 0:
        print(f'epoch {epoch + 1}, loss {l.sum():.3f}')
print(c2d.weight.data.reshape((1, 2)))
# >>> epoch 2, loss 5.182
# >>> epoch 4, loss 0.935
# >>> epoch 6, loss 0.184
# >>> epoch 8, loss 0.042
# >>> epoch 10, loss 0.012
# >>> tensor([[ 0.9975, -0.9795]])

# %% [markdown]
# ## Exercise 1 -- diagonal edges
# Image: ones on and *above* the main diagonal, zeros below -> a 45 degree step edge.

# %%
upper = (torch.arange(8)[None, :] >= torch.arange(6)[:, None]).float()
print(upper)
# >>> tensor([[1., 1., 1., 1., 1., 1., 1., 1.],
# >>>         [0., 1., 1., 1., 1., 1., 1., 1.],
# >>>         [0., 0., 1., 1., 1., 1., 1., 1.],
# >>>         [0., 0., 0., 1., 1., 1., 1., 1.],
# >>>         [0., 0., 0., 0., 1., 1., 1., 1.],
# >>>         [0., 0., 0., 0., 0., 1., 1., 1.]])

# %%
ex1_1 = correlate2d(upper, diff_h)
print(ex1_1)
# >>> tensor([[ 0.,  0.,  0.,  0.,  0.,  0.,  0.],
# >>>         [-1.,  0.,  0.,  0.,  0.,  0.,  0.],
# >>>         [ 0., -1.,  0.,  0.,  0.,  0.,  0.],
# >>>         [ 0.,  0., -1.,  0.,  0.,  0.,  0.],
# >>>         [ 0.,  0.,  0., -1.,  0.,  0.,  0.],
# >>>         [ 0.,  0.,  0.,  0., -1.,  0.,  0.]])

ANSWER_1_1 = """
K = [1, -1] on the staircase does NOT give an empty map. Output is 6x7 with a line of -1 at (i, i-1),
rows 1..5: in each row the pixel just before the step is dark (0) and the next one bright (1), so 0 - 1 = -1.
Row 0 is all ones -> 0 there. The horizontal difference sees the diagonal edge because every row crosses it.
"""

# %%
ex1_2 = correlate2d(upper.T, diff_h)
print(ex1_2)
# >>> tensor([[1., 0., 0., 0., 0.],
# >>>         [0., 1., 0., 0., 0.],
# >>>         [0., 0., 1., 0., 0.],
# >>>         [0., 0., 0., 1., 0.],
# >>>         [0., 0., 0., 0., 1.],
# >>>         [0., 0., 0., 0., 0.],
# >>>         [0., 0., 0., 0., 0.],
# >>>         [0., 0., 0., 0., 0.]])

ANSWER_1_2 = """
Transposing X gives an 8x6 lower-triangular staircase. The edge is still diagonal, so it is still detected
(8x5 output) -- it doesnt vanish like the book's vertical bars did. The sign is flipped to +1 (bright -> dark
going right now) and the line sits on the main diagonal (i, i), rows 0..4.
"""

# %%
ex1_3 = correlate2d(upper, diff_h.T)
print(ex1_3)
print(torch.equal(correlate2d(upper.T, diff_h.T), ex1_1.T))
# >>> tensor([[1., 0., 0., 0., 0., 0., 0., 0.],
# >>>         [0., 1., 0., 0., 0., 0., 0., 0.],
# >>>         [0., 0., 1., 0., 0., 0., 0., 0.],
# >>>         [0., 0., 0., 1., 0., 0., 0., 0.],
# >>>         [0., 0., 0., 0., 1., 0., 0., 0.]])
# >>> True

ANSWER_1_3 = """
K^T = [[1], [-1]] subtracts the pixel below -> responds to horizontal edges / vertical change.
A 45 degree edge has vertical change too, so it fires again: 5x8 output, +1 on the main diagonal
(bright pixel above a dark one). Also corr(X^T, K^T) == corr(X, K)^T (prints True).
"""

# %% [markdown]
# ## Exercise 2 -- autograd

# %%
lay = Conv2D((3, 3))
o = lay(torch.rand(5, 5))
print(o.grad_fn, o.grad_fn.next_functions[0][0])
o.sum().backward()
print(lay.weight.grad)
print(lay.bias.grad)
# >>> <AddBackward0 object at 0x7f81580b5b40> <CopySlices object at 0x7f81580b5db0>
# >>> tensor([[4.3498, 4.6105, 4.7239],
# >>>         [5.0872, 4.5093, 5.0131],
# >>>         [5.7689, 6.0196, 6.1319]])
# >>> tensor([9.])

ANSWER_2 = """
No error message. PyTorch's autograd records the item assignments res[r, c] = ... (grad_fn CopySlices),
so backward() thru my Conv2D just works and fills lay.weight.grad and lay.bias.grad (9 = number of
output pixels for the bias). The question comes from the MXNet version where that kind of assignment
can't be recorded. Only gotcha: backward() needs a scalar, hence the .sum().
"""


# %% [markdown]
# ## Exercise 3 -- cross-correlation as a matrix multiplication

# %%
def correlate2d_mm(img, kernel):
    """im2col: F.unfold lays every kh x kw window out as a column, then one matmul with the flat kernel."""
    kh, kw = kernel.shape
    oh, ow = img.shape[0] - kh + 1, img.shape[1] - kw + 1
    cols = F.unfold(img[None, None], kernel_size=(kh, kw))[0]     # (kh*kw, oh*ow)
    return (kernel.reshape(1, -1) @ cols).reshape(oh, ow)


print(correlate2d_mm(demo, demo_kernel))
for s, ks in [((5, 9), (2, 3)), ((8, 3), (3, 1)), ((4, 4), (1, 4)), ((3, 6), (3, 6))]:
    a, k = torch.randn(s), torch.randn(ks)
    print(s, ks, torch.allclose(correlate2d_mm(a, k), correlate2d(a, k), atol=1e-5))
# >>> tensor([[19., 25.],
# >>>         [37., 43.]])
# >>> (5, 9) (2, 3) True
# >>> (8, 3) (3, 1) True
# >>> (4, 4) (1, 4) True
# >>> (3, 6) (3, 6) True

ANSWER_3 = """
Change the input: unroll it into a matrix whose columns are the flattened kh x kw windows (im2col,
F.unfold does exactly this), flatten the kernel into a row vector, multiply -> one row with all outputs,
reshape to (oh, ow). Or change the kernel instead: a sparse (oh*ow) x (H*W) matrix with the kernel weights
placed at each window's positions (doubly block-Toeplitz) times vec(X). Checked against correlate2d on
several non-square shapes.
"""

# %% [markdown]
# ## Exercise 4 -- designing kernels

# %%
second = torch.tensor([[1., -2., 1.]])
xs = torch.arange(8.)
print(correlate2d(torch.ones(1, 8), second), correlate2d((2 * xs + 5)[None], second), correlate2d((xs ** 2)[None], second))
# >>> tensor([[0., 0., 0., 0., 0., 0.]]) tensor([[0., 0., 0., 0., 0., 0.]]) tensor([[2., 2., 2., 2., 2., 2.]])

ANSWER_4_1 = """
Second derivative: f(x+1) - 2 f(x) + f(x-1) (over h^2) -> kernel [1, -2, 1]. Zero on constants and
straight lines, 2 on x^2. 2-D analogue: the Laplacian [[0,1,0],[1,-4,1],[0,1,0]].
"""

# %%
signal = torch.tensor([2., 0., 1., 3., -1., 4.])
n = signal.numel()
integral_kernel = torch.ones((1, n))
padded = torch.cat([torch.zeros(n - 1), signal])[None]
print(correlate2d(padded, integral_kernel), signal.cumsum(0))
# >>> tensor([[2., 2., 3., 6., 5., 9.]]) tensor([2., 2., 3., 6., 5., 9.])

ANSWER_4_2 = """
Integral = running (cumulative) sum, the inverse of the difference kernel. Kernel: all ones, as long as
the signal, with n-1 zeros padded in front, so output k = x_0 + ... + x_k (= cumsum, see above). A short
ones kernel would only give a sliding-window sum. In 2-D the analogue is the summed-area table / integral image.
"""

ANSWER_4_3 = """
Minimum size for a derivative of degree d: d + 1 taps, e.g. [-1, 1], [1, -2, 1], [-1, 3, -3, 1]
(binomial coefficients with alternating signs = the d-th finite difference). With d taps you cannot
annihilate all polynomials of degree < d and still respond to x^d.
"""


# %%
def print_answers():
    for name, val in sorted(globals().items()):
        if name.startswith("ANSWER_"):
            print(f"== {name} =={val}")


print_answers()
