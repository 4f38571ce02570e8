"""The attack corpus: hostile notebooks graded by the real CLI in a real bwrap sandbox.

Every notebook in ``tests/attacks/`` is a partly honest submission (a correct ``corr2d`` and a
correct Exercise 1 / 1.1 unless its first cell says otherwise) plus ONE attack, described in
its first cell. The test copies each one into a folder of its own, next to bait files (another
student's notebook and a notes file, both holding canary strings), fills in the placeholders
the attacks use to aim at real targets:

    __REPO__     this checkout (rubric, reference, grader source)
    __SUBDIR__   the folder holding the submission
    __MARKER__   a string unique to this test run and attack (in every file or process an
                 attack leaves behind, so that the test can find it)
    __PORT__     a TCP port this test process listens on (also on an abstract Unix socket
                 named after the marker)
    __HOSTS__    this machine's own non-loopback addresses

and grades it with ``python -m grader.cli --format json --sandbox bwrap --no-gradebook`` and
small limits. Each test then checks that

* the grader neither crashed nor hung (exit code 0 or 1) and printed exactly ONE JSON
  document valid against the report schema;
* the attack is reported in plain words (cell errors, ``killed``, notes);
* the honest parts of the notebook are still graded;
* nothing is forged (a wrong ``corr2d`` scores 0 however it lies; no score above its maximum);
* nothing outside the sandbox changed: the submission's folder, the rubric, reference and probe
  of this checkout, the venv, the host's ``/tmp``, ``/dev/shm`` and home; no process carrying
  the run's marker (in its command line or environment) is left; nothing connected to the
  listening sockets;
* no secret reached the report: rubric internals, the reference's source, ``/etc/shadow``,
  the bait files' canaries.

The notebooks are graded two at a time (``WORKERS``) by a module fixture, once, for the tests
that were selected (``pytest -k fork_bomb`` grades only that one). The last test grades the
whole corpus as ONE batch (``--jobs 2``) next to honest controls and checks that the controls
get exactly the scores they get alone. Known holes are strict xfails, with the place to fix.
"""

from __future__ import annotations

import ast
import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import site
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import nbformat
import pytest

from grader.execute.kernel import Limits
from grader.execute.sandbox import probe_bwrap
from grader.load import load
from grader.report.json_report import JSON_SCHEMA

pytestmark = [pytest.mark.slow, pytest.mark.kernel]

ROOT = Path(__file__).resolve().parents[1]
ATTACKS = ROOT / "tests" / "attacks"
RUBRIC = ROOT / "rubrics" / "conv-layer.yaml"
REFERENCE = ROOT / "reference" / "conv_layer.py"
REFERENCE_NOTEBOOKS = (ROOT / "reference" / "d2l-1.0.ipynb", ROOT / "reference" / "d2l-0.17.ipynb")
CONTROL_PARTIAL = ATTACKS / "control_partial.py"

# 6 s per cell, not 3: `import torch` alone takes 2-4 s on a loaded 2-core machine.
CELL_TIMEOUT = 6
LIMITS = ["--timeout", str(CELL_TIMEOUT), "--notebook-timeout", "60", "--memory", "1GiB"]
HUNG_AFTER = 300  # seconds: a grader still running after this has hung
WORKERS = 2  # notebooks graded at the same time (the machine has 2 cores)
MAX_SCORES = {"d2l-1.0": 33.0, "d2l-0.17": 29.0}  # rubrics/conv-layer.yaml, per edition
RUN = f"atk{uuid.uuid4().hex[:10]}"  # in every marker of this test run
MARKER_ENV = "OMP_GRADER_ATTACK_MARKER"  # OMP_*: on the sandbox's environment allowlist
CANARY_ENV = "ATTACK_CANARY_TOKEN"  # a "secret" in the grader's environment
CANARY_VALUE = f"canary-{uuid.uuid4().hex}"

ATTACK_NAMES = tuple(
    sorted(p.stem for p in ATTACKS.glob("*.py") if not p.stem.startswith("control"))
)
REPO_FILES = (RUBRIC, REFERENCE, *REFERENCE_NOTEBOOKS, ROOT / "grader" / "probe.py")


