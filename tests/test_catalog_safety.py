"""A catalog is untrusted input (tools/translate.py, tools/catalog_safety.py):
a translation may change the prose, never the markup, and a catalog is
UTF-8. Every probe works on a temporary project; the repository's catalogs
are only read."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import polib
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("translate_tool", ROOT / "tools" / "translate.py")
tr = sys.modules["translate_tool"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tr)

CATALOG = "translations/xx/LC_MESSAGES/01_intro.po"
FORMULA = "A block computes $f(x) = g(x) + x$ with `Residual`, as in {cite:p}`he2016deep`."
PYTHON = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
          "language_info": {"name": "python"}}
BIB = ("@misc{he2016deep, author = {He, Kaiming}, title = {Deep Residual Learning}, "
       "year = {2016}}\n")
FIGURE = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10"/></svg>'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A one-notebook chapter (math, code, a role, a figure, a link) with a
    title page and a complete, safe catalog for language xx."""
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "box.svg").write_text(FIGURE)
    (tmp_path / "references.bib").write_text(BIB)
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    (nbs / "index.md").write_text("# Residual Networks\n\nEvery section is a notebook.\n\n"
                                  "```{toctree}\n:glob:\n\n[0-9]*\n```\n", encoding="utf-8")
    code = new_code_cell("print(6 * 7)", execution_count=1,
                         outputs=[new_output("stream", name="stdout", text="42\n")])
    nbformat.write(new_notebook(metadata=PYTHON, cells=[
        new_markdown_cell("# Residual Networks"),
        new_markdown_cell(f"{FORMULA}\n\n![A residual block.](../img/box.svg)"),
        code,
        new_markdown_cell("See [the title page](index.md).\n\n## References\n\n"
                          "```{bibliography}\n```"),
    ]), str(nbs / "01_intro.ipynb"))
    assert tr.main(["--root", str(tmp_path), "--add-language", "xx"]) == 0
    for name in ("01_intro", "index"):
        po = polib.pofile(str(tmp_path / f"translations/xx/LC_MESSAGES/{name}.po"))
        for e in po:
            e.msgstr = e.msgid.replace("Residual Networks", "Redes residuales") \
                .replace("A block computes", "Un bloque calcula").replace("See", "Véase") \
                .replace("Every section is a notebook.", "Cada sección es un cuaderno.")
        po.save()
    assert tr.main(["--root", str(tmp_path)]) == 0
    assert tr.problems(tmp_path) == []
    return tmp_path


def _tamper(project: Path, change) -> polib.POEntry:
    """Rewrite the translation of the formula's cell with ``change``."""
    po = polib.pofile(str(project / CATALOG))
    entry = next(e for e in po if FORMULA in e.msgid)
    entry.msgstr = change(entry.msgstr)
    po.save()
    return next(e for e in polib.pofile(str(project / CATALOG)) if FORMULA in e.msgid)


def _translated_notebook(project: Path) -> str:
    return (project / "notebooks" / "xx" / "01_intro.ipynb").read_text(encoding="utf-8")


# What a hostile translation adds, and how the refusal names it.
PROBES = {
    "script tag": (lambda s: s + "\n\n<script>alert(document.cookie)</script>",
                   'adds raw HTML "<script>alert(document.cookie)</script>"'),
    "raw HTML inline": (lambda s: s.replace("with", '<img src="x" onerror="alert(1)"> with'),
                        'adds raw HTML "<img src="x" onerror="alert(1)">"'),
    "HTML comment": (lambda s: s + " <!-- hidden -->", 'adds raw HTML "<!-- hidden -->"'),
    "literalinclude directive": (
        lambda s: s + "\n\n```{literalinclude} ../../../../etc/hostname\n```",
        'adds directive "```{literalinclude} ../../../../etc/hostname'),
    "colon-fence directive": (lambda s: s + "\n\n:::{include} /etc/passwd\n:::",
                              'adds directive ":::{include} /etc/passwd'),
    "role": (lambda s: s + " {download}`/etc/hostname`",
             'adds role "{download}`/etc/hostname`"'),
    "flipped sign in math": (lambda s: s.replace("g(x) + x", "g(x) - x"),
                             'adds math "f(x) = g(x) - x", drops math "f(x) = g(x) + x"'),
    "changed code span": (lambda s: s.replace("`Residual`", "`os.system('rm -rf ~')`"),
                          "adds code \"os.system('rm -rf ~')\", drops code \"Residual\""),
    "changed image target": (lambda s: s.replace("../img/box.svg", "https://evil.example/x.svg"),
                             'adds image "https://evil.example/x.svg"'),
    "added link": (lambda s: s.replace("Un bloque", "[Un bloque](https://evil.example/)"),
                   'adds link target "https://evil.example/"'),
    "reference definition": (lambda s: s + "\n\n[residual]: https://evil.example/",
                             'adds link definition "[RESIDUAL]: https://evil.example/"'),
}


@pytest.mark.parametrize("probe", PROBES, ids=list(PROBES))
def test_check_names_the_entry_and_the_markup_it_adds(project, capsys, probe):
    change, said = PROBES[probe]
    entry = _tamper(project, change)
    capsys.readouterr()
    assert tr.main(["--root", str(project), "--check"]) == 1
    out = capsys.readouterr().out
    line = next((l for l in out.splitlines() if l.startswith(f"{CATALOG}:{entry.linenum}:")), "")
    assert entry.msgctxt in line and "Un bloque calcula" not in line  # names the English
    assert repr(FORMULA[:40]) in line and said in line, out
    assert "make translations" not in line


