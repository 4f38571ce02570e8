"""Tests for grader.load: every input format, format sniffing, and unreadable input."""

from __future__ import annotations

import ast
import codecs
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grader.errors import InputError, NotANotebookError
from grader.load import MAX_BYTES, STORED_TEXT_LIMIT, load
from grader.model import Notebook

FIXTURES = Path(__file__).parent / "fixtures" / "load"
SUBMISSIONS = Path(__file__).resolve().parents[2] / "shared" / "submissions"
NO_NOTEBOOK = (
    "no notebook content found (expected notebook JSON, 'In [N]:' markers, "
    "'# %%' cell markers or ```python code blocks)"
)


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def notebook_json(cells: list[Any], **top: Any) -> str:
    document = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4, **top}
    return json.dumps(document)


def code_cell(source: str | list[str], **extra: Any) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": "code", "execution_count": None, "metadata": {}}
    return {**cell, "outputs": [], "source": source, **extra}


def sources(notebook: Notebook, kind: str = "code") -> list[str]:
    return [cell.source for cell in notebook.cells if cell.kind == kind]


def submission(name: str) -> Path:
    path = SUBMISSIONS / name
    if not path.is_file():
        pytest.skip(f"real submission {path} is not available on this machine")
    return path


# --------------------------------------------------------------------------- ipynb v4


def test_v4_template_notebook() -> None:
    nb = load(FIXTURES / "template.ipynb")

    assert nb.path == str(FIXTURES / "template.ipynb")
    assert nb.format == "ipynb"
    assert nb.notes == ()
    assert [(c.index, c.kind) for c in nb.cells] == [
        (0, "markdown"),
        (1, "code"),
        (2, "code"),
        (3, "raw"),
    ]
    assert nb.cells[0].source == "# Exercises\n\nAnswer below."  # source given as a list
    assert nb.cells[2].source == "y.backward()"  # source given as a string
    assert nb.cells[3].source == "raw text"


def test_v4_tags_and_exercise_ids() -> None:
    nb = load(FIXTURES / "template.ipynb")

    assert [c.tags for c in nb.cells] == [(), ("answer",), ("solution", "exercise:2.3"), ()]
    assert [c.exercise for c in nb.cells] == [None, "1", "2.3", None]


def test_v4_stored_text_joins_streams_results_and_errors() -> None:
    nb = load(FIXTURES / "template.ipynb")

    assert nb.cells[1].stored_text == (
        "epoch 1, loss 0.5\nepoch 2, loss 0.2\ntensor([[1., 0.],\n        [0., 1.]])"
    )
    assert nb.cells[2].stored_text == (
        "<Figure size 640x480 with 1 Axes>\n"
        "RuntimeError: grad can be implicitly created only for scalar outputs"
    )


def test_grader_metadata_wins_over_exercise_tag(tmp_path: Path) -> None:
    cells = [
        code_cell("a", metadata={"grader": {"exercise": " 3 "}, "tags": ["exercise:4"]}),
        code_cell("b", metadata={"grader": {"exercise": 5}, "tags": ["Exercise: 1.2"]}),
        code_cell("c", metadata={"tags": "exercise:7"}),
    ]
    nb = load(write(tmp_path, "t.ipynb", notebook_json(cells)))

    assert [c.exercise for c in nb.cells] == ["3", "1.2", "7"]
    assert nb.cells[2].tags == ("exercise:7",)


def test_stored_text_is_capped(tmp_path: Path) -> None:
    stream = {"output_type": "stream", "name": "stdout", "text": "x" * 30_000}
    nb = load(write(tmp_path, "big.ipynb", notebook_json([code_cell("f()", outputs=[stream])])))

    assert len(nb.cells[0].stored_text) == STORED_TEXT_LIMIT == 20_000


@pytest.mark.parametrize("minor", [0, 2, 4, 5])
def test_any_v4_minor_version_loads_cleanly(tmp_path: Path, minor: int) -> None:
    cell = code_cell(["x = 1\n", "x"], **({"id": "abc"} if minor >= 5 else {}))
    nb = load(write(tmp_path, "m.ipynb", notebook_json([cell], nbformat_minor=minor)))

    assert nb.format == "ipynb"
    assert nb.notes == ()
    assert sources(nb) == ["x = 1\nx"]


