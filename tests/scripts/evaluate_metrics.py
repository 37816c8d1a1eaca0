"""Runs every scalar metric once (`trainer.validate`) on a fixed model, with N processes; rank 0 writes JSON.

Used by tests/test_metric_callbacks.py to check that 1 process and 2 DDP processes (gloo) give equal values:
`python evaluate_metrics.py <data root> <devices> <out.json>`. Lightning's DDP launcher re-runs this script
for the other ranks, so it is a file of its own rather than code inside a test.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import lightning as L
import torch

from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.metrics import (
    ClassDistributionCE,
    Evaluator,
    FullMMD,
    ImportanceSampledNLL,
    LatentUsage,
    LogDetCovariance,
    SemiSupervisedAccuracy,
)
from infovae_lightning.metrics.classifier import FORMAT_VERSION, DigitCNN, save_classifier
from infovae_lightning.models import MMDVAE


def main(root: str, devices: int, out: str) -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    L.seed_everything(0)
    model = MMDVAE(latent_dim=3, input_shape=[1, 28, 28], net={"name": "mlp", "hidden": [64]})
    with torch.no_grad():  # an untrained encoder barely varies with x: spread it, for non-trivial values
        for param in model.encoder.parameters():
            param.mul_(4.0)
    data = InfoVAEDataModule(name="binarized_mnist", root=root, download=False, val_size=301, batch_size=50)
    labelled = InfoVAEDataModule(name="mnist", root=root, source="test", binarize="dynamic", download=False)
    # An untrained classifier labels samples just as deterministically as a trained one. Only the launching
    # process writes it: Lightning's DDP launcher re-runs this script for rank 1 (with LOCAL_RANK set).
    classifier = Path(out).with_suffix(".classifier.pt")
    if "LOCAL_RANK" not in os.environ:
        cnn = DigitCNN()
        meta = dict(data="mnist", domain="mnist_digits", input_shape=[1, 28, 28], num_classes=10)
        save_classifier(cnn, meta | dict(arch=cnn.arch, format_version=FORMAT_VERSION), classifier)
    # 301 examples and chunks of 40: 8 chunks, the last one partial, shared 4/4 between two ranks.
    common = dict(chunk_size=40, seed=7)
    metrics = [
        FullMMD(kernel="imq", estimator="unbiased", block_size=64, **common),
        LogDetCovariance(**common),
        LatentUsage(block_size=50, **common),
        ImportanceSampledNLL(num_samples=50, max_pairs=1000, every_n_val_epochs=1, **common),
        SemiSupervisedAccuracy(budgets=[100, "all"], eval_data=labelled, every_n_val_epochs=1, **common),
        ClassDistributionCE(str(classifier), 333, eval_data=labelled, every_n_val_epochs=1, **common),
    ]
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        callbacks=[Evaluator(metrics)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.validate(model, datamodule=data, verbose=False)
    if trainer.is_global_zero:
        # The model's own terms, over the DistributedSampler.
        model_terms = ("val/loss", "val/recon", "val/recon_bpd", "val/kl", "val/div")
        values = {k: float(v) for k, v in trainer.callback_metrics.items() if k not in model_terms}
        values["world_size"] = trainer.world_size
        with open(out, "w") as f:
            json.dump(values, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
