"""Model constructors and forward passes refuse impossible sizes and wrong
input types early, with a ValueError that names the argument or the dtype."""
import pytest
import torch
from torch import nn

import d2lmini as d2l
from d2lmini.resnet_family import resnet

ARCH = ((1, 64, 64), (1, 64, 128))


# -- block counts ------------------------------------------------------------
@pytest.mark.parametrize("layers", [[0, 0, 0, 0], [2, 2, 0, 2], [2, -1, 2, 2]])
def test_family_rejects_empty_or_negative_stages(layers):
    with pytest.raises(ValueError, match=r"layers \(blocks per stage\) must be an int >= 1"):
        d2l.ResNetFamily(d2l.BasicBlock, layers)


@pytest.mark.parametrize("num_residuals", [0, -2])
def test_chapter_resnet_rejects_empty_stages(num_residuals):
    with pytest.raises(ValueError, match="num_residuals must be an int >= 1"):
        d2l.ResNet(((num_residuals, 64, 64), (2, 64, 128)))
    with pytest.raises(ValueError, match="num_residuals must be an int >= 1"):
        d2l.resnet_block(64, 128, num_residuals)


# -- channels and classes ----------------------------------------------------
@pytest.mark.parametrize("build, argument", [
    (lambda: d2l.Residual(0, 3), "input_channels"),
    (lambda: d2l.Residual(3, -3, use_1x1conv=True), "num_channels"),
    (lambda: d2l.Residual(3, 6, use_1x1conv=True, strides=0), "strides"),
    (lambda: d2l.ResNet(ARCH, num_classes=0), "num_classes"),
    (lambda: d2l.ResNet(((1, 64, 64), (1, 64, 0))), "num_channels"),
    (lambda: d2l.ResNet18(num_classes=0), "num_classes"),
    (lambda: d2l.ResNet18(num_classes=-1), "num_classes"),
    (lambda: d2l.ResNet18Plus(num_classes=0), "num_classes"),
    (lambda: d2l.BasicBlock(0, 64), "in_channels"),
    (lambda: d2l.BasicBlock(64, 0), "channels"),
    (lambda: d2l.Bottleneck(64, -4), "channels"),
    (lambda: resnet(18, num_classes=0), "num_classes"),
    (lambda: resnet(50, in_channels=0), "in_channels"),
    (lambda: d2l.PreActResidual(0, 3, use_1x1conv=True), "input_channels"),
    (lambda: d2l.PreActResNet18(num_classes=0), "num_classes"),
    (lambda: d2l.Inception(192, 0, (96, 128), (16, 32), 32), "c1"),
    (lambda: d2l.Inception(192, 64, (96, 0), (16, 32), 32), "c2"),
    (lambda: d2l.CifarBlock(16, 0), "num_channels"),
    (lambda: d2l.CifarNet(8, num_classes=0), "num_classes"),
    (lambda: d2l.CifarResNet(8, widths=(16, 0, 64)), "widths"),
    (lambda: d2l.PlainNet(20, num_classes=-3), "num_classes"),
])
def test_constructors_name_the_bad_argument(build, argument):
    with pytest.raises(ValueError, match=rf"^{argument} must be an int >= 1"):
        build()


@pytest.mark.parametrize("arch, message", [
    ((), r"at least one stage"),
    (((2, 64),), r"arch\[0\] is \(2, 64\): each stage is a .* triple"),
    (((2, 64, 128),), r"first stage has no 1x1 shortcut .* write \(2, 64, 64\)"),
    (((2, 32, 32),), r"reads 32 channels, but the stem makes 64"),
    (((2, 64, 64), (2, 32, 128)), r"arch\[1\] = \(2, 32, 128\) reads 32 channels, "
                                  r"but arch\[0\] makes 64: write \(2, 64, 128\)"),
])
def test_resnet_stages_must_chain_from_the_stem(arch, message):
    # Caught when the model is built, not at the first batch.
    for model in (d2l.ResNet, d2l.PreActResNet):
        with pytest.raises(ValueError, match=message):
            model(arch)


def test_residual_without_projection_cannot_change_shape():
    # Caught when the block is built, not at its first forward pass.
    for kwargs in ({}, {"strides": 2}):
        with pytest.raises(ValueError, match=r"use_1x1conv=True"):
            d2l.Residual(3, 6, **kwargs)
    with pytest.raises(ValueError, match=r"strides=2.*use_1x1conv=True"):
        d2l.Residual(3, 3, strides=2)
    assert d2l.Residual(3, 6, use_1x1conv=True)(torch.zeros(1, 3, 4, 4)).shape == (1, 6, 4, 4)