@pytest.mark.parametrize("probe", PROBES, ids=list(PROBES))
def test_no_translated_notebook_is_written_from_an_unsafe_entry(project, capsys, probe):
    before = _translated_notebook(project)
    _tamper(project, PROBES[probe][0])
    assert tr.main(["--root", str(project)]) == 1
    err = capsys.readouterr().err
    assert f"{CATALOG}:" in err and PROBES[probe][1] in err and "nothing written" in err
    assert _translated_notebook(project) == before
    with pytest.raises(tr.CatalogError):
        tr.write(project)


def test_a_paragraph_of_the_title_page_cannot_bring_a_directive(project, capsys):
    po = polib.pofile(str(project / "translations/xx/LC_MESSAGES/index.po"))
    po[1].msgstr += "\n\n```{literalinclude} /etc/hostname\n```"
    po.save()
    assert tr.main(["--root", str(project)]) == 1
    assert "index.po" in capsys.readouterr().err
    assert "literalinclude" not in (project / "notebooks/xx/index.md").read_text(encoding="utf-8")


def test_prose_may_change_freely(project):
    """Rewording, reordering and restyling the prose keeps the markup."""
    _tamper(project, lambda s: "**Con** `Residual`, *un bloque* calcula\n$f(x) = g(x) + x$, "
            "como en {cite:p}`he2016deep`.\n\n"
            "![Un bloque residual.](../img/box.svg)")
    assert tr.main(["--root", str(project)]) == 0
    assert tr.problems(project) == []
    assert "**Con** `Residual`" in _translated_notebook(project)


def test_a_fuzzy_translation_is_not_shown_so_not_refused(project):
    po = polib.pofile(str(project / CATALOG))
    entry = next(e for e in po if FORMULA in e.msgid)
    entry.msgstr += " <script>x</script>"
    entry.flags.append("fuzzy")
    po.save()
    assert tr.unsafe_catalogs(project) == {}
    assert "<script>" not in _translated_notebook(project)


# -- encodings -------------------------------------------------------------------


def _recode(project: Path, charset: str, encoding: str) -> bytes:
    """The catalog with its header saying ``charset`` and its text in ``encoding``."""
    path = project / "translations/tr/LC_MESSAGES/01_intro.po"
    assert tr.main(["--root", str(project), "--add-language", "tr"]) == 0
    po = polib.pofile(str(path))
    for e in po:
        e.msgstr = e.msgid.replace("Residual Networks", "Artık Ağlar (ığüşöç)")
    text = str(po).replace("charset=UTF-8", f"charset={charset}") + "\n"
    path.write_bytes(text.encode(encoding))
    return path.read_bytes()


@pytest.mark.parametrize("charset, encoding, said", [
    ("ISO-8859-1", "utf-8", "declares charset=ISO-8859-1, but its text is UTF-8"),
    ("ISO-8859-9", "iso-8859-9", "declares charset=ISO-8859-9 and its text is not UTF-8"),
    ("UTF-8", "iso-8859-9", "is not valid UTF-8"),
], ids=["misdeclared", "iso-8859-9", "not-utf8-bytes"])
def test_a_catalog_that_is_not_utf8_is_refused_and_never_rewritten(project, capsys,
                                                                   charset, encoding, said):
    before = _recode(project, charset, encoding)
    path = project / "translations/tr/LC_MESSAGES/01_intro.po"
    capsys.readouterr()
    for _ in range(2):  # a rewrite would grow the mojibake on every run
        assert tr.main(["--root", str(project)]) == 1
        err = capsys.readouterr().err
        assert "translations/tr/LC_MESSAGES/01_intro.po" in err and said in err, err
        assert path.read_bytes() == before
    assert "Artık" not in (project / "notebooks/tr/01_intro.ipynb").read_text(encoding="utf-8")
    assert tr.main(["--root", str(project), "--check"]) == 1
    lines = [l for l in capsys.readouterr().out.splitlines() if "tr/LC_MESSAGES/01_intro.po" in l]
    assert lines and said in lines[0]
    # It never advises the command that would refuse (or, before, garble) it.
    assert not any("make translations" in l for l in lines)
    assert path.read_bytes() == before


def test_other_languages_are_still_checked_beside_a_refused_catalog(project, capsys):
    _recode(project, "ISO-8859-9", "iso-8859-9")
    _tamper(project, lambda s: s + " <b>x</b>")
    capsys.readouterr()
    assert tr.main(["--root", str(project), "--check"]) == 1
    out = capsys.readouterr().out
    assert "tr/LC_MESSAGES/01_intro.po" in out and "xx/LC_MESSAGES/01_intro.po" in out
    capsys.readouterr()
    assert tr.main(["--root", str(project), "--check", "--language", "xx"]) == 1
    assert "/tr/" not in capsys.readouterr().out


# -- the site build ---------------------------------------------------------------


def test_the_site_build_refuses_a_catalog_that_adds_markup(project):
    """The committed notebook was written from the unsafe entry (as before
    the check existed): nothing is rendered, the catalog is named."""
    _tamper(project, PROBES["script tag"][0])
    path = project / "notebooks" / "xx" / "01_intro.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[1].source += "\n\n<script>alert(document.cookie)</script>"
    nbformat.write(nb, str(path))
    out = project / "build"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "run_notebooks.py"),
                           "--no-execute", "--notebooks", str(project / "notebooks"),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{CATALOG}:" in proc.stderr and 'adds raw HTML "<script>' in proc.stderr
    assert not (out / "html").exists()


# -- the committed catalogs -------------------------------------------------------


def test_the_committed_catalogs_are_utf8_and_change_prose_only():
    assert tr.unsafe_catalogs(ROOT) == {}

