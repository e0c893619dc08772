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
from d2lmini import fashion_files as ff
from d2lmini.fashion_files import FILE_NAMES, data_file
from d2lmini.idx import CorruptDatasetError, read_idx_bytes, read_idx_images, read_idx_labels

matplotlib.use("Agg")


def link_files(src: Path, dst: Path, names=FILE_NAMES) -> Path:
    """``dst`` with symlinks to the real files (.gz or unpacked, as in ``src``)."""
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        real = data_file(src, n)
        (dst / real.name).symlink_to(real)
    return dst


def unpack(src: Path, dst: Path, names=FILE_NAMES) -> Path:
    """``dst`` with unpacked copies of the real files."""
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        (dst / n).write_bytes(read_idx_bytes(data_file(src, n)))
    return dst


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env var, empty default root and Debian dir, and a download that must not run."""
    monkeypatch.delenv(ff.ENV_VAR, raising=False)
    monkeypatch.setattr(ff, "DEFAULT_ROOT", tmp_path / "default")
    monkeypatch.setattr(ff, "DEBIAN_DIR", tmp_path / "debian")
    calls = []

    def no_network(root):
        calls.append(Path(root))
        raise OSError("no network in the tests")

    monkeypatch.setattr(ff, "_download", no_network)
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
    assert torch.equal(X, data.train.images[0].float() / 255) and float(X.max()) == 1.0
    assert y == int(data.train.labels[0])
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
    unpack(fashion_dir, tmp / "data" / "FashionMNIST" / "raw")
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


def test_pixels_identical_to_the_book_at_28(book, data):
    ours = data  # resize 28
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
    # The bounds benchmarks/README.md records at 96x96 (resize_parity.py):
    # PIL's fixed-point weights break some rounding ties the other way.
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
    # round some ties the other way (the bound of benchmarks/README.md).
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
    raw = link_files(fashion_dir, tmp_path / "tv" / "FashionMNIST" / "raw")
    env = link_files(fashion_dir, tmp_path / "env")
    monkeypatch.setenv(ff.ENV_VAR, str(env))
    assert ff.find_fashion_mnist(root) == root
    assert ff.find_fashion_mnist(tmp_path / "tv") == raw  # torchvision's layout
    assert ff.find_fashion_mnist() == env


@pytest.mark.parametrize("download", [True, False])
def test_explicit_root_without_the_files_is_an_error_naming_it(
        fashion_dir, tmp_path, isolated, monkeypatch, download):
    env = link_files(fashion_dir, tmp_path / "env")
    monkeypatch.setenv(ff.ENV_VAR, str(env))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ff.DatasetNotFoundError) as info:
        d2l.FashionMNIST(root=tmp_path / "empty", download=download)
    msg = str(info.value)
    assert f"root={str(tmp_path / 'empty')!r}" in msg
    assert all(f"{n}(.gz)" in msg for n in FILE_NAMES)
    assert str(env) not in msg  # no fall-through to $D2LMINI_DATA
    # the download, if allowed, went into the root, not the default root
    assert isolated == ([tmp_path / "empty"] if download else [])
    assert ("no network in the tests" in msg) == download


def test_explicit_root_missing_one_file_names_that_file(fashion_dir, tmp_path, isolated):
    root = link_files(fashion_dir, tmp_path / "root", names=FILE_NAMES[:3])
    with pytest.raises(ff.DatasetNotFoundError) as info:
        d2l.FashionMNIST(root=root, download=False)
    msg = str(info.value).split("(looked in")[0]
    assert f"{root} lacks {FILE_NAMES[3]}(.gz)" in msg
    assert not any(n in msg for n in FILE_NAMES[:3])


def test_env_var_beats_default_root_which_beats_debian(fashion_dir, tmp_path, isolated, monkeypatch):
    env = link_files(fashion_dir, tmp_path / "env" / "FashionMNIST" / "raw")  # torchvision layout
    default = link_files(fashion_dir, tmp_path / "default" / "FashionMNIST" / "raw")
    debian = link_files(fashion_dir, tmp_path / "debian")
    monkeypatch.setenv(ff.ENV_VAR, str(tmp_path / "env"))
    assert ff.find_fashion_mnist() == env
    monkeypatch.delenv(ff.ENV_VAR)
    assert ff.find_fashion_mnist() == default
    for f in default.iterdir():
        f.unlink()
    assert ff.find_fashion_mnist() == debian
    assert isolated == []  # never tried to download


def test_packed_and_unpacked_files_read_alike(fashion_dir, tmp_path, isolated):
    root = tmp_path / "mixed"
    root.mkdir()
    test_files = FILE_NAMES[2:]
    for n in test_files:  # one form of the test files here, the other there
        real = data_file(fashion_dir, n)
        if real.suffix == ".gz":
            (root / n).write_bytes(read_idx_bytes(real))
        else:
            (root / f"{n}.gz").write_bytes(gzip.compress(real.read_bytes(), compresslevel=1))
    link_files(fashion_dir, root, names=FILE_NAMES[:2])
    assert ff.find_fashion_mnist(root) == root
    assert {data_file(root, n).suffix for n in test_files} != \
        {data_file(fashion_dir, n).suffix for n in test_files}
    X, y = ff.load_split(root, "test")
    X_ref, y_ref = ff.load_split(fashion_dir, "test")
    assert torch.equal(X, X_ref) and torch.equal(y, y_ref)


def test_default_root_honours_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setattr(ff, "DEFAULT_ROOT", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert ff.default_root() == tmp_path / "d2lmini" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert ff.default_root() == Path.home() / ".cache" / "d2lmini" / "data"


def test_download_is_the_last_resort(fashion_dir, tmp_path, isolated, monkeypatch):
    targets = []

    def fake_download(root):
        targets.append(Path(root))
        link_files(fashion_dir, Path(root) / "FashionMNIST" / "raw")

    monkeypatch.setattr(ff, "_download", fake_download)
    expected = tmp_path / "default" / "FashionMNIST" / "raw"
    d = d2l.FashionMNIST(num_train=10, num_val=10)
    assert d.data_dir == expected and len(d.train) == 10
    assert ff.find_fashion_mnist() == expected and targets == [tmp_path / "default"]
    # with an explicit root, the download goes there, as torchvision's does
    mine = tmp_path / "mine"
    assert ff.find_fashion_mnist(mine) == mine / "FashionMNIST" / "raw"
    assert targets == [tmp_path / "default", mine]


def test_not_found_names_every_place_and_both_fixes(tmp_path, isolated, monkeypatch):
    monkeypatch.setenv(ff.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(dm.DatasetNotFoundError) as info:
        d2l.FashionMNIST()
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for place in (tmp_path / "env", tmp_path / "env" / "FashionMNIST" / "raw",
                  tmp_path / "default" / "FashionMNIST" / "raw",
                  tmp_path / "debian", tmp_path / "default"):
        assert str(place) in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert all(f"{n}.gz" in msg for n in FILE_NAMES)
    assert ff.ENV_VAR in msg and "root=" in msg and "network" in msg
    assert "no network in the tests" in msg
    assert isolated == [tmp_path / "default"]
    with pytest.raises(dm.DatasetNotFoundError, match="download disabled"):
        ff.find_fashion_mnist(download=False)
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
    real = read_idx_bytes(data_file(fashion_dir, "t10k-labels-idx1-ubyte"))
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    if case == "truncated_gzip":
        packed = gzip.compress(real)
        path.write_bytes(packed[: len(packed) // 2])
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
    root = link_files(fashion_dir, tmp_path / "root", names=FILE_NAMES[:3])
    bad = _write_gz(root / "t10k-labels-idx1-ubyte.gz", _labels(9000))
    with pytest.raises(CorruptDatasetError, match=str(bad)):
        d2l.FashionMNIST(root=root)


# -- arguments -------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    dict(batch_size=0), dict(batch_size=-4), dict(batch_size=2.5), dict(batch_size=True),
    dict(resize=0), dict(resize=(28,)), dict(resize=(28, 0)), dict(resize="28"),
    dict(resize=28.0), dict(resize=(28, 28, 1)), dict(resize=()), dict(resize=None),
    dict(resize=-28), dict(resize=(True, 28)), dict(resize=(28, 28.0)),
    dict(resize={28: "h", 32: "w"}), dict(resize={28, 32}), dict(resize="ab"),
    dict(num_workers=-1),
    dict(num_train=0), dict(num_val=-5), dict(seed="zero"),
])
def test_bad_arguments_raise_value_error_before_reading(kwargs, tmp_path, isolated):
    (name, value), = kwargs.items()
    with pytest.raises(ValueError, match=name):
        d2l.FashionMNIST(root=tmp_path, **kwargs)
    assert isolated == []  # rejected before any lookup


@pytest.mark.parametrize("resize", [0, (), (0, 28), [28], -1, 2.0])
def test_legacy_loader_rejects_nonsensical_resize(resize, tmp_path, isolated):
    with pytest.raises(ValueError, match="resize must be a positive int or a pair"):
        d2l.load_data_fashion_mnist(32, resize=resize, root=tmp_path)
    assert isolated == []


def test_resize_accepts_ints_of_any_integral_type():
    import numpy as np
    assert dm.as_size(np.int64(40)) == (40, 40)
    assert dm.as_size([32, np.int32(48)]) == (32, 48)
    assert dm.as_size(torch.Size([20, 30])) == (20, 30)
    assert all(type(v) is int for v in dm.as_size((np.int64(7), 9)))


def test_data_modules_do_not_share_their_tensors(fashion_dir):
    kw = dict(root=fashion_dir, download=False)
    a, b = d2l.FashionMNIST(**kw), d2l.FashionMNIST(num_train=100, **kw)
    before = b.train.images[:2].clone(), b.val.labels[:2].clone()
    a.train.images[:2].zero_()
    a.val.labels[:2] = 3 - a.val.labels[:2]
    assert torch.equal(b.train.images[:2], before[0])
    assert torch.equal(b.val.labels[:2], before[1])
    c = d2l.FashionMNIST(**kw)  # read after the change: the files' values
    assert torch.equal(c.train.images[:2], before[0])
    X, _ = ff.load_split(fashion_dir, "test")
    X[0].fill_(7)
    assert not torch.equal(ff.load_split(fashion_dir, "test")[0][0], X[0])


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
    monkeypatch.setenv(ff.ENV_VAR, str(fashion_dir))
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


# -- a failed download leaves nothing behind -------------------------------------------
@pytest.fixture
def torchvision_offline(monkeypatch, tmp_path):
    """The real download through torchvision, cut off from the network where
    it fetches: it makes ``root/FashionMNIST/raw`` first, as it does, then fails."""
    import urllib.error
    import urllib.request

    import torchvision.datasets.mnist as tv_mnist
    monkeypatch.delenv(ff.ENV_VAR, raising=False)
    monkeypatch.setattr(ff, "DEFAULT_ROOT", tmp_path / "default")
    monkeypatch.setattr(ff, "DEBIAN_DIR", tmp_path / "debian")
    calls = []

    def offline(url, download_root, **kwargs):
        calls.append(Path(download_root))
        raise urllib.error.URLError("no network in the tests")

    def no_urlopen(*args, **kwargs):
        raise AssertionError("the test tried to reach the network")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    monkeypatch.setattr(urllib.request, "urlopen", no_urlopen)
    return calls


def test_a_failed_download_into_a_new_root_leaves_no_directories(tmp_path, monkeypatch,
                                                                  torchvision_offline):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    with pytest.raises(ff.DatasetNotFoundError) as info:
        d2l.FashionMNIST(root="dtab")  # a mistyped root, relative to the cwd
    msg = str(info.value)
    assert "root='dtab'" in msg and "download failed" in msg
    # Newer torchvision passes the network error on; 0.19 names the file it could not get.
    assert "no network in the tests" in msg or "Error downloading" in msg
    assert torchvision_offline[0] == Path("dtab") / "FashionMNIST" / "raw"  # torchvision made it
    with pytest.raises(ff.DatasetNotFoundError):
        d2l.load_data_fashion_mnist(32, root="nope/deeper")
    assert len(torchvision_offline) == 2
    assert list((tmp_path / "cwd").iterdir()) == []


def test_a_failed_download_keeps_what_was_there(tmp_path, monkeypatch, torchvision_offline):
    mine = tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes" / "todo.txt").write_text("keep")
    with pytest.raises(ff.DatasetNotFoundError):
        ff.find_fashion_mnist(mine)
    assert [p.name for p in mine.iterdir()] == ["notes"]  # FashionMNIST/ went, mine/ stayed
    assert (mine / "notes" / "todo.txt").read_text() == "keep"
    (mine / "FashionMNIST").mkdir()  # there before the attempt: stays
    with pytest.raises(ff.DatasetNotFoundError):
        ff.find_fashion_mnist(mine)
    assert sorted(p.name for p in mine.iterdir()) == ["FashionMNIST", "notes"]
    assert list((mine / "FashionMNIST").iterdir()) == []


def test_a_directory_holding_a_file_is_never_removed(tmp_path, monkeypatch, isolated):
    """A file in a new directory may be another process's download into the
    same place: the directory and those above it stay."""
    def half_download(root):
        raw = Path(root) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        (raw / "train-images-idx3-ubyte.gz").write_bytes(b"half")
        raise OSError("connection reset")

    monkeypatch.setattr(ff, "_download", half_download)
    with pytest.raises(ff.DatasetNotFoundError, match="connection reset"):
        ff.find_fashion_mnist(tmp_path / "new")
    assert (tmp_path / "new" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").exists()


# -- a training set too small to train on ------------------------------------------------
def test_a_single_training_image_is_an_error_not_an_empty_epoch(fashion_dir):
    d = d2l.FashionMNIST(root=fashion_dir, num_train=1, num_val=3, download=False)
    with pytest.raises(ValueError, match=r"has 1 image\(s\) \(batch_size=64\).*num_train=2"):
        d.train_dataloader()
    assert len(d.val_dataloader()) == 1  # validating on few images is fine
    model = d2l.Classifier()
    model.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    with pytest.raises(ValueError, match="has 1 image"):  # before any training
        d2l.Trainer(max_epochs=1, progress=False).fit(model, d)
    # Two images are one batch, the book's way (no drop_last: the short batch is kept).
    two = d2l.FashionMNIST(root=fashion_dir, num_train=2, download=False)
    assert [len(y) for _, y in two.train_dataloader()] == [2]
    assert [len(y) for _, y in d2l.FashionMNIST(batch_size=64, root=fashion_dir, num_train=70,
                                                 download=False).train_dataloader()] == [64, 6]


def test_drop_last_with_too_few_examples_for_one_batch_is_an_error():
    X, y = torch.zeros(5, 2), torch.zeros(5)
    with pytest.raises(ValueError, match=r"drop_last=True with 5 example\(s\) and batch_size=8"):
        dm.BatchLoader((X, y), batch_size=8, drop_last=True)
    assert len(dm.BatchLoader((X, y), batch_size=5, drop_last=True)) == 1
    assert len(dm.BatchLoader((X, y), batch_size=8)) == 1
