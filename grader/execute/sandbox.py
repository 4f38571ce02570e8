"""Isolation around every kernel: a bubblewrap sandbox, or clearly weaker fallbacks.

The engines start a kernel with a command (``launch.py -- python -m ipykernel_launcher -f
{connection_file}``); :func:`wrap` turns that command into the one to start instead.

``bwrap``
    A bubblewrap (``bwrap``) sandbox: new user, mount, PID, network, IPC, UTS and cgroup
    namespaces; no network at all (not even the host's loopback); a read-only view of the
    system and of the Python installation(s) the kernel imports from; the submission's
    workdir and the kernel's runtime dir (sockets and connection file) read-write at their
    own paths; small memory-backed ``/tmp`` and ``/dev/shm``; everything else of the host
    (the user's home, the course's reference solutions and rubrics, other submissions) is
    simply not there. No capabilities, no further user namespaces, a clean environment.
``weak``
    No namespaces: a clean environment, ``no_new_privs``, a parent-death signal and (as
    root) an empty capability bounding set, plus the launcher's rlimits. The submission can
    read every file the grader can read and use the network. Labelled weaker isolation.
``none``
    The command unchanged (trusted notebooks only).

Resource limits stay where they were: the launcher's rlimits (address-space backstop, file
size, CPU seconds and, under ``bwrap``, RLIMIT_NPROC) and the RSS/deadline watchdog. One
thing needs more than an rlimit: the kernel ignores RLIMIT_NPROC for processes whose real
uid is host uid 0, including uid 0 inside a user namespace that maps to it, so when the
grader runs as root the process limit comes from a ``pids`` cgroup if one is writable
(:func:`probe_bwrap` says which applies).

What the engine that starts a wrapped command must know:

* start it with ``start_new_session=True`` (jupyter_client does) and stop it with
  ``os.killpg(pid, SIGKILL)`` (``watchdog.kill_group``): killing the outer ``bwrap``
  makes ``--die-with-parent`` SIGKILL the sandbox's PID-1, and the kernel then kills every
  process of the PID namespace, double-forked daemons included;
* any signal that ends the outer ``bwrap`` ends the sandbox: ``bwrap`` does not forward
  SIGINT, so the kernelspec must use ``"interrupt_mode": "message"`` (ipykernel interrupts
  itself on a control-channel message) or every cell timeout kills the kernel;
* ``--die-with-parent`` is PR_SET_PDEATHSIG, which fires when the *thread* that started the
  process exits: start kernels from a thread that lives as long as they do. It also has a
  start-up race (containers/bubblewrap#633): a bwrap killed in its first milliseconds can
  leave the sandbox running; as root the next sandbox kills it through its pids cgroup.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import SandboxUnavailable
from .kernel import Limits

Mode = Literal["bwrap", "weak", "none"]
Requested = Literal["auto", "bwrap", "weak", "none"]

BWRAP = "bwrap"  # name (looked up on PATH) or path of the bubblewrap binary
SETPRIV = "setpriv"  # util-linux; optional, used by "weak"
LAUNCHER = Path(__file__).resolve().with_name("launch.py")

# Host directories every sandbox sees read-only (as symlinks where the host has symlinks,
# e.g. /lib -> usr/lib on merged-/usr systems).
_SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# The parts of /etc a Python kernel uses; passwd, shadow, hosts, ssl etc. stay outside.
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "fonts")
_ETC_GLOBS = ("python3*",)  # Debian's sitecustomize for /usr/bin/python3 venvs
# The transparent-huge-page settings, bound read-only (see _bwrap_argv).
_THP = "/sys/kernel/mm/transparent_hugepage"

# Environment a kernel may receive (everything else is dropped: tokens, proxies, PYTHONPATH).
# JPY_PARENT_PID must not pass: inside the PID namespace the kernel's parent is PID 1, and
# ipykernel's parent poller would take that for a dead parent and exit.
_ENV_NAMES = frozenset(
    {
        "MPLBACKEND",
        "PYTHONNOUSERSITE",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONHASHSEED",
        "PYTHONUNBUFFERED",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONWARNINGS",
        "PYDEVD_DISABLE_FILE_VALIDATION",
        "JUPYTER_PLATFORM_DIRS",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
    }
)
_ENV_PREFIXES = ("GRADER_LIMIT_", "OMP_", "MKL_", "OPENBLAS_", "NUMEXPR_", "KMP_")

_SCRIPT_NAME = "grader-sandbox"
_CGROUP_PREFIX = "grader-sandbox-"
# Runs outside the sandbox, as root, before exec'ing bwrap (same pid, so the engine's
# process group and watchdog are unaffected): clean up after sandboxes whose bwrap is gone
# (kill what is left in their cgroup: bwrap's --die-with-parent has a start-up race,
# containers/bubblewrap#633; remove the empty cgroup), move this process into a fresh
# cgroup with pids.max, then exec.
_CGROUP_SCRIPT = f"""\
base=$1; token=$2; max=$3; shift 3
for d in "$base"/{_CGROUP_PREFIX}*; do
  p=${{d##*/{_CGROUP_PREFIX}}}; p=${{p%%-*}}
  if [ -d "$d" ] && [ ! -e "/proc/$p" ]; then
    for t in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$t" 2>/dev/null; done
    rmdir "$d" 2>/dev/null
  fi
done
cg="$base/{_CGROUP_PREFIX}$$-$token"
if ! {{ mkdir "$cg" && echo "$max" >"$cg/pids.max" && echo $$ >"$cg/cgroup.procs"; }}; then
  echo "grader sandbox: cannot set up the pids cgroup $cg" >&2
  exit 125
fi
exec "$@"
"""


@dataclass(frozen=True)
class SandboxStatus:
    mode: Mode
    available: bool
    reason: str  # one plain line, for the user


@dataclass(frozen=True)
class SandboxSpec:
    """What one kernel needs to see.

    ``python_prefixes``: files and directories the kernel imports or runs from, bound
    read-only (:func:`kernel_python_prefixes`). ``hidden``: paths that must not be readable
    inside (:func:`default_hidden` plus the course's reference, rubrics and submissions);
    a hidden path that is not under anything bound is simply absent, one under a bound
    directory is masked by an empty read-only tmpfs (or /dev/null for a file), one that
    contains a needed path shows only that path. ``env``: the environment the kernel would
    get without a sandbox (``kernel_environment(options)``); only an allowlist of it is
    passed on.
    """

    workdir: Path
    runtime_dir: Path
    python_prefixes: tuple[Path, ...]
    hidden: tuple[Path, ...]
    limits: Limits
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Features:
    version: str
    disable_userns: bool  # bwrap >= 0.8
    size: bool  # --size for tmpfs, bwrap >= 0.7


# ----------------------------------------------------------------------------- probing

_probe_lock = threading.Lock()
_probes: dict[str, SandboxStatus] = {}


def _bwrap_binary() -> str | None:
    return shutil.which(BWRAP)


def probe_bwrap() -> SandboxStatus:
    """Can a bwrap sandbox start here? Runs the real wrapper around ``true`` once (cached)."""
    binary = _bwrap_binary()
    key = binary or f"missing:{BWRAP}"
    with _probe_lock:
        status = _probes.get(key)
        if status is None:
            status = _probe(binary)
            _probes[key] = status
    return status


def _probe(binary: str | None) -> SandboxStatus:
    if binary is None:
        return SandboxStatus(
            "bwrap",
            False,
            f"bubblewrap is not installed (no {BWRAP!r} executable found; "
            "Debian/Ubuntu: apt install bubblewrap)",
        )
    try:
        features = _features(binary)
    except (OSError, subprocess.SubprocessError) as exc:
        return SandboxStatus("bwrap", False, f"cannot run {binary}: {exc}")
    with tempfile.TemporaryDirectory(prefix="grader-sandbox-probe-") as tmp:
        spec = SandboxSpec(
            workdir=Path(tmp) / "work",
            runtime_dir=Path(tmp) / "run",
            python_prefixes=(),
            hidden=(),
            limits=Limits(),
        )
        spec.workdir.mkdir()
        spec.runtime_dir.mkdir()
        try:
            proc = subprocess.run(
                wrap(["true"], spec, "bwrap"),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return SandboxStatus("bwrap", False, f"bwrap cannot start a sandbox here: {exc}")
    if proc.returncode != 0:
        detail = _diagnose(proc.stderr, proc.returncode)
        return SandboxStatus("bwrap", False, f"bwrap cannot start a sandbox here: {detail}")
    missing = [
        what
        for what, ok in (("--disable-userns", features.disable_userns), ("--size", features.size))
        if not ok
    ]
    old = f"; bwrap too old for {', '.join(missing)} (weaker)" if missing else ""
    return SandboxStatus("bwrap", True, f"bwrap {features.version}: {_process_limit()[1]}{old}")


@functools.lru_cache(maxsize=4)
def _features(binary: str) -> _Features:
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
    ).stdout.split()
    helptext = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
    return _Features(
        version=version[-1] if version else "?",
        disable_userns="--disable-userns" in helptext,
        size="--size" in helptext,
    )


def _sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    except OSError:
        return None


def _diagnose(stderr: str, returncode: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    parts = [lines[0] if lines else f"exit status {returncode}"]
    if _sysctl("user.max_user_namespaces") == "0":
        parts.append("user namespaces are disabled (user.max_user_namespaces = 0)")
    if os.geteuid() != 0:
        if _sysctl("kernel.unprivileged_userns_clone") == "0":
            parts.append(
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)"
            )
        if _sysctl("kernel.apparmor_restrict_unprivileged_userns") == "1":
            parts.append(
                "AppArmor restricts unprivileged user namespaces "
                "(kernel.apparmor_restrict_unprivileged_userns = 1): bwrap needs a profile"
            )
    if Path("/.dockerenv").exists():
        parts.append("inside a container, which must allow user namespaces (seccomp profile)")
    return "; ".join(parts)


@functools.lru_cache(maxsize=1)
def _pids_cgroup_base() -> Path | None:
    """A pids-cgroup directory where root can create per-sandbox cgroups, or None."""
    if os.geteuid() != 0:
        return None
    candidates: list[Path] = []
    v2 = Path("/sys/fs/cgroup")
    try:
        if "pids" in (v2 / "cgroup.subtree_control").read_text().split():
            candidates.append(v2)
    except OSError:
        pass
    candidates.append(Path("/sys/fs/cgroup/pids"))  # cgroup v1 hierarchy
    for base in candidates:
        test = base / f"{_CGROUP_PREFIX}{os.getpid()}-probe{secrets.token_hex(4)}"
        try:
            test.mkdir()
        except OSError:
            continue
        try:
            (test / "pids.max").write_text("16")
            return base
        except OSError:
            continue
        finally:
            with contextlib.suppress(OSError):
                test.rmdir()
    return None


def _process_limit() -> tuple[Path | None, str]:
    """Where the process limit comes from: (pids cgroup base or None, one-line note)."""
    if os.geteuid() != 0:
        return None, "process limit by RLIMIT_NPROC (counted per sandbox user namespace)"
    base = _pids_cgroup_base()
    if base is not None:
        return base, (
            f"running as root, so the process limit is a pids cgroup under {base} "
            "(RLIMIT_NPROC does not apply to uid 0)"
        )
    return None, (
        "running as root with no writable pids cgroup: NO process limit "
        "(RLIMIT_NPROC does not apply to uid 0); run the grader as a normal user"
    )


def choose(requested: Requested) -> SandboxStatus:
    """Resolve ``--sandbox``. ``bwrap`` raises SandboxUnavailable when it cannot start;
    ``auto`` falls back to ``weak`` with ``available=False`` and the reason (print it once).
    """
    if requested == "none":
        return SandboxStatus(
            "none", True, "no sandbox: submissions run with the grader's own privileges"
        )
    if requested == "weak":
        return SandboxStatus("weak", True, _WEAK_NOTE)
    status = probe_bwrap()
    if requested == "bwrap":
        if not status.available:
            raise SandboxUnavailable(f"--sandbox bwrap: {status.reason}")
        return status
    if status.available:
        return status
    return SandboxStatus(
        "weak", False, f"{status.reason}; falling back to weaker isolation ({_WEAK_NOTE})"
    )


_WEAK_NOTE = (
    "weak isolation: rlimits, clean environment and no new privileges only; submissions "
    "can read the grader's files and use the network"
)


# ----------------------------------------------------------------------------- paths


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _minimal(paths: Iterable[Path]) -> tuple[Path, ...]:
    """Drop duplicates and paths inside another path of the set, keeping the order."""
    unique = list(dict.fromkeys(paths))
    return tuple(p for p in unique if not any(q != p and _under(p, q) for q in unique))


def _system_covered(path: Path) -> bool:
    """Is ``path`` inside /usr, /lib, ... (visible in every sandbox anyway)?"""
    return len(path.parts) > 1 and path.parts[1] in _SYSTEM_DIRS


@functools.lru_cache(maxsize=8)
def kernel_python_prefixes(python: str = sys.executable) -> tuple[Path, ...]:
    """What a kernel run by ``python`` needs to read: its prefixes (venv and base
    installation), its import path as an isolated interpreter sees it (no PYTHONPATH, no
    user site), and the rlimit launcher. The grader package itself is not needed (the probe
    is sent as source text), so an editable install exposes only ``launch.py``.
    """
    code = (
        "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix,"
        " sys.base_exec_prefix, *sys.path]))"
    )
    out = subprocess.run(
        [python, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    found: list[Path] = []
    for entry in [*json.loads(out), python, str(LAUNCHER)]:
        if not isinstance(entry, str) or not os.path.isabs(entry):
            continue  # '' and import hooks such as '__editable__...finder.__path_hook__'
        path = Path(os.path.normpath(entry))
        if not path.exists():
            continue  # e.g. lib/python311.zip
        found += [path, path.resolve()]
    return _minimal(p for p in found if not _system_covered(p))


def default_hidden(needed: Iterable[Path] = ()) -> tuple[Path, ...]:
    """Paths no submission should see whatever the course: the user's home and the grader's
    source checkout (for an editable install). Add the course's reference/, rubrics/ and
    submissions folder. Paths in ``needed`` are left out (they must stay visible)."""
    candidates = [Path.home()]
    package = Path(__file__).resolve().parents[1]  # .../grader
    if "site-packages" not in package.parts and "dist-packages" not in package.parts:
        candidates.append(package.parent)
    needed_set = {Path(os.path.normpath(p)) for p in needed}
    return tuple(p for p in dict.fromkeys(candidates) if p not in needed_set)


# ----------------------------------------------------------------------------- wrapping


def sandbox_environment(argv: Sequence[str], spec: SandboxSpec, mode: Mode) -> dict[str, str]:
    """The complete environment of a wrapped kernel (``mode`` bwrap or weak)."""
    env = {k: v for k, v in spec.env.items() if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)}
    scratch = "/tmp" if mode == "bwrap" else str(spec.runtime_dir)
    bindirs = [os.path.dirname(argv[0])] if argv and os.path.isabs(argv[0]) else []
    env.update(
        {
            "PATH": ":".join(dict.fromkeys([*bindirs, "/usr/local/bin", "/usr/bin", "/bin"])),
            "HOME": str(spec.workdir),
            "USER": "student",
            "LOGNAME": "student",
            # Caches and configs go to scratch space, not into the submission's workdir.
            "IPYTHONDIR": f"{scratch}/ipython",
            "MPLCONFIGDIR": f"{scratch}/matplotlib",
            "XDG_CACHE_HOME": f"{scratch}/cache",
            "XDG_CONFIG_HOME": f"{scratch}/config",
        }
    )
    if mode == "bwrap":
        env["TMPDIR"] = "/tmp"
        # +1 for bwrap's PID-1 reaper, which is counted too.
        env.setdefault("GRADER_LIMIT_NPROC", str(spec.limits.max_processes + 1))
    else:
        # Without a user namespace RLIMIT_NPROC counts every process of the grader's user
        # on the machine: the kernel could not even start its threads.
        env.pop("GRADER_LIMIT_NPROC", None)
    env.setdefault("PYTHONNOUSERSITE", "1")
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("LANG", "C.UTF-8")
    return env


def _absolute(path: Path, what: str) -> Path:
    if not path.is_absolute():
        raise ValueError(f"sandbox {what} must be an absolute path: {path}")
    return Path(os.path.normpath(path))


def _tmpfs(size: int | None, dest: str) -> list[str]:
    return (["--size", str(size)] if size is not None else []) + ["--tmpfs", dest]


def _bwrap_argv(binary: str, argv: Sequence[str], spec: SandboxSpec) -> list[str]:
    features = _features(binary)
    workdir = _absolute(spec.workdir, "workdir")
    runtime = _absolute(spec.runtime_dir, "runtime_dir")
    for path, what in ((workdir, "workdir"), (runtime, "runtime_dir")):
        if not path.is_dir():
            raise ValueError(f"sandbox {what} does not exist: {path}")
    scratch_bytes = max(spec.limits.max_file_bytes, 16 * 1024 * 1024) if features.size else None

    args = [binary, "--unshare-all", "--unshare-user"]  # user ns explicitly: no silent skip
    if features.disable_userns:
        args.append("--disable-userns")
    # As root, bwrap keeps every capability unless told otherwise (and with them the
    # sandbox can unmount masks and remount read-only binds read-write).
    args += ["--cap-drop", "ALL", "--die-with-parent", "--new-session"]
    args += ["--hostname", "sandbox", "--clearenv"]
    for key, value in sorted(sandbox_environment(argv, spec, "bwrap").items()):
        args += ["--setenv", key, value]

    bound: list[Path] = []  # host paths visible inside, at the same path
    for name in _SYSTEM_DIRS:
        host = Path("/", name)
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
            bound.append(host)
    etc = [Path("/etc", n) for n in _ETC] + sorted(
        p for pattern in _ETC_GLOBS for p in Path("/etc").glob(pattern)
    )
    for path in etc:
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
            bound.append(path)
    # /proc of the new PID namespace; its sysctls read-only (bwrap leaves /proc/sys
    # writable, and uid 0 may write host-wide sysctls without any capability).
    args += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"]
    args += ["--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger"]
    # The transparent-huge-page settings, read-only: glibc reads them to decide whether
    # malloc may ask for huge pages (the warm engine's fork servers do). Nothing else of
    # /sys is visible.
    args += ["--ro-bind-try", _THP, _THP]
    # Memory-backed scratch space is bounded: it is not in any process's RSS.
    args += ["--dev", "/dev", *_tmpfs(scratch_bytes, "/dev/shm"), "--remount-ro", "/dev"]
    args += _tmpfs(scratch_bytes, "/tmp")

    binds: list[tuple[Path, str]] = []  # (path, bwrap option)
    for prefix in _minimal(_absolute(p, "python prefix") for p in spec.python_prefixes):
        if not _system_covered(prefix) and not any(_under(prefix, b) for b in bound):
            binds.append((prefix, "--ro-bind"))
    binds += [(workdir, "--bind"), (runtime, "--bind")]
    bound += [path for path, _ in binds]

    masks: list[Path] = []
    for hidden in spec.hidden:
        hidden = _absolute(hidden, "hidden path")
        for candidate in dict.fromkeys([hidden, hidden.resolve()]):
            if candidate in bound:
                raise ValueError(f"{candidate} is both needed by the kernel and hidden")
            if any(_under(candidate, b) for b in bound) and os.path.lexists(candidate):
                masks.append(candidate)
    dir_masks = [m for m in masks if m.is_dir() and not m.is_symlink()]
    binds += [(m, "mask-dir" if m in dir_masks else "mask-file") for m in set(masks)]
    # Parents before children: a bind inside a masked directory stays visible on top of
    # the mask, and the masks become read-only only once every mount point exists.
    for path, how in sorted(binds, key=lambda b: len(b[0].parts)):
        if how == "mask-dir":
            args += ["--tmpfs", str(path)]
        elif how == "mask-file":
            args += ["--ro-bind", "/dev/null", str(path)]
        else:
            args += [how, str(path), str(path)]
    for mask in sorted(set(dir_masks), key=lambda p: len(p.parts), reverse=True):
        args += ["--remount-ro", str(mask)]

    args += ["--remount-ro", "/", "--chdir", str(workdir), "--", *argv]
    base, _ = _process_limit()
    if base is not None:  # root: RLIMIT_NPROC is ignored, use a pids cgroup
        pids_max = spec.limits.max_processes + 2  # + outer bwrap and its PID-1 reaper
        sh = shutil.which("sh") or "/bin/sh"
        token = secrets.token_hex(4)
        return [sh, "-c", _CGROUP_SCRIPT, _SCRIPT_NAME, str(base), token, str(pids_max), *args]
    return args


def _weak_argv(argv: Sequence[str], spec: SandboxSpec) -> list[str]:
    env_bin = shutil.which("env") or "/usr/bin/env"
    env = sandbox_environment(argv, spec, "weak")
    args = [env_bin, "-i", "--", *(f"{k}={v}" for k, v in sorted(env.items()))]
    setpriv = shutil.which(SETPRIV)
    if setpriv is not None:
        args += [setpriv, "--pdeathsig", "KILL", "--no-new-privs"]
        if os.geteuid() == 0:
            args += ["--bounding-set", "-all", "--inh-caps", "-all"]
        args.append("--")
    # No setsid(1): the engine already starts the kernel in its own session, and setsid(1)
    # forks when its caller leads a process group, which would detach the kernel from the
    # group the grader kills.
    return [*args, *argv]


def wrap(argv: Sequence[str], spec: SandboxSpec, mode: Mode) -> list[str]:
    """The command to launch instead of ``argv`` (placeholders like ``{connection_file}``
    pass through unchanged). Start it with ``start_new_session=True``; see the module
    docstring for how to interrupt and stop it.
    """
    if not argv:
        raise ValueError("nothing to wrap: empty argv")
    if mode == "none":
        return list(argv)
    if mode == "weak":
        return _weak_argv(argv, spec)
    if mode == "bwrap":
        binary = _bwrap_binary()
        if binary is None:
            raise SandboxUnavailable(_probe(None).reason)
        return _bwrap_argv(binary, argv, spec)
    raise ValueError(f"unknown sandbox mode {mode!r}")


__all__ = [
    "BWRAP",
    "LAUNCHER",
    "Mode",
    "Requested",
    "SandboxSpec",
    "SandboxStatus",
    "choose",
    "default_hidden",
    "kernel_python_prefixes",
    "probe_bwrap",
    "sandbox_environment",
    "wrap",
]
