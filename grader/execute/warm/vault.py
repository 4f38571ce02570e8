"""The preload and the module vault. Runs in the fork server (and the vault in each
kernel child, which restores what a notebook imports).

Preloaded packages are *hidden* in each child: their modules are taken out of
``sys.modules`` (once, by the server, before its first fork) and put back (the same
objects, never re-executed) by a meta-path finder when the notebook imports them, with
the packages they import. So ``'torch' in sys.modules`` and ``matplotlib.pyplot``
attribute access behave as in a fresh kernel.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

#: Imported by the fork server (those not installed are skipped). Never anything that
#: starts threads or runs torch ops at import time.
DEFAULT_PRELOAD: tuple[str, ...] = (
    "numpy",
    "torch",
    "matplotlib",
    "matplotlib.pyplot",
    "PIL.Image",
    "torchvision",
)


@dataclass
class Unit:
    """The modules one preload import added, restored together."""

    name: str
    modules: dict[str, ModuleType]
    filters: list[Any] = field(default_factory=list)  # warnings filters its import added
    deps: set[int] = field(default_factory=set)
    detached: list[tuple[ModuleType, str, ModuleType]] = field(default_factory=list)
    restored: bool = False


class Vault:
    """Preloaded modules, hidden from a child's ``sys.modules`` until imported.

    A meta-path finder (first on ``sys.meta_path``) answers for hidden names; its loader
    hands back the preloaded module object, puts its unit and the units that unit imports
    back into ``sys.modules``, and restores the module's own ``__spec__``. Nothing is
    executed twice.
    """

    def __init__(self, units: list[Unit], env_added: dict[str, str]) -> None:
        self.units = units
        self.env_added = env_added
        self._where: dict[str, int] = {}
        self._specs: dict[str, Any] = {}
        for idx, unit in enumerate(units):
            for name, module in unit.modules.items():
                self._where[name] = idx
                self._specs[name] = getattr(module, "__spec__", None)

    @property
    def hidden(self) -> int:
        return len(self._where)

    def reseed(self) -> None:
        """A fresh process seeds torch's default generator from the OS, and a fork would
        share the server's seed with every other child (Python's ``random`` and NumPy
        reseed themselves after a fork)."""
        idx = self._where.get("torch")
        torch = self.units[idx].modules["torch"] if idx is not None else sys.modules.get("torch")
        generator = getattr(torch, "default_generator", None)
        if generator is not None:
            generator.seed()

    def intact(self) -> bool:
        """No unit has been restored (true in the server after ``hide``, until a child
        imports one in its own copy)."""
        return not any(unit.restored for unit in self.units)

    def hide(self) -> None:
        import warnings

        added = [f for unit in self.units for f in unit.filters]
        filters = cast("list[Any]", warnings.filters)
        filters[:] = [f for f in filters if f not in added]
        warnings._filters_mutated()  # type: ignore[attr-defined]
        for unit in self.units:
            for name, module in unit.modules.items():
                if sys.modules.get(name) is module:
                    del sys.modules[name]
        for idx, unit in enumerate(self.units):
            for name, module in unit.modules.items():
                parent_name, _, child = name.rpartition(".")
                if not parent_name or self._where.get(parent_name) == idx:
                    continue
                parent = sys.modules.get(parent_name)
                if parent is None and parent_name in self._where:
                    parent = self.units[self._where[parent_name]].modules[parent_name]
                if parent is not None and getattr(parent, child, None) is module:
                    with contextlib.suppress(AttributeError, TypeError):
                        delattr(parent, child)
                        unit.detached.append((parent, child, module))
        sys.meta_path.insert(0, self)

    # -- importlib finder / loader protocol
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> Any:
        if fullname in self._where and fullname not in sys.modules:
            from importlib.machinery import ModuleSpec

            return ModuleSpec(fullname, self)  # type: ignore[arg-type]
        return None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        idx = self._where[spec.name]
        module = self.units[idx].modules[spec.name]
        self._restore(idx)
        return module

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        name = spec.name if spec is not None else module.__name__
        module.__spec__ = self._specs.get(name)

    def invalidate_caches(self) -> None:
        pass

    def _restore(self, idx: int) -> None:
        unit = self.units[idx]
        if unit.restored:
            return
        unit.restored = True
        for dep in sorted(unit.deps):
            self._restore(dep)
        for name, module in unit.modules.items():
            sys.modules.setdefault(name, module)
            self._where.pop(name, None)
        for parent, child, module in unit.detached:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(parent, child, module)
        if unit.filters:
            import warnings

            cast("list[Any]", warnings.filters)[:0] = unit.filters
            warnings._filters_mutated()  # type: ignore[attr-defined]


def _hideable(name: str, module: object, baseline_tops: set[str]) -> bool:
    top = name.partition(".")[0]
    return (
        isinstance(module, ModuleType)
        and not name.startswith("_")
        and top not in sys.stdlib_module_names
        and top not in baseline_tops
        and top != "grader"
    )


def _resolve(name: str, globals_: Mapping[str, Any] | None, level: int) -> str:
    if level == 0 or not globals_:
        return name
    package = globals_.get("__package__") or ""
    if not package:
        modname = str(globals_.get("__name__", ""))
        package = modname if "__path__" in globals_ else modname.rpartition(".")[0]
    base = str(package).rsplit(".", level - 1)[0]
    return f"{base}.{name}" if name else base


def preload_modules(names: Sequence[str]) -> Vault:
    """Import the shell machinery (kept visible) and the heavy packages (hidden units)."""
    import builtins
    import warnings

    env_before = dict(os.environ)
    _import_shell_machinery()
    baseline_tops = {n.partition(".")[0] for n in sys.modules}
    edges: dict[str, set[str]] = {}
    real_import = builtins.__import__

    def traced(
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        module = real_import(name, globals, locals, fromlist, level)
        try:
            importer = str(globals.get("__name__", "")) if globals else ""
            if importer:
                target = _resolve(name, globals, level)
                found = edges.setdefault(importer, set())
                found.add(target)
                for item in fromlist or ():
                    if isinstance(item, str) and item != "*":
                        found.add(f"{target}.{item}")
        except Exception:
            pass
        return module

    units: list[Unit] = []
    builtins.__import__ = traced
    try:
        steps: list[tuple[str, Callable[[], object]]] = [
            (name, functools.partial(importlib.import_module, name)) for name in names
        ]
        steps += [(f"warm-up {name}", fn) for name, fn in _WARM_UPS]
        for name, step in steps:
            warm_up = name.startswith("warm-up ")
            known = {k: set(v) for k, v in edges.items()} if warm_up else {}
            before = set(sys.modules)
            filters_before = list(warnings.filters)
            started = time.perf_counter()
            try:
                step()
            except Exception as exc:
                print(f"warm: preload {name} skipped: {exc!r}", file=sys.stderr)
            new = [n for n in sys.modules if n not in before]
            modules = {
                n: sys.modules[n] for n in new if _hideable(n, sys.modules[n], baseline_tops)
            }
            if warm_up:
                # imports made at run time by modules that were already loaded are not
                # their import-time dependencies: restoring matplotlib must not restore
                # pyplot or the backend that a first figure loaded
                for importer in before:
                    if importer in edges:
                        edges[importer] = known.get(importer, set())
            seconds = time.perf_counter() - started
            print(f"warm: preload {name}: {len(modules)} modules, {seconds:.2f} s", file=sys.stderr)
            filters = [f for f in warnings.filters if f not in filters_before]
            if modules:
                units.append(Unit(name, modules, filters))
    finally:
        builtins.__import__ = real_import
    unit_of = {name: idx for idx, unit in enumerate(units) for name in unit.modules}
    for idx, unit in enumerate(units):
        for importer in unit.modules:
            for target in edges.get(importer, ()):
                dep = unit_of.get(target)
                if dep is not None and dep != idx:
                    unit.deps.add(dep)
    env_added = {k: v for k, v in os.environ.items() if env_before.get(k) != v}
    return Vault(units, env_added)


def _warm_up_torch() -> None:
    """First uses every notebook would pay for again (tensor ops, repr, autograd, a conv
    layer). Only with one intra-op thread: then no thread pool exists to be forked (the
    server checks its thread count after the preload); RNG state is reseeded per child."""
    torch: Any = sys.modules.get("torch")
    if torch is None or torch.get_num_threads() != 1:
        return
    x = torch.ones((4, 5), requires_grad=True)
    (x[:, :2] * torch.tensor([[1.0, -1.0]])).sum().backward()
    conv = torch.nn.Conv2d(1, 1, kernel_size=(1, 2))
    conv(torch.ones((1, 1, 4, 5))).sum().backward()
    torch.nn.functional.conv2d(torch.ones((1, 1, 5, 5)), torch.ones((1, 1, 2, 2)))
    repr(torch.eye(3)), repr(x), torch.ones((3, 4)) @ torch.ones((4, 2))


def _warm_up_matplotlib() -> None:
    """matplotlib's first figure (fonts, tickers, colormaps); closed, so a notebook's first
    figure is still number 1."""
    plt: Any = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    _fig, axes = plt.subplots(1, 2, figsize=(4, 2))
    axes[0].imshow([[0.0, 1.0], [1.0, 0.0]], cmap="gray")
    axes[0].set_title("warm-up")
    axes[1].plot([0, 1], [1, 0])
    plt.close("all")


_WARM_UPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("torch", _warm_up_torch),
    ("matplotlib", _warm_up_matplotlib),
)


def _import_shell_machinery() -> None:
    """What every child needs, imported once; then warm IPython's traceback formatter."""
    import asyncio  # noqa: F401
    import codecs  # noqa: F401
    import ctypes  # noqa: F401
    import getpass  # noqa: F401

    import ipykernel.compiler
    import ipykernel.debugger
    import ipykernel.eventloops
    import ipykernel.kernelapp
    import ipykernel.zmqshell  # noqa: F401
    import IPython.core.async_helpers
    import IPython.core.error
    import IPython.extensions.storemagic
    import IPython.utils.process  # noqa: F401
    import jupyter_client.session  # noqa: F401
    from IPython.core import ultratb

    try:
        raise ValueError("warm-up")
    except ValueError:
        with contextlib.suppress(Exception):
            formatter = ultratb.AutoFormattedTB(  # type: ignore[no-untyped-call]
                mode="Context", theme_name="neutral", tb_offset=0
            )
            formatter.structured_traceback(*sys.exc_info())
    for optional in ("pexpect", "faulthandler", "sqlite3", "IPython.core.debugger"):
        with contextlib.suppress(Exception):
            importlib.import_module(optional)
