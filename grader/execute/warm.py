"""The warm engine: kernels forked from a pre-warmed server, with ipykernel's semantics.

Starting a Jupyter kernel and importing torch costs seconds per notebook while a typical
submission computes for milliseconds. This engine pays the start-up once::

    grader process ─ WarmFactory ─────────────── control socket (SOCK_SEQPACKET + SCM_RIGHTS)
      │                                                   │
      │                    fork server  `python -c <bootstrap> --serve FD` (see _bootstrap)
      │                    own session; imports IPython/ipykernel, numpy, torch, matplotlib
      │                    (never runs a torch op); forks on request and reaps; single-threaded
      │                          ├── kernel A  (fork; setsid; rlimits; chdir; fresh shell)
      │                          └── kernel B
      └── one socketpair (SOCK_STREAM, length-prefixed JSON) per kernel, straight to the
          grader process: the server hands the kernel's end over at fork time and then
          forgets it, so a kernel never talks through the server.

``start()`` sends the server a socket end and the kernel's environment; the forked child
becomes a session leader, applies the same resource limits as ``launch.py`` (read from the
same ``GRADER_LIMIT_*`` variables, then removed from the environment), chdirs into the
workdir and builds a fresh ipykernel ``ZMQInteractiveShell`` with ipykernel's own
displayhook, display publisher, ``_showtraceback`` and cell-name compiler. Their messages
go to an in-process "session" that serialises content exactly like jupyter_client (so
what cannot cross a real kernel boundary fails here too) and applies nbclient's output
rules (``clear_output``, display-id updates). The grader turns the outputs into a
:class:`RawResult` with the nbclient engine's own ``_raw_result``.

Cells sent ahead (``WarmKernel.send_ahead``, used by the driver for up to
``driver.AHEAD`` next cells): each request carries ``if_clean: <id of the request before
it>``, and the kernel runs it as soon as that one ends if it ended cleanly (no error
output, the probe's capture published as its last reply): exactly when the driver's next
step is that cell. Otherwise the kernel answers ``skipped`` (and so skips the rest of the
chain) and the grader sends what the driver decides. A cell's time limit counts from its
predecessor's answer.

Output capture: Python-level ``sys.stdout``/``sys.stderr`` are replaced by streams that
record text in order with displays (no buffering, so ordering equals call order).
File-descriptor-level output (C code, ``os.system``, subprocesses) is captured like
ipykernel's ``capture_fd_output``: fds 1 and 2 are pipes drained by a reader thread into
the same streams; ``sys.stdout.fileno()`` is, as in ipykernel, a descriptor that bypasses
capture (here the kernel's log file). Text beyond ``Limits.max_output_bytes`` is dropped
in the child, which leaves the capped result unchanged.

Preloaded packages are *hidden* in each child: their modules are taken out of
``sys.modules`` and put back (the same objects, never re-executed) by a meta-path finder
when the notebook imports them, with the packages they import. So ``'torch' in
sys.modules`` and ``matplotlib.pyplot`` attribute access behave as in a fresh kernel.

Timeouts interrupt the kernel's process group with SIGINT (like Jupyter's interrupt); the
per-notebook deadline and memory limit are enforced by a :class:`Watchdog` on the child.
Only this module's parent-side code runs in the grader process; importing it is cheap.

Sandboxes (``KernelOptions.sandbox``): ``none`` as above; ``weak`` gives the child what the
sandbox module's ``weak`` wrapper gives an exec'd kernel (its clean environment, no new
privileges, death with its parent, no capabilities when root). ``bwrap`` runs the fork
server itself inside one bubblewrap sandbox built by ``sandbox.wrap`` (the same namespaces,
read-only system, hidden paths, no network, capabilities dropped, pids cgroup as root),
with the server as the PID namespace's init (``--as-pid-1``)::

    grader ── outer bwrap (host; pids cgroup as root) ── fork server = PID 1 of the sandbox
                                                           └── kernel (the only one alive)

Such a server is *exclusive*: it holds at most one live kernel; a start while it is busy
gets another server (so two overlapping notebooks never share a sandbox). The kernel runs
in ``<server root>/work/k-N`` (mode 0700; the server root is a per-server directory under
the factory's runtime dir, bound read-write at its own path; the driver's own workdir is
outside the sandbox and stays empty: files in it are copied in at start). When the kernel
ends, however it ends, the server SIGKILLs every other process of its namespace
(``kill(-1)``, repeated until ``/proc`` shows only itself; orphans are re-parented to it and
reaped), empties ``/tmp``, ``/dev/shm``, the work and run directories and System V IPC,
and reports; only then is the server given the next notebook. A kernel cannot kill or
trace its server (signals to a namespace's init from inside it are dropped unless
handled; the server is not dumpable), and nothing the kernel writes is on the server's
import path. The grader drives the kernel by its host pid (read from the pidfd the server
sends: ``/proc/self/fdinfo``), so timeouts (SIGINT to the kernel's process group) and the
RSS watchdog work as without a sandbox; the watchdog counts every process of the sandbox
except the server (a daemon that left the kernel's tree still counts).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import importlib
import importlib.util
import itertools
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any, cast

from ..errors import ExecutionError, SandboxUnavailable
from .kernel import REPLY_MIME, KernelDied, KernelOptions, Limits, RawResult
from .watchdog import Watchdog, children, kill_group, tree_pss, tree_rss

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

__all__ = ["DEFAULT_PRELOAD", "WarmFactory", "WarmKernel", "warm_available"]

#: Imported by the fork server (those not installed are skipped). Never anything that
#: starts threads or runs torch ops at import time.
DEFAULT_PRELOAD: tuple[str, ...] = (
    "numpy",
    "torch",
    "matplotlib",
    "matplotlib.pyplot",
    "PIL.Image",
    "torchvision",
)

INTERRUPT_GRACE = 4.0  # s to wait for the answer after SIGINT (nbclient's iopub_timeout)
CLEANUP_TIMEOUT = 10.0  # s for a sandboxed server to report its namespace clean again
# What the nbclient engine reports for an interrupted cell that produced no error itself.
_TIMEOUT_ERROR = ("Timeout", "the cell was interrupted after its time limit")
_HEADER = struct.Struct("!Q")
_MAX_FRAME = 1 << 30
_STDIN_MSG = "raw_input was called, but this frontend does not support input requests."
_GETPASS_MSG = "getpass was called, but this frontend does not support input requests."
_LIMIT_VARS = ("GRADER_LIMIT_AS", "GRADER_LIMIT_NPROC", "GRADER_LIMIT_FSIZE", "GRADER_LIMIT_CPU")


def warm_available() -> tuple[bool, str]:
    """Whether the warm engine can run here, and why not."""
    if os.name != "posix" or not hasattr(os, "fork"):
        return False, "the warm engine needs os.fork (POSIX)"
    if not sys.platform.startswith("linux"):
        return False, "the warm engine needs Linux (/proc for the watchdog, fork after imports)"
    if not hasattr(socket, "send_fds") or not hasattr(socket, "AF_UNIX"):
        return False, "the warm engine needs Unix sockets with SCM_RIGHTS"
    import importlib.util

    for module in ("IPython", "ipykernel", "jupyter_client"):
        if importlib.util.find_spec(module) is None:
            return False, f"the warm engine needs {module}, which is not installed"
    return True, "fork server available"


# ==================================================================================== framing
def _frame(obj: Any) -> bytes:
    data = json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return _HEADER.pack(len(data)) + data


def _next_frame(buf: bytearray) -> Any | None:
    """Pop one decoded frame from ``buf`` if a whole one is there."""
    if len(buf) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack_from(buf)
    if size > _MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    end = _HEADER.size + size
    if len(buf) < end:
        return None
    data = bytes(buf[_HEADER.size : end])
    del buf[:end]
    return json.loads(data)


# ============================================================================= grader side
def _engine_helpers() -> tuple[Callable[..., RawResult], Callable[..., dict[str, str]]]:
    """The nbclient engine's output mapping and kernel environment (imported lazily)."""
    from .nbclient_engine import _raw_result, kernel_environment

    return _raw_result, kernel_environment


