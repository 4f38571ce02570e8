"""Jinja2 templates shared by the class report (grader.report.html) and the review app.

:func:`environment` is the one Jinja2 environment of the grader: templates are package files
under this folder, autoescaping is on for every template, and undefined names are errors. The
filters below are the report's escaping rules, so that a page says the same thing whichever
code renders it:

``line``  one line of text (control characters and newlines folded), escaped for HTML text
          and attribute values;
``multi`` several lines, escaped, for ``<pre>`` blocks;
``attr``  a value escaped for an attribute as it is (an href the grader built);
``num``   a score for humans (3, 2.5, 0.33);
``datav`` a table cell's sort key.

Stylesheets and scripts are plain files here too (:func:`asset`); pages that inline them
allow exactly their hash in the Content-Security-Policy (:func:`csp_hash`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from grader.report.text import clean, fmt_num, one_line

__all__ = ["asset", "csp_hash", "environment"]


def _line(text: object) -> Markup:
    return Markup(html.escape(one_line(str(text)), quote=True))


def _multi(text: object) -> Markup:
    return Markup(html.escape(clean(str(text)).strip("\n"), quote=True))


def _attr(text: object) -> Markup:
    return Markup(html.escape(str(text), quote=True))


def _datav(value: str | float) -> Markup:
    """A sort key for ``data-v``: strings as they are, numbers rounded to 6 places."""
    text = value if isinstance(value, str) else repr(round(float(value), 6))
    return Markup(html.escape(text, quote=True))


def _num(value: float) -> str:
    return fmt_num(float(value))


@functools.cache
def environment() -> Environment:
    """The grader's Jinja2 environment (autoescaping, strict undefined, trimmed blocks)."""
    env = Environment(
        loader=PackageLoader("grader", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(line=_line, multi=_multi, attr=_attr, num=_num, datav=_datav)
    return env


@functools.cache
def asset(name: str) -> str:
    """The text of a stylesheet or script stored next to the templates."""
    return resources.files("grader.templates").joinpath(name).read_text(encoding="utf-8")


def csp_hash(text: str) -> str:
    """The CSP source (``sha256-...``) that allows exactly ``text`` inline."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
