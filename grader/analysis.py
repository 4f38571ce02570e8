"""Static facts about a cell's source: what it defines, what it uses, what it imports.

Used by execution (cells out of order, missing imports, package installs) and by locate
(which cell defines a function). Works on source that does not parse: it then says so and
returns no names.
"""

from __future__ import annotations

import ast
import builtins
import io
import itertools
import re
import textwrap
import tokenize
from dataclasses import dataclass

from .memo import Memo

_BUILTINS = frozenset(dir(builtins)) | {"get_ipython", "display", "In", "Out", "_", "__", "___"}

# Conventional names a notebook uses without importing them itself (it relied on an
# earlier session). The grader adds the import and reports it.
COMMON_IMPORTS: dict[str, str] = {
    "torch": "import torch",
    "nn": "from torch import nn",
    "F": "import torch.nn.functional as F",
    "np": "import numpy as np",
    "math": "import math",
    "plt": "import matplotlib.pyplot as plt",
}

_INSTALL_LINE = re.compile(r"^(\s*)[!%]\s*(pip|conda|mamba|apt|apt-get)\b.*$", re.MULTILINE)
_MAGIC_LINE = re.compile(r"^(\s*)[!%].*$", re.MULTILINE)


@dataclass(frozen=True)
class CellFacts:
    parses: bool
    defines: frozenset[str]  # names bound at any level of the cell's top-level scope
    uses: frozenset[str]  # names loaded before (or without) being bound in the cell
    imports: tuple[str, ...]  # top-level module names imported
    functions: tuple[str, ...]  # names of top-level def / class statements
    syntax_error: str | None = None


def strip_installs(source: str) -> tuple[str, tuple[str, ...]]:
    """Replace package-install lines (``!pip install d2l``) with ``pass``; keep line numbers."""
    found = tuple(m.group(0).strip() for m in _INSTALL_LINE.finditer(source))
    if not found:
        return source, ()
    return _INSTALL_LINE.sub(lambda m: f"{m.group(1)}pass  # grader: skipped", source), found


