"""The data layer: real Fashion-MNIST files, parity with the book, lookup, verification."""
import gzip
import os
import struct
from pathlib import Path

import matplotlib
import pytest
import torch

import d2lmini as d2l
from d2lmini import data as dm
from d2lmini.idx import CorruptDatasetError, read_idx_images, read_idx_labels
from conftest import FASHION_FILES

matplotlib.use("Agg")


def link_files(src: Path, dst: Path) -> Path:
    """``dst`` with symlinks to the four real .gz files (cheap copies)."""
    dst.mkdir(parents=True, exist_ok=True)
    for n in FASHION_FILES:
        (dst / f"{n}.gz").symlink_to(src / f"{n}.gz")
    return dst


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env var, empty default root and Debian dir, and a download that must not run."""
    monkeypatch.delenv(dm.ENV_VAR, raising=False)
    monkeypatch.setattr(dm, "DEFAULT_ROOT", tmp_path / "default")
    monkeypatch.setattr(dm, "DEBIAN_DIR", tmp_path / "debian")
    calls = []

    def no_network(root):
        calls.append(Path(root))
        raise OSError("no network in the tests")

    monkeypatch.setattr(dm, "_download", no_network)
    return calls


@pytest.fixture(scope="module")
def data(fashion_dir):
    return d2l.FashionMNIST(batch_size=64, root=fashion_dir, download=False)


# -- the real files ------------------------------------------------------------
def test_counts_and_balance(data):
    assert len(data.train) == 60000 and len(data.val) == 10000
    assert data.train.labels.bincount().tolist() == [6000] * 10
    assert data.val.labels.bincount().tolist() == [1000] * 10
    assert data.train.images.dtype == torch.uint8
    assert data.train.images.shape == (60000, 1, 28, 28)


def test_dataset_items_like_the_book(data):
    X, y = data.train[0]
    assert X.shape == (1, 28, 28) and X.dtype == torch.float32 and isinstance(y, int)
    assert 0 <= float(X.min()) and float(X.max()) <= 1
    assert torch.equal(data.val[-1][0], data.val[9999][0])
    with pytest.raises(IndexError):
        data.val[10000]


@pytest.mark.parametrize("size", [28, 96])
def test_batch_shapes_and_dtypes(fashion_dir, size):
    d = d2l.FashionMNIST(batch_size=32, resize=(size, size), root=fashion_dir,
                         num_train=100, num_val=50, download=False)
    loader = d.train_dataloader()
    batches = list(loader)
    assert len(loader) == len(batches) == 4  # 32 + 32 + 32 + 4
    X, y = batches[0]
    assert X.shape == (32, 1, size, size) and X.dtype == torch.float32
    assert y.shape == (32,) and y.dtype == torch.int64
    assert batches[-1][0].shape[0] == 4
    # one epoch visits every example exactly once
    seen = torch.cat([b[1] for b in batches])
    assert seen.bincount(minlength=10).tolist() == d.train.labels.bincount(minlength=10).tolist()
    assert len(d.val_dataloader()) == 2


def test_slices_keep_the_first_examples(fashion_dir, data):
    d = d2l.FashionMNIST(root=fashion_dir, num_train=2000, num_val=500, download=False)
    assert len(d.train) == 2000 and len(d.val) == 500
    assert torch.equal(d.train.labels, data.train.labels[:2000])
    assert torch.equal(d.val.images, data.val.images[:500])
    assert d.take(num_val=10) is d and len(d.val) == 10 and len(d.train) == 2000
    with pytest.raises(ValueError, match="has 10"):
        d.take(num_val=11)


def test_validation_loader_is_in_file_order(data):
    X, y = next(iter(data.val_dataloader()))
    assert torch.equal(y, data.val.labels[:64])
    assert torch.equal(X, data.val.images[:64].float() / 255)


# -- parity with the published d2l package -------------------------------------
@pytest.fixture(scope="module")
def book(fashion_dir, tmp_path_factory):
    """d2l==1.0.3's FashionMNIST at 28 and 96 pixels, read without network.

    Its root is '../data'; torchvision skips the download when
    ``FashionMNIST/raw/`` holds the four unpacked files.
    """
    from d2l import torch as ref
    tmp = tmp_path_factory.mktemp("book")
    raw = tmp / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for n in FASHION_FILES:
        (raw / n).write_bytes(gzip.decompress((fashion_dir / f"{n}.gz").read_bytes()))
    (tmp / "work").mkdir()
    cwd = os.getcwd()
    os.chdir(tmp / "work")
    try:
        return {s: ref.FashionMNIST(batch_size=64, resize=(s, s)) for s in (28, 96)}
    finally:
        os.chdir(cwd)


def _first(ds, n):
    items = [ds[i] for i in range(n)]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def test_pixels_identical_to_the_book_at_28(book, fashion_dir):
    ours = d2l.FashionMNIST(resize=28, root=fashion_dir, download=False)
    for split in ("train", "val"):
        X_ref, y_ref = _first(getattr(book[28], split), 300)
        X, y = getattr(ours, split).batch(slice(0, 300))
        assert torch.equal(y, y_ref)
        assert torch.equal(X, X_ref)
    assert len(book[28].train) == len(ours.train) and len(book[28].val) == len(ours.val)


def test_pixels_match_the_book_at_96_within_one_grey_level(book, fashion_dir):
    ours = d2l.FashionMNIST(resize=96, root=fashion_dir, download=False)
    X_ref, y_ref = _first(book[96].val, 300)
    X, y = ours.val.batch(slice(0, 300))
    assert torch.equal(y, y_ref)
    diff = (X - X_ref).abs()
    # Measured: max 1/255 (PIL's fixed-point weights break some ties the
    # other way), 99.5% of pixels identical.
    assert float(diff.max()) <= 1 / 255 + 1e-6
    assert float((diff == 0).float().mean()) >= 0.99
    assert torch.equal(ours.val[7][0], X[7])  # item path == batch path


@pytest.mark.parametrize("size", [(32, 32), (64, 64), (224, 224)])
def test_resize_matches_pil_exactly_at_other_sizes(data, size):
    from PIL import Image
    from torchvision import transforms
    trans = transforms.Compose([transforms.Resize(size), transforms.ToTensor()])
    imgs = data.val.images[:40]
    ref = torch.stack([trans(Image.fromarray(x[0].numpy(), mode="L")) for x in imgs])
    assert ref.shape == (40, 1) + size
    assert torch.equal(dm.to_float_images(imgs, size), ref)


@pytest.mark.parametrize("size", [(14, 14), (48, 48), (20, 48)])
def test_resize_within_two_grey_levels_of_pil_elsewhere(data, size):
    # shrinking, odd scales and non-square sizes: PIL's fixed-point weights
    # round some ties the other way (measured: at most 2/255).
    from PIL import Image
    from torchvision import transforms
    trans = transforms.Compose([transforms.Resize(size), transforms.ToTensor()])
    imgs = data.val.images[:40]
    ref = torch.stack([trans(Image.fromarray(x[0].numpy(), mode="L")) for x in imgs])
    ours = dm.to_float_images(imgs, size)
    assert ours.shape == ref.shape == (40, 1) + size
    assert float((ours - ref).abs().max()) <= 2 / 255 + 1e-6
    assert float((ours != ref).float().mean()) < 0.15


# -- lookup order ---------------------------------------------------------------
def test_explicit_root_beats_env_var(fashion_dir, tmp_path, isolated, monkeypatch):
    root = link_files(fashion_dir, tmp_path / "root")
    env = link_files(fashion_dir, tmp_path / "env")
    monkeypatch.setenv(dm.ENV_VAR, str(env))
    assert dm.find_fashion_mnist(root) == root
    assert dm.find_fashion_mnist() == env
    # a root without the files falls through to the next place
    assert dm.find_fashion_mnist(tmp_path / "empty") == env


def test_env_var_beats_default_root_which_beats_debian(fashion_dir, tmp_path, isolated, monkeypatch):
    env = link_files(fashion_dir, tmp_path / "env" / "FashionMNIST" / "raw")  # torchvision layout
    default = link_files(fashion_dir, tmp_path / "default" / "FashionMNIST" / "raw")
    debian = link_files(fashion_dir, tmp_path / "debian")
    monkeypatch.setenv(dm.ENV_VAR, str(tmp_path / "env"))
    assert dm.find_fashion_mnist() == env
    monkeypatch.delenv(dm.ENV_VAR)
    assert dm.find_fashion_mnist() == default
    for f in default.iterdir():
        f.unlink()
    assert dm.find_fashion_mnist() == debian
    assert isolated == []  # never tried to download


def test_unpacked_files_are_found_and_read(fashion_dir, tmp_path, isolated):
    root = tmp_path / "unpacked"
    root.mkdir()
    for n in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (root / n).write_bytes(gzip.decompress((fashion_dir / f"{n}.gz").read_bytes()))
    for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (root / f"{n}.gz").symlink_to(fashion_dir / f"{n}.gz")
    assert dm.find_fashion_mnist(root) == root
    X, y = dm.load_split(root, "test")
    X_gz, y_gz = dm.load_split(fashion_dir, "test")
    assert torch.equal(X, X_gz) and torch.equal(y, y_gz)


def test_default_root_honours_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setattr(dm, "DEFAULT_ROOT", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert dm.default_root() == tmp_path / "d2lmini" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert dm.default_root() == Path.home() / ".cache" / "d2lmini" / "data"


def test_download_is_the_last_resort(fashion_dir, tmp_path, isolated, monkeypatch):
    def fake_download(root):
        link_files(fashion_dir, Path(root) / "FashionMNIST" / "raw")

    monkeypatch.setattr(dm, "_download", fake_download)
    expected = tmp_path / "default" / "FashionMNIST" / "raw"
    assert dm.find_fashion_mnist(tmp_path / "empty") == expected
    d = d2l.FashionMNIST(num_train=10, num_val=10)
    assert d.data_dir == expected and len(d.train) == 10


def test_not_found_names_every_place_and_both_fixes(tmp_path, isolated, monkeypatch):
    monkeypatch.setenv(dm.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(dm.DatasetNotFoundError) as info:
        d2l.FashionMNIST(root=tmp_path / "mine")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for place in (tmp_path / "mine", tmp_path / "mine" / "FashionMNIST" / "raw",
                  tmp_path / "env", tmp_path / "default" / "FashionMNIST" / "raw",
                  tmp_path / "debian", tmp_path / "default"):
        assert str(place) in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert dm.ENV_VAR in msg and "root=" in msg and "network" in msg
    assert "no network in the tests" in msg
    assert isolated == [tmp_path / "default"]
    with pytest.raises(dm.DatasetNotFoundError, match="download disabled"):
        dm.find_fashion_mnist(download=False)
    assert len(isolated) == 1


# -- file verification ------------------------------------------------------------
def _labels(count, body=None, magic=2049):
    body = bytes(i % 10 for i in range(count)) if body is None else body
    return struct.pack(">II", magic, count) + body


def _write_gz(path, raw):
    path.write_bytes(gzip.compress(raw))
    return path


def test_reader_accepts_well_formed_files(tmp_path):
    y = read_idx_labels(_write_gz(tmp_path / "l.gz", _labels(25)), expected_count=25)
    assert y.tolist() == [i % 10 for i in range(25)] and y.dtype == torch.int64
    raw = struct.pack(">IIII", 2051, 3, 28, 28) + bytes(range(256)) * 9 + bytes(48)
    X = read_idx_images(_write_gz(tmp_path / "i.gz", raw), expected_count=3)
    assert X.shape == (3, 1, 28, 28) and X.dtype == torch.uint8 and int(X[0, 0, 0, 5]) == 5


@pytest.mark.parametrize("case, problem", [
    ("truncated_gzip", "ends early"),
    ("garbage", "not a valid gzip"),
    ("wrong_magic", "magic number 2051, expected 2049"),
    ("wrong_count", "holds 9999 items, expected 10000"),
    ("short_body", "the header promises exactly 10008"),
    ("long_body", "the header promises exactly 10008"),
    ("bad_label", "label 12 is outside 0..9"),
    ("tiny", "shorter than the 8-byte header"),
])
def test_corrupt_label_files_raise_naming_the_file(tmp_path, fashion_dir, case, problem):
    real = (fashion_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    if case == "truncated_gzip":
        path.write_bytes(real[: len(real) // 2])
    elif case == "garbage":
        path.write_bytes(os.urandom(4000))
    elif case == "wrong_magic":
        _write_gz(path, _labels(10000, magic=2051))
    elif case == "wrong_count":
        _write_gz(path, _labels(9999))
    elif case == "short_body":
        _write_gz(path, _labels(10000)[:-1])
    elif case == "long_body":
        _write_gz(path, _labels(10000) + b"\0")
    elif case == "bad_label":
        _write_gz(path, _labels(10000, body=bytes([12]) * 10000))
    else:
        _write_gz(path, b"\0\0\x08")
    with pytest.raises(CorruptDatasetError) as info:
        read_idx_labels(path, expected_count=10000)
    msg = str(info.value)
    assert str(path) in msg and problem in msg and "Delete it" in msg
    assert isinstance(info.value, ValueError) and info.value.path == path


def test_corrupt_image_files(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"  # unpacked
    path.write_bytes(struct.pack(">IIII", 2051, 2, 28, 28) + bytes(784 * 2 - 1))
    with pytest.raises(CorruptDatasetError, match="promises exactly 1584"):
        read_idx_images(path, expected_count=2)
    path.write_bytes(struct.pack(">IIII", 2051, 2, 32, 28) + bytes(32 * 28 * 2))
    with pytest.raises(CorruptDatasetError, match="images are 32x28, expected 28x28"):
        read_idx_images(path, expected_count=2)
    path.write_bytes(struct.pack(">IIII", 2049, 2, 28, 28) + bytes(784 * 2))
    with pytest.raises(CorruptDatasetError, match="magic number 2049, expected 2051"):
        read_idx_images(path)


def test_corrupt_file_in_a_root_is_an_error_not_a_fallback(fashion_dir, tmp_path, isolated):
    root = tmp_path / "root"
    root.mkdir()
    for n in FASHION_FILES[:3]:
        (root / f"{n}.gz").symlink_to(fashion_dir / f"{n}.gz")
    bad = _write_gz(root / "t10k-labels-idx1-ubyte.gz", _labels(9000))
    with pytest.raises(CorruptDatasetError, match=str(bad)):
        d2l.FashionMNIST(root=root)


# -- arguments -------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    dict(batch_size=0), dict(batch_size=-4), dict(batch_size=2.5), dict(batch_size=True),
    dict(resize=0), dict(resize=(28,)), dict(resize=(28, 0)), dict(resize="28"),
    dict(resize=28.0), dict(resize=(28, 28, 1)), dict(num_workers=-1),
    dict(num_train=0), dict(num_val=-5), dict(seed="zero"),
])
def test_bad_arguments_raise_value_error_before_reading(kwargs, tmp_path, isolated):
    with pytest.raises(ValueError):
        d2l.FashionMNIST(root=tmp_path, **kwargs)
    assert isolated == []  # rejected before any lookup


def test_num_train_larger_than_the_split(fashion_dir):
    with pytest.raises(ValueError, match="60000"):
        d2l.FashionMNIST(root=fashion_dir, num_train=60001, download=False)


def test_num_workers_never_exceed_cores(fashion_dir):
    cores = os.cpu_count()
    assert d2l.DataModule(num_workers=10_000).num_workers == cores
    assert d2l.DataModule().num_workers == 0
    d = d2l.FashionMNIST(root=fashion_dir, num_workers=cores + 3, num_train=8, download=False)
    assert d.num_workers == cores


def test_int_resize_means_a_square(fashion_dir):
    d = d2l.FashionMNIST(batch_size=4, resize=40, root=fashion_dir, num_val=4, download=False)
    assert d.resize == (40, 40)
    assert next(iter(d.val_dataloader()))[0].shape == (4, 1, 40, 40)


# -- shuffling --------------------------------------------------------------------
def _order(d):
    return torch.cat([y for _, y in d.train_dataloader()])


def test_seeded_shuffle_repeats(fashion_dir):
    kw = dict(batch_size=50, root=fashion_dir, num_train=500, download=False)
    a, b, c = (d2l.FashionMNIST(seed=s, **kw) for s in (0, 0, 1))
    first = _order(a)
    assert torch.equal(first, _order(b))
    assert not torch.equal(first, _order(c))
    assert not torch.equal(first, _order(a))  # the next epoch is a new order
    assert a.train_dataloader().generator is a.generator  # the Trainer reseeds it
    a.generator.manual_seed(0)
    assert torch.equal(first, _order(a))
    assert not torch.equal(first, a.train.labels)  # shuffled at all


def test_unseeded_shuffle_follows_torch_manual_seed(fashion_dir):
    d = d2l.FashionMNIST(batch_size=50, root=fashion_dir, num_train=500, download=False)
    assert d.generator is None
    torch.manual_seed(3)
    first = _order(d)
    torch.manual_seed(3)
    assert torch.equal(first, _order(d))


# -- the generic parts ---------------------------------------------------------------
def test_get_tensorloader_slices_and_batches():
    class Toy(d2l.DataModule):
        def __init__(self):
            super().__init__()
            self.batch_size = 4

    X, y = torch.arange(20.).reshape(10, 2), torch.arange(10)
    loader = Toy().get_tensorloader((X, y), train=False, indices=slice(0, 7))
    batches = list(loader)
    assert len(loader) == 2 and [len(b[1]) for b in batches] == [4, 3]
    assert torch.equal(batches[1][0], X[4:7]) and len(loader.dataset) == 7
    shuffled = torch.cat([b[1] for b in Toy().get_tensorloader((X, y), train=True)])
    assert sorted(shuffled.tolist()) == list(range(10))
    with pytest.raises(NotImplementedError):
        Toy().train_dataloader()


def test_swapped_in_subset_loads_the_book_way(fashion_dir):
    d = d2l.FashionMNIST(batch_size=8, root=fashion_dir, download=False)
    d.val = torch.utils.data.Subset(d.val, range(20))
    X, y = next(iter(d.val_dataloader()))
    assert X.shape == (8, 1, 28, 28) and torch.equal(y, d.val.dataset.labels[:8])


def test_device_keeps_batches_there(fashion_dir):
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    d = d2l.FashionMNIST(batch_size=16, resize=64, root=fashion_dir, num_train=64,
                         device=device, seed=0, download=False)
    X, y = next(iter(d.train_dataloader()))
    assert X.device.type == y.device.type == device.type == d.train.images.device.type
    assert X.shape == (16, 1, 64, 64)


def test_legacy_loader(fashion_dir, monkeypatch):
    monkeypatch.setenv(dm.ENV_VAR, str(fashion_dir))
    train_iter, test_iter = d2l.load_data_fashion_mnist(32, resize=64)
    assert len(train_iter) == 1875 and len(test_iter) == 313
    X, y = next(iter(test_iter))
    assert X.shape == (32, 1, 64, 64) and torch.equal(y, test_iter.dataset.labels[:32])
    assert train_iter.shuffle and not test_iter.shuffle
    train28, _ = d2l.load_data_fashion_mnist(10, root=fashion_dir)
    assert next(iter(train28))[0].shape == (10, 1, 28, 28)


def test_text_labels_and_visualize(data):
    assert data.text_labels([0, 9, torch.tensor(5)]) == ["t-shirt", "ankle boot", "sandal"]
    import matplotlib.pyplot as plt
    batch = next(iter(data.val_dataloader()))
    axes = data.visualize(batch, nrows=2, ncols=4)
    assert len(axes) == 8
    assert [ax.get_title() for ax in axes] == data.text_labels(batch[1][:8])
    axes = d2l.show_images(batch[0][:1], 1, 1, titles=["x"])  # (C, H, W) and 1x1 grid
    assert axes[0].get_images()[0].get_array().shape == (28, 28)
    plt.close("all")