def test_invalid_but_readable_notebook_loads_with_a_note(tmp_path: Path) -> None:
    cells = [{"cell_type": "code", "source": "x = 1"}, {"cell_type": "markdown", "source": ["# T"]}]
    nb = load(write(tmp_path, "loose.ipynb", notebook_json(cells, nbformat_minor=5)))

    assert [(c.kind, c.source, c.stored_text) for c in nb.cells] == [
        ("code", "x = 1", ""),
        ("markdown", "# T", ""),
    ]
    assert len(nb.notes) == 1
    assert nb.notes[0].startswith("the file does not fully follow the notebook format (")
    assert nb.notes[0].endswith("); read it anyway")
    assert "\n" not in nb.notes[0]


def test_malformed_cell_entries_are_skipped_or_read_as_raw(tmp_path: Path) -> None:
    cells = [5, {"cell_type": "heading", "source": "Title"}, code_cell("x = 1")]
    nb = load(write(tmp_path, "odd.ipynb", notebook_json(cells)))

    assert [(c.index, c.kind, c.source) for c in nb.cells] == [
        (0, "raw", "Title"),
        (1, "code", "x = 1"),
    ]
    assert "skipped entries of 'cells' that are not cells: 1" in nb.notes
    assert "cells of unknown type read as raw cells: 2 ('heading')" in nb.notes


def test_notebook_without_version_is_read_as_v4(tmp_path: Path) -> None:
    nb = load(write(tmp_path, "bare.ipynb", json.dumps({"cells": [code_cell("x")]})))

    assert nb.format == "ipynb"
    assert sources(nb) == ["x"]
    assert nb.notes[0] == "the file does not say which nbformat version it is; read it as v4"


def test_notebook_with_zero_cells_is_valid(tmp_path: Path) -> None:
    nb = load(write(tmp_path, "empty.ipynb", notebook_json([])))

    assert nb.cells == ()
    assert nb.code_cells == ()
    assert nb.notes == ()


def test_non_python_kernel_is_noted(tmp_path: Path) -> None:
    metadata = {"kernelspec": {"name": "ir", "language": "R", "display_name": "R"}}
    nb = load(write(tmp_path, "r.ipynb", notebook_json([code_cell("1 + 1")], metadata=metadata)))

    assert nb.notes == ("the notebook's kernel language is 'R', not Python",)


def test_bom_and_crlf_are_tolerated(tmp_path: Path) -> None:
    text = notebook_json([code_cell(["a = 1\n", "a"])]).replace(", ", ",\r\n")
    nb = load(write(tmp_path, "win.ipynb", codecs.BOM_UTF8 + text.encode()))

    assert sources(nb) == ["a = 1\na"]
    assert nb.notes == ()


def test_latin1_file_is_decoded_with_a_note(tmp_path: Path) -> None:
    nb = load(write(tmp_path, "fr.py", "# %%\n# café\nx = 1\n".encode("latin-1")))

    assert sources(nb) == ["# café\nx = 1"]
    assert nb.notes[0].startswith("the file is not valid UTF-8 (bad byte at offset 10); read it")


def test_utf16_file_with_bom_is_decoded(tmp_path: Path) -> None:
    nb = load(write(tmp_path, "u16.py", "# %%\nx = 'é'\n".encode("utf-16")))

    assert nb.format == "py:percent"
    assert sources(nb) == ["x = 'é'"]
    assert nb.notes == ("the file is encoded as UTF-16, not UTF-8",)


def test_str_path_is_accepted_and_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "s.ipynb", notebook_json([code_cell("x")]))

    assert load(str(path)).path == str(path)


# --------------------------------------------------------------------------- ipynb v3


