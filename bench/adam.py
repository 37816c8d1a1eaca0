"""What torch's Adam implementations cost on this machine, alone and in the bare loop's step.

    python bench/adam.py --batch-size 100

1. One update of the MLP's parameters (encoder and decoder, latent 10) by torch's default Adam (on a CPU:
   parameter by parameter), `foreach=True` and `fused=True`, with fixed gradients: ms per update.
2. The bare loop's MMD-VAE step (bench/bare_loop.py) with the default and the fused Adam, in interleaved
   blocks of 40 steps in one process (the machine's drift cancels): median ms per step.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.bare_loop import BareModel, BareTrainer, batches  # noqa: E402
from bench.common import DEFAULT_DATA_DIR, Case, compose, training_images  # noqa: E402

KINDS = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--data-root", default=DEFAULT_DATA_DIR)
    args = parser.parse_args()
    case = Case("mmd", "mlp", args.batch_size, steps=1, data_root=args.data_root)
    cfg = compose(case)["model"]
    torch.manual_seed(0)
    model = BareModel(cfg, "mmd")
    params = list(model.encoder.parameters()) + list(model.decoder.parameters())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(params)} tensors")
    for p in params:
        p.grad = torch.randn_like(p)
    for name, options in KINDS.items():
        optimizer = torch.optim.Adam(params, lr=1e-3, **options)
        for _ in range(20):
            optimizer.step()
        start = time.perf_counter()
        for _ in range(500):
            optimizer.step()
        print(f"Adam update, {name}: {(time.perf_counter() - start) / 500 * 1e3:.2f} ms")

    trainer = BareTrainer(model, cfg)
    optimizers = {name: torch.optim.Adam(params, lr=1e-3, **KINDS[name]) for name in ("default", "fused")}
    stream = batches(training_images(case), args.batch_size, torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {name: [] for name in optimizers}
    for _ in range(args.blocks):
        for name, optimizer in optimizers.items():
            trainer.optimizer = optimizer
            for _ in range(5):
                trainer.step(next(stream))
            start = time.perf_counter()
            for _ in range(40):
                trainer.step(next(stream))
            times[name].append((time.perf_counter() - start) / 40 * 1e3)
    for name, values in times.items():
        print(f"bare MMD-VAE step, batch {args.batch_size}, {name} Adam: {statistics.median(values):.2f} ms")


if __name__ == "__main__":
    main()