# -- input dtype ---------------------------------------------------------------
MODELS = {
    "Residual": (lambda: d2l.Residual(3, 3), (2, 3, 8, 8)),
    "ResNet18": (lambda: d2l.ResNet18(), (2, 1, 32, 32)),
    "ResNetFamily": (lambda: resnet(18), (2, 1, 32, 32)),
    "PreActResNet18": (lambda: d2l.PreActResNet18(), (2, 1, 32, 32)),
    "CifarResNet": (lambda: d2l.CifarResNet(8), (2, 1, 14, 14)),
    "PreActResidual": (lambda: d2l.PreActResidual(3, 3), (2, 3, 8, 8)),
    "ResNeXtBlock": (lambda: d2l.ResNeXtBlock(32, 16, 1), (2, 32, 8, 8)),
}


@pytest.mark.parametrize("build, shape, expected", [
    (lambda: d2l.PreActResidual(3, 3), (2, 4, 8, 8), "PreActResidual expects 3 input"),
    (lambda: d2l.ResNeXtBlock(32, 16, 1, input_channels=32), (2, 16, 8, 8),
     "ResNeXtBlock expects 32 input"),
])
def test_blocks_name_a_wrong_channel_count(build, shape, expected):
    # Torch would fail inside batch norm or a convolution, naming neither.
    with pytest.raises(ValueError, match=expected):
        build()(torch.zeros(shape))


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_float32_models_reject_other_float_types(name, dtype):
    build, shape = MODELS[name]
    model = build().eval()
    with pytest.raises(ValueError) as info:
        model(torch.zeros(shape, dtype=dtype))
    message = str(info.value)
    assert name in message and str(dtype) in message and "X.float()" in message
    with torch.no_grad():  # float32 input of the same shape is fine
        assert model(torch.zeros(shape)).shape[0] == 2


# These blocks end in an out-of-place sum with their float32 input, which
# autocast promotes to float32; whole networks end in a bfloat16 linear layer.
ENDS_IN_FLOAT32_SUM = {"PreActResidual", "ResNeXtBlock"}


@pytest.mark.parametrize("name", [n for n in MODELS if n not in ENDS_IN_FLOAT32_SUM])
def test_float32_models_accept_bf16_activations_under_cpu_autocast(name):
    # Under autocast the first convolution hands bfloat16 maps to the next
    # block: that is the mixed precision `Trainer(amp=True)` asks for, not a
    # wrong input type (autocast runs, emulated, on every CPU).
    build, shape = MODELS[name]
    model = build().train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(shape))
        out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and out.shape[0] == 2
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())


def test_a_float64_model_takes_float64_input():
    model = d2l.ResNet18().double().eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 32, 32, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match=r"torch.float64 weights.*torch.float32 input"):
        model(torch.zeros(1, 1, 32, 32))


# -- the note that ends every notebook ------------------------------------------
def test_about_this_run_names_device_torch_time_and_mode(capsys, monkeypatch):
    monkeypatch.setenv("D2LMINI_FAST", "1")
    d2l.about_this_run(recipe="cpu")
    out = capsys.readouterr().out
    assert out.startswith("About this run: device: ")
    assert f"torch {torch.__version__}" in out and "mode: fast" in out
    assert out.rstrip().endswith("recipe: cpu.")
    monkeypatch.delenv("D2LMINI_FAST")
    d2l.about_this_run(since=0.0)
    out = capsys.readouterr().out
    assert "mode: full" in out and "recipe" not in out and " s since the first cell" in out


def test_a_subclass_guard_replaces_the_inherited_check():
    # ResNet's input check reads the stem it finds; a subclass may also bring
    # its own check, which then runs instead of the inherited one.
    class RGB(d2l.ResNet):
        def b1(self):
            return nn.Sequential(nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3),
                                 nn.BatchNorm2d(64), nn.ReLU(),
                                 nn.MaxPool2d(kernel_size=3, stride=2, padding=1))

    model = RGB(((1, 64, 64), (1, 64, 128))).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"RGB expects 3 input channel\(s\)"):
        model(torch.randn(2, 1, 32, 32))
    seen = []
    d2l.guard(RGB, inputs=lambda module, X: seen.append(tuple(X.shape)))
    model(torch.randn(2, 1, 32, 32).expand(2, 3, 32, 32).contiguous())
    assert seen == [(2, 3, 32, 32)]
    with pytest.raises(RuntimeError):  # only the subclass's (permissive) check ran
        model(torch.randn(2, 1, 32, 32))
    assert d2l.ResNet18().eval()(torch.randn(1, 1, 32, 32)).shape == (1, 10)  # parent unchanged
