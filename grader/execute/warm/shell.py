"""The kernels' IPython shell. Built in the fork server, adopted in each kernel child."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import remove_tree
from .capture import stream_type


def build_kernel_shell(types: ShellTypes) -> None:
    """Build the shell every child of this server uses, once, in the server (each
    kernel's start saves that work, docs/performance.md; without the shortcuts, see
    .shortcuts, each child calls this itself after the fork): ipykernel's
    ``ZMQInteractiveShell`` as a fresh kernel has it before its first cell, the
    singleton, with ``__main__``, the prompts and the atexit entry it installs, and the
    session its displays go through. Nothing has run in it; what depends on the kernel's
    own process, environment and working directory is set again by :func:`adopt_shell`
    in the child. It is built in a throwaway IPython directory, removed at once: each
    child makes its own."""
    from traitlets.config import Config

    config = Config()
    config.IPKernelApp.connection_file = ""  # the kernel's own, set by adopt_shell
    ipython_dir = tempfile.mkdtemp(prefix="grader-warm-shell-")
    try:
        shell = types.new_shell(config, ipython_dir=ipython_dir)
    finally:
        remove_tree(Path(ipython_dir))
    # as IPKernelApp leaves the config (no HistoryManager section, a ScriptMagics one)
    with contextlib.suppress(KeyError):
        del config["HistoryManager"]
    config.ScriptMagics = Config()
    with contextlib.suppress(Exception):  # InteractiveShellApp.default_extensions
        shell.extension_manager.load_extension("storemagic")
    shell.user_ns_hidden.update(shell.user_ns)  # InteractiveShellApp.hide_initial_ns
    session = types.session(key=b"")
    shell.displayhook.session = session
    shell.displayhook.pub_socket = None
    shell.displayhook.topic = b"execute_result"
    shell.display_pub.session = session
    shell.display_pub.pub_socket = None
    types.kernel_shell = shell


def adopt_shell(types: ShellTypes, connection_file: str) -> Any:
    """The server's shell (:func:`build_kernel_shell`), made this kernel's: what a shell
    takes from its process at construction is taken again here, in the kernel's own
    environment and working directory. Without the shortcuts the child builds it first."""
    from jupyter_client.session import new_id

    if types.kernel_shell is None:
        if types.shortcuts:
            raise RuntimeError("the fork server has no shell")
        build_kernel_shell(types)
    shell = types.kernel_shell
    shell.config.IPKernelApp.connection_file = connection_file
    shell.init_environment()  # TERM, PAGER... in this environment
    shell.init_encoding()
    shell.starting_dir = os.getcwd()
    shell.history_manager.dir_hist[:] = [Path.cwd()]  # ``_dh``
    shell.init_ipython_dir(None)  # IPYTHONDIR of this kernel, and its profile directory
    shell.init_profile_dir(None)
    session = shell.display_pub.session  # the kernel's own id, and pid (check_pid)
    session.session = new_id()
    session.pid = os.getpid()
    return shell


# What a cell needs for IPython to run it as a coroutine (see WarmShell.should_run_async)
MAY_AWAIT = re.compile("await|async")


@dataclass
class ShellTypes:
    shell: Any
    session: Any
    stream: Any
    compiler: Any
    shortcuts: bool = True  # see .shortcuts
    kernel_shell: Any = None  # built by the server (build_kernel_shell), or by the child

    def new_shell(self, config: Any, **kwargs: Any) -> Any:
        """The kernels' shell, as the server builds it for them (build_kernel_shell): no
        history (no shared sqlite file, no saving thread), ipykernel's compiler."""
        config.HistoryManager.enabled = False
        return self.shell.instance(
            config=config, kernel=_KernelStub(), compiler_class=self.compiler, **kwargs
        )

    @staticmethod
    def build(shortcuts: bool = True) -> ShellTypes:
        """ipykernel's shell, compiler and session, fitted for a kernel without a kernel
        app; with ``shortcuts`` (see .shortcuts), a shell that does not compile a cell
        twice to learn that it cannot be a coroutine."""
        from ipykernel.compiler import XCachingCompiler
        from ipykernel.eventloops import enable_gui as real_enable_gui
        from ipykernel.zmqshell import ZMQInteractiveShell
        from IPython.core.error import UsageError
        from jupyter_client.session import Session

        class WarmShell(ZMQInteractiveShell):
            """ipykernel's shell; only the GUI hook needs to know there is no kernel app."""

            def enable_gui(self, gui: Any = None) -> None:
                try:
                    real_enable_gui(gui, kernel=self.kernel)  # type: ignore[no-untyped-call]
                    self.active_eventloop = gui
                except ValueError as e:
                    raise UsageError(f"{e}") from e

        class ShortcutShell(WarmShell):
            """A shortcut (see .shortcuts): no compile to learn what a keyword tells."""

            def should_run_async(
                self,
                raw_cell: str,
                *,
                transformed_cell: str | None = None,
                preprocessing_exc_tuple: Any = None,
            ) -> bool:
                """The same answer without compiling the cell again when it cannot be
                a coroutine: top-level await, async for and async with need a keyword."""
                if transformed_cell is not None and not MAY_AWAIT.search(transformed_cell):
                    return False
                return bool(
                    super().should_run_async(
                        raw_cell,
                        transformed_cell=transformed_cell,
                        preprocessing_exc_tuple=preprocessing_exc_tuple,
                    )
                )

        shell = ShortcutShell if shortcuts else WarmShell
        # Code that checks ``get_ipython().__class__.__name__`` sees a notebook kernel.
        shell.__name__ = shell.__qualname__ = "ZMQInteractiveShell"
        shell.__module__ = "ipykernel.zmqshell"

        class SinkSession(Session):
            """Serialises like a real session, then hands the content to the outputs."""

            sink: Callable[[str, Mapping[str, Any]], None] | None = None

            def send(
                self,
                stream: Any,
                msg_or_type: dict[str, Any] | str,
                content: dict[str, Any] | None = None,
                parent: dict[str, Any] | None = None,
                ident: Any = None,
                buffers: Any = None,
                track: bool = False,
                header: dict[str, Any] | None = None,
                metadata: dict[str, Any] | None = None,
            ) -> dict[str, Any] | None:
                if isinstance(msg_or_type, dict):
                    msg = msg_or_type
                else:
                    msg = self.msg(
                        msg_or_type,
                        content=content,
                        parent=parent,
                        header=header,
                        metadata=metadata,
                    )
                if self.check_pid and os.getpid() != self.pid:
                    return None  # like jupyter_client: no sending from a forked process
                packed = self.serialize(msg)[-1]  # packs like the real send (and warns alike)
                decoded = json.loads(bytes(packed).decode("utf-8", "surrogateescape"))
                if self.sink is not None:
                    self.sink(str(msg["header"]["msg_type"]), decoded)
                return msg

        return ShellTypes(shell, SinkSession, stream_type(), XCachingCompiler, shortcuts)


class _ExitLoop:
    """``kernel.io_loop`` for ipykernel's ``exit()``: it stops the loop 0.1 s later and
    the kernel process ends, so the notebook's next request finds it dead."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> None:
        import asyncio

        asyncio.get_event_loop().call_later(delay, callback)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(0)


class _KernelStub:
    """What ipykernel's shell looks up on ``shell.kernel`` (GUI hooks, ``exit()``)."""

    eventloop: Any = None

    def __init__(self) -> None:
        self.io_loop = _ExitLoop()
