"""One training step of each model with a batch-statistic divergence (MMD, Stein, adversarial), on 1 process
or on 2 DDP processes (gloo) that share the same examples; rank 0 saves D and every parameter gradient.

`python ddp_divergence.py <devices> <out.pt>`. With 2 processes each holds half of the 16 examples (batch 8),
with 1 process the batch is all 16: the same objective, so the same D and gradients (after DDP's averaging).
The encoder is deterministic and the prior samples are fixed, so nothing else differs between the two runs.
Lightning's DDP launcher re-runs this script for rank 1, so it is a file of its own.
"""

from __future__ import annotations

import sys
import warnings

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from infovae_lightning.models import MMDVAE, AdversarialAE, SteinVAE

EXAMPLES, LATENT = 16, 2
PRIOR = torch.randn(EXAMPLES, LATENT, generator=torch.Generator().manual_seed(1))


def with_fixed_prior(cls: type) -> type:
    """`cls` whose prior samples are this process's share of `PRIOR` (all of it on one process)."""

    def sample_prior(self, n: int) -> torch.Tensor:
        start = self.global_rank * n
        return PRIOR[start : start + n].to(self.device)

    return type(cls.__name__, (cls,), {"sample_prior": sample_prior})


class Gradients(L.Callback):
    def on_after_backward(self, trainer, pl_module) -> None:  # after DDP's all-reduce; the last one wins
        self.grads = {n: p.grad.clone() for n, p in pl_module.named_parameters() if p.grad is not None}


def strategy(cls: type, devices: int) -> str:
    if devices == 1:
        return "auto"
    # Each AAE player's backward pass leaves the other's parameters unused, which DDP must be told.
    return "ddp_find_unused_parameters_true" if cls is AdversarialAE else "ddp"


def main(devices: int, out: str) -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    x = torch.randn(EXAMPLES, 4, generator=torch.Generator().manual_seed(2))
    data = TensorDataset(x, torch.zeros(EXAMPLES, dtype=torch.long))
    results = {}
    for cls, lam in [(MMDVAE, 1000.0), (SteinVAE, 1000.0), (AdversarialAE, 1.0)]:
        L.seed_everything(0, verbose=False)
        model = with_fixed_prior(cls)(
            latent_dim=LATENT,
            input_shape=[4],
            alpha=1.0,
            lam=lam,
            deterministic=True,
            likelihood={"name": "gaussian", "learn_sigma": True},
            net={"name": "mlp", "hidden": [16]},
        )
        gradients = Gradients()
        trainer = L.Trainer(
            accelerator="cpu",
            devices=devices,
            strategy=strategy(cls, devices),
            max_epochs=1,
            limit_train_batches=1,
            limit_val_batches=0,
            callbacks=[gradients],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(model, DataLoader(data, batch_size=EXAMPLES // devices))
        results[cls.__name__] = {
            "div": float(trainer.callback_metrics["train/div"]),
            "grads": gradients.grads,
        }
    if trainer.is_global_zero:
        torch.save({"world_size": trainer.world_size, "results": results}, out)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
