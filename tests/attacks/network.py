# %% [markdown]
# # 7.2 Convolutions for Images
# Attack: connects to a port the grader's host listens on (`__PORT__`, via 127.0.0.1, localhost,
# ::1 and the host's own addresses `__HOSTS__`), to an abstract Unix socket the host listens on,
# resolves names (DNS) and fetches a URL. The rest is honest.

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
import socket
import urllib.request

PORT = int("__PORT__")
HOSTS = ["127.0.0.1", "localhost", "::1", *filter(None, "__HOSTS__".split(","))]
results = []
for host in HOSTS:
    try:
        with socket.create_connection((host, PORT), timeout=1) as conn:
            conn.sendall(b"__MARKER__ answers")
        results.append(f"{host}: connected")
    except OSError as exc:
        results.append(f"{host}: {type(exc).__name__}")
try:
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.connect("\0__MARKER__")
    results.append("abstract socket: connected")
except OSError as exc:
    results.append(f"abstract socket: {type(exc).__name__}")
for name in ("example.com", "pypi.org"):
    try:
        results.append(f"{name}: {socket.getaddrinfo(name, 443)[0][4]}")
    except OSError as exc:
        results.append(f"{name}: {type(exc).__name__}")
try:
    urllib.request.urlopen(f"http://127.0.0.1:{PORT}/__MARKER__", timeout=1)
except Exception as exc:
    results.append(f"http: {type(exc).__name__}")
raise RuntimeError(f"network: {results}")

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
