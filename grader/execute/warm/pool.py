"""The fork servers a factory keeps, as the grader sees them. Runs in the grader process.

Sandboxes (``KernelOptions.sandbox``): ``none`` and ``weak`` kernels share one plain
server (``weak`` isolation is applied in each child). ``bwrap`` runs the fork server
itself inside one bubblewrap sandbox built by ``sandbox.wrap`` (the same namespaces,
read-only system, hidden paths, no network, capabilities dropped, pids cgroup as root),
with the server as the PID namespace's init (``--as-pid-1``)::

    grader ── outer bwrap (host; pids cgroup as root) ── fork server = PID 1 of the sandbox
                                                           └── kernel (the only one alive)

Such a server is *exclusive*: it holds at most one live kernel; a start while it is busy
gets another server (so two overlapping notebooks never share a sandbox). The kernel runs
in ``<server root>/work/k-N`` (mode 0700; the server root is a per-server directory under
the factory's runtime dir, bound read-write at its own path; the driver's own workdir is
outside the sandbox and stays empty: files in it are copied in at start). A kernel cannot
kill or trace its server (signals to a namespace's init from inside it are dropped unless
handled; the server is not dumpable), and nothing the kernel writes is on the server's
import path.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import ExecutionError
from ..files import remove_tree
from ..procs import children, find_nspid, pidfd_pid
from ..watchdog import kill_group
from .bootstrap import (
    ServerKey,
    bundle_file,
    matplotlib_font_caches,
    sandboxed,
    server_command,
    server_environment,
)
from .handle import WarmKernel, log_tail

CLEANUP_TIMEOUT = 10.0  # s for a sandboxed server to report its namespace clean again


class Spawner:
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


class Server:
    """One fork server process and its control socket (grader side)."""

    def __init__(
        self,
        key: ServerKey,
        preload: Sequence[str],
        runtime: Path,
        python: str,
        number: int,
        spawner: Spawner,
        shortcuts: bool = True,
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
        env = server_environment(runtime)
        sources = bundle_file(matplotlib_font_caches() if self.exclusive else None)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        try:
            exclusive: list[str] = []
            if self.exclusive:
                for directory in (self.work, self.run):
                    directory.mkdir(parents=True, mode=0o700)
                exclusive = ["--exclusive", "--host-pidns", os.readlink("/proc/self/ns/pid")]
                exclusive += ["--scratch", str(self.work), "--scratch", str(self.run)]
            cmd = server_command(python, sources, theirs.fileno(), preload, exclusive, shortcuts)
            if self.exclusive:
                cmd, env = sandboxed(cmd, key, self.work, self.run, python, env)
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
            remove_tree(self.root)
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
                    host = pidfd_pid(fds[0]) if fds else None
                    if host is None and self.exclusive:
                        host = find_nspid(self.proc.pid, int(reply["pid"]))
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
        return log_tail(self.log)

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
        remove_tree(self.root)


def _ask_prefixes(python: str) -> None:
    """Fill ``sandbox.kernel_python_prefixes``'s cache; a failure is reported (raised)
    when a server needs them."""
    from .. import sandbox

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
                remove_tree(entry.path)


class Pool:
    """The factory's servers and kernels; called, it stops them all and removes the
    runtime directory (``close()``, garbage collection, interpreter exit)."""

    def __init__(
        self, preload: Sequence[str], python: str, start_timeout: float, shortcuts: bool = True
    ) -> None:
        self.preload = tuple(preload)
        self.shortcuts = shortcuts
        self.python = python
        self.start_timeout = start_timeout
        _remove_stale_runtimes(Path(tempfile.gettempdir()))
        self.runtime = Path(tempfile.mkdtemp(prefix=f"grader-warm-{os.getpid()}-"))
        self.lock = threading.Lock()
        self.released = threading.Condition(self.lock)  # a closing server was released
        self.servers: list[Server] = []
        self.kernels: weakref.WeakSet[WarmKernel] = weakref.WeakSet()
        self.numbers = itertools.count(1)
        self.closed = False
        self.last_cleanup: dict[str, Any] | None = None  # the latest exclusive server report
        self.reserve: dict[ServerKey, int] = {}  # servers to keep per key (``prepare``)
        self._spawner: Spawner | None = None
        # A sandboxed server's command needs the interpreter's prefixes, which a short
        # subprocess reports: asked now, it runs while the sandbox is probed.
        from .. import sandbox

        self._prefixes: threading.Thread | None = None
        if shutil.which(sandbox.BWRAP) is not None:  # the binary sandboxed will use
            self._prefixes = threading.Thread(
                target=_ask_prefixes, args=(python,), name="grader-warm-prefixes", daemon=True
            )
            self._prefixes.start()

    def _new_server(self, key: ServerKey) -> Server:
        """Start a server for ``key`` (its imports run in the background). Under the lock."""
        if self._spawner is None:
            self._spawner = Spawner()
        if self._prefixes is not None:
            self._prefixes.join()
            self._prefixes = None
        number = next(self.numbers)
        server = Server(
            key, self.preload, self.runtime, self.python, number, self._spawner, self.shortcuts
        )
        self.servers.append(server)
        return server

    def prepare(self, key: ServerKey, count: int) -> None:
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

    def acquire(self, key: ServerKey) -> Server:
        """A live server for ``key``; for a bwrap key an idle one, now marked busy."""
        doomed: list[Server] = []
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

    def closing(self, server: Server) -> None:
        """``server``'s kernel was closed; its release follows (see ``acquire``)."""
        with self.lock:
            server.closing = True

    def discard(self, server: Server) -> None:
        with self.lock:
            if server in self.servers:
                self.servers.remove(server)
            server.busy = server.closing = False
            self.released.notify_all()
        server.stop()

    def release(self, server: Server, pid: int, workdir: Path) -> None:
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
            remove_tree(workdir)  # normally gone already
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
        remove_tree(self.runtime)
