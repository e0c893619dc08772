"""Hostile or mistaken inputs fail early, with a message that names the cause:
decompression bombs, a $D2LMINI_DATA that holds no copy, seeds torch cannot
take, models the Trainer cannot train, and hyperparameters that hide methods.
(The exporter's probes are in test_export.py.)"""
import gzip
import struct
import tracemalloc
from pathlib import Path

import pytest
import torch
from torch import nn

import d2lmini as d2l
from d2lmini import fashion_files as ff
from d2lmini.fashion_files import FILE_NAMES
from d2lmini.idx import CorruptDatasetError, read_idx_images, read_idx_labels
from helpers import MLP, SyntheticData, make_model

BOMB_ZEROS = 50 * 2**20  # decompressed size of the bombs' body: 50 MiB


# -- decompression bombs -------------------------------------------------------
@pytest.fixture(scope="module")
def zeros_gz() -> bytes:
    """50 MiB of zeros, gzipped to about 50 KiB (a stream to append to a header)."""
    return gzip.compress(bytes(BOMB_ZEROS), compresslevel=9)


def _bomb(path: Path, header: bytes, zeros_gz: bytes) -> Path:
    # Two gzip members read as one stream: the header, then the zeros.
    path.write_bytes(gzip.compress(header) + zeros_gz)
    return path


def _peak_bytes(read) -> tuple:
    """(peak traced bytes, the CorruptDatasetError) of ``read()``."""
    tracemalloc.start()
    try:
        with pytest.raises(CorruptDatasetError) as info:
            read()
        return tracemalloc.get_traced_memory()[1], info.value
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["images", "labels"])
def test_a_decompression_bomb_is_refused_after_the_promised_size(tmp_path, zeros_gz, kind):
    if kind == "images":  # a valid header for 10 images, then 50 MiB
        path = _bomb(tmp_path / "train-images-idx3-ubyte.gz",
                     struct.pack(">IIII", 2051, 10, 28, 28), zeros_gz)
        read, promised = lambda: read_idx_images(path, expected_count=10), 16 + 7840
    else:
        path = _bomb(tmp_path / "train-labels-idx1-ubyte.gz",
                     struct.pack(">II", 2049, 10), zeros_gz)
        read, promised = lambda: read_idx_labels(path, expected_count=10), 8 + 10
    assert len(path.read_bytes()) < 2**20  # the bomb itself is small
    peak, error = _peak_bytes(read)
    # The reader stopped one byte past the promise instead of inflating 50 MiB.
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB while reading a bomb"
    msg = str(error)
    assert error.path == path and str(path) in msg
    assert f"more than {promised} bytes after decompression" in msg
    assert f"the header promises exactly {promised}" in msg


def test_a_header_promising_too_many_items_is_refused_before_the_body(tmp_path, zeros_gz):
    # A count that does not match what the split holds is caught from the header.
    path = _bomb(tmp_path / "t10k-labels-idx1-ubyte.gz",
                 struct.pack(">II", 2049, BOMB_ZEROS), zeros_gz)
    peak, error = _peak_bytes(lambda: read_idx_labels(path, expected_count=10000))
    assert f"holds {BOMB_ZEROS} items, expected 10000" in str(error)
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB for a wrong count"


# -- $D2LMINI_DATA that holds no copy ------------------------------------------------
@pytest.fixture
def places(monkeypatch, tmp_path):
    """A full copy (stand-in files) in the Debian directory, nothing in the
    default root, no network, and $D2LMINI_DATA unset."""
    monkeypatch.delenv(ff.ENV_VAR, raising=False)
    monkeypatch.setattr(ff, "DEFAULT_ROOT", tmp_path / "default")
    monkeypatch.setattr(ff, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(ff, "_download", lambda root: pytest.fail("tried to download"))
    (tmp_path / "debian").mkdir()
    for n in FILE_NAMES:
        (tmp_path / "debian" / f"{n}.gz").write_bytes(b"")  # found, never read here
    return tmp_path


@pytest.mark.parametrize("state", ["empty", "partial", "absent"])
def test_an_env_var_without_the_files_warns_naming_the_copy_used(places, monkeypatch, state):
    env = places / "env"
    if state != "absent":
        env.mkdir()
    if state == "partial":  # an interrupted copy: the test split only
        for n in FILE_NAMES[2:]:
            (env / f"{n}.gz").write_bytes(b"")
    monkeypatch.setenv(ff.ENV_VAR, str(env))
    with pytest.warns(UserWarning, match=r"\$D2LMINI_DATA=") as record:
        found = ff.find_fashion_mnist(download=False)
    assert found == places / "debian"
    (warning,) = [w for w in record if "D2LMINI_DATA" in str(w.message)]
    assert warning.category.__name__ == "DatasetFallbackWarning"
    msg = str(warning.message)
    assert f"using the copy in {places / 'debian'} instead" in msg
    if state == "absent":
        assert f"{env} is not a directory" in msg
    else:  # the missing files, by name; not the ones that are there
        missing = FILE_NAMES if state == "empty" else FILE_NAMES[:2]
        assert all(f"{n}(.gz)" in msg for n in missing)
        assert not any(f"{n}(.gz)" in msg for n in FILE_NAMES if n not in missing)


def test_an_env_var_holding_the_files_is_used_without_a_warning(places, monkeypatch,
                                                                 recwarn):
    env = places / "env" / "FashionMNIST" / "raw"
    env.mkdir(parents=True)
    for n in FILE_NAMES:
        (env / n).write_bytes(b"")
    monkeypatch.setenv(ff.ENV_VAR, str(places / "env"))
    assert ff.find_fashion_mnist(download=False) == env
    assert not [w for w in recwarn if "D2LMINI_DATA" in str(w.message)]


# -- seeds ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [2**64, -2**63 - 1, 10**30])
def test_data_seed_out_of_torch_range_is_a_value_error_before_reading(seed, places):
    with pytest.raises(ValueError, match=r"seed must be an int from -2\*\*63 to 2\*\*64 - 1"):
        d2l.FashionMNIST(seed=seed, root=places / "nowhere", download=False)


@pytest.mark.parametrize("seed", [2**64 - 1, -2**63])
def test_data_seed_at_the_ends_of_the_range_is_accepted(seed, places):
    # Past the seed, the lookup of the (absent) files is what fails.
    with pytest.raises(ff.DatasetNotFoundError):
        d2l.FashionMNIST(seed=seed, root=places / "nowhere", download=False)


# -- models the Trainer cannot train ---------------------------------------------------
def _fit(model, **data_kwargs):
    data = SyntheticData(n=200, n_val=100, **data_kwargs)
    return d2l.Trainer(max_epochs=1, progress=False).fit(model, data)


class NoParameters(d2l.Classifier):
    """Its layers hold no weights: nothing for an optimizer to train."""

    def __init__(self, lr: float = 0.1):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.ReLU(), nn.Flatten())


