"""Grade many submissions: in parallel, with a gradebook, resumable.

Each submission is graded outside the student's process: with the warm engine by threads
of this process (the notebooks run in the engine's sandboxed kernels), with nbclient in a
local pool of worker processes, or on a Dask cluster with ``scheduler``. One bad
submission never stops the batch: anything that goes wrong becomes that submission's
result. With a gradebook, a submission whose content and rubric version are unchanged is
not graded again (``regrade`` forces it), each result is stored as soon as it arrives (an
interrupted batch resumes where it stopped), and instructor overrides are applied.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TextIO

from .execute import Limits, default_engine
from .i18n import student_language
from .model import SubmissionResult
from .pipeline import Options, content_hash, student_id
from .session import ConfigKey, GradingSession, worker_session


@dataclass(frozen=True)
class BatchConfig:
    rubric_path: str
    engine: str = field(default_factory=default_engine)  # warm on Linux
    limits: Limits = field(default_factory=Limits)
    options: Options = field(default_factory=Options)
    jobs: int = 0  # 0: one per core
    gradebook: str | None = None
    regrade: bool = False
    scheduler: str | None = None  # tcp://host:port of a Dask scheduler
    student_pattern: str | None = None
    sandbox: str = "auto"
    hidden: tuple[str, ...] = ()  # paths no submission may see (see execute.course_paths)
    kernel_python: str | None = None  # the kernels' interpreter (None: the grader's own)


@dataclass(frozen=True)
class Submission:
    path: str
    student: str
    content_hash: str | None  # None when the file cannot be read


# ----------------------------------------------------------------------------- workers


def _key(config: BatchConfig) -> ConfigKey:
    return ConfigKey(
        config.rubric_path,
        config.engine,
        config.limits,
        config.options,
        config.sandbox,
        config.hidden,
        config.kernel_python,
    )


def _prepare_quietly(session: GradingSession, config: BatchConfig, count: int) -> None:
    """Start the engine's servers; a failure is left for the first notebook to meet."""
    with contextlib.suppress(Exception):
        session.prepare(_key(config), count)


def grade_one(
    config: BatchConfig, path: str, student: str, session: GradingSession | None = None
) -> SubmissionResult:
    """Grade one file with ``session`` (default: this worker process's own). Never raises."""
    try:
        return (session or worker_session()).grade(_key(config), path, student)
    except Exception as exc:
        return failed(
            path, student, f"the grader failed on this file ({type(exc).__name__}: {exc})"
        )


