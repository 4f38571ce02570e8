"""A grading session: what one batch keeps in this process while it runs, and nothing after.

``grade_many`` opens a :class:`GradingSession` and closes it in ``finally``. The session
owns what used to be process globals: the kernel factories (one per engine, so one warm
fork server per session, shared by its executors), the executors and :class:`Grader` of
each configuration, and, while grading threads run, the GIL hand-over interval. Closing
it stops every kernel and server it started, forgets its graders, empties the grader's
memo tables (:func:`grader.memo.clear_all`) and restores the interval, so a library user
who grades twice in one process gets nothing from the first run in the second
(tests/test_warm_batch.py proves it).

A worker process (the nbclient engine's pool, a Dask worker) grades with a session of its
own (:func:`worker_session`), which lives as long as that process.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import memo
from .execute import ENGINES, DriverExecutor, KernelFactory, Limits, executor
from .pipeline import Grader, Options
from .rubric import Rubric

if TYPE_CHECKING:
    from .model import SubmissionResult

__all__ = ["ConfigKey", "GradingSession", "worker_session"]


@dataclass(frozen=True)
class ConfigKey:
    """What an executor and a grader depend on (a batch configuration, minus its files)."""

    rubric_path: str
    engine: str
    limits: Limits
    options: Options
    sandbox: str
    hidden: tuple[str, ...]
    python: str | None = None  # the kernels' interpreter (None: the grader's own)


#: While grading threads run, a thread holding the GIL hands it over after this long
#: instead of Python's 5 ms (see :meth:`GradingSession.prompt_handoff`).
HANDOFF_SECONDS = 0.001
_handoff_lock = threading.Lock()
_handoff_users = 0
_handoff_saved = 0.0


class GradingSession:
    """The executors, graders and engines of one batch in this process (thread-safe)."""

    def __init__(
        self, engines: dict[str, Callable[[str | None], KernelFactory]] | None = None
    ) -> None:
        self._engines = dict(ENGINES if engines is None else engines)
        self._lock = threading.Lock()
        # by engine and kernels' interpreter (one warm fork server per session and python)
        self._factories: dict[tuple[str, str | None], KernelFactory] = {}
        self._executors: dict[ConfigKey, DriverExecutor] = {}
        self._graders: dict[ConfigKey, Grader] = {}
        self.closed = False

    # ------------------------------------------------------------------ what it owns
    def factory(self, engine: str, python: str | None = None) -> KernelFactory:
        """This session's factory of ``engine`` whose kernels ``python`` runs (one warm fork
        server per session and interpreter)."""
        with self._lock:
            return self._factory(engine, python)

    def _factory(self, engine: str, python: str | None = None) -> KernelFactory:
        if self.closed:
            raise RuntimeError("this grading session is closed")
        found = self._factories.get((engine, python))
        if found is None:
            found = self._factories[(engine, python)] = self._engines[engine](python)
        return found

    def executor(self, key: ConfigKey) -> DriverExecutor:
        with self._lock:
            return self._executor(key)

    def _executor(self, key: ConfigKey) -> DriverExecutor:
        run = self._executors.get(key)
        if run is None:
            factory = self._factory(key.engine, key.python) if key.engine in self._engines else None
            run = executor(
                key.engine,
                key.limits,
                sandbox=key.sandbox,
                hidden=[Path(h) for h in key.hidden],
                factory=factory,
                python=key.python,
            )
            self._executors[key] = run
        return run

    def prepare(self, key: ConfigKey, count: int) -> None:
        """Let the engine start what ``count`` concurrent notebooks need, in the background."""
        self.executor(key).prepare(count)

    def grader(self, key: ConfigKey, rubric: Rubric | None = None) -> Grader:
        """The Grader of ``key``, shared by this session's threads; rebuilt when ``rubric``
        is another version than the one it has."""
        with self._lock:
            grader = self._graders.get(key)
            if grader is None or (rubric is not None and grader.rubric.version != rubric.version):
                rubric = rubric or _load(key)
                grader = Grader(rubric, self._executor(key), key.options)
                self._graders[key] = grader
            return grader

    def grade(self, key: ConfigKey, path: str, student: str) -> SubmissionResult:
        """Grade one file (raises what the grader raises; ``batch.grade_one`` catches)."""
        return self.grader(key).grade_path(path, student)

    # ------------------------------------------------------------------ ending
    def close_engine(self, key: ConfigKey) -> None:
        """Stop the engine of ``key`` now (every kernel and server: an interrupted batch)."""
        with self._lock:
            self._graders.pop(key, None)
            run = self._executors.pop(key, None)
            factory = self._factories.pop((key.engine, key.python), None)
        if run is not None:
            run.close()
        if factory is not None:
            factory.close()

    def close(self) -> None:
        """Stop every kernel and server of this session, forget its graders and empty the
        grader's memo tables. Idempotent."""
        with self._lock:
            self.closed = True
            runs = list(self._executors.values())
            factories = list(self._factories.values())
            self._executors.clear()
            self._graders.clear()
            self._factories.clear()
        for run in runs:
            run.close()
        for factory in factories:
            factory.close()
        memo.clear_all()

    def __enter__(self) -> GradingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    @contextlib.contextmanager
    def prompt_handoff() -> Iterator[None]:
        """While threads grade: a thread holding the GIL hands it over after 1 ms instead
        of Python's 5 ms, so that a kernel's reply does not wait while another grading
        thread computes (docs/performance.md). The interval is process-wide: it is
        restored when the last of overlapping sessions' threads end."""
        global _handoff_users, _handoff_saved
        with _handoff_lock:
            if _handoff_users == 0:
                _handoff_saved = sys.getswitchinterval()
                sys.setswitchinterval(min(_handoff_saved, HANDOFF_SECONDS))
            _handoff_users += 1
        try:
            yield
        finally:
            with _handoff_lock:
                _handoff_users -= 1
                if _handoff_users == 0:
                    sys.setswitchinterval(_handoff_saved)


_WORKER: list[GradingSession] = []
_WORKER_LOCK = threading.Lock()


def worker_session() -> GradingSession:
    """The session of a worker process (a pool's or a Dask worker): it grades every
    submission sent to this process, and ends with it."""
    with _WORKER_LOCK:
        if not _WORKER or _WORKER[0].closed:
            _WORKER[:] = [GradingSession()]
        return _WORKER[0]


def _load(key: ConfigKey) -> Rubric:
    """The rubric (a YAML file or a public pack) of ``key``; its public part alone for
    ``--check`` (instructor errors in it surface here)."""
    from .pack import load_any, public_rubric

    rubric = load_any(key.rubric_path)
    return public_rubric(rubric) if key.options.public_only else rubric
