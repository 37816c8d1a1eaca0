"""The classifier behind class_dist_ce: architecture, safe save/load with clear errors, training and CLI."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from infovae_lightning.data import classifier_domain
from infovae_lightning.metrics.classifier import (
    FORMAT_VERSION,
    ClassifierError,
    DigitCNN,
    load_classifier,
    save_classifier,
)
from infovae_lightning.run.classifier_training import augment, main, train_classifier

MNIST_SHAPE = (1, 28, 28)


def make_meta(model: DigitCNN, data: str = "mnist") -> dict:
    """Metadata as `train_classifier` writes it, for an untrained model."""
    return dict(
        data=data,
        domain=classifier_domain(data),
        input_shape=list(model.input_shape),
        num_classes=model.arch["num_classes"],
        arch=dict(model.arch),
        test_accuracy=0.1,
        test_accuracy_binarized=0.1,
        train_examples=0,
        source="test",
        created="2024-01-01T00:00:00+00:00",
        format_version=FORMAT_VERSION,
    )


@pytest.fixture
def saved(tmp_path: Path) -> tuple[DigitCNN, Path]:
    torch.manual_seed(0)
    model = DigitCNN().eval()
    path = tmp_path / "sub" / "dir" / "mnist.pt"  # parent folders are created
    save_classifier(model, make_meta(model), path)
    return model, path


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_output_shapes(shape: tuple[int, int, int]) -> None:
    model = DigitCNN(in_channels=shape[0], image_size=shape[1], num_classes=7)
    assert model(torch.rand(5, *shape)).shape == (5, 7)
    assert model(torch.rand(5, shape[0] * shape[1] * shape[2])).shape == (5, 7)  # flat decoder outputs


def test_augment_keeps_range_and_binarizes_about_half() -> None:
    x = torch.rand(400, *MNIST_SHAPE) * 0.8 + 0.1  # no pixel is 0 or 1 before augmentation
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    binary = ((out == 0) | (out == 1)).flatten(1).all(1)
    assert 150 < int(binary.sum()) < 250


def test_save_load_round_trip(saved: tuple[DigitCNN, Path]) -> None:
    model, path = saved
    raw = torch.load(path, map_location="cpu", weights_only=True)  # only plain types and tensors
    assert set(raw) == {"state_dict", "meta"}
    loaded, meta = load_classifier(path, "binarized_mnist", [1, 28, 28])  # same domain as mnist
    assert not loaded.training
    assert meta == make_meta(model)
    x = torch.rand(8, *MNIST_SHAPE)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_missing_file_says_how_to_make_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(ClassifierError, match="infovae-classifier --data mnist") as info:
        load_classifier(path, "binarized_mnist", MNIST_SHAPE)
    assert str(path) in str(info.value) and "--source test" in str(info.value)


def test_wrong_domain(tmp_path: Path) -> None:
    model = DigitCNN()
    path = tmp_path / "fashion.pt"
    save_classifier(model, make_meta(model, "fashion_mnist"), path)
    with pytest.raises(
        ClassifierError, match="classifies fashion_mnist .* needs a mnist_digits classifier"
    ) as info:
        load_classifier(path, "mnist", MNIST_SHAPE)
    assert f"infovae-classifier --data mnist --root <data dir> --out {tmp_path / 'mnist_digits.pt'}" in str(
        info.value
    )
    load_classifier(path, "fashion_mnist", MNIST_SHAPE)


def test_shape_mismatch(saved: tuple[DigitCNN, Path]) -> None:
    _, path = saved
    with pytest.raises(ClassifierError, match=r"shape \[1, 28, 28\], but the model's are \[1, 32, 32\]"):
        load_classifier(path, "mnist", (1, 32, 32))


def test_unknown_data(saved: tuple[DigitCNN, Path]) -> None:
    _, path = saved
    with pytest.raises(ClassifierError, match="no classifier for data 'toy'"):
        load_classifier(path, "toy", (1,))


class NotPlain:
    pass


@pytest.mark.parametrize("kind", ["garbage", "truncated", "no_meta", "pickled_object", "bad_weights"])
def test_not_a_classifier(saved: tuple[DigitCNN, Path], kind: str) -> None:
    model, path = saved
    if kind == "garbage":
        path.write_bytes(b"this is not a checkpoint\n" * 10)
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif kind == "no_meta":
        torch.save({"state_dict": model.state_dict()}, path)
    elif kind == "pickled_object":  # weights_only refuses to build arbitrary objects
        path.write_bytes(pickle.dumps(NotPlain(), protocol=2))
    else:
        meta = make_meta(model)
        meta["arch"]["width"] = 8
        torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    with pytest.raises(ClassifierError, match="is not a classifier checkpoint|do not fit") as info:
        load_classifier(path, "mnist", MNIST_SHAPE)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_binarized_mnist_has_no_labels_to_train_on() -> None:
    with pytest.raises(ClassifierError, match="--data mnist"):
        train_classifier("binarized_mnist", "unused")


@pytest.mark.needs_data
def test_short_training_beats_chance(offline_data: Path) -> None:
    lines: list[str] = []
    model, meta = train_classifier(
        "mnist", str(offline_data), source="test", epochs=2, train_size=2000, log=lines.append
    )
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2")
    assert not model.training
    assert meta["test_accuracy"] > 0.9 and meta["test_accuracy_binarized"] > 0.9
    assert meta["train_examples"] == 2000 and meta["input_shape"] == [1, 28, 28]
    assert meta["domain"] == "mnist_digits" and meta["num_classes"] == 10


@pytest.mark.needs_data
def test_cli_trains_and_saves(offline_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "classifiers" / "mnist.pt"
    argv = ["--data", "mnist", "--root", str(offline_data), "--source", "test", "--out", str(out)]
    assert main([*argv, "--epochs", "1", "--train-size", "500"]) == 0
    printed = capsys.readouterr().out
    assert "epoch 1/1" in printed and "test accuracy" in printed and str(out) in printed
    _, meta = load_classifier(out, "mnist", MNIST_SHAPE)
    assert meta["source"] == "test" and meta["train_examples"] == 500


def test_cli_missing_root(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no_such_dir"
    assert main(["--data", "mnist", "--root", str(missing), "--out", str(tmp_path / "c.pt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(missing) in err and "--root" in err and err.count("\n") == 1
    assert not (tmp_path / "c.pt").exists()


@pytest.mark.slow
@pytest.mark.needs_data
def test_defaults_reach_98_percent(offline_data: Path) -> None:
    _, meta = train_classifier("mnist", str(offline_data), source="test")
    assert meta["train_examples"] == 8000
    assert meta["test_accuracy"] >= 0.98 and meta["test_accuracy_binarized"] >= 0.98