def grade_bytes(config: BatchConfig, name: str, data: bytes, student: str) -> SubmissionResult:
    """For remote workers: grade a submission sent as bytes (the worker has no shared disk)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="grader-remote-") as tmp:
        local = Path(tmp) / Path(name).name
        local.write_bytes(data)
        result = grade_one(config, str(local), student)
        error = result.error.replace(str(local), name) if result.error else None
        return replace(result, path=name, error=error)


def failed(path: str, student: str, error: str) -> SubmissionResult:
    return SubmissionResult(path=path, status="invalid", error=f"{path}: {error}", student=student)


# ----------------------------------------------------------------------------- progress


class Progress:
    """A one-line progress bar on a terminal; silent otherwise (CI, pipes, --format json)."""

    def __init__(self, total: int, enabled: bool, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.done = 0
        self.enabled = enabled and total > 1
        self.stream = stream
        self.start = time.monotonic()

    def step(self, result: SubmissionResult, cached: bool = False) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / self.total)
        rate = self.done / max(time.monotonic() - self.start, 1e-6)
        who = (result.student or Path(result.path).stem)[:24]
        tag = " (unchanged)" if cached else ""
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
            f"{rate:.1f}/s {who}{tag}\033[K"
        )
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def progress_wanted(fmt: str) -> bool:
    return fmt == "text" and sys.stderr.isatty() and not os.environ.get("CI")


# ----------------------------------------------------------------------------- batch


def submissions(files: Sequence[str], pattern: str | None) -> list[Submission]:
    out = []
    for f in files:
        try:
            digest: str | None = content_hash(f)
        except OSError:
            digest = None
        out.append(Submission(f, student_id(f, pattern), digest))
    return out


def grade_many(
    config: BatchConfig,
    files: Sequence[str],
    on_result: Callable[[SubmissionResult, bool], None] | None = None,
) -> list[SubmissionResult]:
    """Grade ``files``; results in input order. ``on_result(result, cached)`` is called as
    each one is known (for a progress bar)."""
    from .pack import load_any, public_rubric

    session = GradingSession()  # everything this batch keeps; closed below
    if _threaded(config) and files and (config.gradebook is None or config.regrade):
        # every file is to be graded: start the engine's servers now, from another thread
        # (choosing the sandbox runs a bwrap probe), while this one loads the rubric
        threading.Thread(
            target=_prepare_quietly,
            args=(session, config, min(_jobs(config), len(files))),
            name="grader-prepare",
            daemon=True,
        ).start()
    try:
        rubric = load_any(config.rubric_path)  # a rubric YAML or a public pack
        if config.options.public_only:  # instructor errors in the public part surface here
            rubric = public_rubric(rubric)
    except BaseException:
        session.close()
        raise
    subs = submissions(files, config.student_pattern)
    results: dict[int, SubmissionResult] = {}
    book = None
    if config.gradebook:  # SQLAlchemy is imported only for a gradebook
        from .gradebook import Gradebook

        book = Gradebook(config.gradebook)
    try:
        todo: list[int] = []
        for i, sub in enumerate(subs):
            cached = None
            if sub.content_hash is None:
                results[i] = failed(sub.path, sub.student, "cannot be read")
            elif book is not None and not config.regrade:
                cached = book.lookup(sub.student, sub.content_hash, rubric.version)
            if cached is not None:
                # the gradebook keeps no language: the submission's prose says it again
                results[i] = replace(cached, path=sub.path, language=student_language(sub.path))
            if i in results:
                if on_result:
                    on_result(results[i], cached is not None)
            else:
                todo.append(i)
        for i, result in _run(session, config, [subs[i] for i in todo], todo, rubric):
            sub = subs[i]
            if book is not None and sub.content_hash is not None and result.status == "graded":
                book.record(
                    sub.student, sub.content_hash, rubric.version, result, engine=config.engine
                )
            results[i] = result
            if on_result:
                on_result(result, False)
        ordered = [results[i] for i in range(len(subs))]
        if book is not None:
            ordered = [
                book.apply_overrides(r.student, r) if r.student and r.status == "graded" else r
                for r in ordered
            ]
        return ordered
    finally:
        session.close()
        if book is not None:
            book.close()


def _jobs(config: BatchConfig) -> int:
    return config.jobs or os.cpu_count() or 1


def _threaded(config: BatchConfig) -> bool:
    """Whether submissions are graded by threads of this process (see _run_threads)."""
    return config.engine == "warm" and not config.scheduler


def _run(
    session: GradingSession,
    config: BatchConfig,
    subs: Sequence[Submission],
    ids: Sequence[int],
    rubric: Any = None,
) -> Iterator[tuple[int, SubmissionResult]]:
    if not subs:
        return
    if config.scheduler:
        yield from _run_dask(config, subs, ids)
        return
    jobs = min(_jobs(config), len(subs))
    if _threaded(config):
        try:  # the servers start now; the rubric is the one this batch loaded
            session.prepare(_key(config), jobs)
            session.grader(_key(config), rubric)
        except Exception as exc:  # e.g. the sandbox cannot start: every file says so
            for i, sub in zip(ids, subs, strict=True):
                yield i, failed(sub.path, sub.student, f"the grader cannot run ({exc})")
            return
    if jobs == 1:
        for i, sub in zip(ids, subs, strict=True):
            yield i, grade_one(config, sub.path, sub.student, session)
        return
    if _threaded(config):
        yield from _run_threads(session, config, subs, ids, jobs)
        return
    ctx = get_context("forkserver")
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(subs)),
        mp_context=ctx,
        initializer=_watch_parent,
        initargs=(os.getpid(),),
    )
    try:
        futures: dict[Future[SubmissionResult], tuple[int, Submission]] = {
            pool.submit(grade_one, config, sub.path, sub.student): (i, sub)
            for i, sub in zip(ids, subs, strict=True)
        }
        for fut in as_completed(futures):
            i, sub = futures[fut]
            try:
                yield i, fut.result()
            except Exception as exc:  # a worker died: that file fails alone
                yield i, failed(sub.path, sub.student, f"the grading worker died ({exc})")
    except BaseException:  # Ctrl-C, or the consumer stopped: stop the workers now
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.kill()
        raise
    pool.shutdown(wait=True)


def _run_threads(
    session: GradingSession,
    config: BatchConfig,
    subs: Sequence[Submission],
    ids: Sequence[int],
    jobs: int,
) -> Iterator[tuple[int, SubmissionResult]]:
    """The warm engine's local runner: ``jobs`` threads of this process, each driving one
    kernel at a time. The work is in the kernels (separate, sandboxed processes forked
    from the engine's servers) and the grader's side of a submission is small, so threads
    suffice, and worker processes would only add their own start-up and imports to every
    batch (see grade_many and _run for when the servers start)."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grader-worker")
    try:
        with session.prompt_handoff():
            futures: dict[Future[SubmissionResult], tuple[int, Submission]] = {
                pool.submit(grade_one, config, sub.path, sub.student, session): (i, sub)
                for i, sub in zip(ids, subs, strict=True)
            }
            for fut in as_completed(futures):
                yield futures[fut][0], fut.result()  # grade_one never raises
    except BaseException:  # Ctrl-C, or the consumer stopped: stop the kernels now
        pool.shutdown(wait=False, cancel_futures=True)
        session.close_engine(_key(config))
        raise
    pool.shutdown(wait=True)


def _watch_parent(parent: int) -> None:
    """In a worker: exit as soon as the grader that started it is gone (even SIGKILLed),
    and leave Ctrl-C to the grader, which stops the workers itself."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _run_dask(
    config: BatchConfig, subs: Sequence[Submission], ids: Sequence[int]
) -> Iterator[tuple[int, SubmissionResult]]:
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(config.scheduler, timeout="30s") as client:
        futures = {}
        for i, sub in zip(ids, subs, strict=True):
            data = Path(sub.path).read_bytes()
            fut = client.submit(
                grade_bytes,
                config,
                sub.path,
                data,
                sub.student,
                key=f"grade-{i}-{sub.content_hash}",
                pure=False,
            )
            futures[fut] = (i, sub)
        for fut in dask_completed(list(futures)):
            i, sub = futures[fut]
            try:
                yield i, fut.result()
            except Exception as exc:
                yield i, failed(sub.path, sub.student, f"the remote worker failed ({exc})")
