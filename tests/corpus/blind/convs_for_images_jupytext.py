# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.16.1
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7.2 convolutions for images — my notes + exercises
#
# (i keep my notebooks as jupytext .py files bc git diffs of ipynb are unreadable. outputs are not saved, just run it)
#
# no d2l install on this machine so i just use plain torch.

# %%
import torch
from torch import nn

# %% [markdown]
# ## cross-correlation
# slide the kernel over the input, multiply elementwise, sum. output is (nh-kh+1) x (nw-kw+1)

# %%
def cc2d(inp, kern):
    kh, kw = kern.shape
    res = torch.zeros((inp.shape[0] - kh + 1, inp.shape[1] - kw + 1))
    for a in range(res.shape[0]):
        for b in range(res.shape[1]):
            res[a, b] = (inp[a:a + kh, b:b + kw] * kern).sum()
    return res

t = torch.arange(9.0).reshape(3, 3)
k = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
cc2d(t, k)   # should be [[19,25],[37,43]]

# %% [markdown]
# ## conv layer
# weight = kernel, bias = scalar. forward is just cc2d + bias

# %%
class MyConv(nn.Module):
    def __init__(self, ksize):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(ksize))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, inp):
        return cc2d(inp, self.weight) + self.bias

# %% [markdown]
# ## edge detection example

# %%
img = torch.ones((6, 8))
img[:, 2:6] = 0
K = torch.tensor([[1.0, -1.0]])
Y = cc2d(img, K)
print(Y)
print(cc2d(img.T, K))  # all zero, K only does vertical edges

# %% [markdown]
# ## learning the kernel
# same as the book but with nn.Conv2d(1, 1, ...) since LazyConv2d gave me a warning

# %%
torch.manual_seed(0)
layer = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)
X4 = img.reshape((1, 1, 6, 8))
Y4 = Y.reshape((1, 1, 6, 7))
lr = 3e-2
for ep in range(10):
    out = layer(X4)
    loss = ((out - Y4) ** 2).sum()
    layer.zero_grad()
    loss.backward()
    layer.weight.data[:] -= lr * layer.weight.grad
    if (ep + 1) % 2 == 0:
        print(f'epoch {ep + 1}, loss {loss:.3f}')
print(layer.weight.data.reshape((1, 2)))   # ~ [1, -1]

# %% [markdown]
# ---
# # Exercises
#
# ## Ex 1 — diagonal edges

# %%
Xd = torch.eye(8)
out_K = cc2d(Xd, K)
print(out_K.shape, out_K.sum())

# %% [markdown]
# **1.1** the sum comes out as 0, so applying K to the diagonal image gives a zero matrix. K = [1, -1] only compares horizontal neighbours and is built for vertical edges, so it can't see a diagonal edge at all.

# %%
print(torch.equal(Xd.T, Xd))
print(torch.equal(cc2d(Xd.T, K), out_K))

# %% [markdown]
# **1.2** eye is symmetric so X.T is literally the same picture -> the output is identical to 1.1.

# %%
out_KT = cc2d(Xd, K.T)
print(K.T)
print(out_KT.shape, out_KT.sum())

# %% [markdown]
# **1.3** K.T = [[1],[-1]] is the horizontal-edge version (difference between a pixel and the one below). output is 7x8 now, but it sums to 0 again, so still a zero matrix — neither K nor K.T detects a diagonal edge, you'd need something like [[1,0],[0,-1]].

# %% [markdown]
# ## Ex 2 — design kernels
#
# ### 2.1 directional edges
# edges orthogonal to v = edges where the intensity changes along v, so I want the directional derivative v1*d/dx + v2*d/dy (x = column, y = row). With forward differences at the top-left pixel:
#
# d/dx ≈ f(r, c+1) - f(r, c), d/dy ≈ f(r+1, c) - f(r, c)
#
# => kernel [[-(v1+v2), v1], [v2, 0]]

# %%
def dir_kernel(v1, v2):
    return torch.tensor([[-(v1 + v2), v1], [v2, 0.0]])

