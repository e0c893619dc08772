"""Notebook 05's recipes (``d2l.RECIPES``), the ``amp="auto"`` option it uses,
and a tiny run of ``benchmarks/time_to_accuracy.py``. Timings are never
asserted; the settings, the bookkeeping and the reports are."""
import contextlib
import importlib.util
import io
import json
import re
import warnings
from pathlib import Path

import pytest
import torch

import d2lmini as d2l

ROOT = Path(__file__).resolve().parent.parent


def load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "time_to_accuracy", ROOT / "benchmarks" / "time_to_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_book_recipe_is_the_books():
    # The class-based code of the book: ResNet-18, 96x96, 10 epochs, 128, 0.05.
    assert d2l.RECIPES["book"] == dict(model=d2l.ResNet18, resize=96, max_epochs=10,
                                       batch_size=128, lr=0.05)


def test_the_cpu_recipe_is_the_one_benchmarks_readme_measured():
    cpu = d2l.RECIPES["cpu"]
    assert cpu == dict(model=d2l.ResNet18Plus, resize=28, max_epochs=4,
                       batch_size=128, lr=0.1)
    # The README's time-to-accuracy section names the settings it measured;
    # changing the recipe without measuring it again fails here.
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    assert ("CPU recipe (`d2l.RECIPES['cpu']`: `ResNet18Plus`, 28x28, 4 epochs, "
            "batch 128, peak learning rate 0.1)") in readme
    # The newest recorded run (plotted by notebook 15) used these settings,
    # with the small-map convolutions, and has three seeds.
    runs = json.loads((ROOT / "benchmarks" / "time_to_accuracy.json").read_text())
    newest = runs["hosts"]["avx2"]["cpu_recipe_runs"][-1]
    assert newest["settings"] == dict(cpu, model=cpu["model"].__name__)
    assert newest["small_maps"] is True and len(newest["val_acc"]) >= 3
    assert all(len(accs) == cpu["max_epochs"] for accs in newest["val_acc"].values())


def test_an_unknown_recipe_name_says_which_exist():
    d2l.check_recipe_name(None, d2l.RECIPES)  # unset: chosen by device
    d2l.check_recipe_name("cpu", d2l.RECIPES)
    with pytest.raises(ValueError, match=r"D2LMINI_RECIPE='gpu' is not a recipe; use one "
                                         r"of book, cpu"):
        d2l.check_recipe_name("gpu", d2l.RECIPES)


def test_amp_auto_chooses_without_a_warning(monkeypatch):
    monkeypatch.setattr(d2l.devices, "cpu_has_native_bf16", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = d2l.Trainer(max_epochs=1, amp="auto")
    assert trainer.autocast_dtype is None  # float32 where bf16 would be emulated
    with pytest.warns(d2l.FallbackWarning, match="amp=True needs CUDA"):
        d2l.Trainer(max_epochs=1, amp=True)
    monkeypatch.setattr(d2l.devices, "cpu_has_native_bf16", lambda: True)
    assert d2l.Trainer(max_epochs=1, amp="auto").autocast_dtype == torch.bfloat16


def test_amp_rejects_other_values():
    with pytest.raises(ValueError, match="amp must be True, False or 'auto', got 'bf16'"):
        d2l.Trainer(max_epochs=1, amp="bf16")


def test_time_to_reads_the_first_epoch_at_each_target():
    bench = load_benchmark()
    epochs = [dict(val_acc=0.88, elapsed=10.0), dict(val_acc=0.905, elapsed=20.0),
              dict(val_acc=0.899, elapsed=30.0), dict(val_acc=0.921, elapsed=40.0)]
    assert bench.time_to([0.90, 0.92, 0.93], epochs) == {"0.90": 20.0, "0.92": 40.0,
                                                         "0.93": None}


def test_reference_estimate_uses_the_stored_book_run(capsys):
    bench = load_benchmark()
    stored = json.loads((ROOT / "benchmarks" / "book_recipe_history.json").read_text())
    accs = [e["val_acc"] for e in stored["epochs"]]
    assert len(accs) == 10 and accs[-1] == 0.9198  # the notebook's stored run
    estimate = bench.main(["--reference-speed", "60"])  # 1,000 s per epoch
    first_090 = next(i + 1 for i, a in enumerate(accs) if a >= 0.90)
    assert estimate["0.90"] == pytest.approx(first_090 * 1000.0)
    assert estimate["0.92"] is None  # 0.9198 < 0.92: never reached
    assert "not reached in the stored run's 10 epochs" in capsys.readouterr().out


def test_tiny_run_reports_every_epoch_and_each_target(fashion_dir, tmp_path):
    bench = load_benchmark()
    out_json = tmp_path / "tta.json"
    argv = ["--recipe", "cpu", "--seeds", "0", "1", "--epochs", "2", "--num-train", "256",
            "--num-val", "128", "--targets", "0.10", "0.99", "--json", str(out_json)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = bench.main(argv)
    text = out.getvalue()
    assert "recipe cpu: {'model': 'ResNet18Plus', 'resize': 28, 'max_epochs': 2" in text
    for seed in (0, 1):
        epochs = result["runs"][seed]["epochs"]
        assert [e["epoch"] for e in epochs] == [1, 2]
        assert 0 < epochs[0]["elapsed"] < epochs[1]["elapsed"]
        assert all((e["val_acc"] * 128) == round(e["val_acc"] * 128) for e in epochs)
        assert re.search(rf"^seed {seed}: \d\.\d{{4}} at \d+ s, \d\.\d{{4}} at \d+ s$",
                         text, re.M), text
        assert result["runs"][seed]["time_to"]["0.99"] is None
    assert "time to 0.99: reached by 0 of 2 seeds" in text
    assert json.loads(out_json.read_text())["settings"]["max_epochs"] == 2


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--threads", "0"], "--threads must be >= 1, got 0"),
    (["--seeds", "0", "0"], "--seeds must be different"),
    (["--targets", "0.9", "1.5"], r"--targets must be accuracies in \(0, 1\]"),
    (["--reference-speed", "0"], "--reference-speed must be a finite number"),
    (["--epochs", "1", "--num-train", "256"], "needs at least 4 steps; 1 epoch"),
])
def test_arguments_that_would_be_misread_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        load_benchmark().parse_args(argv)
    assert re.search(message, capsys.readouterr().err)


def test_amp_refuses_values_equal_to_true_that_are_not_bools():
    for value in (1, 0, 1.0):
        with pytest.raises(ValueError, match="amp must be True, False or 'auto'"):
            d2l.Trainer(max_epochs=1, amp=value)
