"""Batch throughput: a fresh Jupyter kernel per notebook (nbclient) vs the warm engine.

Grades, in one run and with the same batch runner (``grader.batch.grade_many``, ``jobs``
worker processes, no gradebook, ``--sandbox auto``), each batch in a new Python process
whose clock starts after the grader's modules are imported (``--in-process`` keeps every
batch in this process, where earlier batches leave the grader's caches filled):

* ``full``: N copies of a complete, correct submission (reference/d2l-1.0.ipynb under N
  student names);
* ``mixed``: N submissions cycling through both reference editions, the real student
  submissions in ../shared/submissions, and a partial, broken notebook generated here;

once with ``--engine nbclient`` (what nbgrader and otter do: a new kernel per notebook)
and once with ``--engine warm``, and prints per class and engine: wall time, cost per
submission, peak memory of the grader's whole process tree (sampled), the nbclient/warm
ratio, and the floor (the notebooks' own execution time divided by the workers).

Usage: python benchmarks/throughput.py [--n 32] [--workers 2] [--runs 1] [--json out.json]
       python benchmarks/throughput.py --breakdown 5   (where one submission's time goes)
       python benchmarks/throughput.py --startup 3     (start + first execute of one kernel)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.execute.watchdog import children

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = ROOT / "rubrics" / "conv-layer.yaml"
SHARED = ROOT.parent / "shared" / "submissions"
ENGINES = ("nbclient", "warm")
CLASSES = ("full", "mixed")
MiB = 1024 * 1024


# ------------------------------------------------------------------------- submissions
def broken_notebook(path: Path) -> None:
    """A partial, broken submission: half the notebook, a wrong corr2d, a syntax error, a
    name used before it exists, a division by zero; no Conv2D class."""
    import nbformat

    nb = nbformat.read(ROOT / "reference" / "d2l-1.0.ipynb", as_version=4)
    cells = [c for c in nb.cells if "class Conv2D" not in c.source]
    cells = cells[: len(cells) // 2]
    for cell in cells:
        if cell.cell_type == "code" and "def corr2d" in cell.source:
            cell.source = cell.source.replace("X.shape[0] - h + 1", "X.shape[0] - h")
    new = nbformat.v4
    cells += [
        new.new_markdown_cell("My answer: the kernel detects edges (I ran out of time)."),
        new.new_code_cell("def broken(:\n    pass"),
        new.new_code_cell("print(learned_kernel_i_never_defined)"),
        new.new_code_cell("ratio = 1 / 0"),
        new.new_code_cell("Y_hat = corr2d(X, K)\nY_hat.shape"),
    ]
    nb.cells = cells
    nbformat.write(nb, path)


def make_classes(folder: Path, n: int) -> dict[str, list[str]]:
    broken = folder / "sources" / "broken.ipynb"
    broken.parent.mkdir(parents=True)
    broken_notebook(broken)
    sources = [ROOT / "reference" / "d2l-1.0.ipynb", ROOT / "reference" / "d2l-0.17.ipynb"]
    sources += [
        p for p in (SHARED / "student-a.ipynb", SHARED / "student-b-transcript.txt") if p.is_file()
    ]
    sources.append(broken)
    classes: dict[str, list[str]] = {}
    for name, pick in (
        ("full", lambda i: sources[0]),
        ("mixed", lambda i: sources[i % len(sources)]),
    ):
        target = folder / name
        target.mkdir()
        files = []
        for i in range(n):
            src = pick(i)
            dst = target / f"student-{i + 1:03d}{''.join(src.suffixes)}"
            shutil.copyfile(src, dst)
            files.append(str(dst))
        classes[name] = files
    return classes


# ------------------------------------------------------------------------------ memory
def _memory(pid: int) -> tuple[int, int, int]:
    """(RSS, PSS, process count) of ``pid`` and all its descendants, in bytes."""
    rss = pss = count = 0
    stack, seen = [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
            count += 1
        except (OSError, ValueError):
            pass
        stack += children(p)
    return rss, pss, count


class Sampler:
    """Samples the memory of this process's tree (grader, workers, kernels, sandboxes)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peak_rss = self.peak_pss = self.peak_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss, pss, procs = _memory(os.getpid())
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_procs = max(self.peak_procs, procs)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------ running
@dataclass
class Measure:
    run: int
    klass: str
    engine: str
    n: int
    workers: int
    wall: float
    peak_rss: int
    peak_pss: int
    peak_procs: int
    exec_seconds: float  # sum over submissions of ExecutionSummary.seconds
    scores: list[float]
    statuses: list[str]

    @property
    def per_submission(self) -> float:
        return self.wall / self.n

    @property
    def floor(self) -> float:
        return self.exec_seconds / self.workers


