from grader import analysis


def test_facts_defs_uses_imports() -> None:
    f = analysis.facts(
        "import torch\nfrom torch import nn\ndef corr2d(X, K):\n    return Z\n"
        "Y = corr2d(X, K)\nX[:, 1] = 0\n"
    )
    assert f.parses
    assert {"torch", "nn", "corr2d", "Y"} <= f.defines
    assert "X" not in f.defines  # X[:, 1] = 0 changes X but does not bind it
    assert "X" in f.uses and "K" in f.uses  # used before any binding in the cell
    assert "Z" not in f.uses  # only inside a function body, which does not run here
    assert f.imports == ("torch", "torch")
    assert f.functions == ("corr2d",)


def test_facts_on_broken_source_reports_the_syntax_error() -> None:
    f = analysis.facts("for i in range(3):\nprint(i)\n")
    assert not f.parses and f.syntax_error is not None and "line 2" in f.syntax_error


def test_magics_do_not_break_analysis() -> None:
    f = analysis.facts("%matplotlib inline\n!ls\nx = np.ones(3)\n")
    assert f.parses and "np" in f.uses and "x" in f.defines


def test_strip_installs_keeps_line_numbers() -> None:
    src = "!pip install d2l==1.0.3\nimport torch\n  %pip install x\n"
    out, found = analysis.strip_installs(src)
    assert out.count("\n") == src.count("\n")
    assert found == ("!pip install d2l==1.0.3", "%pip install x")
    assert "pip" not in out.splitlines()[0]


def test_missing_imports_only_for_names_no_cell_defines() -> None:
    assert analysis.missing_imports(["x = torch.ones(2)", "y = np.zeros(2)"]) == [
        "import torch",
        "import numpy as np",
    ]
    assert analysis.missing_imports(["x = torch.ones(2)", "import torch"]) == []
    assert analysis.missing_imports(["import numpy as np\nnp.ones(1)"]) == []


def test_indentation_lost() -> None:
    assert analysis.indentation_lost("for i in range(3):\nprint(i)\n")
    assert not analysis.indentation_lost("for i in range(3):\n    print(i)\n")
    assert not analysis.indentation_lost("x = 1\ny = 2\n")


def test_shown_by_names_the_print_or_expression_that_showed_a_value() -> None:
    cell = "X = eye(6)\nprint('1.1', corr2d(X, K))\nprint(corr2d(X.T, K))\ncorr2d(X, K.T)"
    assert analysis.shown_by(cell, "printed", 0, 2) == "print('1.1', corr2d(X, K))"
    assert analysis.shown_by(cell, "printed", 1, 2) == "print(corr2d(X.T, K))"
    assert analysis.shown_by(cell, "result", 0, 2) == "corr2d(X, K.T)"
    looped = "for k in (K, K.T):\n    print(corr2d(X, k))\nprint(corr2d(X.T, K))"
    assert analysis.shown_by(looped, "printed", 0, 3) == looped  # prints in a loop: the cell
    assert analysis.shown_by(cell, "printed", 0, 3) == cell  # arrays and prints do not match


def test_comments_are_removed_but_strings_are_kept() -> None:
    source = 'net = 1\n# out.sum().backward()  # 会报错\nx = "# kept"  # gone\n'
    assert analysis.without_comments(source) == 'net = 1\n\nx = "# kept"  \n'
    # code the tokenizer cannot read loses its whole-line comments only
    assert analysis.without_comments("def f(:\n  # x.backward()\n") == "def f(:"


def test_value_makers_are_straight_line_functions_of_no_arguments() -> None:
    source = (
        "def blur():\n    b = torch.tensor([1., 2., 1.])\n    return torch.outer(b, b) / 16\n"
        "def noisy():\n    print('x')\n    return 1\n"
        "def looped():\n    for i in range(3):\n        pass\n    return 1\n"
        "def takes(v):\n    return v\n"
        "def main():\n    train()\n    return 0\n"
    )
    assert analysis.value_makers(source) == ("blur",)


def test_module_classes_and_the_functions_a_cell_calls() -> None:
    source = (
        "class TinyConv(nn.Module):\n    pass\nclass Plain:\n    pass\n"
        "def check():\n    return TinyConv((1, 2))\nmain()\nprint(check())\n"
    )
    assert analysis.module_classes(source) == ("TinyConv",)
    calls, defs = analysis.called_functions(source)
    assert calls == ("main", "print", "check") and set(defs) == {"check"}


def test_a_printed_label_does_not_shift_which_print_showed_a_value() -> None:
    source = 'print("K on X:")\nprint(corr2d(X, K))\nprint("K on X.T:")\nprint(corr2d(X.T, K))\n'
    assert analysis.shown_by(source, "printed", 0, 2) == "print(corr2d(X, K))"
    assert analysis.shown_by(source, "printed", 1, 2) == "print(corr2d(X.T, K))"


def test_prints_of_shapes_and_equalities_show_no_array_and_a_name_carries_its_making() -> None:
    source = (
        "out2 = corr2d(X.t(), K)\nprint('K on X:', out1)\n"
        "print('equal?', torch.equal(out1, out2))\n"
        "print('shapes:', out1.shape, out2.shape)\nprint(out2)\n"
    )
    assert analysis.shown_by(source, "printed", 1, 2) == "out2 = corr2d(X.t(), K)\nprint(out2)"
