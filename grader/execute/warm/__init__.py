"""The warm engine: kernels forked from a pre-warmed server, with ipykernel's semantics.

Starting a Jupyter kernel and importing torch costs seconds per notebook while a typical
submission computes for milliseconds. This engine pays the start-up once::

    grader process ─ WarmFactory ─────────────── control socket (SOCK_SEQPACKET + SCM_RIGHTS)
      │                                                   │
      │                    fork server  `python -c <bootstrap> BUNDLE --serve FD`
      │                    own session; imports IPython/ipykernel, numpy, torch, matplotlib
      │                    (never runs a torch op); forks on request and reaps; single-threaded
      │                          ├── kernel A  (fork; setsid; rlimits; chdir; its shell)
      │                          └── kernel B
      └── one socketpair (SOCK_STREAM, length-prefixed JSON) per kernel, straight to the
          grader process: the server hands the kernel's end over at fork time and then
          forgets it, so a kernel never talks through the server.

The package is split along those processes (docs/design.md draws it); each module's
docstring says where it runs:

    grader process   factory (WarmFactory), pool (servers as the grader sees them),
                     handle (WarmKernel), bootstrap (server command line and code bundle),
                     shortcuts (the one switch for the shortcuts into IPython internals)
    fork server      server (its loop), vault (the preload, hidden until imported),
                     reaper (a sandbox's namespace cleared after each kernel),
                     shell (the kernels' IPython shell, built once)
    kernel child     child (set-up and request loop), capture (outputs, fd pump)
    every process    protocol (the frames on a kernel's socket)

Only :class:`WarmFactory`, :class:`WarmKernel`, :data:`DEFAULT_PRELOAD` and
:func:`warm_available` are public; the rest is internal. The fork server never imports
this ``__init__``: it runs the modules of :data:`.bootstrap.SERVER_MODULES`, sent as source.
"""

from __future__ import annotations

from .factory import WarmFactory, warm_available
from .handle import WarmKernel
from .vault import DEFAULT_PRELOAD

__all__ = ["DEFAULT_PRELOAD", "WarmFactory", "WarmKernel", "warm_available"]
