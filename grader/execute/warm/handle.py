"""The grader's handle on one forked kernel. Runs in the grader process.

A :class:`WarmKernel` talks to its kernel over its own socket (:mod:`.protocol`), never
through the server, and turns the outputs into a :class:`RawResult` with the nbclient
engine's own ``raw_result``.

Cells sent ahead (``WarmKernel.send_ahead``, used by the driver for up to ``driver.AHEAD``
next cells; a shortcut, see :mod:`.shortcuts`): each request carries ``if_clean: <id of
the request before it>``, and the kernel runs it as soon as that one ends if it ended
cleanly (no error output, the probe's capture published as its last reply): exactly when
the driver's next step is that cell. Otherwise the kernel answers ``skipped`` (and so
skips the rest of the chain) and the grader sends what the driver decides. A cell's time
limit counts from its predecessor's answer.

Timeouts interrupt the kernel's process group with SIGINT (like Jupyter's interrupt); the
per-notebook deadline and memory limit are enforced by a :class:`Watchdog` on the kernel
(on every process of its sandbox but the server when the server is exclusive). The grader
drives a sandboxed kernel by its host pid (read from the pidfd the server sends).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import select
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import ExecutionError
from ..files import remove_tree
from ..kernel import Kernel, KernelDied, KernelOptions, RawResult
from ..procs import children
from ..watchdog import Watchdog, kill_group, tree_pss, tree_rss
from .protocol import next_frame, pack_frame

INTERRUPT_GRACE = 4.0  # s to wait for the answer after SIGINT (nbclient's iopub_timeout)
# What the nbclient engine reports for an interrupted cell that produced no error itself.
_TIMEOUT_ERROR = ("Timeout", "the cell was interrupted after its time limit")


# ============================================================================= grader side
class WarmKernel(Kernel):
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
        run_ahead: bool = True,
    ) -> None:
        self.pid = pid
        self._run_ahead = run_ahead  # send_ahead is a shortcut (see .shortcuts)
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
            else SandboxWatchdog(pid, options.deadline, memory, sandbox_init)
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
        if not self._run_ahead:
            return
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
        self._out += pack_frame(frame)
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
        self.log_tail = log_tail(self._log)
        remove_tree(self._scratch)
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
            frame = next_frame(self._buf)
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


def log_tail(path: Path, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - limit))
            text = fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return f"; log: {text[-limit:]}" if text else ""


class SandboxWatchdog(Watchdog):
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