def marker(name: str) -> str:
    return f"{RUN}-{name}"


# ----------------------------------------------------------------------------- module setup


@pytest.fixture(scope="module", autouse=True)
def _bwrap_available() -> None:
    status = probe_bwrap()
    if not status.available:
        pytest.skip(
            "bwrap cannot start a sandbox on this machine, and the attack corpus must only "
            f"ever run inside one: {status.reason}"
        )


def _secret_lines() -> dict[str, str]:
    """Course text that must never appear in a report: {line: where it comes from}. Only
    lines no report shows legitimately: the rubric's comments, keys naming reference
    functions and its regular expressions (not titles, hints or feedback, which are meant for
    students), and the reference's docstring and code lines."""
    secrets: dict[str, str] = {}
    key = re.compile(r"^(rubric|reference|predicate|mutant|cases|grads|function|class):")
    for n, line in enumerate(RUBRIC.read_text().splitlines(), 1):
        text = line.strip()
        internal = re.search(r"\b(mutant|pred|cases|grads|outputs)_\w+", text)
        if len(text) >= 16 and (text.startswith(("#", "- '")) or key.match(text) or internal):
            secrets[text] = f"the rubric, line {n}"
    for n, line in enumerate(REFERENCE.read_text().splitlines(), 1):
        text = line.strip()
        if len(text) >= 30 and (n <= 20 or text.startswith(("def ", "return "))):
            secrets[text] = f"the reference solution, line {n}"
    return secrets


SHADOW_LINE = re.compile(r"\b[a-z_][a-z0-9_-]*:[^:\s]*:\d{4,5}:\d*:\d*:\d*:")  # /etc/shadow
SECRETS = _secret_lines()


def _baits(folder: Path, name: str) -> dict[str, str]:
    """Another student's notebook and a notes file next to the submission; their canaries."""
    other, notes = f"CANARY-{uuid.uuid4().hex}", f"CANARY-{uuid.uuid4().hex}"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# 7.2 Convolutions for Images\nAnother student ({other})"),
        nbformat.v4.new_code_cell(f"import torch\nSTUDENT_SECRET = {other!r}"),
    ]
    nbformat.write(nb, folder / "other.ipynb")
    (folder / "secret-notes.txt").write_text(f"my password is {notes}\n")
    return {other: f"{name}/other.ipynb", notes: f"{name}/secret-notes.txt"}


def _render(name: str, folder: Path, port: int, hosts: str) -> Path:
    text = (ATTACKS / f"{name}.py").read_text()
    values = {
        "__REPO__": str(ROOT),
        "__SUBDIR__": str(folder),
        "__MARKER__": marker(name),
        "__PORT__": str(port),
        "__HOSTS__": hosts,
    }
    for key, value in values.items():
        text = text.replace(key, value)
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


def _host_addresses() -> list[str]:
    found: set[str] = set()
    with contextlib.suppress(OSError):
        found |= {str(a[4][0]) for a in socket.getaddrinfo(socket.gethostname(), None)}
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))  # UDP: picks the outgoing address, sends nothing
            found.add(str(s.getsockname()[0]))
    return sorted(a for a in found if not a.startswith(("127.", "::1")) and "%" not in a)


class Listener:
    """A TCP port on every address of this host and an abstract Unix socket; records who
    connects (nothing should)."""

    def __init__(self, abstract_name: str) -> None:
        try:
            self.tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            self.tcp.bind(("::", 0))
        except OSError:  # no IPv6 on this host
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.bind(("0.0.0.0", 0))
        self.tcp.listen(64)
        self.port = int(self.tcp.getsockname()[1])
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind("\0" + abstract_name)
        self.unix.listen(64)
        self.connections: list[str] = []

    def drain(self) -> list[str]:
        for sock, what in ((self.tcp, "tcp"), (self.unix, "abstract unix socket")):
            sock.setblocking(False)
            while True:
                try:
                    conn, addr = sock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                with conn:
                    conn.settimeout(0.5)
                    data = b""
                    with contextlib.suppress(OSError):
                        data = conn.recv(200)
                self.connections.append(f"{what} from {addr!r}: {data!r}")
        return list(self.connections)

    def close(self) -> None:
        self.tcp.close()
        self.unix.close()