def callee(func: ast.expr) -> str:
    """The name a call is made by: ``f`` for ``f(x)``, ``equal`` for ``torch.equal(a, b)``;
    "" for anything else (``fns[0](x)``)."""
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def called_functions(source: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """(names a cell calls at top level, outside its own ``def`` bodies; the source of each
    top-level ``def`` it holds, by name). Remembered by source text; do not mutate."""
    return _CALLS.get(source, lambda: _called_functions(source), lambda _: 4 * len(source) + 512)


def _called_functions(source: str) -> tuple[tuple[str, ...], dict[str, str]]:
    source = parseable(source)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return (), {}
    calls: list[str] = []
    defs: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            defs[stmt.name] = ast.get_source_segment(source, stmt) or ""
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                calls.append(node.func.id)
    return tuple(dict.fromkeys(calls)), defs


def value_makers(source: str) -> tuple[str, ...]:
    """Top-level functions of no arguments that only build and return a value
    (``def blur_kernel(): b = torch.tensor([1., 2., 1.]); return torch.outer(b, b) / 16``):
    straight-line code ending in ``return``, no loops, prints, plots or input. Calling one
    is as safe as reading the value it stands for."""
    try:
        tree = ast.parse(parseable(source))
    except (SyntaxError, ValueError):
        return ()
    out = []
    for stmt in tree.body:
        if not isinstance(stmt, ast.FunctionDef) or stmt.decorator_list:
            continue
        a = stmt.args
        if a.args or a.posonlyargs or a.vararg or a.kwonlyargs or a.kwarg:
            continue
        if not stmt.body or not isinstance(stmt.body[-1], ast.Return):
            continue
        plain = all(
            isinstance(s, ast.Assign | ast.AnnAssign | ast.Return | ast.Expr) for s in stmt.body
        )
        calls = {callee(n.func) for n in ast.walk(stmt) if isinstance(n, ast.Call)}
        if plain and not calls & _EFFECTS:
            out.append(stmt.name)
    return tuple(out)


_EFFECTS = frozenset(
    {
        "print",
        "input",
        "show",
        "imshow",
        "plot",
        "savefig",
        "open",
        "system",
        "sleep",
        "backward",
        "step",
        "train",
        "fit",
        "main",
        "exec",
        "eval",
    }
)


def module_classes(source: str) -> tuple[str, ...]:
    """Top-level classes a cell defines on a ``Module`` base (``class TinyConv(nn.Module)``)."""
    try:
        tree = ast.parse(parseable(source))
    except (SyntaxError, ValueError):
        return ()
    return tuple(
        stmt.name
        for stmt in tree.body
        if isinstance(stmt, ast.ClassDef) and any(callee(b) == "Module" for b in stmt.bases)
    )


def trailing_comments(source: str) -> dict[int, str]:
    """Comments written after code on its line, by 0-based line number, without the "#"
    (``print(corr2d(X, K).sum())  # 答：输出是0``)."""
    if "#" not in source:
        return {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return {}
    out: dict[int, str] = {}
    code_rows: set[int] = set()
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            if tok.start[0] in code_rows:
                out[tok.start[0] - 1] = tok.string.lstrip("#").strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_rows.add(tok.start[0])
    return out


def is_stub(definition: str) -> bool:
    """Whether a ``def`` is a template's blank: its body only ``pass``, a docstring or
    ``raise NotImplementedError`` (and comments such as ``# YOUR CODE HERE``)."""
    try:
        tree = ast.parse(textwrap.dedent(definition))
    except (SyntaxError, ValueError):
        return False
    if not tree.body or not isinstance(tree.body[0], ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    for stmt in tree.body[0].body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            if isinstance(stmt.value.value, str):
                continue  # a docstring
            return False  # `...`: an elided body in notes, not a blank to fill
        if isinstance(stmt, ast.Raise):
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                continue
        return False
    return True


def without_comments(source: str) -> str:
    """Source with its comments removed (``# out.sum().backward()  # 会报错`` is not a call);
    strings are kept. Lines the tokenizer cannot read lose only whole-line comments."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return "\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith("#"))
    lines = source.splitlines(keepends=True)
    for tok in reversed(tokens):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            line = lines[row - 1]
            lines[row - 1] = line[:col] + line[tok.end[1] :]
    return "".join(lines)


def parseable(source: str) -> str:
    """Source with IPython magics and shell lines blanked, for ast."""
    return _MAGIC_LINE.sub(lambda m: f"{m.group(1)}pass", source)


_CALLS: Memo[str, tuple[tuple[str, ...], dict[str, str]]] = Memo(
    max_entries=4096, max_cost=32 * 1024 * 1024
)
# Facts of recent cell sources: the locator, the driver and several checks ask about the same
# cells, and book code recurs across submissions. CellFacts is frozen (frozensets, tuples).
_FACTS: Memo[str, CellFacts] = Memo(max_entries=4096, max_cost=32 * 1024 * 1024)


def facts(source: str) -> CellFacts:
    """What a cell's source defines, uses and imports (remembered by source text)."""
    return _FACTS.get(source, lambda: _facts(source), lambda _: 2 * len(source) + 512)


def _facts(source: str) -> CellFacts:
    try:
        tree = ast.parse(parseable(source))
    except SyntaxError as exc:
        names, modules = _regex_imports(source)
        return CellFacts(
            False,
            frozenset(names),
            frozenset(),
            tuple(modules),
            (),
            f"{exc.msg} (line {exc.lineno})",
        )
    visitor = _Scope()
    visitor.visit(tree)
    functions = tuple(
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    )
    return CellFacts(
        True,
        frozenset(visitor.defined),
        frozenset(visitor.used - _BUILTINS),
        tuple(visitor.imports),
        functions,
    )


class _Scope(ast.NodeVisitor):
    """Top-level scope only: function bodies are not executed when the cell runs."""

    def __init__(self) -> None:
        self.defined: set[str] = set()
        self.used: set[str] = set()
        self.imports: list[str] = []

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            self.defined.add(node.id)
        elif node.id not in self.defined:
            self.used.add(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)  # the right-hand side runs first
        for target in node.targets:
            self.visit(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name) and node.target.id not in self.defined:
            self.used.add(node.target.id)
        self.visit(node.target)

    def _define_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        self.defined.add(node.name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._define_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._define_function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            self.visit(base)
        self.defined.add(node.name)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        return None  # body runs later

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        if node.generators:
            self.visit(node.generators[0].iter)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node)

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self._comprehension(node)

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self._comprehension(node)

    def visit_DictComp(self, node: ast.DictComp) -> None:
        if node.generators:
            self.visit(node.generators[0].iter)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports.append(alias.name.split(".")[0])
            self.defined.add((alias.asname or alias.name).split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0:
            self.imports.append(node.module.split(".")[0])
        for alias in node.names:
            self.defined.add(alias.asname or alias.name)


def indentation_lost(source: str) -> bool:
    """True when a cell has block openers (``for ...:``) followed by lines that are not
    indented: the typical sign of a notebook whose whitespace was collapsed in transit."""
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for this, following in itertools.pairwise(lines):
        if this.rstrip().endswith(":") and _indent(following) <= _indent(this):
            return True
    return False


_TYPOGRAPHIC = re.compile("[\u2018\u2019\u201c\u201d\u2032\u2033]")


def typographic_quotes(source: str) -> bool:
    """True when code holds typographic quotes (“ ” ‘ ’), as pasted from a web page or a word
    processor: Python cannot run them outside strings and comments."""
    code = "\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith("#"))
    return bool(_TYPOGRAPHIC.search(code))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


_IMPORT = re.compile(r"^\s*import\s+([\w.]+)(?:\s+as\s+(\w+))?", re.MULTILINE)
_FROM = re.compile(r"^\s*from\s+([\w.]+)\s+import\s+(.+)$", re.MULTILINE)


def _regex_imports(source: str) -> tuple[list[str], list[str]]:
    """Names bound and modules named by import lines of source that does not parse."""
    names: list[str] = []
    modules: list[str] = []
    for m in _IMPORT.finditer(source):
        modules.append(m.group(1).split(".")[0])
        names.append(m.group(2) or m.group(1).split(".")[0])
    for m in _FROM.finditer(source):
        modules.append(m.group(1).split(".")[0])
        for part in m.group(2).strip("() ").split(","):
            bits = part.split()
            if bits:
                names.append(bits[-1] if len(bits) == 3 and bits[1] == "as" else bits[0])
    return names, modules


def after_failed_import(source: str, module: str) -> str | None:
    """The rest of a cell after the top-level import of ``module`` that failed, with the
    lines before it blanked (line numbers kept), or None if there is nothing to continue."""
    try:
        tree = ast.parse(parseable(source))
    except SyntaxError:
        return None
    for node in tree.body:
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        if any(n.split(".")[0] == module for n in names):
            end = node.end_lineno or node.lineno
            lines = source.splitlines()
            rest = lines[end:]
            if not any(ln.strip() for ln in rest):
                return None
            return "\n" * end + "\n".join(rest) + "\n"
    return None


def rescue_imports(sources: list[str]) -> list[str]:
    """Import lines for conventional names imported only by cells that cannot run (their
    indentation was lost, say): imported ahead of time so the rest can still be graded."""
    parsed: set[str] = set()
    broken: set[str] = set()
    for src in sources:
        f = facts(src)
        (parsed if f.parses else broken).update(f.defines)
    return [line for name, line in COMMON_IMPORTS.items() if name in broken - parsed]


def missing_imports(sources: list[str]) -> list[str]:
    """Import lines for conventional names that code uses but no cell ever defines."""
    defined: set[str] = set()
    used: set[str] = set()
    for src in sources:
        f = facts(src)
        defined |= f.defines
        used |= f.uses
    return [line for name, line in COMMON_IMPORTS.items() if name in used - defined]


def shown_by(source: str, origin: str, position: int, printed: int) -> str:
    """The statement of ``source`` that displayed its ``position``-th value: the last
    expression for a result, the ``position``-th top-level ``print(<one value>)`` for a
    printed array when the cell's ``printed`` arrays match its prints one to one (no print
    in a loop or a function). Otherwise (or when it does not parse) the whole source: one
    cell that prints ``corr2d(X, K)`` and ``corr2d(X.T, K)`` shows each under its own line."""
    source = parseable(source)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    body = tree.body
    if origin == "result":
        last = body[-1] if body and isinstance(body[-1], ast.Expr) else None
        return (ast.get_source_segment(source, last) or source) if last is not None else source
    if origin != "printed":
        return source
    prints = [s for s in body if isinstance(s, ast.Expr) and _is_print(s.value)]
    every = sum(1 for node in ast.walk(tree) if _is_print(node))
    # print("K on X:") labels what follows and shows no array; nor do print(Y.shape) or
    # print("equal?", torch.equal(A, B))
    shown = {id(s): [a for a in s.value.args if _array_like(a)] for s in prints}  # type: ignore[attr-defined]
    values = [s for s in prints if shown[id(s)]]
    one_value = all(len(shown[id(s)]) == 1 for s in values)
    if every != len(prints) or not one_value or printed != len(values):
        return source
    chosen = values[position]
    text = ast.get_source_segment(source, chosen) or source
    arg = shown[id(chosen)][0]
    if isinstance(arg, ast.Name):  # print(out2): and the line that made it, out2 = corr2d(X.t(), K)
        made = [
            stmt
            for stmt in body
            if isinstance(stmt, ast.Assign)
            and stmt.lineno < chosen.lineno
            and any(isinstance(t, ast.Name) and t.id == arg.id for t in stmt.targets)
        ]
        if made:
            text = (ast.get_source_segment(source, made[-1]) or "") + "\n" + text
    return text


_SCALAR_CALLS = frozenset(
    {
        "equal",
        "allclose",
        "isclose",
        "array_equal",
        "item",
        "sum",
        "mean",
        "max",
        "min",
        "len",
        "type",
        "str",
        "repr",
        "round",
        "norm",
        "numel",
        "size",
        "tolist",
        "unique",
    }
)


def _array_like(node: ast.expr) -> bool:
    """Whether a printed argument may print an array (not a label, a shape, a scalar)."""
    if isinstance(node, ast.Constant | ast.JoinedStr | ast.Compare | ast.BoolOp):
        return False
    if isinstance(node, ast.Attribute):
        return node.attr not in ("shape", "dtype", "grad_fn", "requires_grad")
    if isinstance(node, ast.Call):
        return callee(node.func) not in _SCALAR_CALLS
    return True


def _is_print(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
        and not node.keywords
    )