class WarmKernel:
    """One forked kernel, driven over its own socket.

    ``pid`` is the kernel's pid as the grader sees it (its host pid when the server runs
    in a PID namespace). ``sandbox_init``: the host pid of an exclusive server; the
    watchdog then counts every process under it. ``release`` runs once the kernel is gone.
    """

    def __init__(
        self,
        sock: socket.socket,
        pid: int,
        pidfd: int | None,
        options: KernelOptions,
        scratch: Path,
        raw_result: Callable[..., RawResult],
        *,
        sandbox_init: int | None = None,
        release: Callable[[], None] | None = None,
        closing: Callable[[], None] | None = None,
    ) -> None:
        self.pid = pid
        self._closing = closing
        self.server_pid = sandbox_init
        self._sock = sock
        self._sock.setblocking(False)
        self._pidfd = pidfd
        self._options = options
        self._scratch = scratch
        self._log = scratch / "kernel.log"
        self._raw_result = raw_result
        self._release = release
        self._buf = bytearray()
        self._out = bytearray()
        self._ids = itertools.count(1)
        self._ahead: tuple[str, ...] = ()  # to send with the next request (send_ahead)
        # sent ahead, not answered yet, in order: [id, code, started] (started: when the
        # request before it was answered, i.e. when the kernel could start it)
        self._pending: collections.deque[list[Any]] = collections.deque()
        self._ran_ahead: collections.deque[tuple[str, RawResult]] = collections.deque()
        self._closed = False
        self.log_tail = ""
        self._lock = threading.Lock()
        memory = options.limits.memory_bytes
        self._watchdog: Watchdog = (
            Watchdog(pid, options.deadline, memory)
            if sandbox_init is None
            else _SandboxWatchdog(pid, options.deadline, memory, sandbox_init)
        )

    # ------------------------------------------------------------------ Kernel protocol
    def execute(self, code: str, timeout: float) -> RawResult:
        with self._lock:
            return self._execute(code, timeout)

    def send_ahead(self, *codes: str) -> None:
        """Send ``codes`` with the next request, so that the kernel runs each as soon as
        the request before it ends, without waiting for the grader; but only if that
        request ends cleanly (no error, and its capture published: then the driver's next
        step is this code). The next ``execute(code)`` calls take their results, in order.
        Any other next request first waits for them (the kernel skipped them, or a later
        ``execute(code)`` returns what it did)."""
        with self._lock:
            self._ahead = codes

    def _execute(self, code: str, timeout: float) -> RawResult:
        if self._closed:
            raise KernelDied("crashed", "the kernel was already closed")
        self._check_watchdog()
        ahead, self._ahead = self._ahead, ()
        if self._pending and self._pending[0][1] == code:  # sent ahead: its turn now
            req_id, _, started = self._pending.popleft()
            self._chain(ahead, req_id)
            result = self._await(req_id, started, timeout)
            self._started_next()
            if result is not None:
                return result
            self._settle(timeout)  # skipped: so is every request chained after it
        elif self._pending:  # the driver took another step: they were skipped, or ran
            self._settle(timeout)
        if self._ran_ahead and self._ran_ahead[0][0] == code:
            return self._ran_ahead.popleft()[1]
        start = time.perf_counter()
        req_id = self._send(code)
        self._chain(ahead, req_id)
        result = self._await(req_id, start, timeout)
        self._started_next()
        assert result is not None  # only a request with a condition is skipped
        return result

    def _chain(self, ahead: tuple[str, ...], after: int) -> None:
        """Send what of ``ahead`` is not pending yet, each request on the condition that
        the one before it (first: request ``after``) ends cleanly. If what is pending is
        not where ``ahead`` starts, the driver changed its plan: nothing more is sent."""
        sent = [code for _, code, _ in self._pending]
        if list(ahead[: len(sent)]) != sent:
            return
        last = self._pending[-1][0] if self._pending else after
        for code in ahead[len(sent) :]:
            last = self._send(code, if_clean=last)
            self._pending.append([last, code, None])

    def _started_next(self) -> None:
        """A request was answered: the kernel now starts (or skips) the next pending one."""
        if self._pending and self._pending[0][2] is None:
            self._pending[0][2] = time.perf_counter()

    def _settle(self, timeout: float) -> None:
        """Wait for every pending request: what ran is kept for its turn."""
        while self._pending:
            req_id, code, started = self._pending.popleft()
            result = self._await(req_id, started or time.perf_counter(), timeout)
            self._started_next()
            if result is not None:
                self._ran_ahead.append((code, result))

    def _send(self, code: str, if_clean: int | None = None) -> int:
        req_id = next(self._ids)
        frame: dict[str, Any] = {"op": "execute", "id": req_id, "code": code}
        if if_clean is not None:
            frame["if_clean"] = if_clean
        self._out += _frame(frame)
        self._flush_out()
        return req_id

    def _await(self, req_id: int, start: float, timeout: float) -> RawResult | None:
        """The result of request ``req_id``, sent (or, queued, started) at ``start``;
        None if the kernel skipped it."""
        remaining = self._options.deadline - time.monotonic()
        limit = max(1.0, min(timeout, remaining + 1))
        reply = self._wait_reply(req_id, start + limit)
        if reply is None:  # what arrived just before the deadline still counts
            self._drain_socket()
            reply = self._wait_reply(req_id, 0.0)
        interrupted = reply is None
        if reply is None:
            self._interrupt()
            reply = self._wait_reply(req_id, time.perf_counter() + INTERRUPT_GRACE)
        seconds = time.perf_counter() - start
        self._check_watchdog()
        if reply is None:  # ignored the interrupt: the driver will find it unresponsive
            return RawResult(error=_TIMEOUT_ERROR, timed_out=True, seconds=seconds)
        if reply.get("skipped") is True:
            return None
        outputs = reply.get("outputs")
        if not isinstance(outputs, list):
            raise self._died("the kernel sent a reply without outputs")
        result = self._raw_result(outputs, seconds, self._options.limits.max_output_bytes)
        if interrupted:
            result = RawResult(
                text=result.text,
                stderr=result.stderr,
                replies=result.replies,
                error=result.error or _TIMEOUT_ERROR,
                timed_out=True,
                seconds=result.seconds,
            )
        return result

    def close(self, wait: bool = True) -> None:
        """SIGKILL the kernel's process group. The rest (its exit, its scratch, its
        sandbox's clean-up and the server's return to the pool) is done before returning,
        or with ``wait=False`` by a background thread: the pool waits for a server being
        released rather than start another, so nothing is reused before it is clean."""
        if self._closed:
            return
        self._closed = True
        self._watchdog.stop()
        if self._closing is not None:
            self._closing()
        kill_group(self.pid)
        if wait:
            self._finish_close()
        else:
            threading.Thread(target=self._finish_quietly, name="warm-close", daemon=True).start()

    def _finish_quietly(self) -> None:
        try:
            self._finish_close()
        except Exception:  # a background thread has nobody to raise to
            traceback.print_exc()

    def _finish_close(self) -> None:
        self._wait_exit(2.0)
        for closer in (self._sock.close, self._close_pidfd):
            with contextlib.suppress(OSError):
                closer()
        self.log_tail = _log_tail(self._log)
        _remove_tree(self._scratch)
        if self._release is not None:
            release, self._release = self._release, None
            release()

    # ------------------------------------------------------------------ internals
    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def _wait_exit(self, seconds: float) -> None:
        """Wait until the (SIGKILLed) child is gone; the fork server reaps it."""
        if self._pidfd is not None:
            with contextlib.suppress(OSError, ValueError):
                select.select([self._pidfd], [], [], seconds)
            return
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            except PermissionError:  # pid reused by another user's process
                return
            time.sleep(0.01)

    def _check_watchdog(self) -> None:
        fired = self._watchdog.fired
        if fired is not None:
            self.close()
            raise KernelDied(fired)

    def _died(self, detail: str) -> KernelDied:
        self._watchdog.stop()
        fired = self._watchdog.fired
        self.close()
        if fired is not None:
            return KernelDied(fired)
        return KernelDied("crashed", detail)

    def _flush_out(self) -> None:
        """Send what the socket takes now; the rest waits (a busy kernel reads later)."""
        while self._out:
            try:
                sent = self._sock.send(self._out)
            except BlockingIOError:
                return
            except OSError as exc:
                raise self._died(f"the kernel's channel is closed ({exc})") from exc
            del self._out[:sent]

    def _pop_frame(self) -> dict[str, Any] | None:
        try:
            frame = _next_frame(self._buf)
        except ValueError:
            raise self._died("the kernel sent a malformed frame") from None
        if frame is not None and not isinstance(frame, dict):
            raise self._died("the kernel sent a malformed frame")
        return frame

    def _wait_reply(self, req_id: int, deadline: float) -> dict[str, Any] | None:
        """The reply to ``req_id``; None when ``deadline`` (perf_counter) passes first."""
        exited = False
        while True:
            frame = self._pop_frame()
            if frame is not None:
                if frame.get("id") == req_id:
                    return frame
                continue  # the late answer to an interrupted request
            if exited:
                raise self._died("the kernel process exited")
            wait = deadline - time.perf_counter()
            if wait <= 0:
                return None
            rlist: list[Any] = [self._sock]
            if self._pidfd is not None:
                rlist.append(self._pidfd)
            wlist = [self._sock] if self._out else []
            try:
                readable, writable, _ = select.select(rlist, wlist, [], min(wait, 0.5))
            except (OSError, ValueError) as exc:  # closed under us (from another thread)
                raise self._died(f"the kernel's channel is closed ({exc})") from exc
            if writable:
                self._flush_out()
            if self._sock in readable:
                try:
                    data = self._sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    self._buf += data
                else:
                    exited = True
            elif self._pidfd is not None and self._pidfd in readable:
                self._drain_socket()  # what it sent before dying still counts
                exited = True
            elif not readable and self._pidfd is None and not self._alive():
                self._drain_socket()
                exited = True

    def _drain_socket(self) -> None:
        while True:
            try:
                data = self._sock.recv(1 << 20)
            except OSError:
                return
            if not data:
                return
            self._buf += data

    def _alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False

    def _interrupt(self) -> None:
        """Jupyter's interrupt: SIGINT to the kernel's process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGINT)

    def _await_ready(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        try:
            hello = self._wait_reply(0, deadline)
        except KernelDied as exc:
            if exc.reason != "crashed":
                raise
            raise ExecutionError(
                f"the warm kernel died while starting ({exc.detail}){self.log_tail}"
            ) from None
        if hello is None:
            self.close()
            raise ExecutionError(f"the warm kernel did not start within {timeout:.0f} s")
        if not hello.get("ready"):
            self.close()
            raise ExecutionError(f"the warm kernel failed to start: {hello.get('fatal')}")


def _log_tail(path: Path, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - limit))
            text = fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return f"; log: {text[-limit:]}" if text else ""


# ============================================================== processes seen from outside
def _pidfd_pid(pidfd: int) -> int | None:
    """The pid, in the reader's PID namespace, of the process a pidfd refers to."""
    try:
        with open(f"/proc/self/fdinfo/{pidfd}") as fh:
            for line in fh:
                if line.startswith("Pid:"):
                    pid = int(line.split()[1])
                    return pid if pid > 0 else None
    except (OSError, ValueError, IndexError):
        pass
    return None


def _find_nspid(root: int, nspid: int) -> int | None:
    """The host pid of the process at or under ``root`` whose innermost pid is ``nspid``
    (for kernels without pidfd support)."""
    stack, seen = [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("NSpid:"):
                    levels = line.split()[1:]
                    if len(levels) > 1 and int(levels[-1]) == nspid:
                        return pid
                    break
        stack.extend(children(pid))
    return None


class _SandboxWatchdog(Watchdog):
    """The watchdog of a kernel that is alone in its sandbox: the RSS of every process under
    the sandbox's init (the fork server, not counted itself), because a double-forked
    daemon is re-parented to the init and would leave the kernel's own tree uncounted."""

    def __init__(self, pid: int, deadline: float, memory_bytes: int, init: int) -> None:
        self.init = init
        super().__init__(pid, deadline, memory_bytes)

    def usage(self, precise: bool = False) -> int:
        roots = {*children(self.init), self.pid}
        measure = tree_pss if precise else tree_rss
        return sum(measure(root) for root in roots)


# ======================================================================= removing files
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_MAX_OPEN_DEPTH = 16


def _open_dir(name: str, dir_fd: int | None = None) -> int:
    """Open the directory ``name`` (never through a symlink) for listing and removing its
    entries, first giving its owner rwx if a student took them away."""
    path_fd = os.open(
        name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
    )
    try:
        magic = f"/proc/self/fd/{path_fd}"  # this very inode, whatever happens to `name`
        mode = os.stat(magic).st_mode & 0o7777
        if mode & 0o700 != 0o700:
            os.chmod(magic, mode | 0o700)
        return os.open(magic, _DIR_FLAGS)
    finally:
        os.close(path_fd)


def _clear_dir(root: str, skip: frozenset[str] = frozenset()) -> None:
    """Delete everything inside the directory ``root``, at any depth: no symlink is
    followed, directories made unreadable are opened up, and at most ``_MAX_OPEN_DEPTH``
    directories are open at once (deeper ones are moved up into ``root`` and removed from
    there). Paths in ``skip`` (mount points) stay, and so do their parents (emptied of
    everything else). Raises OSError when something cannot be removed."""
    root = root.rstrip("/") or "/"
    through = {str(parent) for path in skip for parent in Path(path).parents}
    root_fd = _open_dir(root)
    try:
        while _clear_pass(root_fd, root, skip, through):
            pass
    finally:
        os.close(root_fd)


def _clear_pass(root_fd: int, root: str, skip: frozenset[str], through: set[str]) -> bool:
    """One depth-first pass of :func:`_clear_dir`; True if it moved directories up."""
    moved = False
    frames: list[tuple[int, str, Any, str]] = [(root_fd, root, os.scandir(root_fd), "")]
    try:
        while frames:
            fd, path, entries, name = frames[-1]
            entry = next(entries, None)
            if entry is None:
                frames.pop()
                entries.close()
                if frames:
                    os.close(fd)
                    if path not in through:
                        os.rmdir(name, dir_fd=frames[-1][0])
                continue
            full = f"{path.rstrip('/')}/{entry.name}"
            if full in skip:
                continue
            if not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.name, dir_fd=fd)
            elif len(frames) >= _MAX_OPEN_DEPTH and full not in through:
                target = f".grader-wipe-{os.urandom(8).hex()}"
                os.rename(entry.name, target, src_dir_fd=fd, dst_dir_fd=root_fd)
                moved = True
            else:
                sub = _open_dir(entry.name, dir_fd=fd)
                frames.append((sub, full, os.scandir(sub), entry.name))
    finally:
        for fd, _, entries, _ in frames:
            entries.close()
            if fd != root_fd:
                os.close(fd)
    return moved


