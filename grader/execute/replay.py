"""Record a run once, replay it without a kernel.

``RecordingExecutor`` wraps any executor and stores, per notebook, the execution record and
every probe request with its reply, as plain JSON. ``ReplayExecutor`` serves them back, so
rubric and check tests run in milliseconds with no kernel; a request that was not recorded
raises :class:`~grader.errors.ProbeError`, which checks turn into "could not be checked".
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ProbeError
from ..model import CellError, CellRun, Execution, Notebook
from ..values import decode, encode_value
from .kernel import Run

Recording = dict[str, Any]


def execution_to_json(ex: Execution) -> dict[str, Any]:
    def err(e: CellError | None) -> dict[str, Any] | None:
        return None if e is None else {"cell": e.cell, "ename": e.ename, "evalue": e.evalue}

    return {
        "seconds": ex.seconds,
        "killed": ex.killed,
        "engine": ex.engine,
        "notes": list(ex.notes),
        "missing_modules": list(ex.missing_modules),
        "cells": [
            {
                "index": c.index,
                "text": c.text,
                "results": [encode_value(v) for v in c.results],
                "bindings": {k: encode_value(v) for k, v in c.bindings.items()},
                "error": err(c.error),
                "timed_out": c.timed_out,
                "attempts": c.attempts,
                "first_error": err(c.first_error),
                "seconds": c.seconds,
            }
            for c in ex.cells
        ],
    }


def execution_from_json(data: Mapping[str, Any]) -> Execution:
    def err(e: Mapping[str, Any] | None) -> CellError | None:
        return None if e is None else CellError(int(e["cell"]), str(e["ename"]), str(e["evalue"]))

    return Execution(
        cells=tuple(
            CellRun(
                index=int(c["index"]),
                text=str(c["text"]),
                results=tuple(decode(v) for v in c["results"]),
                bindings={str(k): decode(v) for k, v in c["bindings"].items()},
                error=err(c["error"]),
                timed_out=bool(c["timed_out"]),
                attempts=int(c["attempts"]),
                first_error=err(c["first_error"]),
                seconds=float(c["seconds"]),
            )
            for c in data["cells"]
        ),
        seconds=float(data["seconds"]),
        killed=data["killed"],
        engine=str(data.get("engine", "replay")),
        notes=tuple(data.get("notes", ())),
        missing_modules=tuple(data.get("missing_modules", ())),
    )


def _key(request: Mapping[str, Any]) -> str:
    return json.dumps(request, sort_keys=True)


@dataclass
class ReplayRun(Run):
    execution: Execution
    replies: Mapping[str, dict[str, Any]]
    live: bool = True

    @property
    def alive(self) -> bool:
        return self.live

    def probe(self, request: dict[str, Any]) -> dict[str, Any]:
        reply = self.replies.get(_key(request))
        if reply is None:
            raise ProbeError("this request was not recorded")
        return dict(reply)


class ReplayExecutor:
    """Serves recorded runs, keyed by notebook path."""

    name = "replay"

    def __init__(self, recordings: Mapping[str, Recording]) -> None:
        self._recordings = dict(recordings)

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayExecutor:
        return cls(json.loads(Path(path).read_text()))

    @contextmanager
    def _run(self, notebook: Notebook) -> Iterator[ReplayRun]:
        rec = self._recordings.get(notebook.path)
        if rec is None:
            raise ProbeError(f"no recording for {notebook.path}")
        yield ReplayRun(
            execution_from_json(rec["execution"]),
            rec.get("probes", {}),
            live=bool(rec.get("alive", True)),
        )

    def run(self, notebook: Notebook) -> AbstractContextManager[ReplayRun]:
        return self._run(notebook)


@dataclass
class _RecordingRun:
    inner: Any
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def execution(self) -> Execution:
        return self.inner.execution  # type: ignore[no-any-return]

    @property
    def alive(self) -> bool:
        return bool(self.inner.alive)

    def probe(self, request: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = self.inner.probe(request)
        self.probes[_key(request)] = reply
        return reply

    def probe_many(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """One request at a time, each recorded under its own key (a replay has no batch)."""
        return [self.probe(request) for request in requests]


class RecordingExecutor:
    """Wraps an executor; ``recordings`` fills as notebooks run (save with ``save``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = f"recording({inner.name})"
        self.recordings: dict[str, Recording] = {}

    @contextmanager
    def _run(self, notebook: Notebook) -> Iterator[_RecordingRun]:
        with self.inner.run(notebook) as run:
            rec = _RecordingRun(run)
            try:
                yield rec
            finally:
                self.recordings[notebook.path] = {
                    "execution": execution_to_json(run.execution),
                    "probes": rec.probes,
                    "alive": bool(run.alive),
                }

    def run(self, notebook: Notebook) -> AbstractContextManager[_RecordingRun]:
        return self._run(notebook)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.recordings))