def _digest(path: Path) -> str:
    if path.is_symlink():
        return "symlink -> " + os.readlink(path)
    if path.is_dir():
        return "dir"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` with its content hash (symlinks and folders included)."""
    return {str(p.relative_to(folder)): _digest(p) for p in sorted(folder.rglob("*"))}


def _site_dirs() -> list[Path]:
    return [Path(p) for p in [*site.getsitepackages(), os.path.dirname(os.__file__)]]


def host_state() -> dict[str, Any]:
    """What a submission must not be able to change outside its sandbox."""
    state: dict[str, Any] = {str(p): _digest(p) for p in REPO_FILES}
    places = [
        ROOT,
        ROOT / "rubrics",
        ROOT / "reference",
        ROOT / "grader",
        Path("/tmp"),
        Path("/dev/shm"),
        Path.home(),
        *_site_dirs(),
    ]
    for place in places:
        with contextlib.suppress(OSError):
            names = sorted(os.listdir(place))
            state[f"{place}: files named after this run"] = [n for n in names if RUN in n]
            state[f"{place}: sitecustomize / .pth"] = sorted(
                f"{n} {_digest(place / n)}"
                for n in names
                if n in ("sitecustomize.py", "usercustomize.py") or n.endswith(".pth")
            )
    # one level down too: a workdir or runtime dir the grader failed to remove
    state["/tmp/*/: files named after this run"] = sorted(glob.glob(f"/tmp/*/*{RUN}*"))
    return state


def strays(needle: str, wait: float = 5.0) -> list[str]:
    """Processes whose command line or environment holds ``needle`` (polls ``wait`` s for
    them to go away)."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            if needle.encode() in cmdline or needle.encode() in environ:
                words = cmdline.replace(b"\0", b" ")[:200].decode(errors="replace")
                found.append(f"{pid}: {words}")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@dataclass
class Graded:
    """One run of the CLI."""

    returncode: int | None  # None: it hung and was killed
    stdout: str
    stderr: str
    seconds: float
    strays: list[str]
    folder: Path
    before: dict[str, str]  # tree(folder) before and after
    after: dict[str, str]

    def document(self) -> dict[str, Any]:
        """The report, after the checks every run must pass (the grader's own behaviour)."""
        assert self.returncode is not None, (
            f"the grader hung: still running after {HUNG_AFTER} s; stderr: {self.stderr[-2000:]}"
        )
        assert self.returncode in (0, 1), (
            f"the grader exited with {self.returncode}; stderr: {self.stderr[-3000:]}"
        )
        doc = json.loads(self.stdout)  # the WHOLE stdout is one JSON document
        jsonschema.validate(doc, JSON_SCHEMA)
        return doc


def grade(paths: list[Path], folder: Path, needle: str, *, jobs: int = 1) -> Graded:
    """Run ``python -m grader.cli`` on ``paths`` (files or folders) from ``folder``, whose
    files are compared before and after; ``needle`` goes into the grader's environment."""
    env = {**os.environ, MARKER_ENV: needle, CANARY_ENV: CANARY_VALUE, "NO_COLOR": "1"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    cmd = [
        sys.executable,
        "-m",
        "grader.cli",
        "--format",
        "json",
        "--sandbox",
        "bwrap",
        "--no-gradebook",
        "--rubric",
        str(RUBRIC),
        "--jobs",
        str(jobs),
        *LIMITS,
        *map(str, paths),
    ]
    before = tree(folder)
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=HUNG_AFTER)
        returncode: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        returncode = None
    seconds = time.monotonic() - start
    return Graded(returncode, stdout, stderr, seconds, strays(needle), folder, before, tree(folder))


@dataclass
class World:
    runs: dict[str, Graded]
    canaries: dict[str, str]  # bait canary -> file
    host_before: dict[str, Any]
    host_after: dict[str, Any] = field(default_factory=dict)
    connections: list[str] = field(default_factory=list)
    listener: Listener | None = None


def _selected_attacks(request: pytest.FixtureRequest) -> list[str]:
    tests = {item.name for item in request.session.items if item.module is request.module}
    if any(t.startswith("test_batch") for t in tests):
        return list(ATTACK_NAMES)  # the batch run checks what the single runs left behind
    return [n for n in ATTACK_NAMES if any(t.startswith(f"test_{n}") for t in tests)]


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Grade every selected attack notebook alone, WORKERS at a time."""
    base = tmp_path_factory.mktemp("attacks")
    listener = Listener(marker("network"))
    hosts = ",".join(_host_addresses())
    names = _selected_attacks(request)
    canaries: dict[str, str] = {}
    paths = {}
    for name in names:
        folder = base / name
        folder.mkdir()
        canaries.update(_baits(folder, name))
        paths[name] = _render(name, folder, listener.port, hosts)
    out = World({}, canaries, host_state(), listener=listener)
    with ThreadPoolExecutor(WORKERS) as pool:
        results = pool.map(lambda n: grade([paths[n]], paths[n].parent, marker(n)), names)
        out.runs = dict(zip(names, results, strict=True))
    out.host_after = host_state()
    out.connections = listener.drain()
    yield out
    listener.close()


# ----------------------------------------------------------------------------- assertions


def submission(run: Graded, world: World) -> dict[str, Any]:
    """The one graded submission of a single run, after every check that holds for any attack."""
    doc = run.document()
    assert len(doc["submissions"]) == 1
    sub: dict[str, Any] = doc["submissions"][0]
    assert sub["status"] == "graded", sub["error"]
    assert_not_forged(sub)
    assert_no_leak(run.stdout, world)
    assert run.strays == [], f"processes left running after the grader exited: {run.strays}"
    assert run.after == run.before, "files next to the submission changed"
    return sub


def assert_not_forged(sub: Mapping[str, Any]) -> None:
    assert sub["max_score"] == MAX_SCORES[sub["edition"]]
    assert 0 <= sub["score"] <= sub["max_score"]
    for ex in sub["exercises"]:
        assert 0 <= ex["score"] <= ex["max_score"], ex
    assert sub["student"] != "attacker"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def assert_no_leak(stdout: str, world: World) -> None:
    """No secret in the report, raw or JSON-decoded (the secret itself is never printed)."""
    text = stdout + "\n" + "\n".join(_strings(json.loads(stdout)))
    leaked = [where for secret, where in SECRETS.items() if secret in text]
    leaked += [where for secret, where in world.canaries.items() if secret in text]
    if SHADOW_LINE.search(text):
        leaked.append("a line in the format of /etc/shadow")
    assert not leaked, f"secrets in the report, from: {leaked}"


def exercise(sub: Mapping[str, Any], ex_id: str) -> dict[str, Any]:
    found = [e for e in sub["exercises"] if e["id"] == ex_id]
    assert len(found) == 1, ex_id
    return found[0]


def assert_honest_parts_graded(sub: Mapping[str, Any], corr2d: bool = True) -> None:
    """Exercise 1 (and, where the notebook's corr2d is correct, corr2d and Exercise 1.1)."""
    diag = exercise(sub, "diagonal-edges")
    assert (diag["score"], diag["status"]) == (1.0, "pass"), diag
    if corr2d:
        c2d = exercise(sub, "corr2d")
        assert (c2d["score"], c2d["status"]) == (3.0, "pass"), c2d
        apply = exercise(sub, "diagonal-apply-kernel")
        assert (apply["score"], apply["status"]) == (2.0, "pass"), apply


def attack_cell(name: str, needle: str) -> int:
    """The 1-based number of the first code cell of attack ``name`` containing ``needle``."""
    nb = load(ATTACKS / f"{name}.py")
    return next(c.index + 1 for c in nb.cells if c.kind == "code" and needle in c.source)


def errors_at(sub: Mapping[str, Any], cell: int) -> list[dict[str, Any]]:
    return [e for e in sub["execution"]["errors"] if e["cell"] == cell]


def error_at(sub: Mapping[str, Any], cell: int) -> dict[str, Any]:
    found = errors_at(sub, cell)
    assert len(found) == 1, (cell, sub["execution"])
    return found[0]


def assert_restarted_without(sub: Mapping[str, Any], cell: int, why: str) -> None:
    notes = sub["execution"]["notes"]
    wanted = f"the kernel {why} in cell {cell}; restarted and ran the other cells without it"
    assert wanted in notes, notes


def evalue_list(evalue: str, label: str) -> list[str]:
    """Parse ``label: [...]`` out of an error message an attack raised."""
    m = re.search(re.escape(label) + r": (\[.*?\])(;|$)", evalue)
    assert m, evalue
    return list(ast.literal_eval(m.group(1)))


# ----------------------------------------------------------------------------- 1. time


def test_loop_forever(world: World) -> None:
    sub = submission(world.runs["loop_forever"], world)
    err = error_at(sub, attack_cell("loop_forever", "while True"))
    assert err["ename"] == "Timeout", err
    assert sub["execution"]["killed"] is None  # the interrupt worked: same kernel afterwards
    assert_honest_parts_graded(sub)


def test_loop_ignores_interrupt(world: World) -> None:
    sub = submission(world.runs["loop_ignores_interrupt"], world)
    cell = attack_cell("loop_ignores_interrupt", "KeyboardInterrupt")
    assert error_at(sub, cell)["ename"] == "KernelDied"
    assert sub["execution"]["killed"] == "crashed"
    assert_restarted_without(sub, cell, "died")
    assert_honest_parts_graded(sub)


# ----------------------------------------------------------------------------- 2. memory


def test_memory_hog(world: World) -> None:
    sub = submission(world.runs["memory_hog"], world)
    cell = attack_cell("memory_hog", "torch.ones")
    assert error_at(sub, cell)["ename"] == "MemoryLimit"
    assert sub["execution"]["killed"] == "memory"
    assert_restarted_without(sub, cell, "ran out of memory")
    assert_honest_parts_graded(sub)


# ----------------------------------------------------------------------------- 3. processes


def test_fork_bomb(world: World) -> None:
    """Forks stop at the sandbox's process limit; nothing survives the grader (the strays
    check in ``submission`` looks for the marker every sleeper carries)."""
    sub = submission(world.runs["fork_bomb"], world)
    err = error_at(sub, attack_cell("fork_bomb", "os.fork()"))
    m = re.search(r"fork bomb stopped after (\d+) forks", err["evalue"])
    assert m, err
    assert int(m.group(1)) < Limits().max_processes
    assert_honest_parts_graded(sub)


# ----------------------------------------------------------------------------- 4. output


def test_output_flood(world: World) -> None:
    run = world.runs["output_flood"]
    sub = submission(run, world)
    errs = errors_at(sub, attack_cell("output_flood", "print(line)"))
    # nbclient: stopped at its time limit, or killed when ipykernel's buffered output
    # passed 1 GiB; warm: the kernel drops output past the cap, so the loop just ends
    assert len(errs) <= 1 and all(e["ename"] in ("Timeout", "MemoryLimit") for e in errs), errs
    assert len(run.stdout) < 1_000_000
    assert_honest_parts_graded(sub)


def test_output_fd_flood(world: World) -> None:
    run = world.runs["output_fd_flood"]
    sub = submission(run, world)
    errs = errors_at(sub, attack_cell("output_fd_flood", "os.write(1"))
    # nbclient: stopped (time, memory, or a dead kernel); warm: the output past the cap
    # is dropped as it is read, so the loop just ends
    assert len(errs) <= 1, errs
    assert all(e["ename"] in ("Timeout", "MemoryLimit", "KernelDied") for e in errs), errs
    assert len(run.stdout) < 1_000_000
    assert '"attacker"' not in run.stdout and '"score": 999' not in run.stdout
    assert_honest_parts_graded(sub)


# ----------------------------------------------------------------------------- 5. killing


def test_exit_kernel(world: World) -> None:
    sub = submission(world.runs["exit_kernel"], world)
    cell = attack_cell("exit_kernel", "os._exit(1)")
    assert error_at(sub, cell)["ename"] == "KernelDied"
    assert sub["execution"]["killed"] == "crashed"
    assert_restarted_without(sub, cell, "died")
    assert_honest_parts_graded(sub)


def test_kill_parent(world: World) -> None:
    """The kernel's parent is the sandbox's PID 1, which ignores signals from inside; killing
    its own group (or its own threads, by PID) kills only the kernel, which is restarted."""
    sub = submission(world.runs["kill_parent"], world)
    assert errors_at(sub, attack_cell("kill_parent", "os.getppid()")) == []
    for needle in ("os.killpg(0, 9)", "os.kill(-1, 9)"):
        cell = attack_cell("kill_parent", needle)
        assert error_at(sub, cell)["ename"] == "KernelDied"
        assert_restarted_without(sub, cell, "died")
    assert_honest_parts_graded(sub)


# ----------------------------------------------------------------------------- 6. reading


def test_read_secrets(world: World) -> None:
    sub = submission(world.runs["read_secrets"], world)
    err = error_at(sub, attack_cell("read_secrets", "/etc/shadow"))
    readable = evalue_list(err["evalue"], "readable")
    folder = str(world.runs["read_secrets"].folder)
    outside = [
        p for p in readable if p.startswith((str(ROOT), folder, "/root", "/etc/shadow", "/home"))
    ]
    assert outside == [], f"the submission could read {outside}"
    assert world.host_after == world.host_before
    assert_honest_parts_graded(sub)


def test_read_secrets_grader_environment(world: World) -> None:
    run = world.runs["read_secrets"]
    run.document()
    assert CANARY_VALUE not in run.stdout, "a variable of the grader's environment is in the report"


# ----------------------------------------------------------------------------- 7. writing


def test_vandal(world: World) -> None:
    """Writes that "succeed" inside the sandbox land in its own tmpfs and are gone after it;
    everything real is read-only or absent."""
    run = world.runs["vandal"]
    sub = submission(run, world)  # the submission's folder is unchanged (checked there)
    assert world.host_after == world.host_before
    err = error_at(sub, attack_cell("vandal", "sitecustomize"))
    assert "vandal done (inside the sandbox)" in err["evalue"]
    assert_honest_parts_graded(sub)


# ----------------------------------------------------------------------------- 8. network


def test_network(world: World) -> None:
    sub = submission(world.runs["network"], world)
    assert world.connections == [], "something inside a sandbox connected to this host"
    err = error_at(sub, attack_cell("network", "create_connection"))
    results = evalue_list(err["evalue"], "network")
    assert not [r for r in results if "connected" in r], results
    assert "example.com: gaierror" in results, results
    assert_honest_parts_graded(sub)


# ----------------------------------------------------------------------------- 9. lying


def test_lying_compare(world: World) -> None:
    """The probe sends the raw data of what the function returned; the grader compares it in
    its own process, so patched comparisons and lying ``__eq__`` change nothing."""
    sub = submission(world.runs["lying_compare"], world)
    c2d = exercise(sub, "corr2d")
    assert (c2d["score"], c2d["status"]) == (0.0, "fail"), c2d
    assert "is wrong on 12 of 12 hidden test inputs" in c2d["feedback"][0]
    matmul = exercise(sub, "corr2d-as-matmul")
    assert matmul["status"] != "pass" and matmul["score"] <= 0.5, matmul  # 0.5: uses `@`
    assert_honest_parts_graded(sub, corr2d=False)


def test_patch_builtins(world: World) -> None:
    sub = submission(world.runs["patch_builtins"], world)
    c2d = exercise(sub, "corr2d")
    assert c2d["score"] == 0.0 and c2d["status"] != "pass", c2d
    assert_honest_parts_graded(sub, corr2d=False)


# ----------------------------------------------------------------------------- 10. forging


def test_fake_results(world: World) -> None:
    """Fake reports on stdout/stderr stay in the kernel; fake probe replies in a student cell
    are not read; forged replies during a call make the call fail, not pass."""
    run = world.runs["fake_results"]
    sub = submission(run, world)  # stdout is exactly the grader's one document
    assert '"attacker"' not in run.stdout and '"score": 999' not in run.stdout
    matmul = exercise(sub, "corr2d-as-matmul")
    assert matmul["status"] != "pass" and matmul["score"] <= 0.5, matmul  # 0.5: uses `@`
    assert_honest_parts_graded(sub)


# ----------------------------------------------------------------------------- 11. the probe


def test_probe_replace(world: World) -> None:
    sub = submission(world.runs["probe_replace"], world)
    c2d = exercise(sub, "corr2d")
    assert c2d["score"] == 0.0 and c2d["status"] != "pass", c2d
    assert_honest_parts_graded(sub, corr2d=False)


def test_probe_delete(world: World) -> None:
    """Deleting the probe object (or `%reset -f`) only makes the grader install it again."""
    sub = submission(world.runs["probe_delete"], world)
    assert_honest_parts_graded(sub)


def test_probe_dump(world: World) -> None:
    """The dump of the hidden inputs stays in the sandbox's tmpfs and workdir, both gone after
    grading (the batch test grades the same notebook again and it finds no earlier dump)."""
    run = world.runs["probe_dump"]
    sub = submission(run, world)
    assert world.host_after == world.host_before
    c2d = exercise(sub, "corr2d")
    assert (c2d["score"], c2d["status"]) == (0.0, "fail"), c2d
    assert sub["execution"]["errors"] == []  # no earlier dump was found
    assert_honest_parts_graded(sub, corr2d=False)


# ----------------------------------------------------------------------------- batch


def _scores(sub: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "score": sub["score"],
        **{e["id"]: (e["score"], e["status"]) for e in sub["exercises"]},
    }


def test_batch_attacks_do_not_affect_honest_submissions(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The whole corpus in ONE folder with honest controls, graded with --jobs 2: the controls
    get exactly the scores they get alone, and the batch survives every attack at once."""
    controls = tmp_path_factory.mktemp("controls")
    batch = tmp_path_factory.mktemp("batch")
    for folder in (controls, batch):
        for nb in REFERENCE_NOTEBOOKS:
            shutil.copy(nb, folder / f"control-{nb.stem}.ipynb")
        shutil.copy(CONTROL_PARTIAL, folder / CONTROL_PARTIAL.name)
    control_names = sorted(p.name for p in controls.iterdir())
    alone = grade([controls], controls, f"{RUN}-controls", jobs=2)
    alone_scores = {Path(s["path"]).name: _scores(s) for s in alone.document()["submissions"]}
    assert sorted(alone_scores) == control_names

    assert world.listener is not None
    hosts = ",".join(_host_addresses())
    for name in ATTACK_NAMES:
        _render(name, batch, world.listener.port, hosts)
    before = host_state()
    run = grade([batch], batch, f"{RUN}-batch", jobs=2)
    doc = run.document()
    assert_no_leak(run.stdout, world)
    subs = {Path(s["path"]).name: s for s in doc["submissions"]}
    assert sorted(subs) == sorted([*control_names, *(f"{n}.py" for n in ATTACK_NAMES)])
    for name, sub in subs.items():
        assert sub["status"] == "graded", (name, sub["error"])
        assert_not_forged(sub)
    for name in control_names:
        assert _scores(subs[name]) == alone_scores[name], name
    dump = subs["probe_dump.py"]["execution"]["errors"]
    assert not [e for e in dump if "earlier dump" in e["evalue"]], dump
    assert run.after == run.before, "files in the batch folder changed"
    assert strays(RUN) == [], "processes of this test run left running"
    assert host_state() == before
    assert world.listener.drain() == [], "something inside a sandbox connected to this host"


def test_corpus_is_complete() -> None:
    """Every attack notebook has a test, so none sits in the corpus unchecked."""
    tests = {name for name in globals() if name.startswith("test_")}
    untested = [n for n in ATTACK_NAMES if f"test_{n}" not in tests]
    assert untested == []
