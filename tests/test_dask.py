"""Grading on a real Dask cluster: a scheduler and two workers, each its own process.

``grade DIR --scheduler tcp://...`` must give exactly the results of a local ``--jobs 2`` run
(every exercise's score, status, feedback and diagnoses), record them in the same gradebook,
and survive a worker that dies in the middle of a submission: the submission is graded again
on the other worker (or reported as failed on its own), the batch goes on. Everything started
here is torn down, and no process of it (workers, kernels) is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from test_instructor import (
    REFERENCE,
    by_student,
    grade,
    partial_notebook,
    syntax_error_notebook,
    write_notebook,
)

pytestmark = [pytest.mark.slow, pytest.mark.kernel]

RUBRIC = ROOT / "rubrics" / "conv-layer.yaml"
LIMITS = ("--rubric", str(RUBRIC), "--timeout", "10")
STUDENTS = ("alice", "carol", "dave", "erin")
REQUIREMENT = "distributed>=2024.1"


# --------------------------------------------------------------------------- processes


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of a process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for p in _all_pids():
        st = _stat(p)
        if st is not None and st[0] != "Z":
            children.setdefault(st[1], []).append(p)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running_kernels(pid: int) -> set[int]:
    """The kernels among the descendants of ``pid``: Jupyter kernels (nbclient engine) and
    warm kernels (a fork server's children, which keep the server's command line)."""

    def cmdline(p: int) -> bytes:
        try:
            return Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            return b""

    found = set()
    for p in descendants(pid):
        line = cmdline(p)
        if b"ipykernel" in line:
            found.add(p)
        elif b"--serve" in line:
            st = _stat(p)
            if st is not None and b"--serve" in cmdline(st[1]):
                found.add(p)
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for p in pids:
        st = _stat(p)
        if st is not None and st[0] != "Z":
            out.add(p)
    return out


def wait_gone(pids: set[int], seconds: float = 15) -> set[int]:
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started, then SIGKILL what is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(20)


# --------------------------------------------------------------------------- the cluster


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen[bytes]
    workers: dict[str, subprocess.Popen[bytes]]
    client: Any  # distributed.Client, for the test's own questions to the scheduler
    logs: Path

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
            for p in sorted(self.logs.glob("*.log"))
        )


def _spawn(args: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """``dask scheduler`` and two ``dask worker`` processes (one thread each) on localhost."""
    try:
        from distributed import Client
    except ImportError as exc:
        pytest.fail(f"dask.distributed is not installed ({exc}): pip install '{REQUIREMENT}'")
    logs = tmp_path / "dask"
    logs.mkdir()
    info = logs / "scheduler.json"
    started: list[subprocess.Popen[bytes]] = []
    client = None
    try:
        scheduler = _spawn(
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(info),
            ],
            logs / "scheduler.log",
            tmp_path,
        )
        started.append(scheduler)
        deadline = time.monotonic() + 60
        while not (info.exists() and info.stat().st_size):
            assert scheduler.poll() is None, (logs / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start within 60 s"
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written in one go, but be safe
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = {}
        for name in ("w1", "w2"):
            workers[name] = _spawn(
                [
                    "worker",
                    address,
                    "--name",
                    name,
                    "--nthreads",
                    "1",
                    "--no-nanny",  # the worker is this process: killing it is a crash
                    "--no-dashboard",
                    "--memory-limit",
                    "0",
                    "--local-directory",
                    str(tmp_path / name),
                ],
                logs / f"{name}.log",
                tmp_path,
            )
            started.append(workers[name])
        client = Client(address, timeout="30s")
        client.wait_for_workers(2, timeout=120)
        yield Cluster(address, scheduler, workers, client, logs)
    finally:
        tree = set().union(*(descendants(p.pid) | {p.pid} for p in started)) if started else set()
        if client is not None:
            client.close()
        for proc in reversed(started):
            stop(proc)
        left = wait_gone(tree)
        assert not left, f"processes left behind by the cluster: {sorted(left)}"


# --------------------------------------------------------------------------- the class


@dataclass(frozen=True)
class Local:
    dir: Path
    doc: dict[str, Any]
    subs: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Local:
    """The class graded on this machine (``--jobs 2``) into ``gb.db``."""
    base = tmp_path_factory.mktemp("dask-class")
    folder = base / "class"
    folder.mkdir()
    shutil.copy(REFERENCE, folder / "alice.ipynb")
    write_notebook(folder / "carol.ipynb", partial_notebook())
    write_notebook(folder / "dave.ipynb", syntax_error_notebook()[0])
    (folder / "erin.ipynb").write_text('{"cells": [{"cell_type": "code", "source": ')
    proc = grade(base, "class", *LIMITS, "--jobs", "2", "--gradebook", "gb.db", "--format", "json")
    assert proc.returncode == 2, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    subs = by_student(doc)
    assert list(subs) == list(STUDENTS)
    return Local(base, doc, subs)


def comparable(sub: dict[str, Any]) -> dict[str, Any]:
    """A result without what may differ between two runs of the same grading: timings, and
    the error text of an invalid file (see test_invalid_file_error_names_the_submission)."""
    out = {k: v for k, v in sub.items() if k not in ("execution", "error")}
    if sub["execution"] is not None:
        out["execution"] = {k: v for k, v in sub["execution"].items() if k != "seconds"}
    return out


def gradebook_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Per student, oldest first: (content hash, score, [(exercise, score, status, feedback)])."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for sid, name, digest, score in con.execute(
            "SELECT s.id, st.name, s.content_hash, s.score FROM submissions s "
            "JOIN students st ON st.id = s.student_id ORDER BY s.id"
        ):
            exercises = con.execute(
                "SELECT exercise_id, score, status, feedback FROM exercise_results "
                "WHERE submission_id = ? ORDER BY position",
                (sid,),
            ).fetchall()
            out.setdefault(name, []).append((digest, score, exercises))
        return out
    finally:
        con.close()


# --------------------------------------------------------------------------- tests


def test_dask_cluster_grades_like_local_workers(
    cluster: Cluster, local: Local, tmp_path: Path
) -> None:
    from distributed import get_task_stream

    work = tmp_path / "work"
    shutil.copytree(local.dir, work)
    with get_task_stream(client=cluster.client) as stream:
        proc = grade(
            work,
            "class",
            *LIMITS,
            "--scheduler",
            cluster.address,
            "--gradebook",
            "gb.db",  # the local run's gradebook: the cluster's results go to the same place
            "--regrade",
            "--format",
            "json",
        )
    assert proc.returncode == 2, proc.stderr[-3000:] + cluster.log_tail()
    remote = by_student(json.loads(proc.stdout))
    assert list(remote) == list(STUDENTS)
    for name in STUDENTS:
        assert comparable(remote[name]) == comparable(local.subs[name]), name
    assert remote["alice"]["score"] == remote["alice"]["max_score"]
    assert 0 < remote["dave"]["score"] < remote["carol"]["score"] < remote["alice"]["score"]
    assert remote["erin"]["status"] == "invalid" and "not valid JSON" in remote["erin"]["error"]

    # both runs are in the one gradebook, with the same numbers
    rows = gradebook_rows(work / "gb.db")
    assert sorted(rows) == ["alice", "carol", "dave"]
    for name, history in rows.items():
        assert len(history) == 2, name  # the local result, then the cluster's
        assert history[0] == history[1], name
    # the workers did the work: one task per submission, spread over both workers
    tasks = {str(t["key"]): t["worker"] for t in stream.data}
    assert len(tasks) == len(STUDENTS) and all(k.startswith("grade-") for k in tasks)
    assert set(tasks.values()) == set(cluster.client.scheduler_info()["workers"])


def test_invalid_file_error_names_the_submission(
    cluster: Cluster, local: Local, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    (work / "class").mkdir(parents=True)
    shutil.copy(local.dir / "class" / "erin.ipynb", work / "class" / "erin.ipynb")
    proc = grade(
        work, "class", *LIMITS, "--scheduler", cluster.address, "--no-gradebook", "-f", "json"
    )
    assert proc.returncode == 2
    erin = by_student(json.loads(proc.stdout))["erin"]
    assert erin["error"] == local.subs["erin"]["error"]


def test_a_worker_crash_loses_no_submission(cluster: Cluster, local: Local, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(local.dir / "class", work / "class")
    out, err = tmp_path / "grade.out", tmp_path / "grade.err"
    args = ("class", *LIMITS, "--scheduler", cluster.address, "--gradebook", "gb.db")
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader.cli", *args, "--format", "json"],
            cwd=work,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        # wait until a worker is running a notebook (its kernel is a child of the worker)
        deadline = time.monotonic() + 180
        victim = None
        while victim is None:
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, "no worker started a kernel within 180 s"
            time.sleep(0.1)
            for name, worker in cluster.workers.items():
                if running_kernels(worker.pid):
                    victim = name
                    break
        assert victim is not None
        worker = cluster.workers[victim]
        time.sleep(1.0)  # well inside the notebook
        orphans = descendants(worker.pid)
        os.killpg(worker.pid, signal.SIGKILL)  # the worker crashes mid-task
        worker.wait(10)
        assert proc.wait(300) == 2, err.read_text()[-3000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)

    # the dead worker's kernel did not outlive it
    assert not wait_gone(orphans), "a kernel of the killed worker is still running"
    # the batch finished: every submission has its result, graded again on the other worker
    # or reported as failed on its own
    results = by_student(json.loads(out.read_text()))
    assert list(results) == list(STUDENTS)
    for name in STUDENTS:
        sub = results[name]
        if comparable(sub) == comparable(local.subs[name]):
            continue
        assert sub["status"] == "invalid" and "worker" in sub["error"], (name, sub["error"])
    graded = [n for n in STUDENTS if results[n]["status"] == "graded"]
    assert sorted(gradebook_rows(work / "gb.db")) == sorted(graded)
    # the scheduler noticed: one worker left, and it did the rest
    survivors = cluster.client.scheduler_info()["workers"]
    assert [w["name"] for w in survivors.values()] == [n for n in cluster.workers if n != victim]
