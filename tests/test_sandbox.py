"""The sandbox, tested with real commands run through ``wrap()``.

Every ``bwrap`` test runs a small program of the venv's Python inside a real bubblewrap
sandbox; they skip (with probe_bwrap()'s reason) only where bwrap cannot start. Run with
``-s`` to see the measured start-up overhead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import default_sigint

from grader.errors import SandboxUnavailable
from grader.execute import sandbox
from grader.execute.kernel import Limits
from grader.execute.sandbox import (
    LAUNCHER,
    SandboxSpec,
    choose,
    default_hidden,
    kernel_python_prefixes,
    probe_bwrap,
    wrap,
)
from grader.execute.watchdog import kill_group

PY = sys.executable
MiB = 1024 * 1024


# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def bwrap_ok() -> None:
    status = probe_bwrap()
    if not status.available:
        pytest.skip(f"bwrap cannot start here: {status.reason}")


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    """A workdir, a runtime dir, and course folders that must stay hidden."""
    out = {
        name: tmp_path / name
        for name in ("work", "run", "reference", "rubrics", "submissions", "repo")
    }
    for path in out.values():
        path.mkdir()
    (out["reference"] / "solution.py").write_text("ANSWER = 42\n")
    (out["rubrics"] / "rubric.yaml").write_text("points: 10\n")
    (out["submissions"] / "other_student.ipynb").write_text("{}\n")
    # A needed directory (like an editable-install checkout) with a hidden folder inside.
    (out["repo"] / "pkg").mkdir()
    (out["repo"] / "pkg" / "mod.py").write_text("X = 1\n")
    (out["repo"] / "reference").mkdir()
    (out["repo"] / "reference" / "answers.py").write_text("SECRET = 1\n")
    (out["repo"] / "secret.txt").write_text("top secret\n")
    return out


def make_spec(
    dirs: dict[str, Path],
    *,
    limits: Limits | None = None,
    env: dict[str, str] | None = None,
) -> SandboxSpec:
    prefixes = (*kernel_python_prefixes(PY), dirs["repo"])
    hidden = (
        *default_hidden(prefixes),
        dirs["reference"],
        dirs["rubrics"],
        dirs["submissions"],
        dirs["repo"] / "reference",
        dirs["repo"] / "secret.txt",
    )
    return SandboxSpec(
        workdir=dirs["work"],
        runtime_dir=dirs["run"],
        python_prefixes=prefixes,
        hidden=hidden,
        limits=limits or Limits(),
        env={"OMP_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1", **(env or {})},
    )


def run_inside(
    code: str,
    spec: SandboxSpec,
    mode: sandbox.Mode = "bwrap",
    *,
    launcher: bool = False,
    timeout: float = 120,
) -> Any:
    """Run ``code`` with the venv's Python through wrap(); return the JSON it prints last."""
    inner = [PY, "-c", textwrap.dedent(code)]
    if launcher:
        inner = [PY, str(LAUNCHER), "--", *inner]
    proc = subprocess.run(
        wrap(inner, spec, mode),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        cwd=spec.workdir,  # as the engine does (bwrap also has --chdir, weak has not)
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def processes_with_argv0(marker: str) -> list[int]:
    """Host pids whose argv[0] starts with ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv0 = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if argv0.decode(errors="replace").startswith(marker):
            found.append(int(entry))
    return found


def wait_until_gone(marker: str, seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while True:
        left = processes_with_argv0(marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def session_and_group(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[3]), int(fields[2])  # (session, process group)


# A program that starts `sleep 1000` (argv[0] = MARKER) and a double-forked daemon in its
# own session (argv[0] = MARKER-daemon), reports, and waits.
SPAWNER = """
import os, subprocess, sys, time
marker = sys.argv[1]
subprocess.Popen([marker, "1000"], executable="/usr/bin/sleep")
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/usr/bin/sleep", [marker + "-daemon", "1000"])
    os._exit(0)
os.waitpid(pid, 0)
print("ready", os.getpid(), flush=True)
time.sleep(1000)
"""


def start_spawner(spec: SandboxSpec, mode: sandbox.Mode, marker: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        wrap([PY, "-c", SPAWNER, marker], spec, mode),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
        cwd=spec.workdir,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("ready")
    deadline = time.monotonic() + 5
    while len(processes_with_argv0(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique argv[0] for processes started inside; leftovers are killed by pid."""
    name = f"grader-test-{uuid.uuid4().hex[:12]}"
    yield name
    for pid in processes_with_argv0(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- choosing


def test_choose_bwrap_missing_raises_and_auto_falls_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sandbox, "BWRAP", str(tmp_path / "no-such-dir" / "bwrap"))
    with pytest.raises(SandboxUnavailable) as info:
        choose("bwrap")
    message = str(info.value)
    assert "bubblewrap is not installed" in message and "apt install bubblewrap" in message
    assert "\n" not in message
    status = choose("auto")
    assert status.mode == "weak" and not status.available
    assert "bubblewrap is not installed" in status.reason and "weaker isolation" in status.reason
    with pytest.raises(SandboxUnavailable):
        wrap(["true"], SandboxSpec(tmp_path, tmp_path, (), (), Limits()), "bwrap")


def test_choose_reports_why_bwrap_cannot_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A bwrap that exists but cannot create namespaces (as without user namespaces)."""
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  --version) echo 'bubblewrap 0.8.0' ;;\n"
        "  --help) echo '--disable-userns --size' ;;\n"
        "  *) echo 'bwrap: No permissions to creating new namespace, likely because the"
        " kernel does not allow non-privileged user namespaces' >&2; exit 1 ;;\n"
        "esac\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox, "BWRAP", str(fake))
    with pytest.raises(SandboxUnavailable, match="No permissions to creating new namespace"):
        choose("bwrap")
    status = choose("auto")
    assert (status.mode, status.available) == ("weak", False)
    assert status.reason.startswith("bwrap cannot start a sandbox here: bwrap: No permissions")


def test_choose_weak_and_none() -> None:
    assert choose("weak").mode == "weak" and "weak isolation" in choose("weak").reason
    assert choose("none").mode == "none"


def test_none_returns_argv_unchanged(dirs: dict[str, Path]) -> None:
    argv = [PY, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert wrap(argv, make_spec(dirs), "none") == argv


def test_bwrap_argv_shape(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    argv = wrap([PY, "-f", "{connection_file}"], make_spec(dirs), "bwrap")
    assert argv[-3:] == [PY, "-f", "{connection_file}"]
    bw = argv[argv.index(shutil.which(sandbox.BWRAP) or "bwrap") :]
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in bw
    assert bw[bw.index("--cap-drop") + 1] == "ALL"
    assert bw[bw.index("--chdir") + 1] == str(dirs["work"])


def test_hidden_path_that_is_needed_is_refused(dirs: dict[str, Path]) -> None:
    spec = make_spec(dirs)
    spec = dataclasses.replace(spec, hidden=(*spec.hidden, dirs["work"]))
    if not probe_bwrap().available:
        pytest.skip(f"bwrap cannot start here: {probe_bwrap().reason}")
    with pytest.raises(ValueError, match="both needed by the kernel and hidden"):
        wrap(["true"], spec, "bwrap")


# ----------------------------------------------------------------------------- bwrap


def test_no_network(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()  # reachable outside
        result = run_inside(
            f"""
            import json, socket
            res = {{}}
            def attempt(name, fn):
                try:
                    fn()
                    res[name] = "connected"
                except OSError as exc:
                    res[name] = f"{{type(exc).__name__}}: {{exc}}"
            attempt("loopback", lambda: socket.create_connection(("127.0.0.1", {port}), 3).close())
            attempt("internet", lambda: socket.create_connection(("1.1.1.1", 53), 3).close())
            attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
            lines = open("/proc/net/dev").read().splitlines()[2:]
            res["interfaces"] = [line.split(":")[0].strip() for line in lines]
            print(json.dumps(res))
            """,
            make_spec(dirs),
        )
    finally:
        server.close()
    print(f"\n  network inside: {result}")
    assert result["loopback"].startswith("ConnectionRefusedError")  # its own empty loopback
    assert result["internet"] != "connected"
    assert result["dns"].startswith("gaierror")
    assert result["interfaces"] == ["lo"]


def test_hidden_paths_are_invisible(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    spec = make_spec(dirs)
    home = Path.home()
    needed_in_home = [p for p in spec.python_prefixes if home in p.parents]
    home_entries = [
        home / name
        for name in os.listdir(home)
        if not any(p == home / name or home / name in p.parents for p in needed_in_home)
    ]
    repo_root = LAUNCHER.parents[2]
    probes = {
        "reference": dirs["reference"],
        "reference_file": dirs["reference"] / "solution.py",
        "rubrics": dirs["rubrics"],
        "submissions": dirs["submissions"],
        "repo_reference_file": dirs["repo"] / "reference" / "answers.py",
        "grader_pyproject": repo_root / "pyproject.toml",
        "grader_source": repo_root / "grader" / "pipeline.py",
        **{f"home:{p.name}": p for p in home_entries},
    }
    result = run_inside(
        f"""
        import json, os
        probes = {json.dumps({k: str(v) for k, v in probes.items()})}
        res = {{k: os.path.exists(v) for k, v in probes.items()}}
        res["repo_module_visible"] = os.path.exists({str(dirs["repo"] / "pkg" / "mod.py")!r})
        res["launcher_visible"] = os.path.exists({str(LAUNCHER)!r})
        res["masked_listing"] = os.listdir({str(dirs["repo"] / "reference")!r})
        try:
            res["secret_read"] = open({str(dirs["repo"] / "secret.txt")!r}).read()
        except OSError as exc:
            res["secret_read"] = str(exc)
        print(json.dumps(res))
        """,
        spec,
    )
    assert result.pop("repo_module_visible") and result.pop("launcher_visible")
    assert result.pop("masked_listing") == []
    # A hidden file under a bound directory is masked by /dev/null on a nodev mount.
    assert "secret" not in result.pop("secret_read").replace("secret.txt", "")
    visible = [name for name, exists in result.items() if exists]
    assert visible == [], f"visible inside the sandbox: {visible}"
    assert len(probes) >= 8


def test_workdir_writable_everything_else_read_only(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    marker = f"grader-test-{uuid.uuid4().hex}"
    targets = {
        "venv": str(Path(sys.prefix) / marker),
        "usr": f"/usr/{marker}",
        "root": f"/{marker}",
        "etc": f"/etc/{marker}",
        "dev": f"/dev/{marker}",
        "launcher_dir": str(LAUNCHER.parent / marker),
        "masked_hidden_dir": str(dirs["repo"] / "reference" / marker),
        "repo": str(dirs["repo"] / marker),
    }
    result = run_inside(
        f"""
        import json, os
        res = {{}}
        with open("out.txt", "w") as fh:
            fh.write("written inside")
        with open("/tmp/{marker}", "w") as fh:
            fh.write("scratch")
        res["tmp"] = open("/tmp/{marker}").read()
        for name, path in {json.dumps(targets)}.items():
            try:
                open(path, "w").close()
                res[name] = "WRITTEN"
            except OSError as exc:
                res[name] = os.strerror(exc.errno)
        try:
            with open("/proc/sys/kernel/printk_ratelimit", "r+") as fh:
                value = fh.read()
                fh.seek(0)
                fh.write(value)
            res["sysctl"] = "WRITTEN"
        except OSError as exc:
            res["sysctl"] = os.strerror(exc.errno)
        print(json.dumps(res))
        """,
        make_spec(dirs),
    )
    assert (dirs["work"] / "out.txt").read_text() == "written inside"
    assert result.pop("tmp") == "scratch" and not Path(f"/tmp/{marker}").exists()
    if Path("/tmp") in LAUNCHER.parents:
        # a checkout under /tmp: the launcher's parent directories exist only inside the
        # sandbox's own /tmp tmpfs (scratch); the host copy is checked untouched below
        result.pop("launcher_dir")
    written = {k: v for k, v in result.items() if v == "WRITTEN"}
    assert written == {}, written
    assert result["usr"] == os.strerror(errno.EROFS)
    assert result["sysctl"] == os.strerror(errno.EROFS)
    for path in targets.values():
        assert not Path(path).exists()


def test_workdir_inside_a_masked_directory(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    """A needed path inside a hidden one inside a needed one: the mask does not cover it."""
    inner = dirs["repo"] / "reference" / "work"
    inner.mkdir()
    spec = make_spec(dirs)
    spec = dataclasses.replace(spec, workdir=inner)
    answers = str(dirs["repo"] / "reference" / "answers.py")
    result = run_inside(
        f"""
        import json, os
        open("out.txt", "w").write("ok")
        print(json.dumps({{"listing": os.listdir(".."),
                          "answers": os.path.exists({answers!r}),
                          "cwd": os.getcwd()}}))
        """,
        spec,
    )
    assert result == {"listing": ["work"], "answers": False, "cwd": str(inner)}
    assert (inner / "out.txt").read_text() == "ok"


def test_memory_backed_scratch_is_bounded(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    """/tmp and /dev/shm live in RAM outside every RSS: each is capped (16 MiB minimum)."""
    spec = make_spec(dirs, limits=Limits(max_file_bytes=1 * MiB))
    result = run_inside(
        """
        import json, os
        res = {}
        for where in ("/tmp", "/dev/shm"):
            written = 0
            try:
                for i in range(64):
                    with open(f"{where}/chunk{i}", "wb") as fh:
                        fh.write(b"x" * (1024 * 1024))
                    written += 1
            except OSError as exc:
                res[where] = [written, os.strerror(exc.errno)]
        print(json.dumps(res))
        """,
        spec,
    )
    for where in ("/tmp", "/dev/shm"):
        written, error = result[where]
        assert written <= 16 and error == os.strerror(errno.ENOSPC)


def test_no_capabilities_no_user_namespaces_no_unmounting(
    bwrap_ok: None, dirs: dict[str, Path]
) -> None:
    """As root bwrap keeps all capabilities unless --cap-drop ALL; with them the sandbox
    could unmount a mask or remount /usr read-write. Check none of that works."""
    mask = dirs["repo"] / "reference"
    result = run_inside(
        f"""
        import ctypes, json, os
        libc = ctypes.CDLL(None, use_errno=True)
        def call(fn, *args):
            return "ok" if fn(*args) == 0 else os.strerror(ctypes.get_errno())
        status = dict(line.split(":\\t") for line in open("/proc/self/status").read().splitlines()
                      if line.startswith(("Cap", "NoNewPrivs")))
        res = {{k: v.strip() for k, v in status.items()}}
        res["umount_mask"] = call(libc.umount2, {str(mask).encode()!r}, 2)
        MS_REMOUNT, MS_BIND = 32, 4096
        res["remount_usr_rw"] = call(libc.mount, None, b"/usr", None, MS_REMOUNT | MS_BIND, None)
        res["new_user_namespace"] = call(libc.unshare, 0x10000000)
        res["uid"] = os.getuid()
        print(json.dumps(res))
        """,
        make_spec(dirs),
    )
    print(f"\n  privileges inside: {result}")
    assert result["CapEff"] == result["CapPrm"] == result["CapBnd"] == "0000000000000000"
    assert result["NoNewPrivs"] == "1"
    assert result["umount_mask"] != "ok"
    assert result["remount_usr_rw"] != "ok"
    assert result["new_user_namespace"] != "ok"


def test_environment_is_an_allowlist(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    spec = make_spec(
        dirs,
        env={
            "AWS_SECRET_ACCESS_KEY": "s3cr3t",
            "PYTHONPATH": "/somewhere",
            "GRADER_SEED": "x",
            "GRADER_LIMIT_FSIZE": str(8 * MiB),
            "MPLBACKEND": "Agg",
        },
    )
    result = run_inside(
        "import json, os; print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))", spec
    )
    env = result["env"]
    assert "AWS_SECRET_ACCESS_KEY" not in env and "PYTHONPATH" not in env
    assert "GRADER_SEED" not in env
    assert env["GRADER_LIMIT_FSIZE"] == str(8 * MiB) and env["OMP_NUM_THREADS"] == "1"
    assert env["HOME"] == result["cwd"] == str(dirs["work"])
    assert env["PYTHONNOUSERSITE"] == "1" and env["MPLBACKEND"] == "Agg"


def test_pid_namespace(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    me = os.getpid()
    result = run_inside(
        f"""
        import json, os, signal
        res = {{"pid": os.getpid(), "pids": sorted(int(p) for p in os.listdir("/proc")
                                                  if p.isdigit())}}
        try:
            os.kill({me}, signal.SIGKILL)
            res["kill_test_process"] = "sent"
        except OSError as exc:
            res["kill_test_process"] = type(exc).__name__
        res["see_test_process"] = os.path.exists("/proc/{me}")
        print(json.dumps(res))
        """,
        make_spec(dirs),
    )
    assert result["pid"] <= 3 and max(result["pids"]) <= 3
    assert result["kill_test_process"] == "ProcessLookupError"
    assert not result["see_test_process"]


def test_group_kill_ends_everything_inside(
    bwrap_ok: None, dirs: dict[str, Path], marker: str
) -> None:
    proc = start_spawner(make_spec(dirs), "bwrap", marker)
    inside = processes_with_argv0(marker)
    assert len(inside) == 2
    (daemon,) = processes_with_argv0(f"{marker}-daemon")
    # The daemon left both the session and the process group the grader kills ...
    assert proc.pid not in session_and_group(daemon)
    kill_group(proc.pid)  # what the engine and the watchdog do
    proc.wait(timeout=5)
    # ... and is gone anyway: the PID namespace died with its init.
    assert wait_until_gone(marker) == []


def test_killing_only_bwrap_ends_everything_inside(
    bwrap_ok: None, dirs: dict[str, Path], marker: str
) -> None:
    proc = start_spawner(make_spec(dirs), "bwrap", marker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)
    assert wait_until_gone(marker) == []


def test_sandbox_dies_with_the_grader(bwrap_ok: None, dirs: dict[str, Path], marker: str) -> None:
    """--die-with-parent: a grader killed with SIGKILL leaves nothing behind."""
    argv = wrap([PY, "-c", SPAWNER, marker], make_spec(dirs), "bwrap")
    grader_code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "time.sleep(1000)\n"
    )
    fake_grader = subprocess.Popen(
        [PY, "-c", grader_code, *argv], stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 10
        while len(processes_with_argv0(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(processes_with_argv0(marker)) == 2
    finally:
        os.kill(fake_grader.pid, signal.SIGKILL)
        fake_grader.wait()
    assert wait_until_gone(marker) == []


def test_sigint_to_the_group_ends_the_sandbox(
    bwrap_ok: None, dirs: dict[str, Path], marker: str
) -> None:
    """bwrap does not forward SIGINT: a signal-mode kernel interrupt would kill the kernel.
    Sandboxed kernelspecs need "interrupt_mode": "message"."""
    proc = start_spawner(make_spec(dirs), "bwrap", marker)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=5) == -signal.SIGINT
    assert wait_until_gone(marker) == []


def test_sandbox_dies_when_the_starting_thread_exits(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    """PR_SET_PDEATHSIG follows the *thread* that forked: start kernels from a thread that
    outlives them."""
    argv = wrap(["sleep", "1000"], make_spec(dirs), "bwrap")
    box: dict[str, subprocess.Popen[bytes]] = {}

    def start_then_exit() -> None:
        box["proc"] = subprocess.Popen(argv, start_new_session=True)
        time.sleep(1)  # the sandbox is up (a thread that exits sooner is a race)

    thread = threading.Thread(target=start_then_exit)
    thread.start()
    thread.join()
    assert box["proc"].wait(timeout=5) == -signal.SIGKILL


def test_launcher_rlimits_apply_inside(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    limits = Limits(max_file_bytes=1 * MiB)
    spec = make_spec(dirs, limits=limits, env={"GRADER_LIMIT_FSIZE": str(1 * MiB)})
    result = run_inside(
        """
        import json, resource
        res = {"fsize": resource.getrlimit(resource.RLIMIT_FSIZE),
               "nproc": resource.getrlimit(resource.RLIMIT_NPROC)}
        try:
            with open("big.bin", "wb") as fh:
                fh.write(b"x" * (2 * 1024 * 1024))
            res["write"] = "ok"
        except OSError as exc:
            res["write"] = exc.errno
        print(json.dumps(res))
        """,
        spec,
        launcher=True,
    )
    assert result["fsize"] == [MiB, MiB]
    assert result["nproc"] == [limits.max_processes + 1] * 2
    assert result["write"] == errno.EFBIG
    assert (dirs["work"] / "big.bin").stat().st_size <= MiB


FORKS = """
import json, os, time
count, error = 0, None
children = []
for _ in range(60):
    try:
        pid = os.fork()
    except OSError as exc:
        error = type(exc).__name__
        break
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    children.append(pid)
    count += 1
for pid in children:
    os.kill(pid, 9)
print(json.dumps({"forks": count, "error": error}))
"""


def test_process_limit(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    base, note = sandbox._process_limit()
    if os.geteuid() == 0 and base is None:
        pytest.skip(f"no process limit here: {note}")
    limits = Limits(max_processes=16)
    result = run_inside(FORKS, make_spec(dirs, limits=limits), launcher=True)
    print(f"\n  process limit ({note}): {result}")
    assert result["error"] == "BlockingIOError"
    assert result["forks"] < limits.max_processes


@pytest.mark.skipif(os.geteuid() != 0, reason="documents what happens when the grader is root")
def test_root_ignores_rlimit_nproc(
    bwrap_ok: None, dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the pids cgroup, RLIMIT_NPROC alone does not stop uid 0 (host uid 0 is
    exempt, user namespace or not)."""
    monkeypatch.setattr(sandbox, "_process_limit", lambda: (None, "rlimit only"))
    result = run_inside(FORKS, make_spec(dirs, limits=Limits(max_processes=16)), launcher=True)
    print(f"\n  as root with RLIMIT_NPROC=17 only: {result}")
    assert result == {"forks": 60, "error": None}


def test_next_sandbox_reaps_a_leaked_one(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    """As root, each sandbox has a pids cgroup; when a sandbox's bwrap is gone but
    something survived in its cgroup (bwrap's --die-with-parent start-up race), the next
    sandbox to start kills it."""
    base = sandbox._process_limit()[0]
    if base is None:
        pytest.skip("no per-sandbox pids cgroup here (not root, or none writable)")
    gone = subprocess.Popen(["true"])
    gone.wait()
    leaked = base / f"grader-sandbox-{gone.pid}-test{uuid.uuid4().hex[:8]}"
    leaked.mkdir()
    survivor = subprocess.Popen(["sleep", "1000"])
    try:
        (leaked / "cgroup.procs").write_text(str(survivor.pid))
        assert run_inside("print(1)", make_spec(dirs)) == 1
        assert survivor.wait(timeout=5) == -signal.SIGKILL
    finally:
        survivor.kill()
        survivor.wait()
        deadline = time.monotonic() + 5
        while leaked.exists() and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                leaked.rmdir()
            time.sleep(0.05)


def test_torch_works_inside_and_overhead(bwrap_ok: None, dirs: dict[str, Path]) -> None:
    spec = make_spec(dirs, env={"MPLBACKEND": "Agg"})
    result = run_inside(
        """
        import json, torch, numpy, matplotlib.pyplot as plt
        x = torch.arange(6.0).reshape(2, 3)
        plt.plot([1, 2, 3]); plt.savefig("figure.png")
        print(json.dumps({"sum": float(x.sum()), "conv": list(torch.nn.Conv2d(1, 1, 2)(
            torch.ones(1, 1, 3, 3)).shape), "numpy": numpy.__version__}))
        """,
        spec,
    )
    assert result["sum"] == 15.0 and result["conv"] == [1, 1, 2, 2]
    assert (dirs["work"] / "figure.png").stat().st_size > 0

    def timed(argv: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
        return time.perf_counter() - start

    torch_cmd = [PY, "-c", "import torch"]
    commands = {
        "import torch": torch_cmd,
        "import torch in bwrap": wrap(torch_cmd, spec, "bwrap"),
        "true": ["true"],
        "true in bwrap": wrap(["true"], spec, "bwrap"),
    }
    timed(torch_cmd)  # warm the page cache
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(5):  # interleaved, so that load on the machine hits all alike
        for name, argv in commands.items():
            times[name].append(timed(argv))
    ms = {name: 1000 * statistics.median(values) for name, values in times.items()}
    print(
        f"\n  median of 5: python -c 'import torch' {ms['import torch']:.0f} ms plain, "
        f"{ms['import torch in bwrap']:.0f} ms in bwrap "
        f"({ms['import torch in bwrap'] - ms['import torch']:+.0f} ms); "
        f"`true` {ms['true']:.0f} ms plain, {ms['true in bwrap']:.0f} ms in bwrap "
        f"(fixed cost of the sandbox {ms['true in bwrap'] - ms['true']:+.0f} ms)"
    )


# ----------------------------------------------------------------------------- weak


def test_weak_mode_limits_and_environment(dirs: dict[str, Path]) -> None:
    spec = make_spec(
        dirs,
        env={
            "AWS_SECRET_ACCESS_KEY": "s3cr3t",
            "GRADER_LIMIT_FSIZE": str(MiB),
            "GRADER_LIMIT_NPROC": "16",
        },
    )
    result = run_inside(
        """
        import json, os, resource
        status = dict(line.split(":\\t") for line in open("/proc/self/status").read().splitlines()
                      if line.startswith(("CapEff", "NoNewPrivs")))
        try:
            open("big.bin", "wb").write(b"x" * (2 * 1024 * 1024))
            write = "ok"
        except OSError as exc:
            write = exc.errno
        print(json.dumps({"env": sorted(os.environ), "write": write,
                          "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
                          **{k: v.strip() for k, v in status.items()}}))
        """,
        spec,
        "weak",
        launcher=True,
    )
    assert "AWS_SECRET_ACCESS_KEY" not in result["env"]
    assert result["write"] == errno.EFBIG
    assert (dirs["work"] / "big.bin").stat().st_size <= MiB
    assert result["NoNewPrivs"] == "1"
    # RLIMIT_NPROC would count every process of the user outside a user namespace.
    assert result["nproc"] == resource.getrlimit(resource.RLIMIT_NPROC)[0]
    if os.geteuid() == 0:
        assert result["CapEff"] == "0000000000000000"


def test_weak_mode_group_kill_misses_a_daemon(dirs: dict[str, Path], marker: str) -> None:
    """Documents the gap: without a PID namespace a double-forked daemon survives."""
    proc = start_spawner(make_spec(dirs), "weak", marker)
    kill_group(proc.pid)
    proc.wait(timeout=5)
    survivors = wait_until_gone(marker, seconds=1)
    names = [Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0] for p in survivors]
    assert names == [f"{marker}-daemon".encode()]  # the plain child died with the group


# ----------------------------------------------------------------------------- a real kernel


@pytest.mark.kernel
def test_real_kernel_in_bwrap(bwrap_ok: None, dirs: dict[str, Path], tmp_path: Path) -> None:
    """An ipykernel started through wrap() the way the nbclient engine starts it: Unix
    sockets in the runtime dir, message-mode interrupts, stopped with kill_group."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = make_spec(dirs, env={"MPLBACKEND": "Agg", "GRADER_LIMIT_FSIZE": str(64 * MiB)})
    argv = [PY, str(LAUNCHER), "--", PY, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel_dir = tmp_path / "kernels" / "sandboxed"
    kernel_dir.mkdir(parents=True)
    kernelspec = {
        "argv": wrap(argv, spec, "bwrap"),
        "display_name": "sandboxed",
        "language": "python",
        "interrupt_mode": "message",  # bwrap does not forward SIGINT
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(kernelspec))
    km = KernelManager(kernel_name="sandboxed")
    km.kernel_spec_manager = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    km.transport = "ipc"
    km.ip = str(dirs["run"] / "kernel")
    km.connection_file = str(dirs["run"] / "connection.json")
    km.start_kernel(cwd=str(dirs["work"]), env=dict(os.environ))
    pid = km.provisioner.process.pid  # type: ignore[union-attr]
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)

        def collect(msg_id: str) -> tuple[str, str | None]:
            text, error = [], None
            while True:
                msg = kc.get_iopub_msg(timeout=60)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    text.append(content["text"])
                elif kind == "error":
                    error = content["ename"]
                elif kind == "status" and content["execution_state"] == "idle":
                    return "".join(text), error

        out, error = collect(
            kc.execute("import os, torch; print(os.getpid(), torch.ones(2).sum().item())")
        )
        assert error is None and out.split() == ["2", "2.0"]
        sleeping = kc.execute("import time; time.sleep(60)")
        time.sleep(1)
        km.interrupt_kernel()
        assert collect(sleeping) == ("", "KeyboardInterrupt")
        assert collect(kc.execute("print('alive')")) == ("alive\n", None)  # not killed
    finally:
        kc.stop_channels()
        kill_group(pid)
        km.cleanup_resources()
    deadline = time.monotonic() + 5
    while km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not km.is_alive()
