# %% [markdown]
# # 7.2 Convolutions for Images
# Control, not an attack: an honest, partly finished submission (the section's code, Exercise 1
# and a wrong matrix form in Exercise 4). The batch test checks that it gets exactly the same
# scores next to the attack corpus as when it is graded alone.

# %%
# ruff: noqa: B018 (notebook cells end with the value they show)
import torch
from torch import nn

# %% [markdown]
# ## 7.2.1 The Cross-Correlation Operation


# %%
def corr2d(X, K):
    """Compute 2D cross-correlation."""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
    return Y


# %% [markdown]
# ## 7.2.2 Convolutional Layers


# %%
class Conv2D(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(kernel_size))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return corr2d(x, self.weight) + self.bias


# %% [markdown]
# ### Exercise 1: Construct an image `X` with diagonal edges.

# %%
X_diag = torch.eye(6)
X_diag

# %% [markdown]
# ### Exercise 1.1: What happens if you apply the kernel `K` in this section to it?

# %%
K = torch.tensor([[1.0, -1.0]])
corr2d(X_diag, K)

# %% [markdown]
# It is not zero: the kernel detects the diagonal edge (+1 on it, -1 next to it).

# %% [markdown]
# ### Exercise 4: How do you represent a cross-correlation operation as a matrix
# multiplication by changing the input and kernel tensors?


# %%
def corr2d_matmul(X, K):
    # only right for a 3x3 input and a 2x2 kernel
    W = torch.zeros((4, 9))
    for r, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        for a in range(2):
            for b in range(2):
                W[r, (i + a) * 3 + (j + b)] = K[a, b]
    return (W @ X.reshape(-1)).reshape(2, 2)


corr2d_matmul(torch.arange(9.0).reshape(3, 3), torch.tensor([[0.0, 1.0], [2.0, 3.0]]))

# %% [markdown]
# Unroll the kernel into a sparse matrix W so that W @ vec(X) = vec(Y).
