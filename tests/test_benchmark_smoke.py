"""benchmarks/: train_speed.py (its clock, its arguments, its data, a tiny
end-to-end run), going_further.py (a tiny run of the notebook's better
recipe) and resize_parity.py.

(Its MAC counter is d2lmini's ``count_macs``, tested in test_family.py.)

Timings are never asserted; only the structure of the output and that its
numbers parse and are positive.
"""
import contextlib
import gzip
import importlib.util
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import d2lmini as d2l
from d2lmini import fashion_files as ff

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPT = BENCHMARKS / "train_speed.py"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_script("train_speed")


def test_step_clock_times_only_steps_after_warmup(bench):
    model = nn.Linear(2, 1)
    model.configure_optimizers = lambda: torch.optim.SGD(model.parameters(), lr=0.1)
    clock = bench.StepClock(torch.device("cpu"))
    clock.attach(model)
    optim = model.configure_optimizers()
    for _ in range(4):
        optim.step()
    assert len(clock.ends) == 4
    # Step ends; the clock starts when warm-up step 1 ends (t=10), so the
    # three timed steps take 15 - 10 = 5 s, data fetching included.
    clock.ends = [10.0, 11.0, 13.0, 15.0]
    assert clock.images_per_s(warmup=1, steps=3, batch_size=8) == pytest.approx(24 / 5.0)
    with pytest.raises(RuntimeError, match="only 4 optimizer steps"):
        clock.images_per_s(warmup=2, steps=3, batch_size=8)


def test_parse_args_sizes_the_slice_and_rejects_zero_warmup(bench):
    args = bench.parse_args(["--steps", "3", "--warmup", "2", "--batch-size", "16"])
    assert args.num_train == 5 * 16
    with pytest.raises(SystemExit):
        bench.parse_args(["--warmup", "0"])


def test_data_root_honours_d2lmini_data(bench, tmp_path, monkeypatch):
    # Four small stand-ins, packed and unpacked, where $D2LMINI_DATA points:
    # the benchmark must unpack these, not the system's files.
    src = tmp_path / "mine"
    src.mkdir()
    for i, name in enumerate(ff.FILE_NAMES):
        body = f"file {i}: {name}".encode()
        if i % 2:
            (src / name).write_bytes(body)
        else:
            (src / f"{name}.gz").write_bytes(gzip.compress(body))
    monkeypatch.setenv(ff.ENV_VAR, str(src))
    work = bench.prepare_data_root(tmp_path / "bench")
    raw = work.parent / "data" / "FashionMNIST" / "raw"
    assert work == tmp_path / "bench" / "work" and work.is_dir()
    assert sorted(p.name for p in raw.iterdir()) == sorted(ff.FILE_NAMES)
    for i, name in enumerate(ff.FILE_NAMES):
        assert (raw / name).read_bytes() == f"file {i}: {name}".encode()


NUMBER = r"(\d+(?:\.\d+)?)"


def test_tiny_run_prints_every_side_and_ratios(fashion_dir):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--steps", "2", "--warmup", "1", "--batch-size", "8",
         "--resize", "32", "--repeats", "1", "--matmul-size", "256",
         # the compiled side is left out: compiling ResNet-18 takes a minute
         # (Trainer(compile=True) itself is tested in test_trainer.py)
         "--sides", "ref,ours,ours_cl,ours_amp,ours_nb04"],
        capture_output=True, text=True, timeout=600)  # generous: a shared, loaded machine
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    bf16 = d2l.cpu_has_native_bf16() or torch.cuda.is_available()
    precisions = {"reference": "fp32", "d2lmini": "fp32", "d2lmini+cl": "fp32",
                  "d2lmini+cl+amp": "bf16" if bf16 else "fp32",
                  "d2lmini+auto+amp": "bf16" if bf16 else "fp32"}
    for name, precision in precisions.items():
        side = re.escape(name)
        run = re.search(rf"^run 1 {side}\s+{NUMBER} images/s$", out, re.M)
        median = re.search(rf"^{side}\s+median\s+{NUMBER} images/s .*?{NUMBER} GFLOP/s =\s*"
                           rf"{NUMBER}% of (\w+) matmul peak", out, re.M)
        assert run and median, out
        assert float(run.group(1)) > 0 and float(median.group(1)) == float(run.group(1))
        assert float(median.group(2)) > 0 and median.group(4) == precision
    assert ("bf16 matmul peak" in out) == bf16, out
    for side in map(re.escape, ("d2lmini", "d2lmini+cl", "d2lmini+cl+amp")):
        ratio = re.search(rf"^ratio {side}/reference: {NUMBER}x$", out, re.M)
        assert ratio and float(ratio.group(1)) > 0, out
    peak = re.search(rf"^matmul peak: {NUMBER} GFLOP/s", out, re.M)
    assert peak and float(peak.group(1)) > 0, out
    # Every side builds the same network: the same forward MACs at 32x32.
    macs = re.findall(r"\[(\d+\.\d+) GMAC/image forward\]", out)
    assert len(macs) == 5 and len(set(macs)) == 1, out
    # notebook 05's options take the layout the rule gives for 32x32 here
    from d2lmini.layout import channels_last_pays
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    nhwc = channels_last_pays(32, 32, device, torch.bfloat16 if bf16 else None)
    assert re.search(rf"^d2lmini\+auto\+amp\s+median.*\n\s+layout {'nhwc' if nhwc else 'nchw'},",
                     out, re.M), out
    assert re.search(r"^device: (cpu|cuda)", out, re.M)
    assert re.search(r"^cpu: .+; features: .+; torch kernels: \w+", out, re.M), out


