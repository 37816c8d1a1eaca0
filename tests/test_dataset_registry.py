"""The data-set registry: one record per data set, every consumer asks it, and a new data set is one module
(here: this test) plus one YAML."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import compose_config
from omegaconf import OmegaConf

from infovae_lightning.data import (
    DatasetSpec,
    InfoVAEDataModule,
    SplitPlan,
    classifiable_datasets,
    classifier_domain,
    dataset_names,
    dataset_spec,
    likelihood_defaults,
    load_split,
    register_dataset,
    selectable_sources,
    unregister_dataset,
)
from infovae_lightning.data.examples import Examples
from infovae_lightning.data.registry import SPLITS
from infovae_lightning.run.train import CONFIG_DIR, run

TINY = "tiny_blobs"
TINY_SIZE = 120
TINY_SHAPE = (1, 4, 4)


def load_tiny(root: Path, split: str, download: bool) -> Examples:
    """A labelled in-memory data set: random 4×4 intensities in three classes (reads nothing from `root`)."""
    generator = torch.Generator().manual_seed(7)
    x = torch.rand(TINY_SIZE, *TINY_SHAPE, generator=generator)
    return Examples(x, torch.randint(0, 3, (TINY_SIZE,), generator=generator))


@pytest.fixture
def tiny() -> Iterator[DatasetSpec]:
    spec = DatasetSpec(
        name=TINY,
        input_shape=TINY_SHAPE,
        num_classes=3,
        levels=None,
        load=load_tiny,
        official_splits=("all",),
        sources={"train": SplitPlan(files=dict.fromkeys(SPLITS, "all"), held_out={"val": 20, "test": 10})},
    )
    register_dataset(spec)
    yield spec
    unregister_dataset(TINY)


def test_the_built_in_records() -> None:
    assert dataset_names() == ("toy", "digits", "mnist", "fashion_mnist", "binarized_mnist", "cifar10")
    assert {name: dataset_spec(name).num_classes for name in dataset_names()} == {
        "toy": 2,
        "digits": 10,
        "mnist": 10,
        "fashion_mnist": 10,
        "binarized_mnist": None,
        "cifar10": 10,
    }
    assert {name: selectable_sources(name) for name in ("toy", "digits", "mnist", "binarized_mnist")} == {
        "toy": ("train",),
        "digits": ("train",),
        "mnist": ("train", "test"),
        "binarized_mnist": ("train",),
    }
    assert dataset_spec("binarized_mnist").official_splits == ("train", "valid", "test")
    # One MNIST classifier serves both MNISTs; the others have their own; toy and digits have none.
    assert classifiable_datasets() == ("mnist", "fashion_mnist", "binarized_mnist", "cifar10")
    assert classifier_domain("binarized_mnist") == classifier_domain("mnist") == "mnist_digits"
    assert dataset_spec("binarized_mnist").classifier_data == "mnist"
    assert classifier_domain("digits") is None


def test_likelihood_defaults_per_data_set() -> None:
    assert likelihood_defaults("digits") == {
        "name": "gaussian",
        "sigma": 1 / 32,
        "learn_sigma": False,
        "levels": 17,
        "sigma_min": 1 / 16,
    }
    grey = likelihood_defaults("mnist")
    assert grey == {"name": "gaussian", "sigma": math.sqrt(0.5), "learn_sigma": False, "levels": 256} | {
        "sigma_min": 0.01
    }
    assert likelihood_defaults("cifar10") == likelihood_defaults("fashion_mnist") == grey
    assert likelihood_defaults("mnist", "dynamic")["name"] == "bernoulli"
    assert likelihood_defaults("cifar10", "none", "pixelcnn")["name"] == "logistic_mixture"
    assert likelihood_defaults("toy") == {
        "name": "gaussian",
        "sigma": 1.0,
        "learn_sigma": True,
        "levels": None,
        "sigma_min": 0.0,
    }
    assert likelihood_defaults("binarized_mnist", "none", "pixelcnn")["name"] == "bernoulli"


@pytest.mark.parametrize("name", ["toy", "digits", "binarized_mnist", "cifar10"])
def test_the_config_resolves_the_same_likelihood_as_likelihood_defaults(name: str, tmp_path: Path) -> None:
    """train.py's resolvers and the CLI's `likelihood_defaults` give one answer."""
    cfg = compose_config([f"data={name}"], tmp_path)
    resolved = OmegaConf.to_container(cfg.model.likelihood, resolve=True)
    expected = likelihood_defaults(name, cfg.data.binarize, cfg.net.decoder.name)
    assert {key: resolved[key] for key in expected} == expected


def test_every_registered_data_set_has_a_config_and_every_config_a_record() -> None:
    configs = {path.stem: OmegaConf.load(path) for path in (CONFIG_DIR / "data").glob("*.yaml")}
    assert sorted(configs) == sorted(dataset_names())
    assert {stem: config.name for stem, config in configs.items()} == {stem: stem for stem in configs}


def test_unknown_duplicate_and_inconsistent_records_are_refused(tiny: DatasetSpec) -> None:
    with pytest.raises(ValueError, match=f"unknown data set 'svhn'; choose one of toy, digits, .*, {TINY}$"):
        dataset_spec("svhn")
    with pytest.raises(ValueError, match=f"'{TINY}' is already registered"):
        register_dataset(tiny)
    assert register_dataset(tiny, replace=True) is tiny
    with pytest.raises(ValueError, match="give exactly one of load .* and generate"):
        DatasetSpec(
            name="nothing", input_shape=(1,), num_classes=None, levels=None, sources={"train": SplitPlan()}
        )
    with pytest.raises(ValueError, match="source 'train': files must map"):
        DatasetSpec(
            name="half",
            input_shape=(1,),
            num_classes=None,
            levels=None,
            load=load_tiny,
            official_splits=("all",),
            sources={"train": SplitPlan(files={"train": "all"})},
        )


def test_a_new_data_set_is_served_split_and_described_by_its_record(tiny: DatasetSpec) -> None:
    dm = InfoVAEDataModule(TINY, root="nowhere", batch_size=16)  # reads no files: the root is not checked
    dm.setup(None)
    assert dm.split_sizes == {"train": TINY_SIZE - 30, "val": 20, "test": 10}
    assert (dm.input_shape, dm.num_classes, dm.likelihood) == (TINY_SHAPE, 3, "gaussian")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, *TINY_SHAPE) and y.dtype == torch.int64
    # The held-out examples are distinct examples of the one file.
    everything = load_split(TINY, "nowhere", "all").x.flatten(1)
    parts = torch.cat([dm.examples(split).x.flatten(1) for split in SPLITS])
    assert torch.equal(parts.unique(dim=0), everything.unique(dim=0))
    with pytest.raises(ValueError, match=f"source='test' is only for mnist, fashion_mnist, cifar10; {TINY}"):
        InfoVAEDataModule(TINY, source="test")


def test_a_new_data_set_is_one_module_plus_one_yaml_and_trains(tiny: DatasetSpec, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "data").mkdir(parents=True)
    yaml = f"defaults:\n  - /schema/data/data@_here_\n  - _self_\nname: {TINY}\nbatch_size: 30\n"
    (conf / "data" / f"{TINY}.yaml").write_text(yaml)
    overrides = [f"hydra.searchpath=[file://{conf}]", f"data={TINY}", "model=mmd", "trainer.max_steps=3"]
    overrides += ["metrics=none", "logger=none"]
    overrides += ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    cfg = compose_config(overrides, output_dir=tmp_path / "run")
    assert cfg.model.input_shape == list(TINY_SHAPE)  # resolved from the record, as for a built-in data set
    metrics = run(cfg)
    assert math.isfinite(metrics["train/loss"])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 3
    assert summary["config"]["data"]["name"] == TINY
    assert summary["config"]["model"]["likelihood"]["levels"] is None  # the record's continuous data
