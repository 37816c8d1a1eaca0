"""One LightningDataModule for every registered data set: splits, subsets, binarization and loaders.

Each data set's record (`registry.DatasetSpec`, in the data set's own module) says where its splits come
from, per `source`: the official file of each, and which are held out of the training file with their
default sizes (`val_size` / `test_size` override them); a generated data set draws each split. `source=test`
exists for offline use: the data shipped beside this repository (`../shared/data`) holds only the 10,000
MNIST test images, so `data.root=../shared/data data.source=test` splits them (8,000 / 1,000 / 1,000); it
is never substituted silently for a missing training file. `val_size`/`test_size` on an official split take
a subset of it. `train_size` (500 in the paper) then keeps a random subset of the training examples.

Held-out examples are chosen with a fixed seed, not `seed`, so every run of a sweep over seeds is validated
and tested on the same examples; `seed` drives the training subset, the shuffling and dynamic binarization.

Batches are served from memory by one indexing operation each (`InMemoryDataset.__getitems__`). When the
trainer runs on a GPU, each split is copied there once (`on_device`), so that a batch is indexed on the GPU
and dynamically binarized there: no pinned host copy and no host-to-device transfer per batch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from infovae_lightning.run.seeding import derive_seed

from .binarize import BatchTransform, check_mode, sample, threshold
from .errors import DatasetNotFoundError
from .examples import Examples, InMemoryDataset
from .registry import (
    DEFAULT_SOURCE,
    SPLITS,
    DatasetSpec,
    SplitPlan,
    dataset_names,
    dataset_spec,
    ensure_available,
    load_split,
    natural_likelihood,
)
from .shuffle import EpochShuffle, ResumableLoader

log = logging.getLogger(__name__)

DEFAULT_ROOT = "data"  # downloads go here when no data.root is given; the only root created if missing
SPLIT_SEED = 20170727  # fixes which examples are held out, whatever the run's seed
# A split is held on the GPU only if it takes at most this share of the GPU memory still free: the rest is
# for the model, its activations and the other splits.
DEVICE_MEMORY_SHARE = 0.25
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": None}


class InfoVAEDataModule(L.LightningDataModule):
    """Any registered data set (`dataset_names()`) as in-memory tensors; batches are `(x, y)` with y = -1
    where there are no labels.

    Args:
        name: a registered data set: toy, digits, mnist, fashion_mnist, binarized_mnist, cifar10, or one of
            your own (`register_dataset`).
        root: folder holding the files (flat, in a `mnist/`-style subfolder, or torchvision's layout);
            downloads go there. It must exist, except the default `data`, which a download creates. Ignored
            by data sets that read no files (toy, digits).
        batch_size: examples per batch, for every loader.
        num_workers: DataLoader worker processes (0 loads in the main process, fine for in-memory data).
        binarize: `dynamic` (Bernoulli draws, new for every training batch; drawn once, with a fixed seed,
            for val/test so that their metrics are comparable across epochs), `threshold` (x > 0.5) or
            `none`. A no-op on binary data (binarized_mnist); data that are not intensities in [0, 1] (toy)
            accept only `none`.
        train_size: train on a random subset of this many examples (drawn with `seed`); None keeps all.
        val_size, test_size: sizes of the validation and test sets; None for the data set's defaults.
        source: which official file supplies train/val: `train`, or `test` for the data sets published as
            train and test files (mnist, fashion_mnist, cifar10; see `selectable_sources`).
        download: fetch missing files (torchvision, or the published URLs for binarized_mnist).
        seed: drives the training subset, the shuffling and dynamic binarization.
        toy_size: number of generated training points (the toy data set).
        predict_split: the split `trainer.predict` encodes ("train", "val" or "test"), as evaluation sees it.
        on_device: when the trainer's device is a GPU, copy each split there once and index batches there
            (if it fits in a quarter of the free GPU memory, and with `num_workers=0`: worker processes
            cannot share GPU tensors); otherwise batches are indexed in host memory, pinned, and copied.
    """

    def __init__(
        self,
        name: str = "binarized_mnist",
        root: str | os.PathLike[str] = DEFAULT_ROOT,
        batch_size: int = 100,
        num_workers: int = 0,
        binarize: str = "none",
        train_size: int | None = None,
        val_size: int | None = None,
        test_size: int | None = None,
        source: str = DEFAULT_SOURCE,
        download: bool = True,
        seed: int = 0,
        toy_size: int = 10000,
        predict_split: str = "test",
        on_device: bool = True,
    ) -> None:
        super().__init__()
        root = os.fspath(root)  # hyperparameters must stay plain types: checkpoints load with weights_only
        spec = dataset_spec(name)
        check_mode(binarize)
        if binarize != "none" and not spec.intensities:
            low, high = spec.value_range
            raise ValueError(
                f"binarize={binarize!r} makes no sense for {name} (x in [{low:g}, {high:g}], not intensities "
                "in [0, 1]); use none"
            )
        if predict_split not in SPLITS:
            raise ValueError(f"unknown predict_split {predict_split!r}; choose one of {', '.join(SPLITS)}")
        check_source(name, source)
        sizes = dict(batch_size=batch_size, toy_size=toy_size, train_size=train_size)
        sizes.update(val_size=val_size, test_size=test_size)
        for key, value in sizes.items():
            if value is not None and value < 1:
                raise ValueError(f"{key} must be >= 1, got {value}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if spec.fetch is not None and not Path(root).expanduser().is_dir():
            # Only the default folder is created for a download: another path that does not exist is far more
            # likely a typo than a wish to download the data set into a new folder there.
            if not download or Path(root) != Path(DEFAULT_ROOT):
                raise DatasetNotFoundError(
                    f"{name}: data.root {root} does not exist; set data.root=<folder holding the data>, "
                    f"or create it, or leave data.root unset to download into ./{DEFAULT_ROOT}"
                )
        self.save_hyperparameters()
        self.dataset_name = name
        self.root = Path(root).expanduser()
        self.datasets: dict[str, InMemoryDataset] = {}
        self._device_datasets: dict[tuple[str, torch.device], InMemoryDataset] = {}  # copies on a GPU

    # --- static facts ---------------------------------------------------------------------------------

    @property
    def spec(self) -> DatasetSpec:
        """The data set's record, looked up by name: the module keeps plain values only, so it pickles."""
        return dataset_spec(self.dataset_name)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.spec.input_shape)

    @property
    def likelihood(self) -> str:
        """The decoder likelihood that fits the data: "bernoulli" for binary data, else "gaussian"."""
        return natural_likelihood(self.dataset_name, self.hparams.binarize)

    @property
    def num_classes(self) -> int | None:
        return self.spec.num_classes

    @property
    def split_sizes(self) -> dict[str, int]:
        """The number of examples in each split set up so far."""
        return {split: len(dataset) for split, dataset in self.datasets.items()}

    def examples(self, split: str) -> Examples:
        """The examples of `split` ("train", "val", "test") as a model sees them, set up on first use.

        For evaluation: the dynamically binarized training split, which training redraws every batch, is
        drawn here once with a fixed seed, so that metrics using it (a linear probe's labelled pool) are
        reproducible.
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        self._setup_splits([split])
        examples = self.datasets[split].examples
        if split == "train" and self.hparams.binarize == "dynamic" and not self.spec.binary:
            generator = torch.Generator().manual_seed(SPLIT_SEED + 2)
            examples = Examples(sample(examples.x, generator), examples.y)
        return examples

    # --- Lightning hooks ------------------------------------------------------------------------------

    def prepare_data(self) -> None:
        """Downloads missing files (Lightning calls this on one process per node only)."""
        ensure_available(self.dataset_name, self.root, self._official_splits(), self.hparams.download)

    def setup(self, stage: str | None = None) -> None:
        """Loads and splits what `stage` (fit, validate, test, predict; None for all) needs, once."""
        if stage is not None and stage not in STAGE_SPLITS:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGE_SPLITS)}")
        wanted = SPLITS if stage is None else STAGE_SPLITS[stage] or (self.hparams.predict_split,)
        self._setup_splits(list(wanted))

    def _setup_splits(self, wanted: list[str]) -> None:
        missing = [split for split in wanted if split not in self.datasets]
        if missing:
            for split, examples in self._split(missing).items():
                self.datasets[split] = InMemoryDataset(self._binarize(split, examples))

    def loader_device(self) -> torch.device | None:
        """The device the loaders hold and index the data on: the trainer's GPU under `on_device` (and no
        worker processes), else None (host memory)."""
        trainer = self.trainer
        if trainer is None or not self.hparams.on_device or self.hparams.num_workers > 0:
            return None
        device = trainer.strategy.root_device
        return device if device.type == "cuda" else None

    def _on_device(self, split: str, dataset: InMemoryDataset, device: torch.device) -> InMemoryDataset:
        """`dataset` copied to `device` once (per split), or left in host memory if it would not fit."""
        key = (split, device)
        if key not in self._device_datasets:
            x, y = dataset.examples
            size = x.element_size() * x.nelement() + y.element_size() * y.nelement()
            free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else float("inf")
            if size > DEVICE_MEMORY_SHARE * free:
                log.info(
                    "%s split (%.0f MB) left in host memory: too large for %s", split, size / 2**20, device
                )
                return dataset
            self._device_datasets[key] = InMemoryDataset(Examples(x.to(device), y.to(device)))
        return self._device_datasets[key]

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> DataLoader:
        # The split as `examples` gives it: a dynamically binarized train split is drawn once, reproducibly.
        split = self.hparams.predict_split
        return self._loader(split, train=False, dataset=InMemoryDataset(self.examples(split)))

    # --- splits ---------------------------------------------------------------------------------------

    def _plan(self) -> SplitPlan:
        return self.spec.sources[self.hparams.source]

    def _official_splits(self) -> tuple[str, ...]:
        """The published files this configuration reads."""
        return tuple(dict.fromkeys(self._plan().files.values()))

    def _load(self, split: str) -> Examples:
        return load_split(self.dataset_name, self.root, split, download=self.hparams.download)

    def _split(self, wanted: list[str]) -> dict[str, Examples]:
        """The examples of each of `wanted` ("train", "val", "test"), before binarization, as the data set's
        `SplitPlan` for this `source` says."""
        hp, spec, plan = self.hparams, self.spec, self._plan()
        asked = {"train": None, "val": hp.val_size, "test": hp.test_size}
        held_out = {split: asked[split] or size for split, size in plan.held_out.items()}
        out: dict[str, Examples] = {}
        if spec.generate is not None:
            # Independent draws; seeds differ so that no split repeats another.
            sizes = {"train": hp.toy_size, **held_out}
            for split in wanted:
                out[split] = spec.generate(sizes[split], SPLIT_SEED + SPLITS.index(split))
        else:
            if held_out and any(split in wanted for split in ("train", *held_out)):
                rest = _hold_out(self._load(plan.files["train"]), held_out)
                out.update({split: rest[split] for split in ("train", *held_out) if split in wanted})
            for split in wanted:
                if split in out:
                    continue
                file = plan.files[split]
                examples = self._load(file)
                # A file stored in order (e.g. by class) is mixed by a fixed permutation even when used whole.
                size = len(examples) if file in spec.sorted_files and asked[split] is None else asked[split]
                out[split] = _subset(examples, size, f"{split}_size", SPLIT_SEED)
        if "train" in out and hp.train_size is not None:
            out["train"] = _subset(out["train"], hp.train_size, "train_size", hp.seed)
        return {split: out[split] for split in wanted}

    def _binarize(self, split: str, examples: Examples) -> Examples:
        mode = self.hparams.binarize
        if self.spec.binary or mode == "none":
            return examples  # binary data are binary already
        if mode == "threshold":
            return Examples(threshold(examples.x), examples.y)
        if split == "train":
            return examples  # intensities: BatchTransform draws each batch afresh
        generator = torch.Generator().manual_seed(SPLIT_SEED + (split == "test"))
        return Examples(sample(examples.x, generator), examples.y)

    # --- loaders --------------------------------------------------------------------------------------

    def _loader(self, split: str, train: bool, dataset: InMemoryDataset | None = None) -> DataLoader:
        """A loader of `split` (or of `dataset`). The training one shuffles by epoch and redraws dynamic
        binarizations."""
        if split not in self.datasets:
            stage = "fit" if split == "train" else "test" if split == "test" else "validate"
            raise RuntimeError(f"no {split} data: call setup({stage!r}) before {split}_dataloader()")
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        on_gpu = torch.cuda.is_available() and (
            trainer is None or trainer.strategy.root_device.type == "cuda"
        )
        # Binary data stay as they are: redrawing them would change nothing but cost time.
        dynamic = train and self.hparams.binarize == "dynamic" and not self.spec.binary
        # Ranks of a multi-GPU run draw different binarizations.
        transform = BatchTransform(dynamic=dynamic, seed=derive_seed(self.hparams.seed, rank))
        device = self.loader_device()
        if dataset is None:
            dataset = self.datasets[split]
            if device is not None:
                dataset = self._on_device(split, dataset, device)
        elif device is not None:
            dataset = InMemoryDataset(Examples(*(t.to(device) for t in dataset.examples)))
        in_host_memory = dataset.examples.x.device.type == "cpu"
        sampler = EpochShuffle(dataset, transform, world, rank, self.hparams.seed) if train else None
        resumable = {"progress": self._batches_trained} if train else {}
        return (ResumableLoader if train else DataLoader)(
            dataset,
            batch_size=self.hparams.batch_size,
            sampler=sampler,
            drop_last=False,
            num_workers=self.hparams.num_workers,
            # Workers start afresh every epoch, so they see the epoch that seeds their draws (BatchTransform);
            # with the data in memory, starting them costs little.
            persistent_workers=False,
            pin_memory=on_gpu and in_host_memory,
            collate_fn=transform,
            **resumable,
        )

    def _batches_trained(self) -> int:
        """Training batches of the current epoch done so far (0 outside `fit`), for `ResumableLoader`."""
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return 0
        # The fit loop's progress counters, as Lightning restores them on resume: `processed`, since a
        # checkpoint saved in `on_train_batch_end` (a stop, see `LatestCheckpoint`) precedes that batch's
        # `completed` count, which Lightning then adds on restart.
        return int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)


def check_source(name: str, source: str) -> str:
    """`source` if data set `name` has it; else a `ValueError` naming the data sets that do."""
    if source in dataset_spec(name).sources:
        return source
    having = [other for other in dataset_names() if source in dataset_spec(other).sources]
    if not having:
        known = dict.fromkeys(s for other in dataset_names() for s in dataset_spec(other).sources)
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(known)}")
    raise ValueError(f"source={source!r} is only for {', '.join(having)}; {name} has fixed splits")


def _subset(examples: Examples, size: int | None, key: str, seed: int) -> Examples:
    """A random subset of `size` examples drawn with `seed`; all of them when `size` is None."""
    if size is None:
        return examples
    if size > len(examples):
        raise ValueError(f"{key}={size} exceeds the {len(examples)} examples available")
    index = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed))[:size]
    return examples.take(index)


def _hold_out(examples: Examples, sizes: dict[str, int]) -> dict[str, Examples]:
    """Splits off held-out sets of the given sizes (with the fixed split seed); the rest is "train"."""
    total = sum(sizes.values())
    if total >= len(examples):
        asked = ", ".join(f"{split}_size={size}" for split, size in sizes.items())
        raise ValueError(f"{asked} leave no training examples out of {len(examples)}")
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(SPLIT_SEED))
    out, start = {}, 0
    for split, size in sizes.items():
        out[split] = examples.take(order[start : start + size])
        start += size
    out["train"] = examples.take(order[start:])
    return out