def test_v3_notebook_is_upgraded() -> None:
    nb = load(FIXTURES / "v3.ipynb")

    assert nb.format == "ipynb-v3"
    assert nb.notes == ("upgraded from nbformat v3",)
    assert [(c.kind, c.source) for c in nb.cells] == [
        ("markdown", "## Cross-correlation"),  # a v3 heading cell of level 2
        ("code", "import torch\nX = torch.eye(3)\nprint(X.shape)\nX.sum()"),
        ("markdown", "The kernel detects *vertical* edges."),
        ("code", "corr2d(X, K)"),
    ]
    assert nb.cells[1].tags == ("exercise:1",)
    assert nb.cells[1].exercise == "1"
    assert nb.cells[1].stored_text == "torch.Size([3, 3])\ntensor(3.)"
    assert nb.cells[3].stored_text == "NameError: name 'corr2d' is not defined"


# --------------------------------------------------------------------------- jupytext


def test_percent_script() -> None:
    nb = load(FIXTURES / "percent.py")

    assert nb.format == "py:percent"
    assert [c.kind for c in nb.cells] == ["markdown", "code", "code", "code"]
    assert nb.cells[0].source.startswith("# 7.2 Exercises\n")
    assert nb.cells[1].source == "import torch\n\nX = torch.eye(6, 8)\nX"
    assert [c.exercise for c in nb.cells] == [None, "1", "2.1", None]
    assert nb.cells[3].source == "%matplotlib inline\ncorr2d(X, X[:1, :2])"


def test_light_script() -> None:
    nb = load(FIXTURES / "light.py")

    assert nb.format == "py:light"
    assert sources(nb) == ["import torch", "X = torch.eye(6, 8)\nprint(X.shape)"]
    assert sources(nb, "markdown")[0].startswith("# 7.2 Exercises")


def test_jupytext_markdown() -> None:
    nb = load(FIXTURES / "jupytext.md")

    assert nb.format == "md"
    assert [(c.kind, c.source) for c in nb.cells] == [
        ("markdown", "# 7.2 Exercises"),
        ("code", "X = torch.eye(6, 8)"),
        ("markdown", "The diagonal edge is detected."),
    ]
    assert nb.cells[1].exercise == "1"


def test_markdown_with_callouts_is_read_without_pandoc(tmp_path: Path) -> None:
    # ':::' blocks (Yuque, Feishu, Docusaurus) make jupytext guess Pandoc Markdown, which
    # needs the pandoc program; a student's write-up is plain Markdown
    path = tmp_path / "yuque.md"
    path.write_text(
        "# 6.2 图像卷积\n\n:::info\n代码都在本地跑过。\n:::\n\n"
        "```python\nX = torch.eye(6)\n```\n\n解：斜边能检测到。\n",
        encoding="utf-8",
    )
    nb = load(path)

    assert nb.format == "md"
    assert [c.kind for c in nb.cells] == ["markdown", "code", "markdown"]
    assert nb.cells[1].source == "X = torch.eye(6)"
    assert ":::info" in nb.cells[0].source


def test_plain_markdown_with_python_fences() -> None:
    nb = load(FIXTURES / "plain.md")

    assert nb.format == "md"
    assert sources(nb) == ["import torch\nX = torch.eye(6, 8)", "X.T"]  # ```py counts too
    assert sources(nb, "markdown")[-1] == "```\noutput, not code\n```"


@pytest.mark.parametrize(
    "text",
    [
        "# Exercises\n\n1.1 not a zero matrix\n",
        "My answers:\n\n1. +1 and -1 on the diagonal\n2. no error in PyTorch\n",
        "Matmul answer:\n```\nW @ X.reshape(-1)\n```\n",
    ],
)
def test_a_text_file_of_written_answers_is_read_as_a_markdown_write_up(
    tmp_path: Path, text: str
) -> None:
    nb = load(write(tmp_path, "answers.txt", text))

    assert nb.format == "md" and not nb.code_cells
    assert nb.notes == ("no code found: read as a Markdown write-up",)
    assert text.split("\n")[0] in nb.cells[0].source


# --------------------------------------------------------------------------- transcripts


def test_student_b_transcript() -> None:
    nb = load(submission("student-b-transcript.txt"))

    assert nb.format == "transcript"
    assert nb.notes == ()
    assert len(nb.cells) == 16
    assert len(nb.code_cells) == 10
    assert nb.cells[0].source == "# 7.2 Convolutions for Images"
    first = nb.code_cells[0]
    assert first.source == "import torch\nfrom torch import nn\nfrom d2l import torch as d2l"
    assert first.stored_text == ""
    for cell in nb.code_cells:
        ast.parse(cell.source)  # no pasted output left in the code
    headings = [s.splitlines()[0] for s in sources(nb, "markdown")]
    assert headings == [
        "# 7.2 Convolutions for Images",
        "### 7.2.1 The Cross-Correlation Operation",
        "### 7.2.2 Convolutional Layers",
        "### 7.2.3 Object Edge Detection in Images",
        "### 7.2.4 Learning a Kernel",
        "## Discussions",
    ]


