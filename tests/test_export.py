"""The #@save exporter: repo is in sync, and its rules on a tiny notebook."""
import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from d2lmini import export

ROOT = Path(__file__).resolve().parent.parent


def _write_nb(path: Path, cells, module="toy") -> None:
    meta = {"d2lmini": {"export": module}} if module else {}
    nb = new_notebook(metadata=meta)
    nb.cells = cells
    nbformat.write(nb, str(path))


@pytest.fixture
def toy_root(tmp_path: Path) -> Path:
    """A project with one notebook exporting a class built over three cells."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "d2lmini").mkdir()
    _write_nb(tmp_path / "notebooks" / "01_toy.ipynb", [
        new_markdown_cell("# Toy #@save in markdown is ignored"),
        new_code_cell("import math  #@save\nfrom typing import List  #@save"),
        new_code_cell("class Box:  #@save\n    def __init__(self, n):\n        self.n = n"),
        new_code_cell("Box(2).n  # not exported"),
        new_code_cell("#@save\nimport math\n"
                      "@add_to_class(Box)\ndef double(self):\n    return 2 * self.n\n\n"
                      "def _private():\n    return 0\n\n"
                      "def area(r: float) -> float:\n    return math.pi * r * r"),
    ])
    _write_nb(tmp_path / "notebooks" / "02_more.ipynb", [
        new_code_cell("@add_to_class(Box)  #@save\ndef double(self):\n    return self.n + self.n"),
        new_code_cell("class Crate(Box):  #@save\n    pass"),
    ])
    _write_nb(tmp_path / "notebooks" / "03_plain.ipynb", [new_code_cell("x = 1")], module=None)
    return tmp_path


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_repository_modules_match_the_notebooks(tmp_path):
    """Regenerate from a copy of notebooks/ and compare byte for byte."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (tmp_path / "d2lmini").mkdir()
    written = export.write_modules(tmp_path)
    assert written, "no notebook exports anything"
    for path in written:
        repo_file = ROOT / "d2lmini" / path.name
        assert repo_file.read_bytes() == path.read_bytes(), (
            f"d2lmini/{path.name} is out of date: run `make export`")
    assert export.check_modules(ROOT) == []


def test_check_command_line_passes_on_the_repository():
    result = subprocess.run([sys.executable, "-m", "d2lmini.export", "--check"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_methods_are_merged_into_the_class(toy_root):
    export.write_modules(toy_root)
    text = (toy_root / "d2lmini" / "toy.py").read_text()
    tree = ast.parse(text)
    box = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Box")
    methods = [n.name for n in box.body if isinstance(n, ast.FunctionDef)]
    assert methods == ["__init__", "double"]  # the later double replaced the first
    assert "add_to_class" not in text
    top_defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert top_defs == ["_private", "area"]
    mod = _load(toy_root / "d2lmini" / "toy.py")
    assert mod.Box(3).double() == 6 and mod.Crate(1).double() == 2
    assert mod.area(1.0) == pytest.approx(3.14159265)


def test_provenance_header_imports_and_all(toy_root):
    export.write_modules(toy_root)
    text = (toy_root / "d2lmini" / "toy.py").read_text()
    first = text.splitlines()[0]
    assert first == export.GENERATED_LINE
    assert "notebooks/01_toy.ipynb, notebooks/02_more.ipynb." in text
    assert "03_plain" not in text
    assert "# notebooks/01_toy.ipynb, cell 2\nclass Box:" in text
    # The merged method keeps its own provenance, indented into the class.
    assert "    # notebooks/02_more.ipynb, cell 0\n    def double(self):" in text
    assert "# notebooks/01_toy.ipynb, cell 3" not in text  # unmarked cell
    assert text.count("import math") == 1  # duplicate import written once
    assert "#@save" not in text.replace("#@save cells", "")
    assert text.rstrip().endswith('__all__ = ["Box", "area", "Crate"]')
    assert _load(toy_root / "d2lmini" / "toy.py").__all__ == ["Box", "area", "Crate"]


def test_output_is_deterministic(toy_root):
    first = export.build_modules(toy_root)
    second = export.build_modules(toy_root)
    assert first == second
    assert export.write_modules(toy_root) and export.write_modules(toy_root) == []


def test_check_detects_drift_and_names_the_file(toy_root, capsys):
    export.write_modules(toy_root)
    assert export.main(["--check", "--root", str(toy_root)]) == 0
    path = toy_root / "d2lmini" / "toy.py"
    path.write_text(path.read_text() + "# a hand edit\n")
    assert export.main(["--check", "--root", str(toy_root)]) == 1
    assert "d2lmini/toy.py" in capsys.readouterr().out
    export.main(["--root", str(toy_root)])
    assert export.main(["--check", "--root", str(toy_root)]) == 0


def test_check_detects_a_changed_notebook(toy_root):
    export.write_modules(toy_root)
    nb_path = toy_root / "notebooks" / "02_more.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[1].source = "class Crate(Box):  #@save\n    size = 2"
    nbformat.write(nb, str(nb_path))
    assert export.check_modules(toy_root) == [toy_root / "d2lmini" / "toy.py"]


def test_refuses_to_overwrite_a_hand_written_module(toy_root):
    (toy_root / "d2lmini" / "toy.py").write_text('"""Hand-written."""\n')
    with pytest.raises(FileExistsError, match="hand-written"):
        export.write_modules(toy_root)


def test_add_to_class_of_a_foreign_class_keeps_its_decorator(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "d2lmini").mkdir()
    _write_nb(tmp_path / "notebooks" / "01_x.ipynb", [
        new_code_cell("import d2lmini as d2l  #@save"),
        new_code_cell("@d2l.add_to_class(d2l.Classifier)  #@save\ndef extra(self):\n    return 1"),
    ], module="x")
    text = export.build_modules(tmp_path)[tmp_path / "d2lmini" / "x.py"]
    assert "@d2l.add_to_class(d2l.Classifier)\ndef extra(self):" in text
    assert text.rstrip().endswith("__all__ = []")  # a method, not a public function


def test_marker_rules():
    assert export.is_exported("class A:  #@save\n    pass")
    assert export.is_exported("#@save\nx = 1")
    assert not export.is_exported("x = 1  # not #@save here")
    assert export.strip_markers("#@save\nx = 1  #@save") == "x = 1"


def test_unparsable_cell_names_its_location(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "d2lmini").mkdir()
    _write_nb(tmp_path / "notebooks" / "01_bad.ipynb",
              [new_code_cell("%matplotlib inline  #@save")], module="bad")
    with pytest.raises(SyntaxError, match=r"notebooks/01_bad.ipynb, cell 0"):
        export.build_modules(tmp_path)