def _remove_tree(path: Path | str) -> bool:
    """Remove ``path`` and everything under it (like :func:`_clear_dir`); never raises.
    False if something is left."""
    try:
        is_dir = os.path.isdir(path) and not os.path.islink(path)
        if is_dir:
            _clear_dir(str(path))
            os.rmdir(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return True


def _copy_into(src: Path, dst: Path) -> None:
    """Copy what the driver put into its workdir (normally nothing) into the kernel's."""
    try:
        empty = not any(os.scandir(src))
    except OSError:
        return
    if not empty:
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
        os.chmod(dst, 0o700)


# ================================================================================ servers
@dataclass(frozen=True)
class _ServerKey:
    """What a server's isolation depends on; kernels with another key get another server.
    ``plain`` servers (sandbox none / weak: the isolation is applied in each child) are
    shared by concurrent kernels; ``bwrap`` servers hold one kernel at a time."""

    mode: str
    hidden: tuple[Path, ...] = ()
    max_processes: int = 0
    max_file_bytes: int = 0

    @staticmethod
    def of(options: KernelOptions) -> _ServerKey:
        if options.sandbox.mode != "bwrap":
            return _ServerKey("plain")
        limits = options.limits
        hidden = tuple(Path(p) for p in options.hidden)
        return _ServerKey("bwrap", hidden, limits.max_processes, limits.max_file_bytes)


class _Spawner:
    """Starts server processes from one long-lived thread. bwrap's ``--die-with-parent``
    fires when the *thread* that started it exits (see sandbox.py), so a server must not
    be started from whatever short-lived thread happens to call ``start``."""

    def __init__(self) -> None:
        import queue

        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="grader-warm-spawner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, future = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed to the caller
                    future.set_exception(exc)

    def call(self, fn: Callable[[], Any]) -> Any:
        from concurrent.futures import Future

        if threading.current_thread() is self._thread:
            return fn()
        future: Future[Any] = Future()
        self._jobs.put((fn, future))
        return future.result()

    def stop(self) -> None:
        self._jobs.put(None)


class _Server:
    """One fork server process and its control socket (grader side)."""

    def __init__(
        self,
        key: _ServerKey,
        preload: Sequence[str],
        runtime: Path,
        python: str,
        number: int,
        spawner: _Spawner,
    ) -> None:
        self.key = key
        self.exclusive = key.mode == "bwrap"
        self.busy = False  # exclusive servers: a kernel is alive or being cleaned up after
        self.closing = False  # its kernel is closed, the release is still to come
        self.io = threading.Lock()  # one exchange on the control socket at a time
        self.events: list[dict[str, Any]] = []
        self.log = runtime / f"server-{number}.log"
        self.root = runtime / f"sandbox-{number}"  # bound read-write into a bwrap sandbox
        self.work = self.root / "work"
        self.run = self.root / "run"
        self.host_pid: int | None = None
        self.ready: dict[str, Any] | None = None
        env = _server_environment(runtime)
        sources = _source_file(_matplotlib_font_caches() if self.exclusive else None)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        try:
            cmd = [python, "-c", _bootstrap(), str(sources), "--serve", str(theirs.fileno())]
            cmd += ["--preload", ",".join(preload)]
            if self.exclusive:
                for directory in (self.work, self.run):
                    directory.mkdir(parents=True, mode=0o700)
                cmd += ["--exclusive", "--host-pidns", os.readlink("/proc/self/ns/pid")]
                cmd += ["--scratch", str(self.work), "--scratch", str(self.run)]
                cmd, env = _sandboxed(cmd, key, self.work, self.run, python, env)
            fds = (theirs.fileno(), sources)
            with open(self.log, "ab") as log:

                def launch() -> subprocess.Popen[bytes]:
                    return subprocess.Popen(
                        cmd,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        env=env,
                        pass_fds=fds,
                        start_new_session=True,
                    )

                self.proc: subprocess.Popen[bytes] = spawner.call(launch)
        except BaseException:
            ours.close()
            _remove_tree(self.root)
            raise
        finally:
            theirs.close()
            os.close(sources)

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        with self.io:
            if self.ready is None:
                reply, fds = self._recv(timeout, "start")
                try:
                    if not reply.get("ready"):
                        raise ExecutionError(
                            f"the warm fork server failed: {reply.get('fatal')}{self.tail()}"
                        )
                    host = _pidfd_pid(fds[0]) if fds else None
                    if host is None and self.exclusive:
                        host = _find_nspid(self.proc.pid, int(reply["pid"]))
                    elif host is None:
                        host = int(reply["pid"])
                finally:
                    for fd in fds:
                        os.close(fd)
                if host is None:
                    raise ExecutionError("cannot find the sandboxed fork server's host pid")
                self.host_pid = host
                self.ready = reply
            return self.ready

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self, request: Mapping[str, Any], fds: Sequence[int]) -> tuple[int, int | None]:
        """Ask for a kernel; ``fds``: its channel and its log. Returns (pid as the server
        sees it, a pidfd or None)."""
        payload = json.dumps(request).encode()
        with self.io:
            try:
                socket.send_fds(self._sock, [payload], list(fds))
            except OSError as exc:
                raise ExecutionError(f"the warm fork server is gone ({exc}){self.tail()}") from exc
            reply, got = self._recv(30.0, "fork")
        if "pid" not in reply:
            for fd in got:
                os.close(fd)
            raise ExecutionError(f"the warm fork server could not fork: {reply.get('error')}")
        for fd in got:
            os.set_inheritable(fd, False)
        return int(reply["pid"]), (got[0] if got else None)

    def await_clean(self, pid: int, timeout: float) -> dict[str, Any] | None:
        """The server's report after kernel ``pid`` ended (exclusive servers); None if it
        does not come within ``timeout`` s."""
        end = time.monotonic() + timeout
        with self.io:
            while True:
                for event in self.events:
                    if event.get("event") == "clean" and event.get("pid") == pid:
                        self.events.remove(event)
                        return event
                try:
                    msg, fds = self._recv_one(end - time.monotonic(), "cleanup")
                except (ExecutionError, OSError, ValueError):  # also: stopped meanwhile
                    return None
                for fd in fds:
                    os.close(fd)
                self.events.append(msg)

    def _recv(self, timeout: float, what: str) -> tuple[dict[str, Any], list[int]]:
        """The next reply (events that arrive first are kept for :meth:`await_clean`)."""
        end = time.monotonic() + timeout
        while True:
            msg, fds = self._recv_one(end - time.monotonic(), what)
            if "event" not in msg:
                return msg, fds
            for fd in fds:
                os.close(fd)
            self.events.append(msg)

    def _recv_one(self, timeout: float, what: str) -> tuple[dict[str, Any], list[int]]:
        readable, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        if not readable:
            raise ExecutionError(f"the warm fork server did not answer ({what}){self.tail()}")
        try:
            msg, fds, _, _ = socket.recv_fds(self._sock, 1 << 16, 2)
        except OSError as exc:
            raise ExecutionError(f"the warm fork server is gone ({exc}){self.tail()}") from exc
        if not msg:
            raise ExecutionError(f"the warm fork server exited{self.tail()}")
        try:
            reply = json.loads(msg)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            for fd in fds:
                os.close(fd)
            raise ExecutionError("the warm fork server sent a malformed reply")
        return reply, list(fds)

    def tail(self) -> str:
        return _log_tail(self.log)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()  # EOF: the server exits (in a sandbox, with everything in it)
        try:
            # a server still importing would only see the EOF when it is done: no waiting
            self.proc.wait(timeout=5 if self.ready is not None else 0.05)
        except subprocess.TimeoutExpired:
            kill_group(self.proc.pid)  # the server, or the outer bwrap (die-with-parent)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        _remove_tree(self.root)


_SOURCES = (
    ("grader.errors", ("..", "errors.py")),
    ("grader.execute.kernel", ("kernel.py",)),
    ("grader.execute.watchdog", ("watchdog.py",)),
    ("grader.execute.warm", ("warm.py",)),
)


_FONT_CACHE_BYTES = 8 << 20
_SEED_FILES: dict[str, str] = {}  # server side: set by the bootstrap from the bundle
_PROBE: dict[str, str] = {}  # server side: the probe's source and filename, from the bundle
_PROBE_CODE: CodeType | None = None  # server side: compiled once, handed to every child


def _matplotlib_font_caches() -> dict[str, str]:
    """The user's matplotlib font lists (``fontlist-v*.json``), found without importing
    matplotlib. A sandboxed server starts with an empty ``MPLCONFIGDIR``, where
    ``import matplotlib.pyplot`` would spend ~0.3 s listing the system's fonts again."""
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


def _seed_matplotlib(files: Mapping[str, str]) -> None:
    """Server side, before the preload: put the font lists into this sandbox's empty
    ``MPLCONFIGDIR`` (never over a file that is there)."""
    target = os.environ.get("MPLCONFIGDIR")
    if not target or not files:
        return
    with contextlib.suppress(OSError):
        os.makedirs(target, mode=0o700, exist_ok=True)
        for name, text in files.items():
            if os.path.basename(name) != name or not name.startswith("fontlist-v"):
                continue
            with (
                contextlib.suppress(FileExistsError),
                open(os.path.join(target, name), "x", encoding="utf-8") as fh,
            ):
                fh.write(text)


