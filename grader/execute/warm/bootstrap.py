"""How a fork server is started: its command line, environment and code bundle.

Runs in the grader process; the ``-c`` program it builds runs in the server.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import SandboxUnavailable
from ...probe_source import PROBE_FILENAME, PROBE_SOURCE
from ..kernel import KernelOptions, Limits
from ..launch import LIMIT_VARS
from ..nbclient_engine import kernel_environment

#: The modules a fork server runs, in the order it executes them (each imports only
#: modules before it): this package's server and kernel side and the few shared modules
#: they use. The server gets them as source (see :func:`bundle_file`), never from the
#: grader's source tree, and its ``grader`` packages are empty shells, so an import of
#: anything not listed here fails at once (tests/test_warm_server.py starts a server from
#: this bundle alone and checks every import of these modules).
SERVER_MODULES: tuple[str, ...] = (
    "grader.execute.kernel",
    "grader.execute.launch",
    "grader.execute.files",
    "grader.execute.procs",
    "grader.execute.warm.protocol",
    "grader.execute.warm.capture",
    "grader.execute.warm.shell",
    "grader.execute.warm.vault",
    "grader.execute.warm.reaper",
    "grader.execute.warm.child",
    "grader.execute.warm.server",
)
_ROOT = Path(__file__).resolve().parents[3]  # the directory that holds ``grader/``


@dataclass(frozen=True)
class ServerKey:
    """What a server's isolation depends on; kernels with another key get another server.
    ``plain`` servers (sandbox none / weak: the isolation is applied in each child) are
    shared by concurrent kernels; ``bwrap`` servers hold one kernel at a time."""

    mode: str
    hidden: tuple[Path, ...] = ()
    max_processes: int = 0
    max_file_bytes: int = 0

    @staticmethod
    def of(options: KernelOptions) -> ServerKey:
        if options.sandbox.mode != "bwrap":
            return ServerKey("plain")
        limits = options.limits
        hidden = tuple(Path(p) for p in options.hidden)
        return ServerKey("bwrap", hidden, limits.max_processes, limits.max_file_bytes)


def module_path(name: str) -> Path:
    """The source file of one of :data:`SERVER_MODULES`."""
    return _ROOT.joinpath(*name.split(".")).with_suffix(".py")


_FONT_CACHE_BYTES = 8 << 20


def matplotlib_font_caches() -> dict[str, str]:
    """The user's matplotlib font lists (``fontlist-v*.json``), found without importing
    matplotlib. A sandboxed server starts with an empty ``MPLCONFIGDIR``, where
    ``import matplotlib.pyplot`` would list the system's fonts again (docs/performance.md)."""
    base = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib"
    )
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for path in sorted(Path(base).glob("fontlist-v*.json")):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if path.is_file() and path.stat().st_size <= _FONT_CACHE_BYTES:
                    found[path.name] = path.read_text(encoding="utf-8")
    return found


def bundle_file(seed: Mapping[str, str] | None = None) -> int:
    """An unlinked file with what a server runs: the source of :data:`SERVER_MODULES` and
    their code compiled by this interpreter (see :func:`_module_code_of`), the probe's
    source (compiled once by the server), and the font lists to seed a sandboxed server's
    matplotlib with. Its fd is the server's ``argv[1]``."""
    modules = []
    for name in SERVER_MODULES:
        path = str(module_path(name))
        modules.append([name, path, *_module_code(path)])
    bundle = {
        "modules": modules,
        "magic": importlib.util.MAGIC_NUMBER.hex(),
        "matplotlib": dict(seed or {}),
        "probe": {"filename": PROBE_FILENAME, "source": PROBE_SOURCE},
    }
    with tempfile.TemporaryFile() as fh:
        fh.write(json.dumps(bundle).encode())
        fh.flush()
        fd = os.dup(fh.fileno())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _module_code(path: str) -> tuple[str, str]:
    stat = os.stat(path)
    return _module_code_of(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2 * len(SERVER_MODULES))
def _module_code_of(path: str, mtime_ns: int, size: int) -> tuple[str, str]:
    """A module's source, and its code compiled by this interpreter (base64 of marshal
    data, from its .pyc when that is fresh): a server run by the same Python version loads
    the code instead of compiling the source (figures: docs/performance.md)."""
    import base64
    import importlib.machinery
    import marshal

    source = Path(path).read_text(encoding="utf-8")
    try:
        loader = importlib.machinery.SourceFileLoader("_grader_server_module", path)
        code = loader.get_code(loader.name)
        packed = base64.b64encode(marshal.dumps(code)).decode("ascii")
    except Exception:
        packed = ""  # the server compiles the source
    return source, packed


