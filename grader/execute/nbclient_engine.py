"""The nbclient engine: a real Jupyter kernel per submission, driven by nbclient."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import sandbox
from .kernel import REPLY_MIME, Kernel, KernelDied, KernelFactory, KernelOptions, RawResult
from .watchdog import Watchdog, kill_group

KERNEL_NAME = "grader-python"
LAUNCHER = sandbox.LAUNCHER
_QUIET = logging.getLogger("grader.nbclient")  # nbclient logs timeouts as errors: they are data
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False
_TIMEOUT_ENAME = "CellTimeout"


@functools.lru_cache(maxsize=8)
def _address_space(python: str) -> int:
    """Bytes of address space a kernel of ``python`` maps once torch is imported (0 where
    it cannot be told). A CUDA build of torch maps about 3 GB of libraries that it never
    touches on a CPU."""
    code = (
        "import importlib.util, re\n"
        "if importlib.util.find_spec('torch'): import torch\n"
        "print(re.search(r'VmSize:\\s+(\\d+) kB', open('/proc/self/status').read())[1])"
    )
    try:
        out = subprocess.run(
            [python, "-I", "-c", code], capture_output=True, text=True, timeout=120, check=True
        )
        return int(out.stdout.split()[-1]) * 1024
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return 0


def kernel_environment(options: KernelOptions, python: str = sys.executable) -> dict[str, str]:
    """Environment of a kernel: limits for the launcher, one thread, no user site. The
    address-space backstop (the RSS watchdog is the real memory limit) grows by what
    ``python``'s torch maps beyond the grader's own (a course environment's CUDA build)."""
    limits = options.limits
    extra = (
        0
        if python == sys.executable
        else max(0, _address_space(python) - _address_space(sys.executable))
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GRADER_", "JPY_", "JUPYTER_")) or k == "JUPYTER_PLATFORM_DIRS"
    }
    env.update(
        {
            "GRADER_LIMIT_AS": str(limits.memory_bytes + 2 * 1024**3 + extra),
            "GRADER_LIMIT_FSIZE": str(limits.max_file_bytes),
            "GRADER_LIMIT_CPU": str(int(limits.notebook_timeout) + 30),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
    )
    env.update(options.env)
    return env


def kernel_argv(python: str = sys.executable) -> list[str]:
    """The kernel command before sandboxing: the rlimit launcher, then ipykernel, both run
    by ``python`` (the one place where this engine chooses the kernel's interpreter)."""
    return [
        python,
        str(LAUNCHER),
        "--",
        python,
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
    ]


def _write_kernelspec(root: Path, argv: list[str], message_interrupts: bool) -> Path:
    """A kernelspec for one kernel (its sandbox argv names that kernel's own paths)."""
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec: dict[str, object] = {
        "argv": argv,
        "display_name": "grader (Python 3)",
        "language": "python",
    }
    if message_interrupts:  # bwrap does not forward SIGINT: interrupt over the control channel
        spec["interrupt_mode"] = "message"
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return root / "kernels"


@functools.lru_cache(maxsize=8)
def _python_prefixes(python: str) -> tuple[Path, ...]:
    return sandbox.kernel_python_prefixes(python)


class NbclientKernel(Kernel):
    """One Jupyter kernel process."""

    def __init__(self, options: KernelOptions, python: str = sys.executable) -> None:
        # imported here, not with the module: the warm engine uses this module's kernel
        # environment and output mapping, and starts its servers before anything heavy
        import nbformat
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient

        self._options = options
        self._nb = nbformat.v4.new_notebook()
        # Unix sockets, not TCP: nothing listens on the network, and it works inside a
        # sandbox with a network namespace of its own.
        self._runtime = Path(tempfile.mkdtemp(prefix="grader-kernel-"))
        env = kernel_environment(options, python)
        mode = options.sandbox.mode
        argv = kernel_argv(python)
        if mode != "none":
            spec = sandbox.SandboxSpec(
                workdir=options.workdir,
                runtime_dir=self._runtime,
                python_prefixes=_python_prefixes(python) if mode == "bwrap" else (),
                hidden=tuple(options.hidden),
                limits=options.limits,
                env=env,
            )
            # The sandbox itself starts from the allowlisted environment only: bwrap's PID 1
            # keeps the environment it was started with, readable as /proc/1/environ.
            outer_env = sandbox.sandbox_environment(argv, spec, mode)
            argv = sandbox.wrap(argv, spec, mode)
            env = outer_env
        kernels = _write_kernelspec(self._runtime, argv, message_interrupts=mode == "bwrap")
        km = AsyncKernelManager(kernel_name=KERNEL_NAME)
        km.kernel_spec_manager = KernelSpecManager(kernel_dirs=[str(kernels)])
        km.transport = "ipc"
        km.ip = str(self._runtime / "kernel")
        km.connection_file = str(self._runtime / "connection.json")
        self._log = open(self._runtime / "kernel.log", "wb")  # noqa: SIM115
        self._client = NotebookClient(
            self._nb,
            km=km,
            kernel_name=KERNEL_NAME,
            timeout=options.limits.cell_timeout,
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={"ename": _TIMEOUT_ENAME, "evalue": "cell timed out"},
            record_timing=False,
            startup_timeout=60,
            resources={"metadata": {"path": str(options.workdir)}},
        )
        self._client.log = _QUIET
        self._closed = False
        self._client.start_new_kernel(
            cwd=str(options.workdir),
            env=env,
            stdout=self._log,
            stderr=self._log,
        )
        self._client.start_new_kernel_client()
        process = getattr(km.provisioner, "process", None)
        self.pid: int = int(process.pid) if process is not None else -1
        self._watchdog = Watchdog(self.pid, options.deadline, options.limits.memory_bytes)

    def execute(self, code: str, timeout: float) -> RawResult:
        import nbformat
        from nbclient.exceptions import DeadKernelError

        if self._closed:
            raise KernelDied("crashed", "the kernel was already closed")
        self._check_watchdog()
        cell = nbformat.v4.new_code_cell(code)
        self._nb.cells.append(cell)
        remaining = self._options.deadline - time.monotonic()
        self._client.timeout = max(1, int(min(timeout, remaining + 1)))
        start = time.perf_counter()
        try:
            self._client.execute_cell(cell, len(self._nb.cells) - 1, store_history=True)
        except DeadKernelError as exc:
            self._check_watchdog()
            raise KernelDied("crashed", str(exc)) from exc
        except RuntimeError as exc:  # kernel client channels closed under us
            self._check_watchdog()
            raise KernelDied("crashed", str(exc)) from exc
        seconds = time.perf_counter() - start
        self._check_watchdog()
        self._nb.cells[-1] = nbformat.v4.new_code_cell("")  # keep memory flat
        result = raw_result(cell.get("outputs", []), seconds, self._options.limits.max_output_bytes)
        if seconds >= self._client.timeout:  # interrupted (or not even started) in time
            error = result.error or ("Timeout", "the cell was interrupted after its time limit")
            result = dataclasses.replace(result, timed_out=True, error=error)
        return result

    def _check_watchdog(self) -> None:
        fired = self._watchdog.fired
        if fired is not None:
            self.close()
            raise KernelDied(fired)

    def close(self, wait: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        self._watchdog.stop()
        with contextlib.suppress(Exception):  # cleanup must not mask the real outcome
            self._client._cleanup_kernel()
        if self.pid > 0:
            kill_group(self.pid)
        self._log.close()
        shutil.rmtree(self._runtime, ignore_errors=True)


def raw_result(outputs: list[Mapping[str, Any]], seconds: float, cap: int) -> RawResult:
    text: list[str] = []
    stderr: list[str] = []
    replies: list[Mapping[str, Any]] = []
    error: tuple[str, str] | None = None
    timed_out = False
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            (stderr if out.get("name") == "stderr" else text).append(str(out.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            reply = data.get(REPLY_MIME)
            if isinstance(reply, Mapping):
                replies.append(reply)
            elif "text/plain" in data:
                text.append(str(data["text/plain"]) + "\n")
        elif kind == "error":
            ename, evalue = str(out.get("ename", "")), str(out.get("evalue", ""))
            if ename == _TIMEOUT_ENAME:
                timed_out = True
            error = (ename, evalue)
    joined = "".join(text)
    return RawResult(
        text=joined[:cap],
        stderr="".join(stderr)[:cap],
        replies=tuple(replies),
        error=error,
        timed_out=timed_out,
        seconds=seconds,
    )


class NbclientFactory(KernelFactory):
    """Kernels run by ``python`` (default: the grader's own interpreter); its environment
    needs ipykernel."""

    name = "nbclient"

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable

    def start(self, options: KernelOptions) -> NbclientKernel:
        return NbclientKernel(options, self.python)
