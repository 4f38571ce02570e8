"""The memory watchdog counts what a process tree really uses: forked copies that share
their pages (multiprocessing, DataLoader workers, fork bombs) are not counted once per copy,
while memory each of them allocates is."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from grader.execute.watchdog import Watchdog, tree_pss, tree_rss

MiB = 1024 * 1024

# A parent that fills 300 MiB, then forks 5 children that only sleep: 6 x 300 MiB resident,
# 300 MiB used. With PRIVATE set, each child also fills 300 MiB of its own.
_FORKS = textwrap.dedent(
    """
    import os, sys, time
    private = sys.argv[1] == "private"
    block = bytearray(300 * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    for _ in range(5):
        if os.fork() == 0:
            if private:
                own = bytearray(300 * 1024 * 1024)
                for i in range(0, len(own), 4096):
                    own[i] = 1
            time.sleep(60)
            os._exit(0)
    print("ready", flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def forks(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _FORKS, request.param],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(1.0 if request.param == "private" else 0.2)  # children fill their memory
    yield proc
    from grader.execute.watchdog import kill_group

    kill_group(proc.pid)
    proc.wait()


@pytest.mark.parametrize("forks", ["shared"], indirect=True)
def test_forked_copies_are_not_counted_once_per_copy(forks: subprocess.Popen[str]) -> None:
    assert tree_rss(forks.pid) > 1500 * MiB  # what RSS alone would say
    assert tree_pss(forks.pid) < 600 * MiB
    dog = Watchdog(forks.pid, time.monotonic() + 60, 1024 * MiB, interval=0.05)
    try:
        time.sleep(0.5)
        assert dog.fired is None
        assert 250 * MiB < dog.peak_rss < 600 * MiB  # the confirmed (proportional) figure
    finally:
        dog.stop()


@pytest.mark.parametrize("forks", ["private"], indirect=True)
def test_memory_each_copy_allocates_is_counted(forks: subprocess.Popen[str]) -> None:
    dog = Watchdog(forks.pid, time.monotonic() + 60, 1024 * MiB, interval=0.05)
    try:
        end = time.monotonic() + 5
        while dog.fired is None and time.monotonic() < end:
            time.sleep(0.05)
        assert dog.fired == "memory"
    finally:
        dog.stop()
    assert forks.wait(5) is not None  # the watchdog killed the group
