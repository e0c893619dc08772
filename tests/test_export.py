"""The #@save exporter (tools/export.py): the repository is in sync and clean,
and its rules on tiny notebooks."""
import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "export.py"
_spec = importlib.util.spec_from_file_location("export_tool", TOOL)
export = sys.modules["export_tool"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export)


def _write_nb(path: Path, cells, module="toy") -> None:
    """A notebook whose first code cell names ``module`` as its target."""
    nb = new_notebook()
    nb.cells = cells
    if module:
        first = next(c for c in cells if c.cell_type == "code")
        first.source = f"#| default_exp {module}\n" + first.source
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


def test_repository_is_in_sync_and_clean():
    """The one check of the real repository: every generated module equals
    what the notebooks export, and every notebook is clean."""
    result = subprocess.run([sys.executable, str(TOOL), "--check"],
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
    assert export.is_exported("#@save counting\nx = 1")
    assert export.cell_target("#@save counting\nx = 1") == "counting"
    assert export.cell_target("#@save\nx = 1") is None
    assert export.strip_markers("#@save counting\n#| default_exp toy\nx = 1") == "x = 1"


def test_a_cell_may_name_another_target(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "d2lmini").mkdir()
    _write_nb(tmp_path / "notebooks" / "01_x.ipynb", [
        new_code_cell("def a():  #@save\n    return 1"),
        new_code_cell("#@save counting\ndef count(xs):\n    return len(xs)"),
        new_code_cell("def b():  #@save\n    return 2"),
    ], module="main_mod")
    modules = export.build_modules(tmp_path)
    main_text = modules[tmp_path / "d2lmini" / "main_mod.py"]
    counting = modules[tmp_path / "d2lmini" / "counting.py"]
    assert "def a()" in main_text and "def b()" in main_text and "count" not in main_text
    assert "# notebooks/01_x.ipynb, cell 1\ndef count(xs):" in counting
    assert counting.rstrip().endswith('__all__ = ["count"]')


def test_a_save_cell_without_a_target_is_an_error(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_nb(tmp_path / "notebooks" / "01_x.ipynb",
              [new_code_cell("def a():  #@save\n    return 1")], module=None)
    with pytest.raises(ValueError, match=r"01_x.ipynb, cell 0: .*default_exp"):
        export.build_modules(tmp_path)


def _dirty_notebook(path: Path) -> None:
    nb = new_notebook(metadata={"widgets": {"state": {"abc": {}}}})
    cell = new_code_cell("print(1)", metadata={"execution": {"iopub.status.idle": "t"},
                                               "tags": ["keep-me"]})
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc"},
            "text/plain": "  0%|          | 0/40"}),
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
    ]
    nb.cells = [cell]
    nbformat.write(nb, str(path))


def test_uncleaned_notebook_fails_the_check_and_export_cleans_it(toy_root, capsys):
    export.write_modules(toy_root)
    dirty = toy_root / "notebooks" / "04_dirty.ipynb"
    _dirty_notebook(dirty)
    assert export.main(["--check", "--root", str(toy_root)]) == 1
    assert "not clean: notebooks/04_dirty.ipynb" in capsys.readouterr().out
    export.main(["--root", str(toy_root)])
    nb = nbformat.read(str(dirty), as_version=4)
    assert "widgets" not in nb.metadata
    assert nb.cells[0].metadata == {"tags": ["keep-me"]}
    assert [o.output_type for o in nb.cells[0].outputs] == ["stream"]  # the bar is gone
    assert export.main(["--check", "--root", str(toy_root)]) == 0


def test_translated_notebooks_are_cleaned_too(tmp_path):
    (tmp_path / "notebooks" / "zh").mkdir(parents=True)
    _dirty_notebook(tmp_path / "notebooks" / "zh" / "01_x.ipynb")
    assert export.unclean_notebooks(tmp_path) == [tmp_path / "notebooks" / "zh" / "01_x.ipynb"]


def test_unparsable_cell_names_its_location(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "d2lmini").mkdir()
    _write_nb(tmp_path / "notebooks" / "01_bad.ipynb",
              [new_code_cell("%matplotlib inline  #@save")], module="bad")
    with pytest.raises(SyntaxError, match=r"notebooks/01_bad.ipynb, cell 0"):
        export.build_modules(tmp_path)


# -- refusals leave everything as it was ------------------------------------
@pytest.mark.parametrize("name", ["class", "None", "import", "my-mod", "1x"])
@pytest.mark.parametrize("how", ["cell", "default_exp"])
def test_a_target_python_cannot_import_is_refused_naming_the_cell(tmp_path, name, how):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "d2lmini").mkdir()
    cells = [new_code_cell("def a():  #@save\n    return 1"),
             new_code_cell(f"#@save {name}\ndef b():\n    return 2")]
    if how == "default_exp":
        cells = cells[:1]
    _write_nb(tmp_path / "notebooks" / "01_x.ipynb", cells,
              module="fine" if how == "cell" else name)
    cell = 1 if how == "cell" else 0
    with pytest.raises(ValueError, match=rf"notebooks/01_x.ipynb, cell {cell}: export "
                                         rf"target '{name}' is not a module name"):
        export.write_modules(tmp_path)
    assert list((tmp_path / "d2lmini").iterdir()) == []  # not even fine.py


def _clashing_root(root: Path) -> Path:
    """Two notebooks: one exports to a new module, the next to a hand-written
    one; a third notebook is not clean."""
    (root / "notebooks").mkdir()
    (root / "d2lmini").mkdir()
    (root / "d2lmini" / "data.py").write_text('"""Hand-written."""\n')
    _write_nb(root / "notebooks" / "01_a.ipynb",
              [new_code_cell("def a():  #@save\n    return 1")], module="aaa")
    _write_nb(root / "notebooks" / "02_b.ipynb",
              [new_code_cell("def b():  #@save\n    return 2")], module="data")
    _dirty_notebook(root / "notebooks" / "03_dirty.ipynb")
    return root


def _snapshot(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_clash_with_a_hand_written_module_writes_nothing(tmp_path):
    root = _clashing_root(tmp_path)
    before = _snapshot(root)
    with pytest.raises(FileExistsError, match=r"hand-written .*data.py \(from "
                                              r"notebooks/02_b.ipynb\).*nothing was written"):
        export.write_modules(root)
    assert _snapshot(root) == before  # aaa.py, which sorts first, was not written


def test_make_export_refusing_cleans_no_notebook_and_writes_no_module(tmp_path):
    root = _clashing_root(tmp_path)
    before = _snapshot(root)
    with pytest.raises(FileExistsError, match="hand-written"):
        export.main(["--root", str(root)])
    assert _snapshot(root) == before
    # An unparsable cell is refused before the notebooks are cleaned, too.
    (root / "d2lmini" / "data.py").unlink()
    _write_nb(root / "notebooks" / "02_b.ipynb",
              [new_code_cell("%matplotlib inline  #@save")], module="data")
    before = _snapshot(root)
    with pytest.raises(SyntaxError, match=r"notebooks/02_b.ipynb, cell 0"):
        export.main(["--root", str(root)])
    assert _snapshot(root) == before
