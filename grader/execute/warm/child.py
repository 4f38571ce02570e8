"""One notebook's kernel: set up after the fork, then serve requests. Runs in the kernel
child.

The forked child becomes a session leader, applies the same resource limits as the
nbclient engine's launcher (``launch.apply_limits``, from the same ``GRADER_LIMIT_*``
variables, then removed from the environment), chdirs into the workdir, adopts the
server's shell (:mod:`.shell`) with its outputs captured (:mod:`.capture`), and answers
the grader's requests (:mod:`.protocol`) one cell at a time, as ipykernel's
``do_execute`` would run them (stdin refused, SIGINT as KeyboardInterrupt).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import CodeType
from typing import Any

from ..kernel import REPLY_MIME
from ..launch import LIMIT_VARS, apply_limits
from ..procs import (
    PR_CAP_AMBIENT,
    PR_CAPBSET_DROP,
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    libc,
    os_error,
    prctl,
)
from .capture import FdPump, Outputs, flush_c_stdio
from .protocol import next_frame, pack_frame
from .shell import MAY_AWAIT, ShellTypes, adopt_shell
from .vault import Vault

_STDIN_MSG = "raw_input was called, but this frontend does not support input requests."
_GETPASS_MSG = "getpass was called, but this frontend does not support input requests."


def _ipykernel_argv(connection_file: str) -> list[str]:
    return [ipykernel_launcher(), "-f", connection_file]


@functools.lru_cache(maxsize=1)
def ipykernel_launcher() -> str:
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

    def check(result: int, what: str) -> None:
        if result != 0:
            raise os_error(f"weak isolation: {what}")

    server = os.getppid()
    check(prctl(PR_SET_PDEATHSIG, signal.SIGKILL), "PR_SET_PDEATHSIG")  # dies with the server
    if os.getppid() != server:
        os._exit(1)  # the server died before the death signal was armed
    check(prctl(PR_SET_NO_NEW_PRIVS, 1), "PR_SET_NO_NEW_PRIVS")
    if os.geteuid() != 0:
        return
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        last = int(fh.read())
    for cap in range(last + 1):
        check(prctl(PR_CAPBSET_DROP, cap), f"PR_CAPBSET_DROP {cap}")
    prctl(PR_CAP_AMBIENT, 4)  # PR_CAP_AMBIENT_CLEAR_ALL (EINVAL before Linux 4.3: nothing set)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()  # all zero: no effective, permitted or inheritable capability
    check(int(libc().capset(ctypes.byref(header), data)), "capset")


def child_main(
    chan_fd: int,
    log: int,
    request: Mapping[str, Any],
    vault: Vault,
    types: ShellTypes,
    close_fds: Sequence[int],
    path0: str,
    probe_code: CodeType | None = None,
) -> None:
    """Become one notebook's kernel: isolate, limit, adopt the server's shell (or build one,
    without the shortcuts), serve requests."""
    prctl(PR_SET_DUMPABLE, 1)  # a normal process again (the server is not dumpable)
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
        shell, outputs, pump = _setup_child(request, vault, types, log, path0, probe_code)
        chan.sendall(pack_frame({"id": 0, "ready": True, "pid": os.getpid()}))
        ready = True
        chan.setblocking(False)
        import asyncio

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_child_loop(chan, shell, outputs, pump, types.shortcuts))
    except BaseException as exc:
        # fds 1 and 2 may be captured by now: the log is where a broken kernel tells why
        with contextlib.suppress(Exception):
            os.write(log, traceback.format_exc().encode())
            if not ready:
                chan.setblocking(True)
                chan.sendall(pack_frame({"id": 0, "ready": False, "fatal": repr(exc)}))
        raise


def _setup_child(
    request: Mapping[str, Any],
    vault: Vault,
    types: ShellTypes,
    log: int,
    path0: str,
    probe_code: CodeType | None,
) -> tuple[Any, Outputs, FdPump]:
    env = {str(k): str(v) for k, v in dict(request["env"]).items()}
    parent_pid = env.get("JPY_PARENT_PID")
    env.update(vault.env_added)
    if parent_pid is not None:
        env["JPY_PARENT_PID"] = parent_pid
    limits = {var: env.pop(var, "") for var in LIMIT_VARS}
    os.environ.clear()
    os.environ.update(env)
    if request.get("weak"):
        _weak_isolation()
    apply_limits(limits, lambda line: os.write(log, f"warm: {line}\n".encode()))
    os.chdir(str(request["workdir"]))
    sys.argv = _ipykernel_argv(str(request["connection_file"]))
    sys.path[:] = _kernel_sys_path(path0)

    # fds 1 and 2 become pipes read into the outputs; the log keeps the original role
    outputs = Outputs(int(request.get("cap", 1 << 20)))
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.close(out_w)
    os.close(err_w)
    os.set_blocking(out_r, False)
    os.set_blocking(err_r, False)
    pump = FdPump(outputs, {out_r: "stdout", err_r: "stderr"})
    stream = types.stream
    sys.stdout = stream("stdout", outputs, os.dup(log), 1, pump)
    sys.stderr = stream("stderr", outputs, os.dup(log), 2, pump)

    if not vault.intact():  # the server hid them before its first fork (see serve)
        raise RuntimeError("the fork server imported its own hidden modules")
    if probe_code is not None:  # taken (and removed) by the driver's setup cell
        sys._grader_probe_code = probe_code  # type: ignore[attr-defined]
    vault.reseed()
    for name in [n for n in sys.modules if n == "grader" or n.startswith("grader.")]:
        del sys.modules[name]

    shell = adopt_shell(types, str(request["connection_file"]))
    shell.display_pub.session.sink = outputs.message
    pump.start()
    return shell, outputs, pump


async def _child_loop(
    chan: socket.socket, shell: Any, outputs: Outputs, pump: FdPump, shortcuts: bool
) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    buf = bytearray()
    last: tuple[Any, bool] | None = None  # the latest request's id; did it end cleanly?
    while True:
        frame = next_frame(buf)
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
            await loop.sock_sendall(chan, pack_frame({"id": frame.get("id"), "skipped": True}))
            continue  # cleanly: the grader decides what runs next
        await _execute_cell(shell, str(frame.get("code", "")), outputs, pump, shortcuts)
        exported = outputs.export()
        last = (frame.get("id"), ended_cleanly(exported))
        await loop.sock_sendall(chan, pack_frame({"id": frame.get("id"), "outputs": exported}))


def ended_cleanly(outputs: Sequence[Mapping[str, Any]]) -> bool:
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


async def _execute_cell(
    shell: Any, code: str, outputs: Outputs, pump: FdPump, shortcuts: bool = True
) -> None:
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
            if shortcuts and not MAY_AWAIT.search(code):
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
        flush_c_stdio()
        pump.drain_all()


async def _run_async(
    shell: Any, code: str, transformed_cell: str, exc_tuple: Any, outputs: Outputs
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
