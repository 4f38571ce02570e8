"""The warm engine's :class:`KernelFactory`. Runs in the grader process."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import socket
import sys
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...errors import ExecutionError
from ..files import copy_into, remove_tree
from ..kernel import KernelFactory, KernelOptions
from ..nbclient_engine import kernel_environment, raw_result
from ..procs import find_nspid, pidfd_pid
from .bootstrap import ServerKey
from .handle import WarmKernel
from .pool import Pool, Server
from .shortcuts import enabled as shortcuts_enabled
from .vault import DEFAULT_PRELOAD


def warm_available() -> tuple[bool, str]:
    """Whether the warm engine can run here, and why not."""
    if os.name != "posix" or not hasattr(os, "fork"):
        return False, "the warm engine needs os.fork (POSIX)"
    if not sys.platform.startswith("linux"):
        return False, "the warm engine needs Linux (/proc for the watchdog, fork after imports)"
    if not hasattr(socket, "send_fds") or not hasattr(socket, "AF_UNIX"):
        return False, "the warm engine needs Unix sockets with SCM_RIGHTS"

    for module in ("IPython", "ipykernel", "jupyter_client"):
        if importlib.util.find_spec(module) is None:
            return False, f"the warm engine needs {module}, which is not installed"
    return True, "fork server available"


class WarmFactory(KernelFactory):
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
        shortcuts: bool | None = None,
    ) -> None:
        ok, why = warm_available()
        if not ok:
            raise ExecutionError(why)
        self._python = python or sys.executable
        self._raw_result, self._kernel_environment = raw_result, kernel_environment
        self.shortcuts = shortcuts_enabled() if shortcuts is None else shortcuts
        self._pool = Pool(preload, self._python, start_timeout, self.shortcuts)
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
        server = self._pool.acquire(ServerKey("plain"))
        return dict(server.wait_ready(self._pool.start_timeout))

    def start(self, options: KernelOptions) -> WarmKernel:
        if self._pool.closed:
            raise ExecutionError("the warm engine was closed")
        key = ServerKey.of(options)
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

    def _fork(self, server: Server, options: KernelOptions) -> WarmKernel:
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
                from .. import sandbox

                workdir = server.work / f"k-{number}"
                workdir.mkdir(mode=0o700)
                copy_into(Path(options.workdir), workdir)
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
                from .. import sandbox

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
            remove_tree(scratch)
            if server.exclusive:
                remove_tree(workdir)
            raise
        host_pid = pid
        release: Callable[[], None] | None = None
        closing: Callable[[], None] | None = None
        if server.exclusive:
            assert server.host_pid is not None
            found = pidfd_pid(pidfd) if pidfd is not None else None
            found = found or find_nspid(server.host_pid, pid)
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
            run_ahead=self.shortcuts,
        )
        with self._pool.lock:
            self._pool.kernels.add(kernel)
        return kernel

    def prepare(self, options: KernelOptions, count: int = 1) -> None:
        """Start the servers that ``count`` concurrent kernels with ``options`` will use,
        without waiting for them: their imports overlap with the caller's own work (a
        batch loading its rubric and first notebooks). They are kept between kernels."""
        self._pool.prepare(ServerKey.of(options), max(1, count))

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> WarmFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
