"""The data sets and the DataModule, checked on the real files where they exist (values, not just shapes).

Tests that need the offline data beside the repository (`../shared/data`, or `$INFOVAE_SHARED_DATA`) or
Debian's Fashion-MNIST skip with a reason when it is absent. Downloads are mocked: nothing waits on a network.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from infovae_lightning.data import (
    DatasetFormatError,
    DatasetNotFoundError,
    InfoVAEDataModule,
    dataset_names,
    gaussian_sigma,
    input_shape,
    load_split,
    natural_likelihood,
    toy,
)
from infovae_lightning.data.binarize import BatchTransform

FASHION_DIR = Path(os.environ.get("INFOVAE_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
# Digit counts of the 10,000 MNIST test images (LeCun et al.'s published test set).
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IDX_FILES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture
def mnist_root(offline_data: Path) -> Path:
    if not all((offline_data / "mnist" / name).is_file() for name in IDX_FILES):
        pytest.skip(f"no MNIST test set under {offline_data}")
    return offline_data


@pytest.fixture
def fashion_root() -> Path:
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not at {FASHION_DIR} (apt-get install dataset-fashion-mnist)")
    return FASHION_DIR


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every urlopen (ours and torchvision's) fails at once, as offline; returns the URLs tried."""
    tried: list[str] = []

    def urlopen(url, *args, **kwargs):
        tried.append(url if isinstance(url, str) else url.full_url)
        raise urllib.error.URLError("no network (mocked)")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return tried


def first_batch(loader) -> tuple[torch.Tensor, torch.Tensor]:
    return next(iter(loader))


# --- static facts -----------------------------------------------------------------------------------------


