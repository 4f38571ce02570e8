"""Kernel launcher: apply resource limits, then exec the real kernel command.

Standard library only: it runs inside the sandbox, before the kernel starts, and the warm
engine's kernels (forked, never exec'd) apply their limits with :func:`apply_limits` from
here. Limits come from environment variables set by the grader:

    GRADER_LIMIT_AS      address-space backstop in bytes (the RSS watchdog is the real limit)
    GRADER_LIMIT_NPROC   processes/threads of this user
    GRADER_LIMIT_FSIZE   largest file the submission may write, in bytes
    GRADER_LIMIT_CPU     CPU seconds

Usage: python launch.py -- CMD ARGS...
"""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Callable, Mapping

_LIMITS = {
    "GRADER_LIMIT_AS": resource.RLIMIT_AS,
    "GRADER_LIMIT_NPROC": resource.RLIMIT_NPROC,
    "GRADER_LIMIT_FSIZE": resource.RLIMIT_FSIZE,
    "GRADER_LIMIT_CPU": resource.RLIMIT_CPU,
}
LIMIT_VARS = tuple(_LIMITS)


def apply_limits(values: Mapping[str, str], report: Callable[[str], object]) -> None:
    """Set the rlimit of each ``GRADER_LIMIT_*`` variable in ``values`` that has a value;
    what cannot be set is reported (one line) and skipped."""
    for var, value in values.items():
        if not value:
            continue
        try:
            limit = int(value)
            resource.setrlimit(_LIMITS[var], (limit, limit))
        except (ValueError, OSError, KeyError) as exc:
            report(f"cannot set {var}: {exc}")


def main(argv: list[str]) -> None:
    if "--" not in argv:
        sys.exit("usage: launch.py -- CMD ARGS...")
    cmd = argv[argv.index("--") + 1 :]
    values = {var: os.environ.pop(var, "") for var in LIMIT_VARS}
    apply_limits(values, lambda line: print(f"grader launcher: {line}", file=sys.stderr))
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
