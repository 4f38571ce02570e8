"""Babel extractors for the texts a course shows students, outside Python ``N_()`` calls.

``extract_rubric``: a rubric YAML's titles, ``what`` words, check feedback (``pass``/``fail``),
concept ``hint`` texts, error ``message`` texts and diagnosis ``feedback``, exactly as the
loader reads them (folded scalars joined), with their line numbers.

``extract_reference``: the messages of a reference module's predicates (``pred_*``): every
string and f-string in them with a space in it; an f-string becomes a template whose fields
are named after simple names (``{total}``) or numbered (``{v1}``), so that the message a
predicate returns at grading time is found by :class:`grader.i18n.Translator`.

Both are Babel extraction methods (``pybabel extract -F rubrics/locale/babel.cfg``)::

    [grader.i18n.extract:extract_rubric: rubrics/*.yaml]
    [grader.i18n.extract:extract_reference: reference/*.py]
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

import yaml

Extracted = tuple[int, str, str, list[str]]

# rubric fields shown to students, by the key that holds them
_TEXT_KEYS = ("title", "what", "describe", "hint", "message")


def extract_rubric(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[Extracted]:
    node = yaml.compose(fileobj.read().decode("utf-8"), Loader=yaml.SafeLoader)
    if node is not None:
        yield from _walk(node, (), None)


def _walk(node: yaml.Node, path: tuple[str, ...], parent_key: str | None) -> Iterator[Extracted]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            key = str(key_node.value)
            if isinstance(value, yaml.ScalarNode) and _wanted(key, path):
                text = str(_scalar(value))
                if text.strip():
                    yield value.start_mark.line + 1, "", text, [".".join((*path, key))]
            else:
                yield from _walk(value, (*path, key), key)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _walk(item, path, parent_key)


def _scalar(node: yaml.ScalarNode) -> Any:
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def _wanted(key: str, path: tuple[str, ...]) -> bool:
    if key in _TEXT_KEYS:
        return path != () or key == "title"
    # diagnoses' feedback; checks' feedback: {pass, fail}
    if key == "feedback":
        return "diagnoses" in path
    return key in ("pass", "fail") and path[-1:] == ("feedback",)


def extract_reference(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[Extracted]:
    tree = ast.parse(fileobj.read().decode("utf-8"))
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith("pred_"):
            continue
        docstring = ast.get_docstring(fn, clean=False)
        parts = {
            id(v) for n in ast.walk(fn) if isinstance(n, ast.JoinedStr) for v in n.values
        }  # the pieces of an f-string are not messages of their own
        for node in ast.walk(fn):
            text: str | None = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                keep = node.value != docstring and id(node) not in parts
                text = node.value if keep else None
            elif isinstance(node, ast.JoinedStr):
                text = template(node)
            if text and " " in text.strip():
                yield getattr(node, "lineno", fn.lineno), "", text, [fn.name]


def template(node: ast.JoinedStr) -> str:
    """The f-string as a ``str.format`` template: ``f"sum {total:.3g}"`` -> ``"sum {total}"``."""
    out: list[str] = []
    numbered = 0
    for part in node.values:
        if isinstance(part, ast.Constant):
            out.append(str(part.value).replace("{", "{{").replace("}", "}}"))
        elif isinstance(part, ast.FormattedValue):
            if isinstance(part.value, ast.Name):
                out.append("{" + part.value.id + "}")
            else:
                numbered += 1
                out.append("{v" + str(numbered) + "}")
    return "".join(out)


def extracted_messages(paths: Collection[str], method: str) -> dict[str, list[str]]:
    """{message: [where]} for files, by ``"rubric"`` or ``"reference"`` (for tests)."""
    fn = extract_rubric if method == "rubric" else extract_reference
    found: dict[str, list[str]] = {}
    for path in paths:
        with open(path, "rb") as fh:
            for line, _, text, where in fn(fh, {}, (), {}):
                found.setdefault(text, []).append(f"{path}:{line} {' '.join(where)}")
    return found