def test_whole_fit_mode_times_epoch_validation_and_plotting(fashion_dir):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--whole-fit", "--fit-images", "32", "--fit-val", "16",
         "--batch-size", "8", "--resize", "32", "--repeats", "1", "--matmul-size", "256",
         "--sides", "ref,ours"], capture_output=True, text=True, timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "whole fit: 1 epoch of 32 images, 16 validated" in out, out
    for side in ("reference", "d2lmini"):
        fit = re.search(rf"^run 1 {side}\s+{NUMBER} images/s$", out, re.M)
        whole = re.search(rf"^{side}\s+median .*\n.*whole fit {NUMBER} s$", out, re.M)
        assert fit and whole, out
        # images/s of a whole-fit run is the 32 training images over the whole fit
        assert float(fit.group(1)) == pytest.approx(32 / float(whole.group(1)), rel=0.1)
    assert re.search(rf"^ratio d2lmini/reference: {NUMBER}x$", out, re.M), out


@pytest.fixture(scope="module")
def going_further(fashion_dir, tmp_path_factory):
    """One tiny run of going_further.py (2 epochs, 256 images, float32 so that
    the trainer's accuracy and the script's own count must agree), kept as a
    checkpoint: (argv, result, stdout)."""
    ckpt = tmp_path_factory.mktemp("going_further") / "gf.pt"
    argv = ["--resize", "28", "--epochs", "2", "--num-train", "256", "--num-val", "128",
            "--batch-size", "64", "--no-amp", "--flip-tta", "--checkpoint", str(ckpt)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = load_script("going_further").main(argv)
    return argv, result, out.getvalue()


def test_going_further_script_trains_and_reports(going_further):
    argv, result, out = going_further
    assert result["epochs"] == 2 and result["seconds"] > 0
    assert re.search(r"^ResNet18Plus, 28x28, 2 epochs, batch 64, lr 0\.1, 256 train / 128 val",
                     out, re.M), out
    assert len(re.findall(r"^epoch \d/2: train loss", out, re.M)) == 2, out
    assert f"final val acc {result['val_acc']:.4f}" in out
    # An exact count over the 128 validation images, and the same count as
    # the script's own float32 pass over the trained model.
    assert (result["val_acc"] * 128) == round(result["val_acc"] * 128)
    assert result["val_acc_fp32"] == result["val_acc"]
    assert (result["val_acc_flip"] * 128) == round(result["val_acc_flip"] * 128)
    assert (f"float32 val acc {result['val_acc_fp32']:.4f}, averaged with mirror images "
            f"{result['val_acc_flip']:.4f}") in out


def test_going_further_script_resumes_a_finished_run(going_further, capsys):
    argv, first, _ = going_further
    ckpt = Path(argv[argv.index("--checkpoint") + 1])
    assert ckpt.is_file()
    # A finished run resumed trains nothing more and reports the saved result.
    again = load_script("going_further").main(argv + ["--resume"])
    out = capsys.readouterr().out
    assert f"Resuming from {ckpt}: 2 of 2 epochs done." in out, out
    assert not re.search(r"^epoch \d/2:", out, re.M), out
    assert again["epochs"] == 2 and again["val_acc"] == first["val_acc"]
    # the restored weights give the same float32 and mirror-averaged counts
    assert (again["val_acc_fp32"], again["val_acc_flip"]) == \
        (first["val_acc_fp32"], first["val_acc_flip"])


def test_going_further_script_resume_needs_a_checkpoint():
    with pytest.raises(SystemExit, match="--resume needs --checkpoint"):
        load_script("going_further").main(["--resume"])


def test_resize_parity_script_reports_exact_and_near_sizes(fashion_dir, capsys):
    rows = load_script("resize_parity").main(["--sizes", "28", "32", "48", "--images", "20",
                                              "--prefixes", "100", "50"])
    out = capsys.readouterr().out
    by_size = {r["size"]: r for r in rows}
    assert by_size[28] == {"size": 28, "identical": 1.0, "max_levels": 0}
    assert by_size[32]["max_levels"] == 0  # the sizes the data tests pin exactly
    assert 0 < by_size[48]["max_levels"] <= 2
    assert "identical at 2 of 3 sizes: [28, 32]" in out
    labels = ff.load_split(fashion_dir, "train")[1][:100].bincount(minlength=10).tolist()
    assert f"first 100 train images per class: {labels}" in out


def test_flip_averaged_accuracy_counts_both_views():
    # Class 0 scores twice the left pixel, class 1 the right one. Image [1, 0]
    # (label 0) is right either way; image [0, 1] (label 1) is right alone,
    # but its mirror image [1, 0] votes class 0 more strongly (0.88 vs 0.73).
    class LeftHeavy(nn.Module):
        def forward(self, X):
            return torch.stack([2 * X[:, 0, 0, 0], X[:, 0, 0, 1]], dim=1)
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(2, 1, 1, 2)
    Y = torch.tensor([0, 1])
    plain, averaged = load_script("going_further").flip_averaged_accuracy(LeftHeavy(), [(X, Y)])
    assert (plain, averaged) == (1.0, 0.5)


def test_profile_script_splits_a_step_by_kind_of_operator():
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "profile_step.py"), "--resize", "28",
         "--batch-size", "4", "--steps", "1", "--warmup", "1"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = re.findall(rf"^([\w ,()]+?)\s+{NUMBER} s\s+{NUMBER}%$", proc.stdout, re.M)
    kinds = {name.strip(): float(share) for name, _, share in rows}
    assert "convolution" in kinds and "batch norm" in kinds, proc.stdout
    assert sum(kinds.values()) == pytest.approx(100, abs=1), proc.stdout
    assert max(kinds, key=kinds.get) == "convolution", proc.stdout


