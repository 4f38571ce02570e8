"""The one switch for the warm engine's shortcuts into IPython's and ipykernel's internals.

What buys seconds is always on: the fork server, the preload, the module vault. What
buys milliseconds per notebook by reaching into IPython/ipykernel internals (private
attributes, the order in which a shell initialises itself, ``run_cell``'s own steps) is
behind this switch, so that after an IPython, ipykernel or jupyter_client upgrade a
wrong verdict or a broken kernel can be bisected by turning them off:

* **the adopted shell** (:func:`.shell.build_kernel_shell`, :func:`.shell.adopt_shell`):
  the server builds the kernels' ``ZMQInteractiveShell`` once and each child re-runs the
  parts of its construction that depend on the child's process (its environment,
  directories, session id). Off: each child builds its own shell after the fork.
* **cells sent ahead** (:meth:`.handle.WarmKernel.send_ahead`): the kernel starts the
  driver's next cells without waiting for the grader. Off: one cell per request.
* **no second compile for cells without ``await``/``async``**
  (``WarmShell.should_run_async`` and the short path of :func:`.child._execute_cell`):
  such a cell cannot be a coroutine, so ipykernel's extra ``transform_cell`` and compile
  are skipped. Off: every cell takes ipykernel's ``do_execute`` steps.

``GRADER_WARM_SHORTCUTS=off`` (also ``0``, ``no``, ``false``) in the grader's environment
turns them off for every warm factory made afterwards; ``WarmFactory(shortcuts=False)``
for one factory. Verdicts are the same either way (tests/test_warm_kernel.py runs the
nbclient comparison with them off too); what each one saves is in docs/performance.md.
Runs in the grader process: the server and its kernels get the choice on their command
line (``--no-shortcuts``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ENV = "GRADER_WARM_SHORTCUTS"
_OFF = frozenset({"off", "0", "no", "false"})


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the shortcuts are on (the default) in ``environ`` (default: this process's)."""
    value = (os.environ if environ is None else environ).get(ENV, "on")
    return value.strip().lower() not in _OFF
