"""One LightningDataModule for every data set: splits, subsets, binarization and loaders.

Splits per data set (sizes overridable with `val_size` / `test_size`):

| data set | train | val | test |
| --- | --- | --- | --- |
| toy | `toy_size` (10,000) generated | 1,000 generated | 1,000 generated |
| digits (scikit-learn's 8×8) | the rest, 1,397 | 200 | 200 |
| binarized_mnist | official train, 50,000 | official valid, 10,000 | official test, 10,000 |
| mnist, fashion_mnist (`source=train`) | 55,000 | 5,000 held out of train | official test, 10,000 |
| cifar10 (`source=train`) | 45,000 | 5,000 held out of train | official test, 10,000 |
| any of the three (`source=test`) | the rest, 8,000 | 1,000 of the test file | 1,000 of the test file |

`source=test` exists for offline use: the data shipped beside this repository (`../shared/data`) holds
only the 10,000 MNIST test images, so `data.root=../shared/data data.source=test` splits them; it is never
substituted silently for a missing training file. `val_size`/`test_size` on an official split take a subset
of it. `train_size` (500 in the paper) then keeps a random subset of the training examples.

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

from . import digits
from .binarize import BatchTransform, check_mode, sample, threshold
from .errors import DatasetNotFoundError
from .examples import Examples, InMemoryDataset
from .shuffle import EpochShuffle, ResumableLoader
from .sources import NUM_CLASSES, OFFICIAL_SPLITS, check_name, ensure_available, input_shape, load_split
from .sources import natural_likelihood as _natural_likelihood
from .toy import toy

log = logging.getLogger(__name__)

DEFAULT_ROOT = "data"  # downloads go here when no data.root is given; the only root created if missing
SPLIT_SEED = 20170727  # fixes which examples are held out, whatever the run's seed
SOURCES = ("train", "test")
SPLITTABLE = ("mnist", "fashion_mnist", "cifar10")  # the data sets whose `source` can be chosen
BINARIZABLE = (*SPLITTABLE, "digits")  # grey-level data sets: dynamic binarization redraws their training x
NO_FILES = ("toy", "digits")  # nothing to read from data.root
# Default sizes of held-out splits: (val, test) from the training file, or from the test file.
HELD_OUT_FROM_TRAIN = 5000
HELD_OUT_FROM_TEST = (1000, 1000)
TOY_HELD_OUT = (1000, 1000)
DIGITS_HELD_OUT = (200, 200)
SPLITS = ("train", "val", "test")
# A split is held on the GPU only if it takes at most this share of the GPU memory still free: the rest is
# for the model, its activations and the other splits.
DEVICE_MEMORY_SHARE = 0.25
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": None}


class InfoVAEDataModule(L.LightningDataModule):
    """Any of `DATASETS` as in-memory tensors; batches are `(x, y)` with y = -1 where there are no labels.

    Args:
        name: one of toy, digits, mnist, fashion_mnist, binarized_mnist, cifar10.
        root: folder holding the files (flat, in a `mnist/`-style subfolder, or torchvision's layout);
            downloads go there. It must exist, except the default `data`, which a download creates. Ignored
            by `toy` and `digits`.
        batch_size: examples per batch, for every loader.
        num_workers: DataLoader worker processes (0 loads in the main process, fine for in-memory data).
        binarize: `dynamic` (Bernoulli draws, new for every training batch; drawn once, with a fixed seed,
            for val/test so that their metrics are comparable across epochs), `threshold` (x > 0.5) or
            `none`. A no-op for binarized_mnist (already binary); toy accepts only `none`.
        train_size: train on a random subset of this many examples (drawn with `seed`); None keeps all.
        val_size, test_size: sizes of the validation and test sets; None for the defaults in the table above.
        source: `train` or `test`: which official file of mnist/fashion_mnist/cifar10 supplies train/val.
        download: fetch missing files (torchvision, or the published URLs for binarized_mnist).
        seed: drives the training subset, the shuffling and dynamic binarization.
        toy_size: number of generated toy training points.
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
        source: str = "train",
        download: bool = True,
        seed: int = 0,
        toy_size: int = 10000,
        predict_split: str = "test",
        on_device: bool = True,
    ) -> None:
        super().__init__()
        root = os.fspath(root)  # hyperparameters must stay plain types: checkpoints load with weights_only
        check_name(name)
        check_mode(binarize)
        if name == "toy" and binarize != "none":
            raise ValueError(f"binarize={binarize!r} makes no sense for toy (x in {{-1, 1}}); use none")
        if predict_split not in SPLITS:
            raise ValueError(f"unknown predict_split {predict_split!r}; choose one of {', '.join(SPLITS)}")
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
        if source != "train" and name not in SPLITTABLE:
            raise ValueError(
                f"source={source!r} is only for {', '.join(SPLITTABLE)}; {name} has fixed splits"
            )
        sizes = dict(batch_size=batch_size, toy_size=toy_size, train_size=train_size)
        sizes.update(val_size=val_size, test_size=test_size)
        for key, value in sizes.items():
            if value is not None and value < 1:
                raise ValueError(f"{key} must be >= 1, got {value}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if name not in NO_FILES and not Path(root).expanduser().is_dir():
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
    def input_shape(self) -> tuple[int, ...]:
        return input_shape(self.dataset_name)

    @property
    def likelihood(self) -> str:
        """The decoder likelihood that fits the data: "bernoulli" for binary data, else "gaussian"."""
        return _natural_likelihood(self.dataset_name, self.hparams.binarize)

    @property
    def num_classes(self) -> int | None:
        return NUM_CLASSES[self.dataset_name]

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
        if split == "train" and self.hparams.binarize == "dynamic" and self.dataset_name in BINARIZABLE:
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

    def _official_splits(self) -> tuple[str, ...]:
        """The published files this configuration reads."""
        return ("test",) if self.hparams.source == "test" else OFFICIAL_SPLITS[self.dataset_name]

    def _load(self, split: str) -> Examples:
        return load_split(self.dataset_name, self.root, split, download=self.hparams.download)

    def _split(self, wanted: list[str]) -> dict[str, Examples]:
        """The examples of each of `wanted` ("train", "val", "test"), before binarization."""
        hp = self.hparams
        out: dict[str, Examples] = {}
        if self.dataset_name == "toy":
            # Three independent draws of the two-point distribution; seeds differ so no split repeats another.
            val_size, test_size = hp.val_size or TOY_HELD_OUT[0], hp.test_size or TOY_HELD_OUT[1]
            sizes = {"train": hp.toy_size, "val": val_size, "test": test_size}
            for split in wanted:
                out[split] = toy(sizes[split], seed=SPLIT_SEED + ("train", "val", "test").index(split))
        elif self.dataset_name == "digits":
            sizes = {"val": hp.val_size or DIGITS_HELD_OUT[0], "test": hp.test_size or DIGITS_HELD_OUT[1]}
            held_out = _hold_out(digits.load(), sizes)
            out.update({split: held_out[split] for split in wanted})
        elif self.dataset_name == "binarized_mnist":
            official = {"train": "train", "val": "valid", "test": "test"}
            limits = {"train": None, "val": hp.val_size, "test": hp.test_size}
            for split in wanted:
                examples = self._load(official[split])
                # The published test file is sorted by digit (the 0s first, the 1s next, ...): in file order
                # a batch holds one class, which inflates a batch's D(q(z)||p(z)), and a metric's first n
                # examples (max_examples) would be nearly all 0s. A fixed permutation mixes it.
                size = len(examples) if split == "test" and limits[split] is None else limits[split]
                out[split] = _subset(examples, size, f"{split}_size", SPLIT_SEED)
        elif hp.source == "train":
            if "test" in wanted:
                out["test"] = _subset(self._load("test"), hp.test_size, "test_size", SPLIT_SEED)
            if "train" in wanted or "val" in wanted:
                val_size = hp.val_size or HELD_OUT_FROM_TRAIN
                held_out = _hold_out(self._load("train"), {"val": val_size})
                out.update({split: held_out[split] for split in ("train", "val") if split in wanted})
        else:
            sizes = {
                "test": hp.test_size or HELD_OUT_FROM_TEST[1],
                "val": hp.val_size or HELD_OUT_FROM_TEST[0],
            }
            held_out = _hold_out(self._load("test"), sizes)
            out.update({split: held_out[split] for split in wanted})
        if "train" in out and hp.train_size is not None:
            out["train"] = _subset(out["train"], hp.train_size, "train_size", hp.seed)
        return out

    def _binarize(self, split: str, examples: Examples) -> Examples:
        mode = self.hparams.binarize
        if self.dataset_name == "binarized_mnist" or mode == "none":
            return examples  # binarized MNIST is binary already
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
        # Binarized MNIST is binary already: redrawing it would change nothing but cost time.
        dynamic = train and self.hparams.binarize == "dynamic" and self.dataset_name in BINARIZABLE
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
        # The fit loop's progress counters: the count Lightning itself restores on resume.
        return int(trainer.fit_loop.epoch_loop.batch_progress.current.completed)


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