def test_small_maps_benchmark_runs_both_sides_and_prints_a_ratio(capsys):
    small_maps = load_script("small_maps")
    speeds = small_maps.main(["--side", "17", "--batch-size", "2", "--steps", "1",
                              "--warmup", "1", "--repeats", "1"])
    assert set(speeds) == {"nn.Conv2d", "SmallMapConv2d"}
    assert all(len(v) == 1 and v[0] > 0 for v in speeds.values())
    out = capsys.readouterr().out
    # At 17x17 the last stage sees 1x1 maps: some convolutions are switched.
    assert re.search(r"; ([1-9]\d*) convolutions switched", out)
    assert re.search(r"ratio \d+\.\d\dx", out)
    with pytest.raises(SystemExit):
        small_maps.parse_args(["--repeats", "0"])


def test_small_maps_benchmark_times_an_earlier_revision_beside_the_current_one(capsys):
    small_maps = load_script("small_maps")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCHMARKS.parent,
                          capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    rev = head.stdout.strip()
    speeds = small_maps.main(["--side", "17", "--batch-size", "2", "--steps", "1",
                              "--warmup", "1", "--repeats", "1", "--baseline", rev])
    assert set(speeds) == {"nn.Conv2d", f"SmallMapConv2d@{rev}", "SmallMapConv2d"}
    assert re.search(rf"median: SmallMapConv2d@{rev} \d+\.\d images/s; "
                     r"SmallMapConv2d is \d+\.\d\dx as fast", capsys.readouterr().out)
    with pytest.raises(SystemExit, match="git could not show"):
        small_maps.main(["--side", "17", "--baseline", "no-such-revision"])