def measure_in_new_process(
    files: list[str], engine: str, workers: int, run: int, klass: str
) -> Measure:
    """``grade_class`` in a new Python process, as a ``grade`` run would be: the grader's
    modules are imported before the clock starts, but every cache (reference results,
    compiled patterns, validators) starts cold for both engines. (In one process, a batch
    after another one finds those caches filled.)"""
    import subprocess

    request = json.dumps(
        {"files": files, "engine": engine, "workers": workers, "run": run, "klass": klass}
    )
    out = subprocess.run(
        [sys.executable, __file__, "--one", request],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return Measure(**json.loads(out.strip().splitlines()[-1]))


def grade_class(files: list[str], engine: str, workers: int, run: int, klass: str) -> Measure:
    from grader.batch import BatchConfig, grade_many

    config = BatchConfig(str(RUBRIC), jobs=workers, engine=engine, gradebook=None, sandbox="auto")
    with Sampler() as sampler:
        start = time.perf_counter()
        results = grade_many(config, files)
        wall = time.perf_counter() - start
    # grade_many closed its session: the next measurement starts cold, as a new process would
    exec_seconds = sum(r.execution.seconds for r in results if r.execution is not None)
    return Measure(
        run=run,
        klass=klass,
        engine=engine,
        n=len(files),
        workers=workers,
        wall=wall,
        peak_rss=sampler.peak_rss,
        peak_pss=sampler.peak_pss,
        peak_procs=sampler.peak_procs,
        exec_seconds=exec_seconds,
        scores=[r.score for r in results],
        statuses=[r.status for r in results],
    )


def table(measures: list[Measure]) -> str:
    rows = [
        f"{'class':<6} {'engine':<9} {'wall s':>8} {'s/sub':>7} {'peak RSS':>9} "
        f"{'peak PSS':>9} {'procs':>5} {'floor s':>8} {'ratio':>6}"
    ]
    by_key = {(m.klass, m.engine): m for m in measures}
    for m in measures:
        warm = by_key.get((m.klass, "warm"))
        ratio = f"{m.wall / warm.wall:6.1f}" if m.engine == "nbclient" and warm else ""
        rows.append(
            f"{m.klass:<6} {m.engine:<9} {m.wall:8.1f} {m.per_submission:7.3f} "
            f"{m.peak_rss / MiB:8.0f}M {m.peak_pss / MiB:8.0f}M {m.peak_procs:5d} "
            f"{m.floor:8.1f} {ratio:>6}"
        )
    return "\n".join(rows)


def spread(measures: list[Measure]) -> str:
    def mmm(values: list[float], fmt: str) -> str:
        return " / ".join(
            fmt.format(v) for v in (min(values), statistics.median(values), max(values))
        )

    rows = ["min / median / max over runs:"]
    for klass in CLASSES:
        for engine in ENGINES:
            ms = [m for m in measures if m.klass == klass and m.engine == engine]
            if not ms:
                continue
            rows.append(
                f"  {klass:<6} {engine:<9} wall {mmm([m.wall for m in ms], '{:.1f}')} s; "
                f"per submission {mmm([m.per_submission for m in ms], '{:.3f}')} s; "
                f"peak PSS {mmm([m.peak_pss / MiB for m in ms], '{:.0f}')} MiB; "
                f"peak RSS {mmm([m.peak_rss / MiB for m in ms], '{:.0f}')} MiB; "
                f"floor {mmm([m.floor for m in ms], '{:.1f}')} s"
            )
        ratios = []
        for run in sorted({m.run for m in measures}):
            pair = {m.engine: m for m in measures if m.klass == klass and m.run == run}
            if len(pair) == 2:
                ratios.append(pair["nbclient"].wall / pair["warm"].wall)
        if ratios:
            rows.append(f"  {klass:<6} nbclient/warm ratio {mmm(ratios, '{:.1f}')}")
    return "\n".join(rows)


# ---------------------------------------------------------------------------- breakdown
def breakdown(engine: str, reps: int) -> str:
    """Where one full submission's time goes, graded ``reps`` times in this process
    (sequentially, one kernel at a time) after a first, untimed submission."""
    from contextlib import contextmanager
    from typing import Any

    from grader.execute import executor
    from grader.pipeline import Grader
    from grader.rubric import load_rubric

    inner = executor(engine, sandbox="auto")
    factory: Any = inner._driver.factory  # instrumentation
    starts: list[float] = []
    closes: list[float] = []
    executions: list[Any] = []
    start_kernel = factory.start

    def timed_start(options: Any) -> Any:
        t = time.perf_counter()
        kernel = start_kernel(options)
        starts.append(time.perf_counter() - t)
        close = kernel.close

        def timed_close(wait: bool = True) -> None:  # what the run waits for
            t = time.perf_counter()
            close(wait)
            closes.append(time.perf_counter() - t)

        kernel.close = timed_close
        return kernel

    factory.start = timed_start

    class Recording:
        name = inner.name

        @contextmanager
        def run(self, notebook: Any) -> Any:
            with inner.run(notebook) as live:
                executions.append(live.execution)
                yield live

    grader = Grader(load_rubric(RUBRIC), Recording())
    path = ROOT / "reference" / "d2l-1.0.ipynb"
    t = time.perf_counter()
    grader.grade_path(path)
    first = time.perf_counter() - t
    rows: list[tuple[float, ...]] = []
    for _ in range(reps):
        del starts[:], closes[:], executions[:]
        t = time.perf_counter()
        grader.grade_path(path)
        total = time.perf_counter() - t
        execution = executions[-1]
        cells = sum(c.seconds for c in execution.cells)
        start, close = sum(starts), sum(closes)
        driver = execution.seconds - start - cells
        checks = total - execution.seconds - close
        rows.append((total, start, cells, driver, checks, close))
    med = [statistics.median(r[i] for r in rows) for i in range(6)]
    names = ("total", "kernel start", "cells", "driver", "checks", "close")
    parts = ", ".join(f"{n} {v:.3f}" for n, v in zip(names, med, strict=True))
    return (
        f"{engine:<9} first submission (incl. engine start-up) {first:.2f} s; then median of "
        f"{reps}: {parts} s"
    )


# ---------------------------------------------------------------------------- startup
def startup(reps: int, sandbox: str) -> str:
    """From ``start()`` to the result of ``import torch`` in one kernel, per engine (the
    warm engine's server already up): what a notebook waits for before its first cell."""
    from grader.execute.kernel import KernelOptions, Limits, SandboxChoice
    from grader.execute.nbclient_engine import NbclientFactory
    from grader.execute.warm import WarmFactory

    code = "import torch\nfloat(torch.ones(3).sum())"
    lines = []
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp, WarmFactory() as warm:
        for name, engine in (("warm", warm), ("nbclient", NbclientFactory())):
            for rep in range(reps + (name == "warm")):  # the warm engine's first: its server
                workdir = Path(tmp) / f"{name}-{rep}"
                workdir.mkdir()
                options = KernelOptions(
                    workdir, Limits(), time.monotonic() + 120, sandbox=SandboxChoice(sandbox)
                )
                start = time.perf_counter()
                kernel = engine.start(options)  # type: ignore[attr-defined]
                started = time.perf_counter()
                result = kernel.execute(code, 60)
                done = time.perf_counter()
                kernel.close()
                if result.text != "3.0\n":
                    raise RuntimeError(f"{name}: unexpected result {result}")
                if name == "warm" and rep == 0:
                    continue
                lines.append(
                    f"{name:>8} ({sandbox}): start {started - start:6.3f} s + first execute "
                    f"{done - started:6.3f} s = {done - start:6.3f} s"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=32, help="submissions per class")
    parser.add_argument("--workers", type=int, default=2, help="grading worker processes")
    parser.add_argument("--runs", type=int, default=1, help="repeat everything this often")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--classes", default=",".join(CLASSES))
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="measure every batch in this process (caches filled by earlier batches stay)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one measurement
    parser.add_argument(
        "--breakdown",
        type=int,
        default=0,
        metavar="R",
        help="only time the parts of one full submission, R times per engine, in-process",
    )
    parser.add_argument(
        "--startup",
        type=int,
        default=0,
        metavar="R",
        help="only time one kernel's start and first execute, R times per engine",
    )
    args = parser.parse_args(argv)
    if args.one:
        one = json.loads(args.one)
        m = grade_class(one["files"], one["engine"], one["workers"], one["run"], one["klass"])
        print(json.dumps(asdict(m)))
        return 0
    measure = grade_class if args.in_process else measure_in_new_process
    engines = [e for e in args.engines.split(",") if e]
    classes = [c for c in args.classes.split(",") if c]

    from grader.execute import resolve_sandbox

    sandbox = resolve_sandbox("auto")
    print(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"sandbox {sandbox.mode}{' (' + sandbox.note + ')' if sandbox.note else ''}; "
        f"N={args.n}, workers={args.workers}, load average before: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    if args.startup:
        print(startup(args.startup, sandbox.mode), flush=True)
        return 0
    if args.breakdown:
        for engine in engines:
            print(breakdown(engine, args.breakdown), flush=True)
        return 0
    measures: list[Measure] = []
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        files = make_classes(Path(tmp), args.n)
        for run in range(1, args.runs + 1):
            this_run: list[Measure] = []
            for klass in classes:
                for engine in engines:
                    m = measure(files[klass], engine, args.workers, run, klass)
                    print(
                        f"  run {run} {klass:<6} {engine:<9} {m.wall:7.1f} s "
                        f"(load {os.getloadavg()[0]:.2f})",
                        flush=True,
                    )
                    this_run.append(m)
            for klass in classes:
                done = {m.engine: m for m in this_run if m.klass == klass}
                if len(done) == 2 and done["nbclient"].scores != done["warm"].scores:
                    print(f"  NOTE: {klass}: the engines' scores differ", flush=True)
            print(f"\nrun {run}\n{table(this_run)}\n", flush=True)
            measures += this_run
    if args.runs > 1:
        print(spread(measures))
    print(
        "\npeak RSS: sum of the RSS of every process of the grader's tree (pages shared by "
        "forked or COW processes are counted once per process); peak PSS: the same with "
        "shared pages divided among their sharers (the memory really used); both sampled "
        "every 0.5 s. floor: sum of the submissions' execution seconds / workers."
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {**asdict(m), "per_submission": m.per_submission, "floor": m.floor}
                    for m in measures
                ],
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
