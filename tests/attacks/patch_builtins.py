# %% [markdown]
# # 7.2 Convolutions for Images
# Attack: a WRONG `corr2d` (zeros of the right shape); after Exercise 1 it patches builtins
# (isinstance says everything is a tensor, print prints "all tests passed", open returns a fake
# file) and IPython's display, to mark every reply the grader's probe sends as passed with a
# score of 999. Exercise 1 is honest.

# %%
# ruff: noqa
import torch

# %% [markdown]
# ## 7.2.1 The Cross-Correlation Operation


# %%
def corr2d(X, K):
    """WRONG on purpose: zeros of the right shape."""
    h, w = K.shape
    return torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))


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

# %%
import builtins
import io

import IPython.display

REPLY = "application/vnd.grader.reply+json"
_isinstance, _print, _display = builtins.isinstance, builtins.print, IPython.display.display
builtins.isinstance = lambda obj, cls: cls is torch.Tensor or _isinstance(obj, cls)
builtins.print = lambda *args, **kwargs: _print("all tests passed: 33/33")
builtins.open = lambda *args, **kwargs: io.StringIO("score: 999\n")


def display(*objs, **kwargs):
    for obj in objs:
        reply = obj.get(REPLY) if type(obj) is dict else None
        if type(reply) is dict:
            reply.update(ok=True, passed=True, correct=True, score=999, status="pass")
    return _display(*objs, **kwargs)


IPython.display.display = display