def _source_file(seed: Mapping[str, str] | None = None) -> int:
    """An unlinked file with the source of this module and of the three it imports, which
    the server executes (the grader's source tree need not be visible in a sandbox), their
    compiled code (see _module_code), and the font lists to seed a sandboxed server's
    matplotlib with."""
    here = Path(__file__).resolve().parent
    modules = [[name, str(here.joinpath(*parts).resolve())] for name, parts in _SOURCES]
    for module in modules:
        module += _module_code(module[1])
    from .driver import PROBE_FILENAME, PROBE_SOURCE

    probe = {"filename": PROBE_FILENAME, "source": PROBE_SOURCE}
    bundle = {
        "modules": modules,
        "magic": importlib.util.MAGIC_NUMBER.hex(),
        "matplotlib": dict(seed or {}),
        "probe": probe,
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


@functools.lru_cache(maxsize=2 * len(_SOURCES))
def _module_code_of(path: str, mtime_ns: int, size: int) -> tuple[str, str]:
    """A module's source, and its code compiled by this interpreter (base64 of marshal
    data, from its .pyc when that is fresh): a server run by the same Python version loads
    the code instead of compiling the source (~20 ms of every server's start)."""
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


def _bootstrap() -> str:
    """The server's ``-c`` program: read the modules from the fd in ``argv[1]`` and execute
    them (their compiled code if the bytecode magic is the server's own, else their source)
    without running the packages' ``__init__`` (``grader.execute`` imports the driver and
    numpy), so that the server's baseline of visible modules is a fresh kernel's."""
    return (
        "import json, os, sys, types\n"
        "_fd, _chunks = int(sys.argv[1]), []\n"
        "while _chunk := os.read(_fd, 1 << 20):\n"
        "    _chunks.append(_chunk)\n"
        "os.close(_fd)\n"
        "for _name in ('grader', 'grader.execute'):\n"
        "    _module = types.ModuleType(_name)\n"
        "    _module.__path__ = []\n"
        "    _module.__package__ = _name\n"
        "    sys.modules[_name] = _module\n"
        "_bundle = json.loads(b''.join(_chunks))\n"
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
        "sys.modules['grader.execute.warm']._SEED_FILES.update(_bundle['matplotlib'])\n"
        "sys.modules['grader.execute.warm']._PROBE.update(_bundle.get('probe', {}))\n"
        "sys.modules['grader.execute.warm'].main(sys.argv[2:])\n"
    )


def _server_environment(runtime: Path) -> dict[str, str]:
    """The server's environment: a kernel's (threads, backend, no user site), no limits."""
    _, kernel_environment = _engine_helpers()
    options = KernelOptions(workdir=runtime, limits=Limits(), deadline=0.0)
    env = kernel_environment(options)
    for var in _LIMIT_VARS:
        env.pop(var, None)
    # glibc's malloc asks for transparent huge pages (where the system allows them): the
    # server's ~100 MB heap then forks with a fraction of the page-table copying, and
    # each kernel exits faster (a child's own environment replaces this one)
    env["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=1"
    return env


def _sandboxed(
    cmd: list[str], key: _ServerKey, work: Path, run: Path, python: str, env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """``cmd`` in a bwrap sandbox (``sandbox.wrap``), as the PID namespace's init, and the
    environment to start it with (already the sandbox's allowlist, as for nbclient
    kernels). The sandbox's limits are a kernel's: pids.max (as root) and RLIMIT_NPROC
    already count a PID-1 process, which the server replaces."""
    from . import sandbox

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


def _ask_prefixes(python: str) -> None:
    """Fill ``sandbox.kernel_python_prefixes``'s cache; a failure is reported (raised)
    when a server needs them."""
    from . import sandbox

    with contextlib.suppress(Exception):
        sandbox.kernel_python_prefixes(python)


def _remove_stale_runtimes(tmp: Path) -> None:
    """Remove the runtime directories (``grader-warm-<pid>-*``) that graders killed with
    SIGKILL left behind: this user's, of a pid that no longer exists."""
    try:
        entries = list(os.scandir(tmp))
    except OSError:
        return
    for entry in entries:
        parts = entry.name.split("-", 3)
        if len(parts) != 4 or parts[:2] != ["grader", "warm"] or not parts[2].isdigit():
            continue
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue
            if not os.path.exists(f"/proc/{parts[2]}"):
                _remove_tree(entry.path)


class _Pool:
    """The factory's servers and kernels; called, it stops them all and removes the
    runtime directory (``close()``, garbage collection, interpreter exit)."""

    def __init__(self, preload: Sequence[str], python: str, start_timeout: float) -> None:
        self.preload = tuple(preload)
        self.python = python
        self.start_timeout = start_timeout
        _remove_stale_runtimes(Path(tempfile.gettempdir()))
        self.runtime = Path(tempfile.mkdtemp(prefix=f"grader-warm-{os.getpid()}-"))
        self.lock = threading.Lock()
        self.released = threading.Condition(self.lock)  # a closing server was released
        self.servers: list[_Server] = []
        self.kernels: weakref.WeakSet[WarmKernel] = weakref.WeakSet()
        self.numbers = itertools.count(1)
        self.closed = False
        self.last_cleanup: dict[str, Any] | None = None  # the latest exclusive server report
        self.reserve: dict[_ServerKey, int] = {}  # servers to keep per key (``prepare``)
        self._spawner: _Spawner | None = None
        # A sandboxed server's command needs the interpreter's prefixes, which a short
        # subprocess reports (~25 ms): asked now, it runs while the sandbox is probed.
        from . import sandbox

        self._prefixes: threading.Thread | None = None
        if shutil.which(sandbox.BWRAP) is not None:  # the binary _sandboxed will use
            self._prefixes = threading.Thread(
                target=_ask_prefixes, args=(python,), name="grader-warm-prefixes", daemon=True
            )
            self._prefixes.start()

    def _new_server(self, key: _ServerKey) -> _Server:
        """Start a server for ``key`` (its imports run in the background). Under the lock."""
        if self._spawner is None:
            self._spawner = _Spawner()
        if self._prefixes is not None:
            self._prefixes.join()
            self._prefixes = None
        number = next(self.numbers)
        server = _Server(key, self.preload, self.runtime, self.python, number, self._spawner)
        self.servers.append(server)
        return server

    def prepare(self, key: _ServerKey, count: int) -> None:
        """Start servers for ``key`` now, so that ``count`` kernels can start at once
        without waiting for a server's imports, and keep that many between kernels."""
        with self.lock:
            if self.closed:
                raise ExecutionError("the warm engine was closed")
            count = count if key.mode == "bwrap" else 1  # a plain server is shared
            self.reserve[key] = max(self.reserve.get(key, 1), count)
            live = [s for s in self.servers if s.key == key and s.alive()]
            for _ in range(count - len(live)):
                self._new_server(key)

    def acquire(self, key: _ServerKey) -> _Server:
        """A live server for ``key``; for a bwrap key an idle one, now marked busy."""
        doomed: list[_Server] = []
        patience = time.monotonic() + CLEANUP_TIMEOUT + 5
        with self.lock:
            while True:
                if self.closed:
                    raise ExecutionError("the warm engine was closed")
                for server in list(self.servers):
                    if not server.alive() and not server.busy:
                        self.servers.remove(server)
                        doomed.append(server)
                chosen = next(
                    (s for s in self.servers if s.key == key and s.alive() and not s.busy), None
                )
                closing = any(s.key == key and s.closing for s in self.servers)
                if chosen is not None or not closing or time.monotonic() > patience:
                    break
                # a kernel of this key was closed and its server is being cleaned up in
                # the background (WarmKernel.close(wait=False)): wait for it, do not start
                # another server
                self.released.wait(0.5)
            if chosen is None:
                if key.mode == "bwrap":  # idle sandboxes of another course or limits
                    for s in [s for s in self.servers if s.exclusive and not s.busy]:
                        self.servers.remove(s)
                        doomed.append(s)
                chosen = self._new_server(key)
            chosen.busy = chosen.exclusive
        for server in doomed:
            server.stop()
        return chosen

    def closing(self, server: _Server) -> None:
        """``server``'s kernel was closed; its release follows (see ``acquire``)."""
        with self.lock:
            server.closing = True

    def discard(self, server: _Server) -> None:
        with self.lock:
            if server in self.servers:
                self.servers.remove(server)
            server.busy = server.closing = False
            self.released.notify_all()
        server.stop()

    def release(self, server: _Server, pid: int, workdir: Path) -> None:
        """After an exclusive server's kernel is gone: keep the server for the next kernel
        only if it reports that everything of the old one is gone."""
        report = server.await_clean(pid, CLEANUP_TIMEOUT)
        try:
            clean = (
                report is not None
                and report.get("ok") is True
                and server.alive()
                and server.host_pid is not None
                and not children(server.host_pid)
            )
            _remove_tree(workdir)  # normally gone already
        except Exception:  # e.g. /proc unreadable: do not keep the server
            clean = False
        with self.lock:
            self.last_cleanup = report or {"event": "clean", "pid": pid, "ok": False}
            others = [s for s in self.servers if s is not server and s.key == server.key]
            spare = sum(not s.busy for s in others) >= self.reserve.get(server.key, 1)
            keep = clean and not self.closed and not spare and server in self.servers
            server.busy = server.closing = False
            if not keep and server in self.servers:
                self.servers.remove(server)
            self.released.notify_all()
        if not keep:
            server.stop()

    def __call__(self) -> None:
        self.closed = True
        with self.lock:
            self.released.notify_all()
        for kernel in list(self.kernels):
            with contextlib.suppress(Exception):
                kernel.close()
        with self.lock:
            servers, self.servers = self.servers, []
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()
        if self._spawner is not None:
            self._spawner.stop()
        _remove_tree(self.runtime)


class WarmFactory:
    """A :class:`KernelFactory` whose kernels are forked from pre-warmed servers.

    A server starts at the first ``start`` that needs it (one shared by ``none`` and
    ``weak`` kernels; for ``bwrap``, one sandboxed server per kernel alive at the same
    time, kept for the next kernel) and is restarted if it dies; ``close()`` (also a
    context manager, and at exit) stops them and every kernel still open. ``start`` is
    thread-safe.
    """

    name = "warm"

    def __init__(
        self,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        *,
        start_timeout: float = 120.0,
        python: str | None = None,
    ) -> None:
        ok, why = warm_available()
        if not ok:
            raise ExecutionError(why)
        self._python = python or sys.executable
        self._raw_result, self._kernel_environment = _engine_helpers()
        self._pool = _Pool(preload, self._python, start_timeout)
        self._finalizer = weakref.finalize(self, self._pool)
        # A multiprocessing worker (the batch runner's pool) ends with os._exit: no atexit,
        # no weakref.finalize; its own exit hook runs multiprocessing finalizers.
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None:
            mp_util.Finalize(self, self._pool, exitpriority=10)

    @property
    def runtime(self) -> Path:
        return self._pool.runtime

    @property
    def last_cleanup(self) -> dict[str, Any] | None:
        """What the last sandboxed server reported after its kernel ended."""
        return self._pool.last_cleanup

    def server_info(self) -> dict[str, Any]:
        """The start-up report (pid, seconds, hidden modules) of the server of ``none`` and
        ``weak`` kernels, which is started if needed."""
        server = self._pool.acquire(_ServerKey("plain"))
        return dict(server.wait_ready(self._pool.start_timeout))

    def start(self, options: KernelOptions) -> WarmKernel:
        if self._pool.closed:
            raise ExecutionError("the warm engine was closed")
        key = _ServerKey.of(options)
        kernel: WarmKernel | None = None
        for attempt in range(2):
            server = self._pool.acquire(key)
            try:
                kernel = self._fork(server, options)
                break
            except ExecutionError:
                dead = not server.alive()
                if server.exclusive or dead:
                    self._pool.discard(server)
                if attempt or not dead:
                    raise
                # the server died under us: one fresh try
            except BaseException:
                if server.exclusive:
                    self._pool.discard(server)
                raise
        assert kernel is not None
        try:
            kernel._await_ready(60.0)
        except BaseException:
            kernel.close()
            raise
        return kernel

    def _fork(self, server: _Server, options: KernelOptions) -> WarmKernel:
        """Fork one kernel. A failure before the kernel exists leaves the server to the
        caller; from then on the kernel releases it when it is closed."""
        server.wait_ready(self._pool.start_timeout)
        number = next(self._pool.numbers)
        scratch = self.runtime / f"kernel-{number}"
        scratch.mkdir(mode=0o700)
        mode = options.sandbox.mode
        env = self._kernel_environment(options, self._python)
        workdir = Path(options.workdir).resolve()
        try:
            if server.exclusive:
                from . import sandbox

                workdir = server.work / f"k-{number}"
                workdir.mkdir(mode=0o700)
                _copy_into(Path(options.workdir), workdir)
                spec = sandbox.SandboxSpec(
                    workdir=workdir,
                    runtime_dir=server.run,
                    python_prefixes=(),
                    hidden=(),
                    limits=options.limits,
                    env=env,
                )
                env = sandbox.sandbox_environment([self._python], spec, "bwrap")
                env["PWD"] = str(workdir)  # bwrap exports it with --chdir
            elif mode == "weak":  # what sandbox.wrap(..., "weak") gives a kernel, minus exec
                from . import sandbox

                spec = sandbox.SandboxSpec(
                    workdir=Path(options.workdir),
                    runtime_dir=scratch,
                    python_prefixes=(),
                    hidden=tuple(options.hidden),
                    limits=options.limits,
                    env=env,
                )
                env = sandbox.sandbox_environment([self._python], spec, "weak")
            else:
                env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client sets it
            request = {
                "op": "fork",
                "workdir": str(workdir),
                "env": env,
                "connection_file": str(scratch / "connection.json"),
                "cap": options.limits.max_output_bytes,
                "weak": mode == "weak" and not server.exclusive,
            }
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            log = os.open(scratch / "kernel.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                pid, pidfd = server.fork(request, (theirs.fileno(), log))
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()
                os.close(log)
        except BaseException:
            _remove_tree(scratch)
            if server.exclusive:
                _remove_tree(workdir)
            raise
        host_pid = pid
        release: Callable[[], None] | None = None
        closing: Callable[[], None] | None = None
        if server.exclusive:
            assert server.host_pid is not None
            found = _pidfd_pid(pidfd) if pidfd is not None else None
            found = found or _find_nspid(server.host_pid, pid)
            if found is None:
                ours.close()
                if pidfd is not None:
                    os.close(pidfd)
                raise ExecutionError("cannot find the sandboxed kernel's host pid")
            host_pid = found
            release = functools.partial(self._pool.release, server, pid, workdir)
            closing = functools.partial(self._pool.closing, server)
        kernel = WarmKernel(
            ours,
            host_pid,
            pidfd,
            options,
            scratch,
            self._raw_result,
            sandbox_init=server.host_pid if server.exclusive else None,
            release=release,
            closing=closing,
        )
        with self._pool.lock:
            self._pool.kernels.add(kernel)
        return kernel

    def prepare(self, options: KernelOptions, count: int = 1) -> None:
        """Start the servers that ``count`` concurrent kernels with ``options`` will use,
        without waiting for them: their imports overlap with the caller's own work (a
        batch loading its rubric and first notebooks). They are kept between kernels."""
        self._pool.prepare(_ServerKey.of(options), max(1, count))

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> WarmFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ============================================================================= server side
@dataclass
class _Unit:
    """The modules one preload import added, restored together."""

    name: str
    modules: dict[str, ModuleType]
    filters: list[Any] = field(default_factory=list)  # warnings filters its import added
    deps: set[int] = field(default_factory=set)
    detached: list[tuple[ModuleType, str, ModuleType]] = field(default_factory=list)
    restored: bool = False


class _Vault:
    """Preloaded modules, hidden from a child's ``sys.modules`` until imported.

    A meta-path finder (first on ``sys.meta_path``) answers for hidden names; its loader
    hands back the preloaded module object, puts its unit and the units that unit imports
    back into ``sys.modules``, and restores the module's own ``__spec__``. Nothing is
    executed twice.
    """

    def __init__(self, units: list[_Unit], env_added: dict[str, str]) -> None:
        self.units = units
        self.env_added = env_added
        self._where: dict[str, int] = {}
        self._specs: dict[str, Any] = {}
        for idx, unit in enumerate(units):
            for name, module in unit.modules.items():
                self._where[name] = idx
                self._specs[name] = getattr(module, "__spec__", None)

    @property
    def hidden(self) -> int:
        return len(self._where)

    def reseed(self) -> None:
        """A fresh process seeds torch's default generator from the OS, and a fork would
        share the server's seed with every other child (Python's ``random`` and NumPy
        reseed themselves after a fork)."""
        idx = self._where.get("torch")
        torch = self.units[idx].modules["torch"] if idx is not None else sys.modules.get("torch")
        generator = getattr(torch, "default_generator", None)
        if generator is not None:
            generator.seed()

    def intact(self) -> bool:
        """No unit has been restored (true in the server after ``hide``, until a child
        imports one in its own copy)."""
        return not any(unit.restored for unit in self.units)

    def hide(self) -> None:
        import warnings

        added = [f for unit in self.units for f in unit.filters]
        filters = cast("list[Any]", warnings.filters)
        filters[:] = [f for f in filters if f not in added]
        warnings._filters_mutated()  # type: ignore[attr-defined]
        for unit in self.units:
            for name, module in unit.modules.items():
                if sys.modules.get(name) is module:
                    del sys.modules[name]
        for idx, unit in enumerate(self.units):
            for name, module in unit.modules.items():
                parent_name, _, child = name.rpartition(".")
                if not parent_name or self._where.get(parent_name) == idx:
                    continue
                parent = sys.modules.get(parent_name)
                if parent is None and parent_name in self._where:
                    parent = self.units[self._where[parent_name]].modules[parent_name]
                if parent is not None and getattr(parent, child, None) is module:
                    with contextlib.suppress(AttributeError, TypeError):
                        delattr(parent, child)
                        unit.detached.append((parent, child, module))
        sys.meta_path.insert(0, self)

    # -- importlib finder / loader protocol
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> Any:
        if fullname in self._where and fullname not in sys.modules:
            from importlib.machinery import ModuleSpec

            return ModuleSpec(fullname, self)  # type: ignore[arg-type]
        return None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        idx = self._where[spec.name]
        module = self.units[idx].modules[spec.name]
        self._restore(idx)
        return module

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        name = spec.name if spec is not None else module.__name__
        module.__spec__ = self._specs.get(name)

    def invalidate_caches(self) -> None:
        pass

    def _restore(self, idx: int) -> None:
        unit = self.units[idx]
        if unit.restored:
            return
        unit.restored = True
        for dep in sorted(unit.deps):
            self._restore(dep)
        for name, module in unit.modules.items():
            sys.modules.setdefault(name, module)
            self._where.pop(name, None)
        for parent, child, module in unit.detached:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(parent, child, module)
        if unit.filters:
            import warnings

            cast("list[Any]", warnings.filters)[:0] = unit.filters
            warnings._filters_mutated()  # type: ignore[attr-defined]


def _hideable(name: str, module: object, baseline_tops: set[str]) -> bool:
    top = name.partition(".")[0]
    return (
        isinstance(module, ModuleType)
        and not name.startswith("_")
        and top not in sys.stdlib_module_names
        and top not in baseline_tops
        and top != "grader"
    )


def _resolve(name: str, globals_: Mapping[str, Any] | None, level: int) -> str:
    if level == 0 or not globals_:
        return name
    package = globals_.get("__package__") or ""
    if not package:
        modname = str(globals_.get("__name__", ""))
        package = modname if "__path__" in globals_ else modname.rpartition(".")[0]
    base = str(package).rsplit(".", level - 1)[0]
    return f"{base}.{name}" if name else base


def _preload(names: Sequence[str]) -> _Vault:
    """Import the shell machinery (kept visible) and the heavy packages (hidden units)."""
    import builtins
    import warnings

    env_before = dict(os.environ)
    _import_shell_machinery()
    baseline_tops = {n.partition(".")[0] for n in sys.modules}
    edges: dict[str, set[str]] = {}
    real_import = builtins.__import__

    def traced(
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        module = real_import(name, globals, locals, fromlist, level)
        try:
            importer = str(globals.get("__name__", "")) if globals else ""
            if importer:
                target = _resolve(name, globals, level)
                found = edges.setdefault(importer, set())
                found.add(target)
                for item in fromlist or ():
                    if isinstance(item, str) and item != "*":
                        found.add(f"{target}.{item}")
        except Exception:
            pass
        return module

    units: list[_Unit] = []
    builtins.__import__ = traced
    try:
        steps: list[tuple[str, Callable[[], object]]] = [
            (name, functools.partial(importlib.import_module, name)) for name in names
        ]
        steps += [(f"warm-up {name}", fn) for name, fn in _WARM_UPS]
        for name, step in steps:
            warm_up = name.startswith("warm-up ")
            known = {k: set(v) for k, v in edges.items()} if warm_up else {}
            before = set(sys.modules)
            filters_before = list(warnings.filters)
            started = time.perf_counter()
            try:
                step()
            except Exception as exc:
                print(f"warm: preload {name} skipped: {exc!r}", file=sys.stderr)
            new = [n for n in sys.modules if n not in before]
            modules = {
                n: sys.modules[n] for n in new if _hideable(n, sys.modules[n], baseline_tops)
            }
            if warm_up:
                # imports made at run time by modules that were already loaded are not
                # their import-time dependencies: restoring matplotlib must not restore
                # pyplot or the backend that a first figure loaded
                for importer in before:
                    if importer in edges:
                        edges[importer] = known.get(importer, set())
            seconds = time.perf_counter() - started
            print(f"warm: preload {name}: {len(modules)} modules, {seconds:.2f} s", file=sys.stderr)
            filters = [f for f in warnings.filters if f not in filters_before]
            if modules:
                units.append(_Unit(name, modules, filters))
    finally:
        builtins.__import__ = real_import
    unit_of = {name: idx for idx, unit in enumerate(units) for name in unit.modules}
    for idx, unit in enumerate(units):
        for importer in unit.modules:
            for target in edges.get(importer, ()):
                dep = unit_of.get(target)
                if dep is not None and dep != idx:
                    unit.deps.add(dep)
    env_added = {k: v for k, v in os.environ.items() if env_before.get(k) != v}
    return _Vault(units, env_added)


def _warm_up_torch() -> None:
    """First uses every notebook would pay for again (tensor ops, repr, autograd, a conv
    layer). Only with one intra-op thread: then no thread pool exists to be forked (the
    server checks its thread count after the preload); RNG state is reseeded per child."""
    torch: Any = sys.modules.get("torch")
    if torch is None or torch.get_num_threads() != 1:
        return
    x = torch.ones((4, 5), requires_grad=True)
    (x[:, :2] * torch.tensor([[1.0, -1.0]])).sum().backward()
    conv = torch.nn.Conv2d(1, 1, kernel_size=(1, 2))
    conv(torch.ones((1, 1, 4, 5))).sum().backward()
    torch.nn.functional.conv2d(torch.ones((1, 1, 5, 5)), torch.ones((1, 1, 2, 2)))
    repr(torch.eye(3)), repr(x), torch.ones((3, 4)) @ torch.ones((4, 2))


def _warm_up_matplotlib() -> None:
    """matplotlib's first figure (fonts, tickers, colormaps); closed, so a notebook's first
    figure is still number 1."""
    plt: Any = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    _fig, axes = plt.subplots(1, 2, figsize=(4, 2))
    axes[0].imshow([[0.0, 1.0], [1.0, 0.0]], cmap="gray")
    axes[0].set_title("warm-up")
    axes[1].plot([0, 1], [1, 0])
    plt.close("all")


_WARM_UPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("torch", _warm_up_torch),
    ("matplotlib", _warm_up_matplotlib),
)


def _import_shell_machinery() -> None:
    """What every child needs, imported once; then warm IPython's traceback formatter."""
    import asyncio  # noqa: F401
    import codecs  # noqa: F401
    import ctypes  # noqa: F401
    import getpass  # noqa: F401

    import ipykernel.compiler
    import ipykernel.debugger
    import ipykernel.eventloops
    import ipykernel.kernelapp
    import ipykernel.zmqshell  # noqa: F401
    import IPython.core.async_helpers
    import IPython.core.error
    import IPython.extensions.storemagic
    import IPython.utils.process  # noqa: F401
    import jupyter_client.session  # noqa: F401
    from IPython.core import ultratb

    try:
        raise ValueError("warm-up")
    except ValueError:
        with contextlib.suppress(Exception):
            formatter = ultratb.AutoFormattedTB(  # type: ignore[no-untyped-call]
                mode="Context", theme_name="neutral", tb_offset=0
            )
            formatter.structured_traceback(*sys.exc_info())
    for optional in ("pexpect", "faulthandler", "sqlite3", "IPython.core.debugger"):
        with contextlib.suppress(Exception):
            importlib.import_module(optional)


def _reap() -> list[int]:
    """Reap every child that has exited; their pids."""
    reaped: list[int] = []
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append(pid)


def _prctl(option: int, arg: int) -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    zero = ctypes.c_ulong(0)
    return int(libc.prctl(option, ctypes.c_ulong(arg), zero, zero, zero))


_PR_SET_DUMPABLE = 4


def _namespace_pids() -> set[int]:
    return {int(name) for name in os.listdir("/proc") if name.isdigit()}


def _sweep(limit: float = 5.0) -> tuple[int, str]:
    """As the init of a PID namespace: SIGKILL every other process in it and reap them,
    until /proc shows only this one. Returns (how many there were, what is left or '')."""
    if os.getpid() != 1:  # kill(-1) outside a namespace would hit the whole host
        return 0, "the server is not the init of a PID namespace"
    seen: set[int] = set()
    end = time.monotonic() + limit
    while True:
        _reap()  # orphans are re-parented to the init: every zombie is ours
        others = _namespace_pids() - {1}
        if not others:
            return len(seen), ""
        seen |= others
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)  # every process we may signal, except ourselves
        if time.monotonic() > end:
            return len(seen), f"{len(others)} process(es) survive SIGKILL"
        time.sleep(0.001)


def _mount_points() -> set[str]:
    points: set[str] = set()
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) > 4:
                points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return points


def _wipe(roots: Sequence[tuple[str, int]]) -> str:
    """Empty each writable root (restoring its mode first); mount points inside a root are
    left to their own entry. Returns what could not be removed, or ''."""
    mounts = _mount_points()
    problems: list[str] = []
    for root, mode in roots:
        inside = root.rstrip("/") + "/"
        skip = frozenset(m for m in mounts if m.startswith(inside))
        try:
            os.chmod(root, mode)
            _clear_dir(root, skip)
        except OSError as exc:
            problems.append(f"{root}: {exc}")
    return "; ".join(problems)


def _clear_sysv_ipc() -> str:
    """Remove the namespace's System V shared memory, message queues and semaphores."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    left: list[str] = []
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            with contextlib.suppress(ValueError, IndexError):
                ident = int(row.split()[1])
                if kind == "sem":
                    result = libc.semctl(ident, 0, 0)  # IPC_RMID
                else:
                    result = getattr(libc, f"{kind}ctl")(ident, 0, None)
                if result != 0:
                    left.append(f"{kind} {ident}")
    return f"System V IPC left: {', '.join(left)}" if left else ""


def _cleanup(pid: int, roots: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """After an exclusive server's kernel ended: nothing of it may reach the next one."""
    killed, left = _sweep()
    problems = [p for p in (left, _wipe(roots), _clear_sysv_ipc()) if p]
    return {
        "event": "clean",
        "pid": pid,
        "ok": not problems,
        "killed": killed,
        "detail": "; ".join(problems),
    }


def _enter_exclusive(host_pidns: str) -> None:
    """Checks and settings of a sandboxed (exclusive) server, before anything is imported."""
    if os.getpid() != 1 or os.readlink("/proc/self/ns/pid") == host_pidns:
        raise RuntimeError("an exclusive fork server must be the init of its own PID namespace")


def _serve(
    fd: int,
    preload: Sequence[str],
    exclusive: bool = False,
    host_pidns: str = "",
    scratch: Sequence[str] = (),
) -> None:
    """The fork server's main loop.

    Every server is not dumpable (a kernel cannot ptrace it or read its memory; children
    become dumpable again), works from ``/`` and has no '' on its import path (nothing a
    kernel writes can be imported by it). An exclusive server forks one kernel at a time
    and, when it ends, clears the namespace (:func:`_cleanup`) and reports."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctl = socket.socket(fileno=fd)
    started = time.perf_counter()
    path0 = sys.path[0] if sys.path else ""
    try:
        if exclusive:
            _enter_exclusive(host_pidns)
        if _prctl(_PR_SET_DUMPABLE, 0) != 0:
            raise OSError("cannot make the fork server non-dumpable")
        os.chdir("/")
        sys.path[:] = [p for p in sys.path if p not in ("", ".")]
        _seed_matplotlib(_SEED_FILES)
        # Importing torch creates a few hundred thousand tracked objects, and the
        # collector's older generations would be walked again and again while they grow
        # (~0.15 s of a server's start), then in full when the shell is built. Young
        # garbage is still collected during the preload, so the heap the children inherit
        # stays compact (a preload with the collector off left holes that made every
        # child slower); what it imported is then frozen (``gc.freeze``: a few hundred
        # garbage objects stay with it), so the collections while the kernels' shell is
        # built and every collection in a child skip it, and a child writes ~200 fewer
        # pages of its server's memory.
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], 1000, 1000)
        try:
            vault = _preload(preload)
            gc.freeze()
            shell_types = _ShellTypes.build()
        finally:
            gc.set_threshold(*thresholds)
        _compile_probe()
        _ipykernel_launcher()
        # Hidden once, here, rather than in every child: the server itself only uses the
        # standard library and the shell machinery from now on (each child checks that
        # no unit was restored).
        vault.hide()
        _build_kernel_shell(shell_types)
        if not vault.intact():
            raise RuntimeError("building the shell imported a preloaded module")
        gc.freeze()  # the shell too: a kernel's collections skip it, as the preload
        roots = [(p, os.stat(p).st_mode & 0o7777) for p in ("/tmp", "/dev/shm", *scratch)]
        if exclusive and (problem := _wipe(roots)):  # caches the imports left in /tmp
            raise OSError(problem)
    except BaseException as exc:
        traceback.print_exc()
        ctl.send(json.dumps({"ready": False, "fatal": repr(exc)}).encode())
        raise SystemExit(1) from exc
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        print(f"warm: WARNING: {threads} threads after preload; fork may deadlock", file=sys.stderr)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sys.stdout.flush()
    sys.stderr.flush()
    ready = {
        "ready": True,
        "pid": os.getpid(),
        "seconds": time.perf_counter() - started,
        "hidden": vault.hidden,
        "units": [u.name for u in vault.units],
        "threads": threads,
        "exclusive": exclusive,
    }
    own: list[int] = []
    with contextlib.suppress(OSError, AttributeError):
        own.append(os.pidfd_open(os.getpid()))  # the grader reads our host pid from it
    socket.send_fds(ctl, [json.dumps(ready).encode()], own)
    for extra in own:
        os.close(extra)
    kernels: set[int] = set()
    while True:
        try:
            watched: list[Any] = [ctl, wake_r]
            readable, _, _ = select.select(watched, [], [])
        except InterruptedError:
            continue
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        for pid in _reap():
            if pid in kernels:
                kernels.discard(pid)
                if exclusive:
                    try:
                        ctl.send(json.dumps(_cleanup(pid, roots)).encode())
                    except OSError:
                        return
        if ctl not in readable:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 4)
        except OSError:
            return
        if not msg:
            return  # the grader closed the factory (or died)
        try:
            request = json.loads(msg)
        except ValueError:
            request = None
        refusal = None
        if not isinstance(request, dict) or request.get("op") != "fork" or len(fds) != 2:
            refusal = "bad request"
        elif exclusive and kernels:
            refusal = "busy: a sandboxed server holds one kernel at a time"
        elif exclusive and _namespace_pids() != {1}:
            refusal = _sweep()[1] or None  # never expected: the last cleanup did this
        if refusal is not None or request is None:
            for extra in fds:
                os.close(extra)
            ctl.send(json.dumps({"error": refusal}).encode())
            continue
        chan_fd, log_fd = fds
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(chan_fd)
            os.close(log_fd)
            ctl.send(json.dumps({"error": f"fork failed: {exc}"}).encode())
            continue
        if pid == 0:  # ---------------------------------------------------------- child
            status = 1
            try:
                _child_main(
                    chan_fd,
                    log_fd,
                    request,
                    vault,
                    shell_types,
                    [ctl.fileno(), wake_r, wake_w],
                    path0,
                )
                status = 0
            except BaseException:
                with contextlib.suppress(Exception):
                    traceback.print_exc()
            finally:
                os._exit(status)
        kernels.add(pid)
        os.close(chan_fd)
        os.close(log_fd)
        pidfd: list[int] = []
        if hasattr(os, "pidfd_open"):
            with contextlib.suppress(OSError):
                pidfd.append(os.pidfd_open(pid))
        try:
            socket.send_fds(ctl, [json.dumps({"pid": pid}).encode()], pidfd)
        except OSError:
            return
        finally:
            for extra in pidfd:
                os.close(extra)


def _compile_probe() -> None:
    """The probe's code, compiled once here instead of by every kernel's setup cell (which
    uses it only if its filename carries the digest of the probe source it was sent).
    ``dont_inherit``: no ``__future__`` flag of this module, as in a fresh kernel's cell."""
    global _PROBE_CODE
    if _PROBE.get("source") and _PROBE.get("filename"):
        _PROBE_CODE = compile(_PROBE["source"], _PROBE["filename"], "exec", dont_inherit=True)


def _build_kernel_shell(types: _ShellTypes) -> None:
    """Build the shell every child of this server uses, once, here (~8 ms of each kernel's
    start): ipykernel's ``ZMQInteractiveShell`` as a fresh kernel has it before its first
    cell, the singleton, with ``__main__``, the prompts and the atexit entry it installs,
    and the session its displays go through.
    Nothing has run in it; what depends on the kernel's own process, environment and
    working directory is set again by :func:`_adopt_shell` in the child. It is built in a
    throwaway IPython directory, removed at once: each child makes its own."""
    from traitlets.config import Config

    config = Config()
    config.IPKernelApp.connection_file = ""  # the kernel's own, set by _adopt_shell
    ipython_dir = tempfile.mkdtemp(prefix="grader-warm-shell-")
    try:
        shell = types.new_shell(config, ipython_dir=ipython_dir)
    finally:
        _remove_tree(Path(ipython_dir))
    # as IPKernelApp leaves the config (no HistoryManager section, a ScriptMagics one)
    with contextlib.suppress(KeyError):
        del config["HistoryManager"]
    config.ScriptMagics = Config()
    with contextlib.suppress(Exception):  # InteractiveShellApp.default_extensions
        shell.extension_manager.load_extension("storemagic")
    shell.user_ns_hidden.update(shell.user_ns)  # InteractiveShellApp.hide_initial_ns
    session = types.session(key=b"")
    shell.displayhook.session = session
    shell.displayhook.pub_socket = None
    shell.displayhook.topic = b"execute_result"
    shell.display_pub.session = session
    shell.display_pub.pub_socket = None
    types.kernel_shell = shell


def _adopt_shell(types: _ShellTypes, connection_file: str) -> Any:
    """The server's shell (:func:`_build_kernel_shell`), made this kernel's: what a shell
    takes from its process at construction is taken again here, in the kernel's own
    environment and working directory."""
    from jupyter_client.session import new_id

    shell = types.kernel_shell
    if shell is None:
        raise RuntimeError("the fork server has no shell")
    shell.config.IPKernelApp.connection_file = connection_file
    shell.init_environment()  # TERM, PAGER... in this environment
    shell.init_encoding()
    shell.starting_dir = os.getcwd()
    shell.history_manager.dir_hist[:] = [Path.cwd()]  # ``_dh``
    shell.init_ipython_dir(None)  # IPYTHONDIR of this kernel, and its profile directory
    shell.init_profile_dir(None)
    session = shell.display_pub.session  # the kernel's own id, and pid (check_pid)
    session.session = new_id()
    session.pid = os.getpid()
    return shell


# What a cell needs for IPython to run it as a coroutine (see WarmShell.should_run_async)
_MAY_AWAIT = re.compile("await|async")


# ============================================================================== child side
class _Outputs:
    """What a cell produced, with nbclient's rules for clear_output and display ids."""

    def __init__(self, cap: int) -> None:
        self.cap = max(0, cap)
        self.lock = threading.Lock()
        self.items: list[dict[str, Any]] = []
        self.ids: dict[str, list[int]] = {}
        self.clear_pending = False
        self.used = {"text": 0, "stderr": 0}

    def reset(self) -> None:
        with self.lock:
            self.items = []
            self.ids = {}
            self.clear_pending = False
            self.used = {"text": 0, "stderr": 0}

    # -- accounting: mirrors _raw_result (text = stdout + text/plain of displays)
    def _budget(self, kind: str) -> int:
        return self.cap - self.used[kind]

    @staticmethod
    def _display_text(data: Mapping[str, Any]) -> str | None:
        if isinstance(data.get(REPLY_MIME), Mapping) or "text/plain" not in data:
            return None
        return str(data["text/plain"]) + "\n"

    def _recount(self) -> None:
        used = {"text": 0, "stderr": 0}
        for item in self.items:
            kind = item["output_type"]
            if kind == "stream":
                used["stderr" if item["name"] == "stderr" else "text"] += item["size"]
            elif kind in ("display_data", "execute_result"):
                text = self._display_text(item["data"])
                used["text"] += len(text) if text is not None else 0
        self.used = used

    def _clear(self) -> None:
        self.items = []
        self.ids = {}
        self.used = {"text": 0, "stderr": 0}

    def _append(self, item: dict[str, Any], display_id: str | None) -> None:
        if self.clear_pending:
            self._clear()
            self.clear_pending = False
        if display_id:
            self.ids.setdefault(display_id, []).append(len(self.items))
        self.items.append(item)

    # -- producers
    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        with self.lock:
            self._stream_locked(name, text)

    def _stream_locked(self, name: str, text: str) -> None:
        kind = "stderr" if name == "stderr" else "text"
        room = self._budget(kind)
        if self.clear_pending:
            room = self.cap
        if room <= 0:
            return
        piece = text[:room]
        last = None if self.clear_pending or not self.items else self.items[-1]
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["parts"].append(piece)
            last["size"] += len(piece)
        else:
            self._append(
                {"output_type": "stream", "name": name, "parts": [piece], "size": len(piece)},
                None,
            )
        self.used[kind] += len(piece)

    def _filtered(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            return {}
        kept = {k: data[k] for k in (REPLY_MIME, "text/plain") if k in data}
        text = self._display_text(kept)
        if text is not None and isinstance(kept["text/plain"], str):
            kept["text/plain"] = kept["text/plain"][: max(0, self._budget("text"))]
        return kept

    def message(self, msg_type: str, content: Mapping[str, Any]) -> None:
        """One iopub message, processed like nbclient's ``process_message``."""
        with self.lock:
            transient = content.get("transient")
            display_id = transient.get("display_id") if isinstance(transient, dict) else None
            if display_id is not None and not isinstance(display_id, str):
                display_id = str(display_id)
            kinds = ("execute_result", "display_data", "update_display_data")
            if display_id and msg_type in kinds and display_id in self.ids:
                data = self._filtered(content.get("data"))
                for idx in self.ids[display_id]:
                    if idx < len(self.items):
                        self.items[idx]["data"] = data
                self._recount()
            if msg_type == "clear_output":
                if content.get("wait"):
                    self.clear_pending = True
                else:
                    self._clear()
            elif msg_type in ("execute_result", "display_data"):
                if self.clear_pending:
                    self._clear()
                    self.clear_pending = False
                data = self._filtered(content.get("data"))
                text = self._display_text(data)
                if not data and not display_id:
                    return
                full = text is not None and self._budget("text") <= 0
                if full and not display_id and REPLY_MIME not in data:
                    return  # beyond the output cap: nothing _raw_result would keep
                self._append({"output_type": msg_type, "data": data}, display_id)
                self.used["text"] += len(text) if text is not None else 0
            elif msg_type == "error":
                evalue = str(content.get("evalue", ""))[: max(self.cap, 1000)]
                item = {
                    "output_type": "error",
                    "ename": str(content.get("ename", "")),
                    "evalue": evalue,
                }
                self._append(item, None)

    def export(self) -> list[dict[str, Any]]:
        with self.lock:
            out: list[dict[str, Any]] = []
            for item in self.items:
                if item["output_type"] == "stream":
                    out.append(
                        {
                            "output_type": "stream",
                            "name": item["name"],
                            "text": "".join(item["parts"]),
                        }
                    )
                else:
                    out.append(item)
            return out


class _FdPump:
    """Captures file-descriptor-level output (fds 1 and 2 are pipes) into the streams."""

    def __init__(self, outputs: _Outputs, fds: Mapping[int, str]) -> None:
        import codecs

        self.outputs = outputs
        self.fds = dict(fds)
        self.decoders = {fd: codecs.getincrementaldecoder("utf-8")("replace") for fd in fds}
        self.thread = threading.Thread(target=self._run, name="grader-fd-pump", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        fds = list(self.fds)
        while fds:
            try:
                readable, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            except (OSError, ValueError):
                return
            for fd in readable:
                if not self.drain(fd, limit=16):
                    fds.remove(fd)

    def drain(self, fd: int, limit: int = 1 << 30) -> bool:
        """Read what is in the pipe now; False at EOF."""
        with self.outputs.lock:
            for _ in range(limit):
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    return True
                except OSError:
                    return False
                if not data:
                    return False
                text = self.decoders[fd].decode(data)
                if text:
                    self.outputs._stream_locked(self.fds[fd], text)
        return True

    def drain_all(self) -> None:
        for fd in self.fds:
            self.drain(fd)


def _stream_type() -> type:
    import io

    class OutStream(io.TextIOBase):
        """``sys.stdout``/``sys.stderr`` of a warm kernel: text goes to the cell's outputs."""

        def __init__(
            self, name: str, outputs: _Outputs, fileno: int, fd: int, pump: _FdPump
        ) -> None:
            super().__init__()
            self._name = name
            self._outputs = outputs
            self._fileno = fileno
            self._fd = fd
            self._pump = pump
            self._owner = os.getpid()

        @property
        def name(self) -> str:
            return self._name

        encoding = "UTF-8"
        errors = "strict"

        def isatty(self) -> bool:
            return False

        def writable(self) -> bool:
            return True

        def fileno(self) -> int:
            return self._fileno

        def flush(self) -> None:
            """Like ipykernel's flush, which waits for its pipe watcher: output already
            written to fds 1 and 2 comes before whatever is displayed next."""
            if os.getpid() == self._owner:
                _flush_c_stdio()
                self._pump.drain_all()

        def write(self, s: str) -> int:
            if not isinstance(s, str):
                raise TypeError(f"write() argument must be str, not {type(s)}")
            if self.closed:
                raise ValueError("I/O operation on closed file")
            if os.getpid() != self._owner:  # a forked worker: through the captured fd
                with contextlib.suppress(OSError):
                    os.write(self._fd, s.encode("utf-8", "replace"))
                return len(s)
            self._outputs.stream(self._name, s)
            return len(s)

        def writelines(self, lines: Any) -> None:
            for line in lines:
                self.write(line)

    return OutStream


def _murmur2_x86(data: str, seed: int) -> int:
    """ipykernel.compiler.murmur2_x86 (which names every cell's code after its hash), the
    same value computed a word at a time rather than a character at a time."""
    m = 0x5BD1E995
    raw = data.encode("utf8")
    length = len(raw)
    h = seed ^ length
    end = length & 0xFFFFFFFC
    for (k,) in struct.iter_unpack("<I", raw[:end]):
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length & 0x03
    if rest:
        k = int.from_bytes(raw[end:], "little")
        h ^= k
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def _compiler_type() -> type:
    """ipykernel's XCachingCompiler (the kernel's compiler: it names each cell's code
    ``<tmp>/ipykernel_<pid>/<murmur2 of the cell>.py``), with a faster, equal hash."""
    from ipykernel.compiler import XCachingCompiler, get_tmp_directory, get_tmp_hash_seed

    class Compiler(XCachingCompiler):
        def get_code_name(self, raw_code: str, code: str, number: int) -> str:
            name = os.environ.get("IPYKERNEL_CELL_NAME")
            if name is None:
                digest = _murmur2_x86(raw_code, get_tmp_hash_seed())  # type: ignore[no-untyped-call]
                name = get_tmp_directory() + os.sep + str(digest) + ".py"  # type: ignore[no-untyped-call]
            return name

    Compiler.__name__ = Compiler.__qualname__ = "XCachingCompiler"
    Compiler.__module__ = "ipykernel.compiler"
    return Compiler


@dataclass
class _ShellTypes:
    shell: Any
    session: Any
    stream: Any
    compiler: Any
    kernel_shell: Any = None  # built by the server (_build_kernel_shell)

    def new_shell(self, config: Any, **kwargs: Any) -> Any:
        """The kernels' shell, as the server builds it for them (_build_kernel_shell): no
        history (no shared sqlite file, no saving thread), ipykernel's compiler."""
        config.HistoryManager.enabled = False
        return self.shell.instance(
            config=config, kernel=_KernelStub(), compiler_class=self.compiler, **kwargs
        )

    @staticmethod
    def build() -> _ShellTypes:
        from ipykernel.eventloops import enable_gui as real_enable_gui
        from ipykernel.zmqshell import ZMQInteractiveShell
        from IPython.core.error import UsageError
        from jupyter_client.session import Session

        class WarmShell(ZMQInteractiveShell):
            """ipykernel's shell; only the GUI hook needs to know there is no kernel app."""

            def enable_gui(self, gui: Any = None) -> None:
                try:
                    real_enable_gui(gui, kernel=self.kernel)  # type: ignore[no-untyped-call]
                    self.active_eventloop = gui
                except ValueError as e:
                    raise UsageError(f"{e}") from e

            def should_run_async(
                self,
                raw_cell: str,
                *,
                transformed_cell: str | None = None,
                preprocessing_exc_tuple: Any = None,
            ) -> bool:
                """The same answer without compiling the cell again when it cannot be
                a coroutine: top-level await, async for and async with need a keyword."""
                if transformed_cell is not None and not _MAY_AWAIT.search(transformed_cell):
                    return False
                return bool(
                    super().should_run_async(
                        raw_cell,
                        transformed_cell=transformed_cell,
                        preprocessing_exc_tuple=preprocessing_exc_tuple,
                    )
                )

        # Code that checks ``get_ipython().__class__.__name__`` sees a notebook kernel.
        WarmShell.__name__ = WarmShell.__qualname__ = "ZMQInteractiveShell"
        WarmShell.__module__ = "ipykernel.zmqshell"

        class SinkSession(Session):
            """Serialises like a real session, then hands the content to the outputs."""

            sink: Callable[[str, Mapping[str, Any]], None] | None = None

            def send(
                self,
                stream: Any,
                msg_or_type: dict[str, Any] | str,
                content: dict[str, Any] | None = None,
                parent: dict[str, Any] | None = None,
                ident: Any = None,
                buffers: Any = None,
                track: bool = False,
                header: dict[str, Any] | None = None,
                metadata: dict[str, Any] | None = None,
            ) -> dict[str, Any] | None:
                if isinstance(msg_or_type, dict):
                    msg = msg_or_type
                else:
                    msg = self.msg(
                        msg_or_type,
                        content=content,
                        parent=parent,
                        header=header,
                        metadata=metadata,
                    )
                if self.check_pid and os.getpid() != self.pid:
                    return None  # like jupyter_client: no sending from a forked process
                packed = self.serialize(msg)[-1]  # packs like the real send (and warns alike)
                decoded = json.loads(bytes(packed).decode("utf-8", "surrogateescape"))
                if self.sink is not None:
                    self.sink(str(msg["header"]["msg_type"]), decoded)
                return msg

        return _ShellTypes(WarmShell, SinkSession, _stream_type(), _compiler_type())


class _ExitLoop:
    """``kernel.io_loop`` for ipykernel's ``exit()``: it stops the loop 0.1 s later and
    the kernel process ends, so the notebook's next request finds it dead."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> None:
        import asyncio

        asyncio.get_event_loop().call_later(delay, callback)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(0)


class _KernelStub:
    """What ipykernel's shell looks up on ``shell.kernel`` (GUI hooks, ``exit()``)."""

    eventloop: Any = None

    def __init__(self) -> None:
        self.io_loop = _ExitLoop()


def _ipykernel_argv(connection_file: str) -> list[str]:
    return [_ipykernel_launcher(), "-f", connection_file]


@functools.lru_cache(maxsize=1)
def _ipykernel_launcher() -> str:
    """Where ipykernel_launcher.py is (found once, by the server: resolving it walks the
    path's components)."""
    try:
        import ipykernel

        return str(Path(ipykernel.__file__).resolve().parent.parent / "ipykernel_launcher.py")
    except Exception:
        return "ipykernel_launcher.py"


def _kernel_sys_path(path0: str) -> list[str]:
    """sys.path as ipykernel_launcher + InteractiveShellApp.init_path leave it."""
    path = list(sys.path)
    if path and path[0] in ("", path0, os.getcwd()):
        del path[0]
    if "" not in path:
        packages = ("site-packages", "dist-packages")
        idx = next((i for i, e in enumerate(path) if os.path.split(e)[1] in packages), 0)
        path.insert(idx, "")
    return path


def _weak_isolation() -> None:
    """``--sandbox weak`` for a forked kernel: what ``setpriv --pdeathsig KILL
    --no-new-privs [--bounding-set -all --inh-caps -all]`` gives an exec'd one. The
    environment is already the sandbox module's clean one. Fails closed."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def prctl(option: int, arg: int) -> int:
        zero = ctypes.c_ulong(0)
        return int(libc.prctl(option, ctypes.c_ulong(arg), zero, zero, zero))

    def check(result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"weak isolation: {what}: {os.strerror(errno)}")

    server = os.getppid()
    check(prctl(1, signal.SIGKILL), "PR_SET_PDEATHSIG")  # dies with the fork server
    if os.getppid() != server:
        os._exit(1)  # the server died before the death signal was armed
    check(prctl(38, 1), "PR_SET_NO_NEW_PRIVS")
    if os.geteuid() != 0:
        return
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        last = int(fh.read())
    for cap in range(last + 1):
        check(prctl(24, cap), f"PR_CAPBSET_DROP {cap}")
    prctl(47, 4)  # PR_CAP_AMBIENT_CLEAR_ALL (EINVAL before Linux 4.3: nothing to clear)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()  # all zero: no effective, permitted or inheritable capability
    check(int(libc.capset(ctypes.byref(header), data)), "capset")


def _apply_limits(limits: Mapping[str, str], log: int) -> None:
    import resource

    which = {
        "GRADER_LIMIT_AS": resource.RLIMIT_AS,
        "GRADER_LIMIT_NPROC": resource.RLIMIT_NPROC,
        "GRADER_LIMIT_FSIZE": resource.RLIMIT_FSIZE,
        "GRADER_LIMIT_CPU": resource.RLIMIT_CPU,
    }
    for var, value in limits.items():
        if not value:
            continue
        try:
            limit = int(value)
            resource.setrlimit(which[var], (limit, limit))
        except (ValueError, OSError, KeyError) as exc:
            os.write(log, f"warm: cannot set {var}: {exc}\n".encode())


def _child_main(
    chan_fd: int,
    log: int,
    request: Mapping[str, Any],
    vault: _Vault,
    types: _ShellTypes,
    close_fds: Sequence[int],
    path0: str,
) -> None:
    """Become one notebook's kernel: isolate, limit, build the shell, serve requests."""
    _prctl(_PR_SET_DUMPABLE, 1)  # a normal process again (the server is not dumpable)
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as ipykernel between requests
    for fd in close_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    os.set_inheritable(chan_fd, False)  # fds received with SCM_RIGHTS are inheritable
    os.set_inheritable(log, False)
    chan = socket.socket(fileno=chan_fd)
    chan.setblocking(True)

    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(log, 1)
    os.dup2(log, 2)
    ready = False
    try:
        shell, outputs, pump = _setup_child(request, vault, types, log, path0)
        chan.sendall(_frame({"id": 0, "ready": True, "pid": os.getpid()}))
        ready = True
        chan.setblocking(False)
        import asyncio

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_child_loop(chan, shell, outputs, pump))
    except BaseException as exc:
        # fds 1 and 2 may be captured by now: the log is where a broken kernel tells why
        with contextlib.suppress(Exception):
            os.write(log, traceback.format_exc().encode())
            if not ready:
                chan.setblocking(True)
                chan.sendall(_frame({"id": 0, "ready": False, "fatal": repr(exc)}))
        raise


def _setup_child(
    request: Mapping[str, Any], vault: _Vault, types: _ShellTypes, log: int, path0: str
) -> tuple[Any, _Outputs, _FdPump]:
    env = {str(k): str(v) for k, v in dict(request["env"]).items()}
    parent_pid = env.get("JPY_PARENT_PID")
    env.update(vault.env_added)
    if parent_pid is not None:
        env["JPY_PARENT_PID"] = parent_pid
    limits = {var: env.pop(var, "") for var in _LIMIT_VARS}
    os.environ.clear()
    os.environ.update(env)
    if request.get("weak"):
        _weak_isolation()
    _apply_limits(limits, log)
    os.chdir(str(request["workdir"]))
    sys.argv = _ipykernel_argv(str(request["connection_file"]))
    sys.path[:] = _kernel_sys_path(path0)

    # fds 1 and 2 become pipes read into the outputs; the log keeps the original role
    outputs = _Outputs(int(request.get("cap", 1 << 20)))
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.close(out_w)
    os.close(err_w)
    os.set_blocking(out_r, False)
    os.set_blocking(err_r, False)
    pump = _FdPump(outputs, {out_r: "stdout", err_r: "stderr"})
    stream = types.stream
    sys.stdout = stream("stdout", outputs, os.dup(log), 1, pump)
    sys.stderr = stream("stderr", outputs, os.dup(log), 2, pump)

    if not vault.intact():  # the server hid them before its first fork (see _serve)
        raise RuntimeError("the fork server imported its own hidden modules")
    if _PROBE_CODE is not None:  # taken (and removed) by the driver's setup cell
        sys._grader_probe_code = _PROBE_CODE  # type: ignore[attr-defined]
    vault.reseed()
    for name in [n for n in sys.modules if n == "grader" or n.startswith("grader.")]:
        del sys.modules[name]

    shell = _adopt_shell(types, str(request["connection_file"]))
    shell.display_pub.session.sink = outputs.message
    pump.start()
    return shell, outputs, pump


async def _child_loop(chan: socket.socket, shell: Any, outputs: _Outputs, pump: _FdPump) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    buf = bytearray()
    last: tuple[Any, bool] | None = None  # the latest request's id; did it end cleanly?
    while True:
        frame = _next_frame(buf)
        if frame is None:
            data = await loop.sock_recv(chan, 1 << 20)
            if not data:
                os._exit(0)  # the grader closed us (or died)
            buf += data
            continue
        if not isinstance(frame, dict) or frame.get("op") != "execute":
            continue
        after = frame.get("if_clean")
        if after is not None and (last is None or last[0] != after or not last[1]):
            last = (frame.get("id"), False)  # sent ahead, but its predecessor did not end
            await loop.sock_sendall(chan, _frame({"id": frame.get("id"), "skipped": True}))
            continue  # cleanly: the grader decides what runs next
        await _execute_cell(shell, str(frame.get("code", "")), outputs, pump)
        exported = outputs.export()
        last = (frame.get("id"), _ended_cleanly(exported))
        await loop.sock_sendall(chan, _frame({"id": frame.get("id"), "outputs": exported}))


def _ended_cleanly(outputs: Sequence[Mapping[str, Any]]) -> bool:
    """No error, and the capture published as the last reply (what the driver's
    ``_hook_capture`` takes): a request sent ahead of the grader may follow."""
    reply: Any = None
    for out in outputs:
        kind = out.get("output_type")
        if kind == "error":
            return False
        data = out.get("data") if kind in ("execute_result", "display_data") else None
        if isinstance(data, Mapping) and isinstance(data.get(REPLY_MIME), Mapping):
            reply = data[REPLY_MIME]
    return (
        isinstance(reply, Mapping)
        and reply.get("capture") is True
        and isinstance(reply.get("bindings"), Mapping)
        and isinstance(reply.get("results"), list)
    )


def raw_input(prompt: object = "") -> str:
    """``input()`` in a kernel whose frontend has no stdin (nbclient's allow_stdin=False)."""
    from IPython.core.error import StdinNotImplementedError

    raise StdinNotImplementedError(_STDIN_MSG)


def getpass(prompt: str = "", stream: Any = None, *, echo_char: str | None = None) -> str:
    """``getpass.getpass()`` likewise."""
    from IPython.core.error import StdinNotImplementedError

    raise StdinNotImplementedError(_GETPASS_MSG)


_LIBC: Any = None


def _flush_c_stdio() -> None:
    global _LIBC
    try:
        if _LIBC is None:
            import ctypes

            _LIBC = ctypes.CDLL(None)
        _LIBC.fflush(None)
    except Exception:
        pass


async def _execute_cell(shell: Any, code: str, outputs: _Outputs, pump: _FdPump) -> None:
    """ipykernel's ``do_execute`` around ``run_cell``, with its stdin and SIGINT rules."""
    import asyncio
    import builtins
    import getpass as getpass_module

    from IPython.core.async_helpers import _asyncio_runner

    outputs.reset()
    saved_input, saved_getpass = builtins.input, getpass_module.getpass
    builtins.input = raw_input
    getpass_module.getpass = getpass
    saved_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        try:
            if not _MAY_AWAIT.search(code):
                # should_run_async is False: without these keywords nothing is a coroutine
                # (IPython's transforms add none); skip ipykernel's first transform_cell
                # and compile, which run_cell repeats anyway
                shell.run_cell(code, store_history=True, silent=False)
                return
            preprocessing_exc_tuple = None
            try:
                transformed_cell = shell.transform_cell(code)
            except Exception:
                transformed_cell = code
                preprocessing_exc_tuple = sys.exc_info()
            if (
                shell.loop_runner is _asyncio_runner
                and asyncio.get_event_loop().is_running()
                and shell.should_run_async(
                    code,
                    transformed_cell=transformed_cell,
                    preprocessing_exc_tuple=preprocessing_exc_tuple,
                )
            ):
                await _run_async(shell, code, transformed_cell, preprocessing_exc_tuple, outputs)
            else:
                shell.run_cell(code, store_history=True, silent=False)
        finally:
            signal.signal(signal.SIGINT, saved_sigint)
    except KeyboardInterrupt:  # arrived outside the student's code
        outputs.message("error", {"ename": "KeyboardInterrupt", "evalue": ""})
    finally:
        builtins.input = saved_input
        getpass_module.getpass = saved_getpass
        with contextlib.suppress(Exception):
            shell.payload_manager.clear_payload()
        _flush_c_stdio()
        pump.drain_all()


async def _run_async(
    shell: Any, code: str, transformed_cell: str, exc_tuple: Any, outputs: _Outputs
) -> None:
    """A cell with top-level ``await``: ipykernel runs it as a task, SIGINT cancels it."""
    import asyncio

    loop = asyncio.get_running_loop()
    future = asyncio.ensure_future(
        shell.run_cell_async(
            code,
            store_history=True,
            silent=False,
            transformed_cell=transformed_cell,
            preprocessing_exc_tuple=exc_tuple,
        )
    )
    interrupted = []

    def on_sigint(*_: Any) -> None:
        interrupted.append(True)
        loop.call_soon_threadsafe(future.cancel)

    saved = signal.signal(signal.SIGINT, on_sigint)
    res = None
    try:
        res = await future
    except asyncio.CancelledError:
        if interrupted:
            outputs.message("error", {"ename": "KeyboardInterrupt", "evalue": ""})
    finally:
        signal.signal(signal.SIGINT, saved)
        shell.events.trigger("post_execute")
        shell.events.trigger("post_run_cell", res)


# ================================================================================ entry point
def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="grader warm fork server (internal)")
    parser.add_argument("--serve", type=int, required=True, help="control socket fd")
    parser.add_argument("--preload", default=",".join(DEFAULT_PRELOAD))
    parser.add_argument("--exclusive", action="store_true", help="one kernel at a time")
    parser.add_argument("--host-pidns", default="", help="the grader's PID namespace")
    parser.add_argument("--scratch", action="append", default=[], help="writable root")
    args = parser.parse_args(argv)
    preload = [n for n in args.preload.split(",") if n]
    _serve(args.serve, preload, args.exclusive, args.host_pidns, args.scratch)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown (torch's atexit hooks): nothing left to do


if __name__ == "__main__":
    from grader.execute.warm import main as _main  # one copy of this module, not two

    _main()
