"""Check types: the extension point of the grader.

A check type is a class registered under the ``grader.checks`` entry-point group; the
entry-point name is the ``type:`` used in rubrics. The built-in ones (function, property,
output, error, prose, runs, module, source) are registered the same way in this package's
``pyproject.toml``, so a course package adds its own exactly like this::

    [project.entry-points."grader.checks"]
    plot = "mycourse.checks:PlotCheck"

A check type has three hooks, validated when the registry is built (an invalid plugin is a
:class:`~grader.errors.PluginError` naming plugin, hook and argument):

``schema``: ``dict``
    JSON Schema of the whole check mapping in the rubric (``type``, ``points`` and the
    type's own options). The rubric loader validates each check against it.
``validate(self, spec: CheckSpec, reference: Reference | None) -> None``
    Called once per check at rubric load time; raise ``spec.error(field, message)`` when the
    check names something that does not exist (a reference function, a predicate).
``run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult``
    Judge one submission. Student failure is data: return a result (use ``ctx.result``),
    never raise for something the student did. ``ctx`` gives the located answer, the
    execution record, the reference, and a probe channel into the submission's process.

Checks that evaluate diagnoses list the detector kinds they handle in ``handles``
(``mutant``, ``shapes``, ``prose``, ``execution``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

from ..model import CheckResult
from ..rubric import CheckSpec, Reference
from ..rubric.plugins import _builtin as _builtin  # tests tell built-in types from plugins
from ..rubric.plugins import check_schema, registered
from ..rubric.plugins import register as _register
from .context import CheckContext

__all__ = ["CheckContext", "CheckType", "check_schema", "register", "registry"]


@runtime_checkable
class CheckType(Protocol):
    name: ClassVar[str]
    schema: ClassVar[dict[str, Any]]
    handles: ClassVar[frozenset[str]]

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None: ...

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult: ...


def registry() -> Mapping[str, CheckType]:
    """All check types: entry points plus any registered at run time (validated when
    found, see :mod:`grader.rubric.plugins`)."""
    return cast("Mapping[str, CheckType]", registered())


def register(name: str, check_type: Any) -> CheckType:
    """Register a check type in-process (tests, notebooks); same validation as plugins."""
    return cast("CheckType", _register(name, check_type))
