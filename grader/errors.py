"""The grader's exception tree.

Student failure is *data* (a zero-score result with its cause); these exceptions are for
problems the grader cannot turn into a result: bad input files, bad rubrics, a broken
reference, a misused API. Every exception the library raises on purpose derives from
``GraderError``::

    GraderError
    ├── InputError                  a submission cannot be read (one line: file + problem)
    │   └── NotANotebookError       readable, but not a notebook in any supported format
    ├── RubricError                 an instructor's rubric is invalid (file, line, field)
    ├── ReferenceError_             the reference solution is broken (file, line, field)
    ├── PluginError                 a check type failed validation at registration
    │                               (names plugin, hook and argument)
    ├── ExecutionError              the execution engine itself failed (not the student's code)
    │   └── SandboxUnavailable      the requested isolation cannot be started here
    └── ProbeError                  a value could not cross the kernel boundary
        ├── ProbeTimeout            the student's code did not answer in time
        └── ProbeProtocolError      the kernel sent something that is not a valid reply

``ProbeError`` is caught by checks and becomes data ("your function did not return in 5 s");
it only escapes when a caller uses the probe API directly.
"""

from __future__ import annotations


class GraderError(Exception):
    """Root of every exception the grader raises on purpose."""


class InputError(GraderError):
    """A submission file cannot be read. ``str(exc)`` is one line naming the file."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class NotANotebookError(InputError):
    """The file was read but is not a notebook in any supported format."""


class LocatedError(GraderError):
    """An instructor-side error that points at a file, a line and a field."""

    def __init__(self, file: str, line: int | None, field: str, message: str) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class RubricError(LocatedError):
    """A rubric file does not satisfy the schema or names something that does not exist."""


class ReferenceError_(LocatedError):
    """The reference solution is broken (a missing function, a failing predicate)."""


class PluginError(GraderError):
    """A check-type plugin is invalid. The message names plugin, hook and argument."""

    def __init__(self, plugin: str, hook: str, argument: str, message: str) -> None:
        self.plugin = plugin
        self.hook = hook
        self.argument = argument
        super().__init__(
            f"check plugin {plugin!r}, hook {hook!r}, argument {argument!r}: {message}"
        )


class ExecutionError(GraderError):
    """The execution engine failed for reasons that are not the submission's fault."""


class SandboxUnavailable(ExecutionError):
    """The requested sandbox cannot start on this machine (e.g. no user namespaces)."""


class ProbeError(GraderError):
    """A request to the submission's process failed."""


class ProbeTimeout(ProbeError):
    """The student's code did not return within the probe's time limit."""


class ProbeProtocolError(ProbeError):
    """The reply from the submission's process was not valid plain data."""