def test_a_model_without_parameters_is_refused_at_fit_start():
    with pytest.raises(ValueError, match=r"NoParameters has no parameters, so training "
                                         r"has nothing to change"):
        _fit(NoParameters())


class Shaped(d2l.Classifier):
    """A classifier whose last step gives the output a shape of our choosing."""

    def __init__(self, lr: float = 0.1, outputs: int = 10, reshape=None):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Linear(8, outputs)

    def forward(self, X):
        Y = self.net(X)
        return self.reshape(Y) if self.reshape is not None else Y


@pytest.mark.parametrize("reshape, shape", [
    (lambda Y: Y.reshape(len(Y), 5, 2), "(100, 5, 2)"),  # an extra dimension
    (lambda Y: Y[: len(Y) // 2], "(50, 10)"),  # half of the batch lost
    (lambda Y: Y[:, 0], "(100,)"),  # one score per example, not one per class
])
def test_an_output_that_does_not_fit_the_labels_names_both_shapes(reshape, shape):
    with pytest.raises(ValueError) as info:
        _fit(Shaped(reshape=reshape))
    msg = str(info.value)
    assert f"Shaped's output has shape {shape}, but the labels have shape (100,)" in msg
    assert "one row of class scores per label, shape (100, num_classes)" in msg


def test_too_few_class_scores_for_the_labels_is_a_value_error():
    with pytest.raises(ValueError, match=r"Shaped's output has 5 class scores per example, "
                                         r"too few for the labels .*num_classes="):
        _fit(Shaped(outputs=5))


class BadLoss(MLP):
    """``training_step`` returns the loss in a form backward() cannot use."""

    def __init__(self, convert, **kwargs):
        super().__init__(**kwargs)
        self.convert = convert

    def training_step(self, batch):
        return self.convert(super().training_step(batch))


def test_a_float_loss_is_a_type_error_naming_training_step():
    with pytest.raises(TypeError, match=r"BadLoss.training_step returned float .*not a "
                                        r"tensor: return the loss tensor itself"):
        _fit(make_model(cls=BadLoss, convert=lambda l: l.item()))


@pytest.mark.parametrize("convert, message", [
    (lambda l: l.detach(), r"returned a loss that does not depend on any trainable parameter"),
    (lambda l: l.expand(3), r"returned a loss of shape \(3,\): return one number"),
])
def test_a_loss_backward_cannot_use_is_a_value_error(convert, message):
    with pytest.raises(ValueError, match=r"BadLoss.training_step " + message):
        _fit(make_model(cls=BadLoss, convert=convert))


def test_a_model_with_a_good_loss_still_trains():
    history = _fit(make_model())
    assert len(history) == 1


# -- hyperparameters that would hide a method ------------------------------------------
class TrainFlag(d2l.Classifier):
    def __init__(self, train: bool = True, lr: float = 0.1):
        super().__init__()
        self.save_hyperparameters()


class TrainingFlag(d2l.Classifier):
    def __init__(self, training: int = 60000):
        super().__init__()
        self.save_hyperparameters()


class OwnHparams(d2l.Classifier):
    def __init__(self, hparams=None):
        super().__init__()
        self.save_hyperparameters()


@pytest.mark.parametrize("cls, message", [
    (TrainFlag, r"TrainFlag: a hyperparameter named 'train' would replace the method "
                r"Module.train"),
    (TrainingFlag, r"a hyperparameter named 'training' would replace the train/eval flag"),
    (OwnHparams, r"a hyperparameter named 'hparams' would replace the dict of "
                 r"hyperparameters"),
])
def test_a_hyperparameter_hiding_a_method_is_refused(cls, message):
    with pytest.raises(ValueError, match=message) as info:
        cls()
    assert "rename the argument" in str(info.value)


def test_a_hyperparameter_may_still_override_a_plain_class_attribute():
    class Defaults(d2l.HyperParameters):
        lr = 0.1  # a class-level default, meant to be replaced

        def __init__(self, lr: float = 0.5):
            self.save_hyperparameters()
    assert Defaults().lr == 0.5 and Defaults().hparams == {"lr": 0.5}