def test_static_facts_need_no_data() -> None:
    assert dataset_names() == ("toy", "digits", "mnist", "fashion_mnist", "binarized_mnist", "cifar10")
    assert input_shape("toy") == (1,)
    assert input_shape("digits") == (1, 8, 8)
    assert (
        input_shape("mnist") == input_shape("fashion_mnist") == input_shape("binarized_mnist") == (1, 28, 28)
    )
    assert input_shape("cifar10") == (3, 32, 32)
    assert natural_likelihood("binarized_mnist", "none") == "bernoulli"
    assert natural_likelihood("mnist", "dynamic") == natural_likelihood("mnist", "threshold") == "bernoulli"
    assert natural_likelihood("mnist", "none") == natural_likelihood("cifar10", "none") == "gaussian"
    assert natural_likelihood("toy", "none") == "gaussian"
    # Under the autoregressive decoder, 8-bit images get the discretized logistic mixture; binary stay binary.
    assert natural_likelihood("cifar10", "none", "pixelcnn") == natural_likelihood(
        "mnist", "none", "pixelcnn"
    )
    assert natural_likelihood("mnist", "none", "pixelcnn") == "logistic_mixture"
    assert natural_likelihood("mnist", "dynamic", "pixelcnn") == "bernoulli"
    with pytest.raises(ValueError, match="unknown data set 'svhn'.*binarized_mnist"):
        input_shape("svhn")
    with pytest.raises(ValueError, match="unknown binarize mode 'stochastic'.*dynamic"):
        natural_likelihood("mnist", "stochastic")
    dm = InfoVAEDataModule("cifar10", binarize="none")  # touches nothing, not even ./data
    assert (dm.input_shape, dm.likelihood, dm.num_classes) == ((3, 32, 32), "gaussian", 10)
    dm = InfoVAEDataModule("binarized_mnist")
    assert (dm.input_shape, dm.likelihood, dm.num_classes) == ((1, 28, 28), "bernoulli", None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "svhn"}, "unknown data set 'svhn'; choose one of toy, digits, mnist"),
        ({"binarize": "yes"}, "unknown binarize mode 'yes'; choose one of dynamic, threshold, none"),
        ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
        ({"train_size": 0}, "train_size must be >= 1, got 0"),
        ({"val_size": -5}, "val_size must be >= 1, got -5"),
        ({"num_workers": -1}, "num_workers must be >= 0"),
        ({"source": "valid", "name": "mnist"}, "unknown source 'valid'; choose one of train, test"),
        ({"source": "test"}, "source='test' is only for mnist, fashion_mnist, cifar10"),
        ({"name": "toy", "binarize": "dynamic"}, "makes no sense for toy"),
    ],
)
def test_bad_arguments_fail_in_init(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        InfoVAEDataModule(**{"root": ".", **kwargs})


@pytest.mark.parametrize("download", [False, True])
def test_missing_root_fails_in_init(download: bool, tmp_path: Path) -> None:
    # A root that does not exist is a typo far more often than a wish to download into a new folder there.
    with pytest.raises(DatasetNotFoundError, match=r"data.root .*nowhere does not exist.*data.root unset"):
        InfoVAEDataModule("mnist", root=tmp_path / "nowhere", download=download)
    InfoVAEDataModule("toy", root=tmp_path / "nowhere", download=False)  # toy reads no files


def test_only_the_default_root_is_created_for_a_download(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    InfoVAEDataModule("mnist", download=True)  # ./data: created by the download
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        InfoVAEDataModule("mnist", download=False)


# --- toy --------------------------------------------------------------------------------------------------


def test_toy_is_the_balanced_two_point_set() -> None:
    data = toy(10001, seed=3)
    assert data.x.shape == (10001, 1) and data.x.dtype == torch.float32
    assert set(data.x.unique().tolist()) == {-1.0, 1.0}
    assert (data.x.squeeze(1) == 2.0 * data.y - 1).all()  # label 1 <=> x = +1
    assert int((data.x == 1).sum()) == 5001 and int((data.x == -1).sum()) == 5000
    assert torch.equal(toy(100, seed=1).x, toy(100, seed=1).x)
    assert not torch.equal(toy(100, seed=1).x, toy(100, seed=2).x)  # shuffled by the seed


def test_toy_datamodule_end_to_end() -> None:
    dm = InfoVAEDataModule("toy", root="unused", batch_size=64, toy_size=2000)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.split_sizes == {"train": 2000, "val": 1000}
    x, y = first_batch(dm.train_dataloader())
    assert x.shape == (64, 1) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert set(x.unique().tolist()) <= {-1.0, 1.0}
    x, _ = first_batch(dm.val_dataloader())
    assert x.shape == (64, 1)
    assert len(dm.train_dataloader()) == 32  # 2000 / 64 with the last, partial batch kept
    dm.setup("test")
    assert dm.split_sizes["test"] == 1000
    assert sum(len(b[0]) for b in dm.test_dataloader()) == 1000
    assert (dm.input_shape, dm.likelihood, dm.num_classes) == ((1,), "gaussian", 2)


# --- binarized MNIST --------------------------------------------------------------------------------------


def test_binarized_mnist_official_splits(binarized_root: Path) -> None:
    expected = {"train": (50000, 0.1306), "valid": (10000, 0.1311), "test": (10000, 0.1325)}
    for split, (rows, mean) in expected.items():
        data = load_split("binarized_mnist", binarized_root, split)
        assert data.x.shape == (rows, 1, 28, 28) and data.x.dtype == torch.float32
        assert set(data.x.unique().tolist()) == {0.0, 1.0}
        assert data.x.mean().item() == pytest.approx(mean, abs=1e-3)
        assert (data.y == -1).all()  # no labels: the binarized test set is not in MNIST's order


def test_binarized_mnist_held_out_splits_are_class_mixed(binarized_root: Path) -> None:
    # The published test file is sorted by digit: its 1000-example chunks differ in ink by up to ~0.05
    # (0.17 for the 0s, 0.08 for the 1s). The data module's order must be mixed, so that a batch, or a
    # metric's first n examples, is a fair sample of the split; the set itself is the published one.
    published = load_split("binarized_mnist", binarized_root, "test").x
    chunk_ink = published.view(10, -1).mean(1)
    assert (chunk_ink - published.mean()).abs().max() > 0.03  # sorted, as published
    dm = InfoVAEDataModule("binarized_mnist", root=str(binarized_root))
    dm.setup("test")
    test = dm.examples("test").x
    assert (test.view(10, -1).mean(1) - test.mean()).abs().max() < 0.01
    assert torch.equal(test.sum(0), published.sum(0))  # the same images, in another order


def test_binarized_mnist_found_from_its_own_folder_and_uncompressed(
    binarized_root: Path, tmp_path: Path
) -> None:
    reference = load_split("binarized_mnist", binarized_root, "test").x
    assert torch.equal(load_split("binarized_mnist", binarized_root / "binarized_mnist", "test").x, reference)
    gz = binarized_root / "binarized_mnist" / "binarized_mnist_test.amat.gz"
    (tmp_path / "binarized_mnist_test.amat").write_bytes(gzip.decompress(gz.read_bytes()))
    assert torch.equal(load_split("binarized_mnist", tmp_path, "test").x, reference)


def test_binarized_mnist_corrupt_files_name_the_file(binarized_root: Path, tmp_path: Path) -> None:
    text = gzip.decompress(
        (binarized_root / "binarized_mnist" / "binarized_mnist_valid.amat.gz").read_bytes()
    )
    lines = text.split(b"\n")
    path = tmp_path / "binarized_mnist_valid.amat"
    path.write_bytes(b"\n".join(lines[:100]) + b"\n")  # truncated
    with pytest.raises(DatasetFormatError, match=rf"{path}: 100 lines, expected 10000"):
        load_split("binarized_mnist", tmp_path, "valid")
    path.write_bytes(b"\n".join([lines[0][:-2]] + lines[1:]))  # one value short on line 1
    with pytest.raises(DatasetFormatError, match=rf"{path}: line 1 has 783 values, expected 784"):
        load_split("binarized_mnist", tmp_path, "valid")
    path.write_bytes(text.replace(b"1", b"2", 1))
    with pytest.raises(DatasetFormatError, match="values other than 0 and 1"):
        load_split("binarized_mnist", tmp_path, "valid")
    path.unlink()
    gz = tmp_path / "binarized_mnist_valid.amat.gz"
    gz.write_bytes((binarized_root / "binarized_mnist" / "binarized_mnist_valid.amat.gz").read_bytes()[:5000])
    with pytest.raises(DatasetFormatError, match=rf"{gz}: corrupt or truncated gzip file"):
        load_split("binarized_mnist", tmp_path, "valid")


def test_binarized_mnist_download_writes_checked_files(
    binarized_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download path, served the published bytes from the offline copy instead of the network."""
    served: list[str] = []

    def urlopen(url: str, timeout: float | None = None) -> io.BytesIO:
        served.append(url)
        name = url.rsplit("/", 1)[-1]
        return io.BytesIO(gzip.decompress((binarized_root / "binarized_mnist" / f"{name}.gz").read_bytes()))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    dm = InfoVAEDataModule("binarized_mnist", root=tmp_path, download=True)
    dm.prepare_data()
    assert served == [
        f"http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/binarized_mnist_{s}.amat"
        for s in ("train", "valid", "test")
    ]
    assert sorted(p.name for p in (tmp_path / "binarized_mnist").iterdir()) == [
        "binarized_mnist_test.amat",
        "binarized_mnist_train.amat",
        "binarized_mnist_valid.amat",
    ]
    dm.setup("test")
    assert dm.split_sizes == {"test": 10000}
    assert dm.datasets["test"].examples.x.mean().item() == pytest.approx(0.1325, abs=1e-3)


def test_binarized_mnist_bad_download_leaves_nothing(
    binarized_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def urlopen(url: str, timeout: float | None = None) -> io.BytesIO:
        return io.BytesIO(b"0 1 0\n<html>not found</html>\n")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(
        DatasetNotFoundError, match="download failed: DatasetFormatError: .*binarized_mnist_train"
    ):
        InfoVAEDataModule("binarized_mnist", root=tmp_path).prepare_data()
    assert list(tmp_path.iterdir()) == []  # no partial file to mistake for data, no empty folder


def test_binarized_mnist_datamodule_end_to_end(binarized_root: Path) -> None:
    dm = InfoVAEDataModule(
        "binarized_mnist", root=binarized_root, batch_size=128, binarize="dynamic", download=False
    )
    dm.prepare_data()
    dm.setup("fit")
    assert dm.split_sizes == {"train": 50000, "val": 10000}
    x, y = first_batch(dm.train_dataloader())
    assert x.shape == (128, 1, 28, 28) and x.dtype == torch.float32 and (y == -1).all()
    assert set(x.unique().tolist()) == {0.0, 1.0}
    x_val, _ = first_batch(dm.val_dataloader())
    # Validation is the official valid file, in order.
    assert torch.equal(x_val, load_split("binarized_mnist", binarized_root, "valid").x[:128])
    assert len(dm.train_dataloader()) == 391  # ceil(50000 / 128): drop_last is off
    with pytest.raises(RuntimeError, match=r"call setup\('test'\)"):
        dm.test_dataloader()
    assert all(isinstance(v, (str, int, bool, type(None))) for v in dm.hparams.values())  # checkpoint-safe


# --- MNIST ------------------------------------------------------------------------------------------------


def test_mnist_test_set_values(mnist_root: Path) -> None:
    data = load_split("mnist", mnist_root, "test")
    assert data.x.shape == (10000, 1, 28, 28) and data.x.dtype == torch.float32
    assert data.x.min().item() == 0.0 and data.x.max().item() == 1.0
    assert data.x.mean().item() == pytest.approx(0.1325, abs=1e-4)
    assert torch.bincount(data.y).tolist() == MNIST_TEST_COUNTS
    # The values are the bytes of the file over 255.
    raw = np.frombuffer(
        gzip.decompress((mnist_root / "mnist" / IDX_FILES[0]).read_bytes()), np.uint8, offset=16
    )
    assert torch.equal((data.x * 255).round().to(torch.uint8).flatten(), torch.from_numpy(raw.copy()))


def test_mnist_source_test_splits_the_test_file(mnist_root: Path) -> None:
    dm = InfoVAEDataModule("mnist", root=mnist_root, source="test", download=False)
    dm.prepare_data()
    dm.setup()
    assert dm.split_sizes == {"train": 8000, "val": 1000, "test": 1000}
    # Together the three splits are exactly the 10,000 test images (all distinct), each used once.
    rows = {bytes(x.numpy().tobytes()) for ds in dm.datasets.values() for x in ds.examples.x}
    assert len(rows) == 10000
    labels = torch.cat([ds.examples.y for ds in dm.datasets.values()])
    assert torch.bincount(labels).tolist() == MNIST_TEST_COUNTS


def test_mnist_train_files_missing_are_not_substituted(
    mnist_root: Path, tmp_path: Path, no_network: list[str]
) -> None:
    dm = InfoVAEDataModule("mnist", root=mnist_root, source="train", download=False)
    with pytest.raises(DatasetNotFoundError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert "\n" not in message
    assert "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] not found" in message
    assert "t10k" not in message  # the test files were found
    assert "data.source=test" in message and "data.download=true" in message
    # A download is tried (in a copy: it must not write beside the offline data), fails, and says so.
    shutil.copytree(mnist_root / "mnist", tmp_path / "mnist")
    with pytest.raises(
        DatasetNotFoundError, match="download failed: RuntimeError: Error downloading.*source=test"
    ):
        InfoVAEDataModule("mnist", root=tmp_path, download=True).setup("fit")
    assert no_network  # it did try
    assert [p.name for p in tmp_path.iterdir()] == ["mnist"]  # and left no empty MNIST/raw/ behind


def test_train_size_subset_is_seeded_and_leaves_held_out_sets_alone(mnist_root: Path) -> None:
    def setup(seed: int, train_size: int | None = 500) -> InfoVAEDataModule:
        dm = InfoVAEDataModule("mnist", root=mnist_root, source="test", train_size=train_size, seed=seed)
        dm.setup("fit")
        return dm

    a, b, c, full = setup(0), setup(0), setup(1), setup(0, None)
    assert a.split_sizes == {"train": 500, "val": 1000}
    assert torch.equal(a.datasets["train"].examples.x, b.datasets["train"].examples.x)
    assert not torch.equal(a.datasets["train"].examples.x, c.datasets["train"].examples.x)
    # The subset comes out of the training split; validation is the same whatever the seed or subset.
    full_rows = {x.numpy().tobytes() for x in full.datasets["train"].examples.x}
    assert all(x.numpy().tobytes() in full_rows for x in a.datasets["train"].examples.x)
    for other in (b, c, full):
        assert torch.equal(a.datasets["val"].examples.x, other.datasets["val"].examples.x)
    # Shuffling is seeded too: the same first batch for the same seed.
    assert torch.equal(first_batch(a.train_dataloader())[0], first_batch(b.train_dataloader())[0])
    with pytest.raises(ValueError, match="train_size=9000 exceeds the 8000 examples available"):
        setup(0, 9000)


def test_threshold_binarization(mnist_root: Path) -> None:
    dm = InfoVAEDataModule("mnist", root=mnist_root, source="test", binarize="threshold", batch_size=1000)
    dm.setup("validate")
    x, _ = first_batch(dm.val_dataloader())
    raw = InfoVAEDataModule("mnist", root=mnist_root, source="test", batch_size=1000)
    raw.setup("validate")
    intensities, _ = first_batch(raw.val_dataloader())
    assert set(x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(x, (intensities > 0.5).float())
    assert dm.likelihood == "bernoulli" and raw.likelihood == "gaussian"


def test_dynamic_binarization(mnist_root: Path) -> None:
    dm = InfoVAEDataModule("mnist", root=mnist_root, source="test", binarize="dynamic", seed=7)
    dm.setup()
    intensities = dm.datasets["train"].examples.x[:2000]
    assert not set(intensities.unique().tolist()) <= {0.0, 1.0}  # training data stays as intensities
    collate = dm.train_dataloader().collate_fn
    batch = dm.datasets["train"].__getitems__(list(range(2000)))
    x1, _ = collate(batch)
    x2, _ = collate(batch)
    assert set(x1.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(x1, x2)  # a fresh draw every time a batch is drawn
    assert x1.mean().item() == pytest.approx(intensities.mean().item(), abs=3e-3)
    assert x2.mean().item() == pytest.approx(intensities.mean().item(), abs=3e-3)
    assert ((x1 == 1) <= (intensities > 0)).all()  # never a 1 where the intensity is 0
    # Reproducible: the same seed gives the same first training batch.
    again = InfoVAEDataModule("mnist", root=mnist_root, source="test", binarize="dynamic", seed=7)
    again.setup("fit")
    assert torch.equal(first_batch(dm.train_dataloader())[0], first_batch(again.train_dataloader())[0])
    # Validation and test are drawn once: the same in every epoch, binary, and with the right mean.
    val = dm.datasets["val"].examples.x
    assert set(val.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(first_batch(dm.val_dataloader())[0], first_batch(dm.val_dataloader())[0])
    assert torch.equal(val, again.datasets["val"].examples.x)


def test_dynamic_binarization_in_worker_processes(mnist_root: Path) -> None:
    def epoch(seed: int) -> torch.Tensor:
        dm = InfoVAEDataModule(
            "mnist",
            root=mnist_root,
            source="test",
            binarize="dynamic",
            train_size=400,
            num_workers=2,
            seed=seed,
        )
        dm.setup("fit")
        loader = dm.train_dataloader()
        return torch.cat([x for x, _ in loader])

    a, b = epoch(3), epoch(3)
    assert a.shape == (400, 1, 28, 28) and set(a.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(a, b)
    # The two workers' batches are not copies of one another's noise.
    assert not torch.equal(a[:100], a[100:200])


def test_batch_transform_pickles_without_its_generator() -> None:
    import pickle

    transform = BatchTransform(dynamic=True, seed=1)
    transform((torch.full((2, 3), 0.5), torch.zeros(2)))
    clone = pickle.loads(pickle.dumps(transform))
    assert clone.seed == 1
    # The clone draws the epoch's stream from its start, like a transform that never ran: the generator that
    # had drawn was not pickled (a worker process seeds its own).
    fresh = BatchTransform(dynamic=True, seed=1)
    assert torch.equal(clone.generator().get_state(), fresh.generator().get_state())
    assert not torch.equal(transform.generator().get_state(), fresh.generator().get_state())
    x, y = clone([(torch.ones(3), torch.tensor(0)), (torch.zeros(3), torch.tensor(1))])  # single items too
    assert torch.equal(x, torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])) and y.tolist() == [0, 1]


def test_mnist_torchvision_layout_gz_and_extracted(mnist_root: Path, tmp_path: Path) -> None:
    reference = load_split("mnist", mnist_root, "test")
    raw = tmp_path / "gz" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX_FILES:
        shutil.copy(mnist_root / "mnist" / name, raw / name)
    data = load_split("mnist", tmp_path / "gz", "test")
    assert torch.equal(data.x, reference.x) and torch.equal(data.y, reference.y)
    raw = tmp_path / "extracted" / "MNIST" / "raw"  # what torchvision leaves after a download
    raw.mkdir(parents=True)
    for name in IDX_FILES:
        (raw / name.removesuffix(".gz")).write_bytes(
            gzip.decompress((mnist_root / "mnist" / name).read_bytes())
        )
    data = load_split("mnist", tmp_path / "extracted", "test")
    assert torch.equal(data.x, reference.x) and torch.equal(data.y, reference.y)


def test_corrupt_idx_files_name_the_file(mnist_root: Path, tmp_path: Path) -> None:
    images = gzip.decompress((mnist_root / "mnist" / IDX_FILES[0]).read_bytes())
    shutil.copy(mnist_root / "mnist" / IDX_FILES[1], tmp_path / IDX_FILES[1])
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(images[:-784])
    with pytest.raises(DatasetFormatError, match=rf"{path}: truncated or corrupt IDX file"):
        load_split("mnist", tmp_path, "test")
    path.write_bytes(b"\x00\x00\x08\x01" + images[4:])  # the magic number of a 1-D (labels) file
    with pytest.raises(DatasetFormatError, match=rf"{path}"):
        load_split("mnist", tmp_path, "test")
    path.write_bytes(b"GIF89a" + images[6:])
    with pytest.raises(DatasetFormatError, match=rf"{path}: not an IDX file \(magic number 47494638\)"):
        load_split("mnist", tmp_path, "test")


# --- Fashion-MNIST ----------------------------------------------------------------------------------------


def test_fashion_mnist_from_a_flat_folder(fashion_root: Path) -> None:
    train = load_split("fashion_mnist", fashion_root, "train")
    test = load_split("fashion_mnist", fashion_root, "test")
    assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
    assert torch.bincount(train.y).tolist() == [6000] * 10
    assert torch.bincount(test.y).tolist() == [1000] * 10
    assert 0.0 <= train.x.min().item() and train.x.max().item() == 1.0
    assert train.x.mean().item() == pytest.approx(0.2860, abs=1e-3)  # the published mean intensity
    dm = InfoVAEDataModule("fashion_mnist", root=fashion_root, batch_size=50, download=False)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.split_sizes == {"train": 55000, "val": 5000}
    x, y = first_batch(dm.train_dataloader())
    assert x.shape == (50, 1, 28, 28) and y.shape == (50,)


# --- missing data -----------------------------------------------------------------------------------------


EXPECTED_FILES = {
    "binarized_mnist": "binarized_mnist_train.amat[.gz], binarized_mnist_valid.amat[.gz], "
    "binarized_mnist_test.amat[.gz]",
    "mnist": "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz]",
    "fashion_mnist": "train-images-idx3-ubyte[.gz]",
    "cifar10": "cifar-10-batches-py/data_batch_1",
}


@pytest.mark.parametrize("name", ["binarized_mnist", "mnist", "fashion_mnist", "cifar10"])
def test_missing_data_without_download(name: str, tmp_path: Path, no_network: list[str]) -> None:
    dm = InfoVAEDataModule(name, root=tmp_path, download=False)
    with pytest.raises(DatasetNotFoundError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert "\n" not in message and isinstance(error.value, FileNotFoundError)
    assert message.startswith(f"{name}: {EXPECTED_FILES[name]}")
    assert str(tmp_path) in message and "data.root=" in message and "data.download=true" in message
    with pytest.raises(DatasetNotFoundError):
        dm.setup("fit")  # setup without prepare_data says the same
    assert no_network == []


@pytest.mark.parametrize("name", ["binarized_mnist", "mnist", "fashion_mnist", "cifar10"])
def test_failed_download_is_the_same_error(
    name: str, tmp_path: Path, no_network: list[str], monkeypatch
) -> None:
    dm = InfoVAEDataModule(name, root=tmp_path, download=True)
    with pytest.raises(DatasetNotFoundError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{name}: {EXPECTED_FILES[name]}")
    assert "download failed:" in message and "no network (mocked)" in message
    assert no_network, "no download was attempted"
    assert list(tmp_path.iterdir()) == []  # the failed attempt left no empty folders
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="download failed"):
        InfoVAEDataModule(name, download=True).prepare_data()  # into the default ./data
    assert list(tmp_path.iterdir()) == []  # nor the root it would have created


def test_digits_ship_with_scikit_learn_and_split_by_a_fixed_seed() -> None:
    dm = InfoVAEDataModule(name="digits", root="/nonexistent")  # reads no folder
    dm.setup(None)
    assert dm.split_sizes == {"train": 1397, "val": 200, "test": 200}
    x, y = dm.examples("train")
    assert x.shape[1:] == (1, 8, 8) and 0 <= float(x.min()) and float(x.max()) == 1.0
    assert sorted(torch.unique(y).tolist()) == list(range(10))
    again = InfoVAEDataModule(name="digits", seed=5)
    again.setup("fit")
    assert torch.equal(again.examples("val").x, dm.examples("val").x)  # held out whatever the seed
    assert gaussian_sigma("digits") == 1 / 32 and gaussian_sigma("mnist") == 0.5**0.5
