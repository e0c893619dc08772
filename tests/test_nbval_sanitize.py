"""tests/nbval_sanitize.cfg holds only patterns that match some stored
notebook output: a pattern that matches nothing hides nothing, and would
only hide a real difference once an output happened to match it."""
import configparser
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CFG = ROOT / "tests" / "nbval_sanitize.cfg"


def stored_output_texts():
    """Every text an output of notebooks/*.ipynb carries (streams, text/*
    representations, tracebacks)."""
    texts = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            for out in cell.get("outputs", []):
                pieces = [out.get("text", "")] + [
                    v for k, v in out.get("data", {}).items() if k.startswith("text/")]
                pieces.append("\n".join(out.get("traceback", [])))
                texts += ["".join(p) if isinstance(p, list) else p for p in pieces]
    return texts


def sections():
    cfg = configparser.ConfigParser(interpolation=None)
    assert cfg.read(CFG) == [str(CFG)]
    return {name: dict(cfg[name]) for name in cfg.sections()}


def test_every_section_is_a_regex_with_a_replacement():
    found = sections()
    assert found, "no sanitize patterns at all"
    for name, section in found.items():
        assert set(section) == {"regex", "replace"}, name
        re.compile(section["regex"])


@pytest.mark.parametrize("name", sorted(sections()))
def test_every_pattern_matches_a_stored_output(name):
    regex = re.compile(sections()[name]["regex"])
    assert any(regex.search(t) for t in stored_output_texts()), \
        f"[{name}] in {CFG.name} matches no stored output of notebooks/*.ipynb"


def test_the_progress_pattern_hides_a_bar_but_not_a_result():
    regex = re.compile(sections()["tqdm_bars"]["regex"])
    bar = "epoch 1/2:  45%|####5     | 18/40 [00:04<00:05,  4.12batch/s]"
    assert regex.sub("PROGRESS", bar) == "epoch 1/2:  PROGRESS"
    line = "epoch 1/2: train loss 1.538, val loss 1.680, val acc 0.542, 9.7 s, 569 img/s"
    assert regex.sub("PROGRESS", line) == line
