"""The translation memory check (tools/translation_memory.py): one English
unit, one translation per language, on tiny catalogs and on the committed ones."""
import importlib.util
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("translation_memory",
                                               ROOT / "tools" / "translation_memory.py")
tm = sys.modules["translation_memory"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tm)

EXERCISES = ("## Exercises\n\n"
             "1. Compare the Inception block with the residual\n"
             "   block. What is left? ([answer](08_a.ipynb))\n"
             "2. Train plain networks. ([answer](09_b.ipynb))")
EXERCISES_XX = ("## Ejercicios\n\n"
                "1. Compare el bloque Inception con el bloque residual. ¿Qué queda?"
                " ([respuesta](08_a.ipynb))\n"
                "2. Entrene redes planas. ([respuesta](09_b.ipynb))")
QUOTE = ("# Exercise 1: Inception\n\n"
         "> **Exercise 1.** Compare the Inception block with the\n"
         "> residual block. What is left?\n\n"
         "See [Residual Blocks](02_r.ipynb).")


def _catalogs(root: Path, lang: str, entries: dict) -> None:
    """Write ``{name: [(context, msgid, msgstr), ...]}`` as catalogs of ``lang``."""
    folder = root / "translations" / lang / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    for name, items in entries.items():
        po = polib.POFile(wrapwidth=78)
        po.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": lang}
        for ctxt, msgid, msgstr in items:
            po.append(polib.POEntry(msgctxt=ctxt, msgid=msgid, msgstr=msgstr))
        po.save(str(folder / f"{name}.po"))


def _quote_xx(text: str) -> str:
    return ("# Ejercicio 1: Inception\n\n> **Ejercicio 1.** " + text +
            "\n\nVea [Bloques residuales](02_r.ipynb).")


def test_a_reworded_exercise_quote_is_reported_with_both_variants(tmp_path):
    _catalogs(tmp_path, "xx", {
        "07_summary": [("c1", EXERCISES, EXERCISES_XX)],
        "08_a": [("c2", QUOTE, _quote_xx("Compare el bloque Inception con el\n> "
                                         "bloque residual. ¿Qué sobra?"))]})
    found = tm.conflicts(tmp_path)
    assert {c.english for c in found} == {
        "Compare the Inception block with the residual block. What is left?",
        "What is left?"}  # the item, and its sentence
    item = next(c for c in found if c.english.startswith("Compare"))
    assert item.language == "xx"
    assert dict(item.variants) == {
        "Compare el bloque Inception con el bloque residual. ¿Qué queda?":
            (("translations/xx/LC_MESSAGES/07_summary.po", "cell c1"),),
        "Compare el bloque Inception con el bloque residual. ¿Qué sobra?":
            (("translations/xx/LC_MESSAGES/08_a.po", "cell c2"),)}
    lines = tm.problems(tmp_path)
    assert any("¿Qué queda?" in line and "07_summary.po cell c1" in line for line in lines)
    assert any("¿Qué sobra?" in line and "08_a.po cell c2" in line for line in lines)


def test_equal_translations_pass(tmp_path):
    _catalogs(tmp_path, "xx", {
        "07_summary": [("c1", EXERCISES, EXERCISES_XX)],
        "08_a": [("c2", QUOTE, _quote_xx(
            "Compare el bloque Inception con el bloque residual. ¿Qué queda?"))]})
    assert tm.conflicts(tmp_path) == [] and tm.problems(tmp_path) == []


def test_markup_that_differs_by_position_passes(tmp_path):
    # Line breaks, the bold label and its punctuation, the answer link and
    # the blockquote markers are not part of the unit.
    _catalogs(tmp_path, "xx", {
        "07_summary": [("c1", EXERCISES, EXERCISES_XX.replace("bloque residual. ",
                                                              "bloque\n   residual. "))],
        "08_a": [("c2", QUOTE, _quote_xx(
            "Compare el bloque Inception\n> con el bloque residual.   ¿Qué queda?")
            .replace("**Ejercicio 1.** ", "**Ejercicio 1**:\n> "))]})
    assert tm.conflicts(tmp_path) == []


def test_each_language_is_checked_on_its_own(tmp_path):
    _catalogs(tmp_path, "xx", {"a": [("c1", "# Summary", "# Resumen")],
                               "b": [("c2", "## Summary", "## Resumen")]})
    _catalogs(tmp_path, "yy", {"a": [("c1", "# Summary", "# Zusammenfassung")],
                               "b": [("c2", "## Summary", "## Fazit")]})
    found = tm.conflicts(tmp_path)
    assert [(c.language, c.english) for c in found] == [("yy", "Summary")]
    assert tm.conflicts(tmp_path, only=["xx"]) == []


def test_link_texts_naming_a_notebook_are_units(tmp_path):
    _catalogs(tmp_path, "xx", {
        "a": [("c1", "It comes from [Residual Blocks](02_r.ipynb), as shown.",
               "Viene de [Bloques residuales](02_r.ipynb), como se vio.")],
        "b": [("c2", "Read [Residual Blocks](02_r.ipynb) first.",
               "Lea primero [Bloques con residuo](02_r.ipynb).")]})
    (conflict,) = tm.conflicts(tmp_path)
    assert conflict.english == "Residual Blocks"
    assert [text for text, _ in conflict.variants] == ["Bloques con residuo",
                                                       "Bloques residuales"]


def test_fuzzy_and_restyled_entries_are_not_compared(tmp_path):
    _catalogs(tmp_path, "xx", {"a": [("c1", "# Summary", "# Resumen")],
                               "b": [("c2", "# Summary", "# Sumario")],
                               # a list made prose: no block pairs, no units
                               "c": [("c3", "* Summary\n* More", "Resumen y mas.")]})
    po = polib.pofile(str(tmp_path / "translations/xx/LC_MESSAGES/b.po"))
    po[0].flags.append("fuzzy")
    po.save()
    assert tm.conflicts(tmp_path) == []


def test_sentences_are_paired_only_where_their_markup_agrees():
    # Two sentences on each side, but the code span sits in the other one:
    # the pairing is refused and only the whole block is a unit.
    units = tm.units("Call `f` here. Then stop.", "Aqui se llama. Luego `f` para.")
    assert units == [("Call `f` here. Then stop.", "Aqui se llama. Luego `f` para.")]
    units = tm.units("Call `f` here. Then stop.", "Llame a `f` aqui. Luego pare.")
    assert ("Then stop.", "Luego pare.") in units


@pytest.mark.parametrize("text", ["**Exercise 3.** Do it.", "**Exercise 3:** Do it."])
def test_the_exercise_label_is_not_part_of_the_unit(text):
    assert tm.units(f"> {text}", "> **Übung 3**. Mach es.") == [("Do it.", "Mach es.")]


def test_translate_check_fails_on_a_conflict(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("translate_tool_tm",
                                                  ROOT / "tools" / "translate.py")
    tr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tr)
    (tmp_path / "notebooks").mkdir()
    _catalogs(tmp_path, "xx", {"a": [("c1", "# Summary", "# Resumen")],
                               "b": [("c2", "# Summary", "# Sumario")]})
    assert tr.main(["--root", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "translation memory: xx: 2 translations of the English 'Summary'" in out


def test_the_committed_catalogs_translate_every_recurring_unit_one_way():
    found = tm.problems(ROOT)
    assert found == [], "\n".join(found)
