"""Which check types exist: the ``grader.checks`` entry points plus those registered at
run time, each validated once (an invalid plugin is a :class:`~grader.errors.PluginError`
naming plugin, hook and argument). The rubric loader validates every check's options
with its type's ``schema`` and ``validate``; :func:`grader.checks.registry` gives the same
types to the pipeline, which runs them. Entry points are loaded by name (the plugin
mechanism), so this module imports no check type: ``rubric`` does not import ``checks``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Protocol, runtime_checkable

import jsonschema

from ..errors import PluginError
from .spec import CheckSpec, Reference

__all__ = ["CheckTypeHooks", "check_schema", "register", "registered"]


@runtime_checkable
class CheckTypeHooks(Protocol):
    """What the loader needs of a check type; :class:`grader.checks.CheckType` adds the
    typed ``run``."""

    name: ClassVar[str]
    schema: ClassVar[dict[str, Any]]
    handles: ClassVar[frozenset[str]]

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None: ...


_EXTRA: dict[str, CheckTypeHooks] = {}


def _checked(plugin: str, obj: Any, *, builtin: bool = False) -> CheckTypeHooks:
    """Instantiate and validate a check type, with errors naming plugin, hook and argument.
    A ``builtin`` type's schema is not checked against the JSON Schema meta-schema (a cost
    at every start, docs/performance.md): the test suite checks those (tests/test_rubric.py)."""
    try:
        instance = obj() if isinstance(obj, type) else obj
    except Exception as exc:
        raise PluginError(plugin, "__init__", "-", f"cannot be instantiated: {exc}") from exc
    schema = getattr(instance, "schema", None)
    if not isinstance(schema, dict):
        raise PluginError(plugin, "schema", "-", "must be a dict (a JSON Schema)")
    if not builtin:
        check_schema(plugin, schema)
    for hook, params in (("validate", ["spec", "reference"]), ("run", ["spec", "ctx"])):
        fn = getattr(instance, hook, None)
        if not callable(fn):
            raise PluginError(plugin, hook, "-", "is missing or not callable")
        got = list(inspect.signature(fn).parameters)
        if len(got) != len(params):
            missing = params[len(got) :] or got[len(params) :]
            raise PluginError(
                plugin,
                hook,
                ", ".join(missing),
                f"takes ({', '.join(got)}), expected ({', '.join(params)})",
            )
    handles: object = getattr(instance, "handles", frozenset())
    if not isinstance(handles, frozenset):
        raise PluginError(plugin, "handles", "-", "must be a frozenset of detector kinds")
    return instance  # type: ignore[no-any-return]


def check_schema(plugin: str, schema: dict[str, Any]) -> None:
    """``schema`` is a valid JSON Schema (draft 2020-12), or a PluginError says where not."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise PluginError(
            plugin,
            "schema",
            "/".join(map(str, exc.path)) or "-",
            f"not a valid JSON Schema: {exc.message}",
        ) from exc


def _builtin(ep: EntryPoint) -> bool:
    """An entry point of this package's own check types (pyproject.toml)."""
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) == "grader" and ep.value.startswith("grader.checks.")


@lru_cache(maxsize=1)
def _entry_point_types() -> Mapping[str, CheckTypeHooks]:
    found: dict[str, CheckTypeHooks] = {}
    for ep in entry_points(group="grader.checks"):
        try:
            obj = ep.load()
        except Exception as exc:
            raise PluginError(ep.name, "load", ep.value, f"cannot be imported: {exc}") from exc
        found[ep.name] = _checked(ep.name, obj, builtin=_builtin(ep))
    return found


def registered() -> Mapping[str, CheckTypeHooks]:
    """All check types: entry points plus any registered at run time."""
    return {**_entry_point_types(), **_EXTRA}


def register(name: str, check_type: Any) -> CheckTypeHooks:
    """Register a check type in-process (tests, notebooks); same validation as plugins."""
    instance = _checked(name, check_type)
    _EXTRA[name] = instance
    return instance