v1, v2 = 1.0, 2.0
Kd = dir_kernel(v1, v2)
r, c = torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing='ij')
along_v = v1 * c + v2 * r          # intensity grows along v  -> edge orthogonal to v
along_edge = v2 * c - v1 * r       # intensity grows along (v2, -v1)
print(Kd.sum().item())
print(cc2d(along_v, Kd))          # constant = v1^2 + v2^2 = 5
print(cc2d(along_edge, Kd))       # zeros

# %% [markdown]
# sums to zero so flat areas give nothing, ramp along v gives a constant |v|^2, ramp along the edge direction gives 0. 

# %% [markdown]
# ### 2.2 second derivative
# f''(x) ≈ f(x+1) - 2f(x) + f(x-1) → kernel **[1, -2, 1]**. Min size is 3, with 2 taps you only get a first difference (can't kill constants AND linear parts and still see x²).
# 2d version = laplacian [[0,1,0],[1,-4,1],[0,1,0]].
#
# responds most to single bright pixels / noise and thin lines (and corners), step edges only give a weaker +/- pair around the edge.

# %%
d2 = torch.tensor([[1.0, -2.0, 1.0]])
xx = torch.arange(7.0)
print(cc2d(xx.reshape(1, -1), d2), cc2d((xx ** 2).reshape(1, -1), d2))

lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
spot = torch.zeros(5, 5); spot[2, 2] = 1.0
edge = torch.zeros(5, 5); edge[:, 3:] = 1.0
print(cc2d(spot, lap).abs().max(), cc2d(edge, lap).abs().max())

# %% [markdown]
# ### 2.3 blur
# gaussian kernel, normalised so it sums to 1 (otherwise the image gets brighter/darker). all weights positive. why: remove noise, smooth before downsampling (aliasing), smooth before edge detection.

# %%
g = torch.exp(-torch.arange(-2.0, 3.0) ** 2 / 2)
gauss = torch.outer(g, g)
gauss = gauss / gauss.sum()
print(gauss.sum(), (gauss >= 0).all())
noisy = torch.rand(20, 20)
print(noisy.std(), cc2d(noisy, gauss).std())   # std goes down

# %% [markdown]
# ### 2.4 minimum size for derivative of order d
# you need a centred stencil with d points on each side of the pixel, so the minimum kernel size is **2d + 1** (d=1: [-1, 0, 1] / 2, central difference).

# %% [markdown]
# ## Ex 3 — autograd on MyConv
# the book says there is an error... but in pytorch I don't get one:

# %%
conv = MyConv((1, 2))
o = conv(img)
o.sum().backward()
print(conv.weight.grad, conv.bias.grad)

# %% [markdown]
# no error at all. pytorch records the `res[a, b] = ...` assignments (grad_fn is CopySlices) so backprop works and weight/bias get gradients. the error in the question is from mxnet which doesn't allow in-place writes while recording. (only thing that errors is calling `o.backward()` without `.sum()`: "grad can be implicitly created only for scalar outputs", since o is a matrix)

# %% [markdown]
# ## Ex 4 — as matrix multiplication
# im2col: turn every kh×kw patch of the input into a row, flatten the kernel into a vector, then it's one matmul.

# %%
def cc2d_mm(inp, kern):
    kh, kw = kern.shape
    oh, ow = inp.shape[0] - kh + 1, inp.shape[1] - kw + 1
    patches = inp.unfold(0, kh, 1).unfold(1, kw, 1)      # (oh, ow, kh, kw)
    return (patches.reshape(oh * ow, kh * kw) @ kern.reshape(-1)).reshape(oh, ow)

for shp, ks in [((5, 9), (2, 3)), ((7, 4), (3, 1)), ((4, 6), (1, 4)), ((3, 5), (3, 5))]:
    A = torch.randn(shp); B = torch.randn(ks)
    print(shp, ks, torch.allclose(cc2d_mm(A, B), cc2d(A, B), atol=1e-6))