def test_student_b_outputs_are_stored_not_code() -> None:
    nb = load(submission("student-b-transcript.txt"))
    code = nb.code_cells

    assert code[2].source.endswith("corr2d(X, K)")
    assert code[2].stored_text == "tensor([[19., 25.],\n        [37., 43.]])"
    assert code[3].source.endswith("    return corr2d(x, self.weight) + self.bias")  # Conv2D
    assert code[3].stored_text == ""
    training = code[8]
    assert training.source.startswith("# Construct a two-dimensional convolutional layer")
    assert training.source.endswith("print(f'epoch {i+1}, loss {l.sum():.3f}')")
    assert training.stored_text.splitlines()[0] == "epoch 2, loss 8.644"
    assert training.stored_text.splitlines()[-1] == "epoch 10, loss 0.147"
    assert code[9].stored_text == "tensor([[ 0.9510, -1.0295]])"


def test_ipython_console_transcript() -> None:
    nb = load(FIXTURES / "console.txt")

    assert nb.format == "transcript"
    assert [(c.kind, c.source, c.stored_text) for c in nb.cells] == [
        ("markdown", "Session pasted from the IPython console.", ""),
        ("code", "import torch", ""),
        ("code", "def corr2d(X, K):\n    h, w = K.shape\n    return X[:h, :w] * K", ""),
        ("code", "X = torch.ones(2, 3)", ""),
        ("code", "X.shape", "torch.Size([2, 3])"),
        (
            "code",
            "%timeit corr2d(X, X)",
            "10.2 µs ± 31 ns per loop (mean ± std. dev. of 7 runs, 100,000 loops each)",
        ),
    ]


def test_transcript_keeps_code_paragraphs_together(tmp_path: Path) -> None:
    text = (
        "In [1]:\n"
        "class Net:\n"
        "    def a(self):\n"
        "        return 1\n"
        "\n"
        "    def b(self):\n"
        "        return 2\n"
        "\n"
        "# a comment paragraph above code\n"
        "\n"
        "net = Net()\n"
        "net\n"
        "\n"
        "<__main__.Net object at 0x7f>\n"
    )
    nb = load(write(tmp_path, "t.txt", text))

    assert len(nb.cells) == 1
    assert nb.cells[0].source == text[len("In [1]:\n") : text.index("\n\n<__main__")]
    assert nb.cells[0].stored_text == "<__main__.Net object at 0x7f>"


def test_transcript_splits_output_and_prose(tmp_path: Path) -> None:
    text = (
        "In [ ]:\n!pip install d2l==1.0.3\n\nCollecting d2l==1.0.3\n\n"
        "In [2]:\nprint('done')\n\ndone\n\n"
        "In [3]:\nshape = (2, 3)\nshape\n\n(2, 3)\n\n"
        "Now we answer the second question of the section.\n\n"
        "In [4]:\nx = 1\nOut[4]:\n42\n\n"
        "In [5]:\nfor i in range(3)\n    print(i)\n\n"
        "In [6]:\n"
    )
    nb = load(write(tmp_path, "t.txt", text))

    assert [(c.kind, c.source, c.stored_text) for c in nb.cells] == [
        ("code", "!pip install d2l==1.0.3", "Collecting d2l==1.0.3"),
        ("code", "print('done')", "done"),
        ("code", "shape = (2, 3)\nshape", "(2, 3)"),
        ("markdown", "Now we answer the second question of the section.", ""),
        ("code", "x = 1", "42"),
        ("code", "for i in range(3)\n    print(i)", ""),  # a syntax error stays code
        ("code", "", ""),
    ]


