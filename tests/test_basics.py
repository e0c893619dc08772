"""The small building blocks: add_to_class, devices, tensor aliases, checks."""
import pytest
import torch

import d2lmini as d2l


def test_add_to_class_attaches_method_and_returns_function():
    class A:
        def __init__(self):
            self.b = 1

    @d2l.add_to_class(A)
    def do(self):
        return self.b + 1

    assert A().do() == 2
    assert do.__name__ == "do"  # still usable as a plain function


def test_save_hyperparameters_ignore_and_private():
    class B(d2l.HyperParameters):
        def __init__(self, a, b=2, c=3, _hidden=4):
            self.save_hyperparameters(ignore=["c"])

    b = B(1)
    assert b.hparams == {"a": 1, "b": 2}
    assert (b.a, b.b) == (1, 2)
    assert not hasattr(b, "c") and not hasattr(b, "_hidden")


def test_devices_on_this_machine():
    assert d2l.cpu() == torch.device("cpu")
    n = d2l.num_gpus()
    assert d2l.try_gpu(n) == torch.device("cpu")  # one past the last one
    assert len(d2l.try_all_gpus()) == max(n, 1)


def test_device_helpers_without_and_with_cuda(monkeypatch):
    monkeypatch.setattr(d2l.devices, "_has_mps", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert d2l.num_gpus() == 0 and d2l.try_gpu() == torch.device("cpu")
    assert d2l.try_all_gpus() == [torch.device("cpu")]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert d2l.num_gpus() == 3 and d2l.try_gpu(2) == torch.device("cuda:2")
    assert d2l.try_gpu(3) == torch.device("cpu")
    assert d2l.try_all_gpus() == [torch.device(f"cuda:{i}") for i in range(3)]


def test_tensor_aliases_accept_book_keywords():
    x = torch.tensor([[1.0, 5.0], [7.0, 2.0]])
    assert d2l.argmax(x, axis=1).tolist() == [1, 0]
    assert d2l.reduce_mean(x, axis=0).tolist() == [4.0, 3.5]
    assert d2l.reduce_sum(x).item() == 15.0
    assert d2l.randn(4, 3, 6, 6).shape == (4, 3, 6, 6)
    assert d2l.size(x) == 4
    assert d2l.astype(x, d2l.int64).dtype == torch.int64


def test_fast_mode_reads_environment(monkeypatch):
    monkeypatch.setenv("D2LMINI_FAST", "1")
    assert d2l.fast_mode()
    monkeypatch.setenv("D2LMINI_FAST", "0")
    assert not d2l.fast_mode()
    monkeypatch.delenv("D2LMINI_FAST")
    assert not d2l.fast_mode()


@pytest.mark.parametrize("x, msg", [
    (torch.zeros(3, 6, 6), "4-d batch (N, 3, H, W), got shape (3, 6, 6)"),
    (torch.zeros(1, 3, 6, 6, dtype=torch.uint8), "floating-point input, got dtype torch.uint8"),
    (torch.zeros(1, 2, 6, 6), "expects 3 input channel(s), shape (N, 3, H, W), got shape (1, 2, 6, 6)"),
    (torch.zeros(1, 3, 4, 6), "at least 5x5 pixels"),
])
def test_check_image_batch_names_expected_and_received(x, msg):
    with pytest.raises(ValueError) as err:
        d2l.check_image_batch(x, channels=3, min_size=5, where="block")
    assert msg in str(err.value)


def test_check_image_batch_accepts_good_input():
    d2l.check_image_batch(torch.zeros(2, 3, 8, 8), channels=3, min_size=5)
