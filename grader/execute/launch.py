"""Kernel launcher: apply resource limits, then exec the real kernel command.

Standard library only: it runs inside the sandbox, before the kernel starts. Limits come
from environment variables set by the grader:

    GRADER_LIMIT_AS      address-space backstop in bytes (the RSS watchdog is the real limit)
    GRADER_LIMIT_NPROC   processes/threads of this user
    GRADER_LIMIT_FSIZE   largest file the submission may write, in bytes
    GRADER_LIMIT_CPU     CPU seconds

Usage: python launch.py -- CMD ARGS...
"""

import os
import resource
import sys

_LIMITS = {
    "GRADER_LIMIT_AS": resource.RLIMIT_AS,
    "GRADER_LIMIT_NPROC": resource.RLIMIT_NPROC,
    "GRADER_LIMIT_FSIZE": resource.RLIMIT_FSIZE,
    "GRADER_LIMIT_CPU": resource.RLIMIT_CPU,
}


def main(argv: list[str]) -> None:
    if "--" not in argv:
        sys.exit("usage: launch.py -- CMD ARGS...")
    cmd = argv[argv.index("--") + 1 :]
    for var, which in _LIMITS.items():
        value = os.environ.pop(var, "")
        if value:
            limit = int(value)
            try:
                resource.setrlimit(which, (limit, limit))
            except (ValueError, OSError) as exc:
                print(f"grader launcher: cannot set {var}: {exc}", file=sys.stderr)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