def test_transcript_traceback_glued_prompt_and_trailing_prose(tmp_path: Path) -> None:
    traceback = (
        "---------------------------------------------------------------------------\n"
        "RuntimeError                              Traceback (most recent call last)\n"
        "Cell In[3], line 2\n"
        "----> 2 y.backward()\n"
        "\n"
        "File ~/torch/_tensor.py:492, in Tensor.backward(self, gradient, retain_graph)\n"
        "    488 if has_torch_function_unary(self):\n"
        "\n"
        "RuntimeError: grad can be implicitly created only for scalar outputs"
    )
    text = (
        f"In [3]:\ny = x.sum(0)\ny.backward()\n\n{traceback}\n\n### Next heading\n\n"
        "In [4]: import torch\nfrom torch import nn\n\n"  # prompt and code on one line
        "In [5]:\nX.shape\n\ntorch.Size([2, 3])\n\n"
        "The shape has two rows and three columns as expected.\n"
    )
    nb = load(write(tmp_path, "t.txt", text))

    assert [(c.kind, c.source, c.stored_text) for c in nb.cells] == [
        ("code", "y = x.sum(0)\ny.backward()", traceback),
        ("markdown", "### Next heading", ""),
        ("code", "import torch\nfrom torch import nn", ""),
        ("code", "X.shape", "torch.Size([2, 3])"),
        ("markdown", "The shape has two rows and three columns as expected.", ""),
    ]


def test_transcript_with_crlf_line_endings(tmp_path: Path) -> None:
    text = "In [1]:\r\nx = 1\r\nx\r\n\r\n1\r\n"
    nb = load(write(tmp_path, "t.txt", text.encode()))

    assert [(c.source, c.stored_text) for c in nb.cells] == [("x = 1\nx", "1")]


# --------------------------------------------------------------------------- real notebook


def test_student_a_loads_as_is() -> None:
    nb = load(submission("student-a.ipynb"))

    assert nb.format == "ipynb"
    assert nb.notes == ()
    assert len(nb.cells) == 31
    assert len(nb.code_cells) == 16
    assert nb.cells[0].source == "# 1. Construct an image X with diagonal edges."
    first = nb.code_cells[0]
    assert first.source.startswith(
        "import torch\n\ndef corr2d(X,K):\n h,w = K.shape\n Y = torch.zeros("
    )
    with pytest.raises(SyntaxError):  # collapsed indentation is kept, not repaired
        ast.parse(first.source)
    assert first.stored_text.startswith("tensor([[1., 0., 0., 0., 0., 0., 0., 0.],")
    errors = [c for c in nb.code_cells if c.stored_text.startswith("RuntimeError")]
    assert [c.stored_text for c in errors] == [
        "RuntimeError: grad can be implicitly created only for scalar outputs"
    ]


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("name", "content", "fmt", "note"),
    [
        (
            "nb.txt",
            notebook_json([code_cell("x")]),
            "ipynb",
            "the file is named .txt but holds notebook JSON",
        ),
        (
            "nb",
            notebook_json([code_cell("x")]),
            "ipynb",
            "the file has no extension but holds notebook JSON",
        ),
        (
            "t.ipynb",
            "In [1]:\nx\n",
            "transcript",
            "the file is named .ipynb but is not JSON; read as transcript",
        ),
        (
            "p.ipynb",
            "# %%\nx\n",
            "py:percent",
            "the file is named .ipynb but is not JSON; read as py:percent",
        ),
        ("p.txt", "# %%\nx\n", "py:percent", None),
        ("m.txt", "# Answers\n\n```python\nx\n```\n", "md", None),
        ("t", "Intro\n\nIn [None]:\nx\n", "transcript", None),
        ("t.md", "# Answers\n\nIn [1]:\nx\n", "transcript", None),
        ("t.py", "In [1]:\nx\n", "transcript", None),
        ("c.py", "{'a': 1}\n\nx\n", "py:light", None),
    ],
)
def test_format_is_sniffed_from_content(
    tmp_path: Path, name: str, content: str, fmt: str, note: str | None
) -> None:
    nb = load(write(tmp_path, name, content))

    assert nb.format == fmt
    assert sources(nb)[-1] == "x"
    assert nb.notes == ((note,) if note else ())


# --------------------------------------------------------------------------- invalid input


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.ipynb"
    os.mkfifo(path)
    return path


