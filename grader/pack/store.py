"""Writing a public pack to a folder and grading from it.

Layout of a pack folder (``grade pack -o DIR``)::

    pack.json       the public part of the rubric and the frozen reference results
    predicates.py   only when checks declare ``public_predicate``: those predicates' source
    README.md       what the folder is, for whoever finds it in a repository

The folder holds no pickle, no ``.npy`` and no code of the reference except
``predicates.py``. :func:`load_pack` reads it back into a :class:`~grader.rubric.Rubric`;
every problem is a one-line :class:`PackError`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..rubric import Rubric, load_rubric
from .data import PackError
from .extract import extract
from .freeze import FORMAT, Frozen, build, freeze

PACK_DIR = "grader-pack"  # the folder name the action and `grade --check` look for
PACK_FILE = "pack.json"
PREDICATES = "predicates.py"
PACK_FILES = frozenset({PACK_FILE, PREDICATES, "README.md"})

_README = """\
# Public checks for `{id}` ({title})

Made by `grade pack` from the course's rubric (version {version}). It holds the rubric's
public checks and the reference's results on the public test inputs, as plain data; no
reference solution, no hidden check, no hidden input. Students run:

    grade --check --pack {folder} my-notebook.ipynb

Do not edit: make it again with `grade pack -o {folder}` (or `make pack`) in the course's
private repository whenever the rubric or the reference changes.
"""


def write_pack(rubric: Rubric, out_dir: str | Path) -> Frozen:
    """Write the public pack of ``rubric`` into ``out_dir`` and scan it for secrets; a pack
    that leaks is removed again and a :class:`PackError` names the first leaks."""
    from .leaks import scan

    frozen = freeze(rubric)
    out = Path(out_dir)
    if out.is_dir():
        other = sorted(p.name for p in out.iterdir() if p.name not in PACK_FILES)
        if other:
            raise PackError(
                f"{out} holds other files ({', '.join(other[:3])}): write the pack into a "
                "folder of its own"
            )
    out.mkdir(parents=True, exist_ok=True)
    written = [out / PACK_FILE, out / "README.md"]
    (out / PACK_FILE).write_text(
        json.dumps(frozen.doc, indent=1, allow_nan=False) + "\n", encoding="utf-8"
    )
    (out / PREDICATES).unlink(missing_ok=True)
    if frozen.published and rubric.reference is not None:
        source = Path(rubric.reference.path).read_text(encoding="utf-8")
        header = (
            f'"""Predicates of the rubric {rubric.id!r} that the instructor published '
            '(public_predicate: true); made by `grade pack`."""\n\n'
        )
        text = extract(source, frozen.published, rubric.reference.path)
        (out / PREDICATES).write_text(header + text, encoding="utf-8")
        written.append(out / PREDICATES)
    (out / "README.md").write_text(
        _README.format(
            id=rubric.id, title=rubric.title, version=rubric.version, folder=out.name or str(out)
        ),
        encoding="utf-8",
    )
    leaks = scan(out, rubric)
    if leaks:
        for path in written:
            path.unlink(missing_ok=True)
        more = f" (and {len(leaks) - 3} more)" if len(leaks) > 3 else ""
        raise PackError(f"the pack would leak: {'; '.join(leaks[:3])}{more}; nothing written")
    return frozen


def pack_file(path: str | Path) -> Path:
    """``path`` itself if it names a file, else its ``pack.json``."""
    p = Path(path)
    return p / PACK_FILE if p.is_dir() or p.suffix != ".json" else p


def is_pack_path(path: str | Path) -> bool:
    p = Path(path)
    return (p.is_dir() and (p / PACK_FILE).is_file()) or p.name == PACK_FILE


def load_pack(path: str | Path) -> Rubric:
    """The rubric a public pack grades with. Raises :class:`PackError` (one line)."""
    file = pack_file(path)
    hint = "make one with `grade pack -o DIR` from the course's rubric"
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PackError(f"{path}: no public pack here (no {PACK_FILE}); {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError(f"{file}: the public pack cannot be read ({exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PackError(f"{file}: the public pack is corrupt (not JSON: {exc}); {hint}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else None
        raise PackError(
            f"{file}: not a public pack of this grader (format {got!r}, expected {FORMAT!r})"
        )
    try:
        functions = _predicates(file.parent, doc.get("published", []))
        return build(doc, functions, str(file))
    except PackError as exc:
        raise PackError(f"{file}: the public pack is corrupt ({exc}); {hint}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise PackError(f"{file}: the public pack is corrupt ({what}); {hint}") from None


def _predicates(folder: Path, names: Sequence[str]) -> dict[str, Callable[..., Any]]:
    if not names:
        return {}
    file = folder / PREDICATES
    if not file.is_file():
        raise PackError(f"{PREDICATES} is missing")
    digest = hashlib.sha256(str(file.resolve()).encode() + file.read_bytes()).hexdigest()[:12]
    mod_name = f"_grader_pack_predicates_{digest}"
    module = sys.modules.get(mod_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(mod_name, file)
        if spec is None or spec.loader is None:
            raise PackError(f"{PREDICATES} cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[mod_name]
            raise PackError(f"{PREDICATES} cannot be imported ({type(exc).__name__})") from exc
    out = {}
    for name in names:
        fn = getattr(module, str(name), None)
        if not callable(fn):
            raise PackError(f"{PREDICATES} has no function {name!r}")
        out[str(name)] = fn
    return out


def find_pack(notebooks: Sequence[str | Path]) -> Path | None:
    """A ``grader-pack/`` beside the first notebook (in it, for a folder of notebooks), or
    in the current directory."""
    places = []
    if notebooks:
        first = Path(notebooks[0]).resolve()
        places = [first, first.parent] if first.is_dir() else [first.parent]
    for place in [*places, Path.cwd()]:
        candidate = place / PACK_DIR
        if (candidate / PACK_FILE).is_file():
            return candidate
    return None


def load_any(path: str | Path) -> Rubric:
    """A rubric YAML, or a public pack (its folder or its ``pack.json``)."""
    return load_pack(path) if is_pack_path(path) else load_rubric(path)