def bootstrap_program() -> str:
    """The server's ``-c`` program: read the bundle from the fd in ``argv[1]`` and execute
    its modules (their compiled code if the bytecode magic is the server's own, else their
    source) under empty ``grader`` packages whose ``__init__`` never runs (``grader.execute``
    imports the driver and numpy), so that the server's baseline of visible modules is a
    fresh kernel's; then run the server's ``main``."""
    return (
        "import json, os, sys, types\n"
        "_fd, _chunks = int(sys.argv[1]), []\n"
        "while _chunk := os.read(_fd, 1 << 20):\n"
        "    _chunks.append(_chunk)\n"
        "os.close(_fd)\n"
        "_bundle = json.loads(b''.join(_chunks))\n"
        "for _name, *_ in _bundle['modules']:\n"
        "    _package = _name.rpartition('.')[0]\n"
        "    while _package and _package not in sys.modules:\n"
        "        _module = types.ModuleType(_package)\n"
        "        _module.__path__ = []\n"
        "        _module.__package__ = _package\n"
        "        sys.modules[_package] = _module\n"
        "        _package = _package.rpartition('.')[0]\n"
        "import base64, importlib.util, marshal\n"
        "_same = _bundle.get('magic') == importlib.util.MAGIC_NUMBER.hex()\n"
        "for _name, _path, _source, _packed in _bundle['modules']:\n"
        "    _module = types.ModuleType(_name)\n"
        "    _module.__file__ = _path\n"
        "    _module.__package__ = _name.rpartition('.')[0]\n"
        "    sys.modules[_name] = _module\n"
        "    if _same and _packed:\n"
        "        _code = marshal.loads(base64.b64decode(_packed))\n"
        "    else:\n"
        "        _code = compile(_source, _path, 'exec')\n"
        "    exec(_code, _module.__dict__)\n"
        f"sys.modules[{SERVER_MODULES[-1]!r}].main(sys.argv[2:], _bundle)\n"
    )


def server_command(
    python: str,
    bundle_fd: int,
    control_fd: int,
    preload: Sequence[str],
    exclusive: Sequence[str] = (),
    shortcuts: bool = True,
) -> list[str]:
    """The fork server's command line: ``python`` (the interpreter its kernels run) with
    the bootstrap program, the bundle's and the control socket's fds and the preload;
    ``exclusive``: the arguments of a sandboxed server (see :class:`.pool.Server`);
    ``shortcuts``: see :mod:`.shortcuts`."""
    cmd = [python, "-c", bootstrap_program(), str(bundle_fd), "--serve", str(control_fd)]
    cmd += ["--preload", ",".join(preload), *exclusive]
    return cmd if shortcuts else [*cmd, "--no-shortcuts"]


def server_environment(runtime: Path) -> dict[str, str]:
    """The server's environment: a kernel's (threads, backend, no user site), no limits."""
    options = KernelOptions(workdir=runtime, limits=Limits(), deadline=0.0)
    env = kernel_environment(options)
    for var in LIMIT_VARS:
        env.pop(var, None)
    # glibc's malloc asks for transparent huge pages (where the system allows them): the
    # server's heap then forks with a fraction of the page-table copying, and
    # each kernel exits faster (docs/performance.md; a child's own environment replaces this)
    env["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=1"
    return env


def sandboxed(
    cmd: list[str], key: ServerKey, work: Path, run: Path, python: str, env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """``cmd`` in a bwrap sandbox (``sandbox.wrap``), as the PID namespace's init, and the
    environment to start it with (already the sandbox's allowlist, as for nbclient
    kernels). The sandbox's limits are a kernel's: pids.max (as root) and RLIMIT_NPROC
    already count a PID-1 process, which the server replaces."""
    from .. import sandbox

    spec = sandbox.SandboxSpec(
        workdir=work,
        runtime_dir=run,
        python_prefixes=sandbox.kernel_python_prefixes(python),
        hidden=key.hidden,
        limits=Limits(max_processes=key.max_processes, max_file_bytes=key.max_file_bytes),
        env=env,
    )
    argv = sandbox.wrap(cmd, spec, "bwrap")
    binary = shutil.which(sandbox.BWRAP)
    if binary is None or binary not in argv or "--unshare-all" not in argv:
        raise SandboxUnavailable("the warm engine cannot find bwrap in the sandbox command")
    at = argv.index(binary) + 1
    argv = [*argv[:at], "--as-pid-1", *argv[at:]]
    if "GLIBC_TUNABLES" in env and "--clearenv" in argv:  # the server's only, not a kernel's
        at = argv.index("--clearenv") + 1
        argv[at:at] = ["--setenv", "GLIBC_TUNABLES", env["GLIBC_TUNABLES"]]
    return argv, sandbox.sandbox_environment(cmd, spec, "bwrap")