def _huge(tmp_path: Path) -> Path:
    path = tmp_path / "huge.ipynb"
    with path.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: nothing is written to disk
    return path


UNREADABLE: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing", lambda d: d / "nope.ipynb", "file not found"),
    ("directory", lambda d: d, "is a directory, not a file"),
    ("empty", lambda d: write(d, "e.ipynb", b""), "file is empty"),
    ("blank", lambda d: write(d, "e.py", " \n\t\n"), "file is empty"),
    ("fifo", _fifo, "not a regular file"),
    ("huge", _huge, "file is too large (20.0 MB; the limit is 20 MB)"),
]


@pytest.mark.parametrize(
    ("make", "problem"), [u[1:] for u in UNREADABLE], ids=[u[0] for u in UNREADABLE]
)
def test_unreadable_file_raises_input_error(
    tmp_path: Path, make: Callable[[Path], Path], problem: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(InputError) as caught:
        load(path)

    assert not isinstance(caught.value, NotANotebookError)
    assert str(caught.value) == f"{path}: {problem}"
    assert caught.value.problem == problem


def test_permission_denied_raises_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "locked.ipynb", notebook_json([]))

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)  # chmod does not stop root, which runs CI here
    with pytest.raises(InputError) as caught:
        load(path)

    assert str(caught.value) == f"{path}: permission denied (the file cannot be read)"


NOT_NOTEBOOKS: list[tuple[str, str | bytes, str]] = [
    (
        "bad.ipynb",
        '{\n "cells": [\n  {"cell_type": "code",}\n ]\n}',
        "not valid JSON (line 3, column 24): Expecting property name enclosed in double quotes",
    ),
    ("text.ipynb", "hello", "not valid JSON (line 1, column 1): Expecting value"),
    ("bad.txt", '{"cells": [', "not valid JSON (line 1, column 12): Expecting value"),
    (
        "list.ipynb",
        "[1, 2]",
        "JSON but not a Jupyter notebook (the top level is a list, not an object)",
    ),
    ("conf.ipynb", '{"name": "x"}', "JSON but not a Jupyter notebook (no 'cells' list)"),
    ("conf.json", '{"cells": {}}', "JSON but not a Jupyter notebook (no 'cells' list)"),
    (
        "old.ipynb",
        '{"nbformat": 2, "worksheets": []}',
        "nbformat v2 is too old to read (open and save it in Jupyter first)",
    ),
    ("data.ipynb", b"\x00\x01\x02binary\x00", "a binary file, not a notebook"),
    ("noise.txt", bytes(range(1, 32)) * 10, "a binary file, not a notebook"),
    ("shot.ipynb", b"\x89PNG\r\n\x1a\n\x00\x00", "a PNG image, not a notebook"),
    ("print.ipynb", b"%PDF-1.7\n", "a PDF document, not a notebook"),
    (
        "page.ipynb",
        "<!DOCTYPE html>\n<html><body>In [1]:</body></html>",
        "an HTML page, not a notebook (save the raw .ipynb)",
    ),
    ("notes.txt", "Just some thoughts about kernels.\n", NO_NOTEBOOK),
    ("script.sh", "echo hello\n", NO_NOTEBOOK),
]


@pytest.mark.parametrize(
    ("name", "content", "problem"), NOT_NOTEBOOKS, ids=[n[0] for n in NOT_NOTEBOOKS]
)
def test_not_a_notebook_raises_with_one_line(
    tmp_path: Path, name: str, content: str | bytes, problem: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(NotANotebookError) as caught:
        load(path)

    assert str(caught.value) == f"{path}: {problem}"
    assert "\n" not in str(caught.value)


def test_feedback_cells_of_an_annotated_copy_are_not_answers(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("**Score: 0/2** your answer is wrong"),
    ]
    nb.cells[1].metadata["grader"] = {"feedback": True, "exercise": "blur-kernel"}
    path = tmp_path / "annotated.ipynb"
    nbformat.write(nb, str(path))
    loaded = load(path)
    assert [c.kind for c in loaded.cells] == ["code", "raw"]
    assert loaded.cells[1].exercise is None and loaded.cells[1].index == 1
