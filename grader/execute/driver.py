"""Run a notebook top to bottom on any engine and serve probe requests afterwards.

Shared by every engine so that verdicts do not depend on the engine:

* a hidden setup cell installs the probe (sent as source text) and any conventional
  imports the notebook uses but never makes (``np`` with no ``import numpy as np``);
* cells run in order; a failing cell does not stop the run;
* a cell that fails with ``NameError`` for a name a *later* cell defines is deferred and
  re-run once that cell has run (the notebook only worked in the student's own session);
* package installs (``!pip install d2l``) are skipped, keeping line numbers;
* after each student cell the probe captures what it displayed and the names it assigned;
* a crash or memory kill restarts the kernel and re-runs the other cells, skipping the
  culprit; the notebook deadline stops everything.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import analysis
from ..errors import ProbeError, ProbeProtocolError, ProbeTimeout
from ..model import CellError, CellRun, Execution, Killed, Notebook, Value
from ..probe_source import PROBE_FILENAME, PROBE_SOURCE
from ..probe_source import pack as _pack
from ..values import decode
from .files import remove_tree
from .kernel import (
    Kernel,
    KernelDied,
    KernelFactory,
    KernelOptions,
    Limits,
    RawResult,
    Run,
    SandboxChoice,
)

HIDDEN = "# grader:hidden\n"
_NAME_ERROR = re.compile(r"name '([A-Za-z_][A-Za-z0-9_]*)' is not defined")
_MISSING_MODULE = re.compile(r"No module named '([A-Za-z0-9_.]+)'")
MAX_RESTARTS = 3
AHEAD = 8  # cells an engine may run ahead of the grader (``send_ahead``)
_PROBE_PACKED = _pack(PROBE_SOURCE)  # sent to every kernel


def _setup_code(imports: list[str]) -> str:
    """The hidden first cell: install the probe. An engine may have compiled the probe's
    source before the kernel existed (the warm engine's fork server does, once); any other
    kernel compiles the source it is sent."""
    lines = [
        HIDDEN,
        "import sys as _grader_sys, types as _grader_types",
        "_grader_mod = _grader_types.ModuleType('_grader_probe')",
        "_grader_code = _grader_sys.__dict__.pop('_grader_probe_code', None)",
        f"if getattr(_grader_code, 'co_filename', None) != {PROBE_FILENAME!r}:",
        "    import zlib as _grader_zlib, base64 as _grader_b64",
        f"    _grader_code = compile(_grader_zlib.decompress(_grader_b64.b64decode("
        f"'{_PROBE_PACKED}')).decode(), {PROBE_FILENAME!r}, 'exec')",
        "    del _grader_zlib, _grader_b64",
        "exec(_grader_code, _grader_mod.__dict__)",
        "__grader__ = _grader_mod.install(get_ipython().user_ns, get_ipython())",
        "del _grader_sys, _grader_types, _grader_mod, _grader_code",
        *imports,
    ]
    return "\n".join(lines) + "\n"


def _call_code(payload: Mapping[str, Any]) -> str:
    """One statement: short code keeps IPython's per-cell work (tokenising, hashing the
    cell for its name, compiling) small, as probe requests are many of a run's cells.
    Long requests (arrays for a batch of calls) travel compressed for the same reason."""
    text = json.dumps(payload)
    if len(text) > _PACK_OVER:
        return f"{HIDDEN}__grader__.reply_packed('{_pack(text)}')\n"
    return f"{HIDDEN}__grader__.reply({json.dumps(text)})\n"


_PACK_OVER = 600


def _capture_code(source: str) -> str:
    return f"{HIDDEN}__grader__.reply_capture({json.dumps(source)})\n"


@dataclass
class _CellState:
    index: int
    source: str
    facts: analysis.CellFacts
    attempts: int = 0
    first_error: CellError | None = None
    record: CellRun | None = None


@dataclass
class _Progress:
    killed: Killed | None = None
    notes: list[str] = field(default_factory=list)
    skip: set[int] = field(default_factory=set)  # cells that crashed the kernel
    restarts: int = 0


class LiveRun(Run):
    """A notebook that has run: its record, and a live kernel to probe."""

    def __init__(
        self, execution: Execution, kernel: Kernel | None, limits: Limits, setup: str = ""
    ) -> None:
        self.execution = execution
        self._kernel = kernel
        self._limits = limits
        self._setup = setup or _setup_code([])
        self._reinstalled = False
        self._budget = limits.probe_budget
        self._ids = itertools.count(1)

    @property
    def alive(self) -> bool:
        return self._kernel is not None

    def probe(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Send one request to the probe and return its validated plain-data reply. If the
        notebook deleted or replaced the probe object (``%reset -f``, ``del __grader__``),
        the probe is installed again once."""
        try:
            return self._probe_once(request)
        except ProbeProtocolError:
            if self._kernel is None or self._reinstalled:
                raise
            self._reinstalled = True
            raw = self._kernel.execute(self._setup, 60)
            if raw.error is not None:
                raise
            return self._probe_once(request)

    def probe_many(self, requests: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Several requests in one round trip (run in order, each with its own time limit);
        their replies, validated like :meth:`probe`'s."""
        if not requests:
            return []
        reply = self.probe({"op": "batch", "requests": [dict(r) for r in requests]})
        replies = reply.get("replies")
        if (
            not reply.get("ok")
            or not isinstance(replies, list)
            or len(replies) != len(requests)
            or not all(isinstance(r, dict) and isinstance(r.get("ok"), bool) for r in replies)
        ):
            raise ProbeProtocolError("malformed reply to a batch of requests")
        return [dict(r) for r in replies]

    def _probe_once(self, request: Mapping[str, Any]) -> dict[str, Any]:
        if self._kernel is None:
            raise ProbeError("the notebook's kernel is not running")
        if self._budget <= 0:
            raise ProbeTimeout("the time budget for calling the submission's code is used up")
        req_id = f"r{next(self._ids)}"
        payload = {**request, "id": req_id, "timeout": self._limits.probe_timeout}
        calls = len(request["requests"]) if request.get("op") == "batch" else 1
        start = time.monotonic()
        try:
            raw = self._kernel.execute(_call_code(payload), self._limits.probe_timeout * calls + 5)
        except KernelDied as exc:
            self._kernel.close()
            self._kernel = None
            raise ProbeError(
                f"the kernel died while running the submission's code ({exc})"
            ) from exc
        finally:
            self._budget -= time.monotonic() - start
        if raw.timed_out:
            raise ProbeTimeout(
                f"the submission's code did not return within {payload['timeout']} s"
            )
        matching = [r for r in raw.replies if r.get("id") == req_id]
        if len(matching) != 1:
            raise ProbeProtocolError(f"expected one reply to {req_id}, got {len(matching)}")
        reply = dict(matching[0])
        if not isinstance(reply.get("ok"), bool):
            raise ProbeProtocolError("reply has no ok flag")
        return reply

    def close(self) -> None:
        """The run is over: nothing waits for the kernel's own clean-up (a warm server is
        not reused before it is done)."""
        if self._kernel is not None:
            self._kernel.close(wait=False)
            self._kernel = None


class Driver:
    """Runs notebooks with one engine (a :class:`KernelFactory`)."""

    def __init__(
        self,
        factory: KernelFactory,
        limits: Limits | None = None,
        sandbox: SandboxChoice | None = None,
        hidden: tuple[Path, ...] = (),
    ) -> None:
        self.factory = factory
        self.limits = limits or Limits()
        self.sandbox = sandbox or SandboxChoice()
        self.hidden = hidden

    def prepare(self, count: int) -> None:
        """Let the engine start what ``count`` concurrent notebooks will need."""
        options = KernelOptions(
            Path(tempfile.gettempdir()),
            self.limits,
            time.monotonic(),
            sandbox=self.sandbox,
            hidden=self.hidden,
        )
        self.factory.prepare(options, count)

    @contextmanager
    def run(self, notebook: Notebook) -> Iterator[LiveRun]:
        workdir = Path(tempfile.mkdtemp(prefix="grader-run-"))
        live: LiveRun | None = None
        try:
            live = self._execute(notebook, workdir)
            yield live
        finally:
            if live is not None:
                live.close()
            # iterative and symlink-safe: a student can leave a 2000-deep tree (rmtree
            # would hit RecursionError) or chmod-000 directories behind
            remove_tree(workdir)

    # ------------------------------------------------------------------ execution
    def _execute(self, notebook: Notebook, workdir: Path) -> LiveRun:
        start = time.monotonic()
        options = KernelOptions(
            workdir,
            self.limits,
            start + self.limits.notebook_timeout,
            sandbox=self.sandbox,
            hidden=self.hidden,
        )
        cells = [
            _CellState(c.index, c.source, analysis.facts(c.source))
            for c in notebook.cells
            if c.kind == "code" and c.source.strip()
        ]
        added = analysis.missing_imports([c.source for c in cells])
        rescued = analysis.rescue_imports([c.source for c in cells])
        imports = added + rescued
        progress = _Progress(notes=[f"added missing `{line}`" for line in added])
        progress.notes.extend(
            f"ran `{line}` ahead of time: the cell that imports it cannot run" for line in rescued
        )
        if self.sandbox.mode != "bwrap" and self.sandbox.note:
            progress.notes.append(f"sandbox: {self.sandbox.note}")
        for state in cells:
            _, installs = analysis.strip_installs(state.source)
            progress.notes.extend(
                f"skipped `{cmd}` (the grader does not install packages)" for cmd in installs
            )
        kernel = self._run_all(cells, options, imports, progress)
        records = tuple(c.record for c in cells if c.record is not None)
        missing = sorted(
            {
                m.group(1).split(".")[0]
                for r in records
                if r.error is not None
                for m in [_MISSING_MODULE.search(r.error.evalue)]
                if m is not None
            }
        )
        execution = Execution(
            cells=records,
            seconds=time.monotonic() - start,
            killed=progress.killed,
            engine=self.factory.name,
            notes=tuple(progress.notes),
            missing_modules=tuple(missing),
        )
        return LiveRun(execution, kernel, self.limits, _setup_code(imports))

    def _run_all(
        self,
        cells: list[_CellState],
        options: KernelOptions,
        imports: list[str],
        progress: _Progress,
    ) -> Kernel | None:
        """Run every cell; on a crash restart and replay. Returns the live kernel, if any."""
        while True:
            try:
                kernel = self.factory.start(options)
            except KernelDied as exc:
                progress.killed = exc.reason
                return None
            try:
                self._setup(kernel, imports)
                self._run_cells(kernel, cells, progress)
                return kernel
            except KernelDied as exc:
                kernel.close()
                culprit = self._culprit(cells)
                if culprit is not None:
                    culprit.record = _crashed_record(culprit, exc)
                    progress.skip.add(culprit.index)
                progress.killed = exc.reason
                if exc.reason == "timeout" or progress.restarts >= MAX_RESTARTS:
                    return None
                progress.restarts += 1
                progress.notes.append(
                    f"the kernel {_died_words(exc)} in cell {culprit.index + 1 if culprit else '?'}"
                    "; restarted and ran the other cells without it"
                )

    def _setup(self, kernel: Kernel, imports: list[str]) -> None:
        raw = kernel.execute(_setup_code(imports), 60)
        if raw.error is not None:
            raise KernelDied("crashed", f"grader setup failed: {raw.error[0]}: {raw.error[1]}")

    @staticmethod
    def _culprit(cells: list[_CellState]) -> _CellState | None:
        running = [c for c in cells if c.attempts > 0 and c.record is None]
        return running[-1] if running else None

    def _run_cells(self, kernel: Kernel, cells: list[_CellState], progress: _Progress) -> None:
        deferred: dict[str, list[_CellState]] = {}
        later_defs = _later_definitions(cells)
        for pos, state in enumerate(cells):
            if state.index in progress.skip:
                continue
            if state.record is not None:  # replaying after a restart
                self._exec(kernel, state, record=False)
                continue
            ahead = _ahead_of(cells, pos, progress, set(deferred))
            if ahead:
                kernel.send_ahead(*(analysis.strip_installs(c.source)[0] for c in ahead))
            self._exec(kernel, state, record=True)
            missing = _missing_name(state.record)
            if missing is not None and missing in later_defs.get(pos, set()):
                deferred.setdefault(missing, []).append(state)
            for name in state.facts.defines & set(deferred):
                for waiting in deferred.pop(name):
                    self._exec(kernel, waiting, record=True)

    def _exec(self, kernel: Kernel, state: _CellState, record: bool) -> None:
        source, _ = analysis.strip_installs(state.source)
        if record:
            state.attempts += 1
            if state.record is not None and state.record.error is not None:
                state.first_error = state.record.error
            state.record = None
        raw = kernel.execute(source, self.limits.cell_timeout)
        if raw.timed_out:
            self._ensure_responsive(kernel)
        ran = self._continue_after_missing_module(kernel, source, raw)
        if not record:  # replaying after a restart: only the kernel's state matters
            return
        captured = _hook_capture(raw) if ran is raw and not raw.timed_out else None
        if captured is None:  # the probe's hook did not publish it: ask
            captured = self._capture(kernel, source)
        state.record = _cell_record(state, ran, captured)

    def _continue_after_missing_module(
        self, kernel: Kernel, source: str, raw: RawResult
    ) -> RawResult:
        """A cell stopped by a missing module (``from d2l import torch as d2l``) runs on
        after that import, so what does not depend on the module is still graded. The
        cell keeps its ModuleNotFoundError for the report."""
        if raw.error is None or raw.error[0] not in ("ModuleNotFoundError", "ImportError"):
            return raw
        m = _MISSING_MODULE.search(raw.error[1])
        rest = analysis.after_failed_import(source, m.group(1).split(".")[0]) if m else None
        if rest is None:
            return raw
        more = kernel.execute(rest, self.limits.cell_timeout)
        if more.timed_out:
            self._ensure_responsive(kernel)
        return RawResult(
            text=raw.text + more.text,
            stderr=raw.stderr + more.stderr,
            replies=raw.replies + more.replies,
            error=raw.error,
            timed_out=more.timed_out,
            seconds=raw.seconds + more.seconds,
        )

    @staticmethod
    def _ensure_responsive(kernel: Kernel) -> None:
        """After an interrupted cell the kernel must answer; a kernel that ignores
        interrupts is killed (the driver restarts it without that cell)."""
        raw = kernel.execute(HIDDEN + "None", 10)
        if raw.timed_out:
            kernel.close()
            raise KernelDied("crashed", "the cell ignored the interrupt after its timeout")

    @staticmethod
    def _capture(kernel: Kernel, source: str) -> dict[str, Any]:
        raw = kernel.execute(_capture_code(source), 30)
        for reply in raw.replies:
            if _is_capture(reply):
                return dict(reply)
        return {"results": [], "bindings": {}}


def _is_capture(reply: Mapping[str, Any]) -> bool:
    return isinstance(reply.get("bindings"), Mapping) and isinstance(reply.get("results"), list)


def _hook_capture(raw: RawResult) -> dict[str, Any] | None:
    """The capture the probe's post_run_cell hook published as the cell's last output."""
    last = raw.replies[-1] if raw.replies else None
    if last is None or last.get("capture") is not True or not _is_capture(last):
        return None
    return dict(last)


def _next_fresh(
    cells: list[_CellState], pos: int, progress: _Progress, releases: AbstractSet[str]
) -> _CellState | None:
    """The cell the driver runs after ``cells[pos]`` if that one ends cleanly (no error,
    its capture published), which an engine may start without waiting for the grader
    (``send_ahead``): the next cell, unless it is to be skipped or replayed, or ``pos``
    defines a name that deferred cells wait for (they run first)."""
    if releases or pos + 1 >= len(cells):
        return None
    after = cells[pos + 1]
    if after.index in progress.skip or after.record is not None:
        return None
    return after


def _ahead_of(
    cells: list[_CellState], pos: int, progress: _Progress, deferred: AbstractSet[str]
) -> list[_CellState]:
    """The cells the driver runs after ``cells[pos]``, in order, as long as each one before
    ends cleanly (``_next_fresh`` of each), at most ``AHEAD``: while the grader judges
    what a cell did, the kernel runs on instead of waiting for it."""
    ahead: list[_CellState] = []
    while len(ahead) < AHEAD:
        after = _next_fresh(cells, pos, progress, cells[pos].facts.defines & deferred)
        if after is None:
            break
        ahead.append(after)
        pos += 1
    return ahead


def _later_definitions(cells: list[_CellState]) -> dict[int, set[str]]:
    """For each cell position, the names defined by cells after it."""
    out: dict[int, set[str]] = {}
    acc: set[str] = set()
    for pos in range(len(cells) - 1, -1, -1):
        out[pos] = set(acc)
        acc |= cells[pos].facts.defines
    return out


def _missing_name(record: CellRun | None) -> str | None:
    if record is None or record.error is None or record.error.ename != "NameError":
        return None
    m = _NAME_ERROR.search(record.error.evalue)
    return m.group(1) if m else None


def _safe_decode(data: Any) -> Value | None:
    try:
        return decode(data)
    except ProbeProtocolError:
        return None


def _cell_record(state: _CellState, raw: RawResult, captured: Mapping[str, Any]) -> CellRun:
    error = None
    if raw.error is not None:
        ename, evalue = raw.error
        if raw.timed_out:
            ename, evalue = "Timeout", "the cell was interrupted after its time limit"
        error = CellError(cell=state.index + 1, ename=ename, evalue=evalue[:500])
    results = tuple(
        v for v in (_safe_decode(x) for x in captured.get("results", [])) if v is not None
    )
    bindings = {
        str(k): v
        for k, v in ((k, _safe_decode(x)) for k, x in dict(captured.get("bindings", {})).items())
        if v is not None
    }
    return CellRun(
        index=state.index,
        text=raw.text,
        results=results,
        bindings=bindings,
        error=error,
        timed_out=raw.timed_out,
        attempts=state.attempts,
        first_error=state.first_error,
        seconds=raw.seconds,
    )


def _died_words(exc: KernelDied) -> str:
    return {"memory": "ran out of memory", "timeout": "ran out of time"}.get(exc.reason, "died")


def _crashed_record(state: _CellState, exc: KernelDied) -> CellRun:
    words = {
        "memory": "the cell used more memory than the limit and was stopped",
        "timeout": "the notebook ran out of time in this cell",
        "crashed": "the kernel died while running this cell",
    }[exc.reason]
    ename = {"memory": "MemoryLimit", "timeout": "Timeout", "crashed": "KernelDied"}[exc.reason]
    if exc.reason == "crashed" and exc.detail.startswith("the cell"):
        words = exc.detail  # e.g. "the cell ignored the interrupt after its timeout"
    return CellRun(
        index=state.index,
        error=CellError(cell=state.index + 1, ename=ename, evalue=words),
        attempts=state.attempts,
        timed_out=exc.reason == "timeout",
    )
