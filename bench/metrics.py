"""Cost of the evaluation metrics: `nll_is` against pythae's `get_nll`, full-set MMD time and memory, and the
share of training time the default metrics take at their default schedule.

    .venv/bin/python bench/metrics.py                      # nll_is K=5000 on 10,000 images; MMD at 10k, 70k
    .venv/bin/python bench/metrics.py --nll-examples 1000  # a quicker look
    .venv/bin/python bench/metrics.py --device cuda --no-pythae

Each measurement runs in a fresh process, so that its peak memory (CPU: the peak of the process's
resident set during the call, less its size just before; GPU: torch's peak allocation) is its own. The
model is the default MLP (3×200) on 28×28 binary images, the latent 10-dimensional (the paper's largest):
throughput does not depend on the weights, so they are left untrained. The images are binarized MNIST's
test split when `--data-root` holds it (else random binary images). Prints one table row per case.

- `nll_is`: our estimator (all examples of a chunk and many of their K samples in one decoder call,
  float64 log-sum-exp) on the first `--nll-examples` images.
- `pythae get_nll`: pythae 0.1.2's `VAE.get_nll` on the same model (our networks wrapped as in
  bench/pythae_loop.py: the same q(z|x) and p(x|z)), the same images and K, under `torch.no_grad`, with its
  largest batch (all K samples of an example at once); it goes one example at a time. Needs
  `bash bench/setup.sh`; `--no-pythae` skips it. Both estimate the same log p(x): the check column agrees.
- `mmd_full`: MMD² between N latents and N prior samples, kernel sums in blocks.
- `default metrics, 1 epoch`: `train.py` trains the MMD-VAE (MLP, batch 100) for one epoch of binarized MNIST
  with the default metrics, which run at the end of fit; the share is their time over the time of 5 epochs
  (their default period, `every_n_val_epochs: 5`) plus theirs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/metrics.py` from anywhere: the checkout's bench package
    sys.path.insert(0, str(ROOT))

from bench.timing import peak_rss_mb, reset_peak_rss, rss_mb  # noqa: E402

BENCH_SITE = ROOT / ".bench-site"  # pythae, installed by bench/setup.sh
DEFAULT_DATA_DIR = os.environ.get("INFOVAE_DATA_DIR", str(ROOT.parent / "shared" / "data"))


def peak_memory_mb(device: str, rss_before_mb: float) -> float:
    """GPU: torch's peak allocation; CPU: the resident set's peak since `reset_peak` less its size then."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return peak_rss_mb() - rss_before_mb


def reset_peak(device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()  # the peak of what follows, not of loading the data before it
    return rss_mb()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def test_images(examples: int, data_root: str) -> tuple[torch.Tensor, str]:
    """The first `examples` images of binarized MNIST's test split (in the data module's mixed order), or
    random binary images when the data is not there."""
    from infovae_lightning.data import InfoVAEDataModule

    try:
        datamodule = InfoVAEDataModule(name="binarized_mnist", root=data_root, download=False)
        return datamodule.examples("test").x[:examples], "binarized MNIST test"
    except Exception:  # no data: the cost does not depend on the pixels
        generator = torch.Generator().manual_seed(0)
        return torch.bernoulli(torch.full((examples, 1, 28, 28), 0.13), generator=generator), "random"


def nll_model(latent_dim: int, device: str):
    from infovae_lightning.models import ELBOVAE

    torch.manual_seed(0)
    return ELBOVAE(latent_dim=latent_dim, input_shape=[1, 28, 28]).to(device).eval()


def bench_nll(
    device: str, examples: int, samples: int, latent_dim: int, max_pairs: int | None, data_root: str, queue
) -> None:
    from infovae_lightning.metrics.nll import importance_sampled_log_likelihood

    model = nll_model(latent_dim, device)
    x, source = test_images(examples, data_root)
    x = x.to(device)
    chunk = 100  # examples per chunk, as the ImportanceSampledNLL callback's default
    before = reset_peak(device)
    start = time.perf_counter()
    with torch.inference_mode():
        nll = torch.cat(
            [
                -importance_sampled_log_likelihood(
                    model.encoder, model.decoder.log_prob, x[i : i + chunk], samples, max_pairs
                )
                for i in range(0, examples, chunk)
            ]
        )
    sync(device)
    seconds = time.perf_counter() - start
    queue.put(
        {
            "case": f"nll_is K={samples}, N={examples}, max_pairs={max_pairs or 'default'}",
            "seconds": seconds,
            "rate": f"{examples / seconds:.1f} images/s, "
            f"{examples * samples / seconds / 1e6:.3f} M decodes/s",
            "peak_mb": peak_memory_mb(device, before),
            "check": f"mean {nll.mean().item():.1f} nats ({source})",
        }
    )


def bench_nll_pythae(
    device: str, examples: int, samples: int, latent_dim: int, data_root: str, queue
) -> None:
    sys.path.append(str(BENCH_SITE))  # this process only
    sys.path.insert(0, str(ROOT))
    from pythae.models import VAE, VAEConfig

    from bench.pythae_loop import wrap

    ours = nll_model(latent_dim, device)
    encoder, decoder = wrap(ours.encoder.net, ours.decoder.net, ours.hparams.std_floor)
    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=latent_dim, reconstruction_loss="bce")
    model = VAE(config, encoder=encoder, decoder=decoder).to(device).eval()
    x, source = test_images(examples, data_root)
    x = x.to(device)
    before = reset_peak(device)
    start = time.perf_counter()
    with torch.no_grad():
        log_p = model.get_nll(x, n_samples=samples, batch_size=samples)  # its mean log p(x) over x
    sync(device)
    seconds = time.perf_counter() - start
    queue.put(
        {
            "case": f"pythae get_nll K={samples}, N={examples}",
            "seconds": seconds,
            "rate": f"{examples / seconds:.1f} images/s, "
            f"{examples * samples / seconds / 1e6:.3f} M decodes/s",
            "peak_mb": peak_memory_mb(device, before),
            "check": f"mean {-log_p:.1f} nats ({source})",
        }
    )


def bench_mmd(device: str, n: int, latent_dim: int, block_size: int, queue) -> None:
    from infovae_lightning.metrics.mmd_full import full_mmd

    generator = torch.Generator().manual_seed(0)
    z = (1.1 * torch.randn(n, latent_dim, generator=generator)).to(device)
    prior = torch.randn(n, latent_dim, generator=generator).to(device)
    before = reset_peak(device)
    start = time.perf_counter()
    value = full_mmd(z, prior, block_size=block_size)
    sync(device)
    seconds = time.perf_counter() - start
    dense_gb = 3 * n * n * 4 / 2**30  # the three float32 kernel matrices a direct computation would hold
    queue.put(
        {
            "case": f"mmd_full N={n}, d={latent_dim}, block={block_size}",
            "seconds": seconds,
            "rate": f"{3 * n * n / seconds / 1e9:.2f} G kernel entries/s "
            f"(dense would need {dense_gb:.1f} GB)",
            "peak_mb": peak_memory_mb(device, before),
            "check": f"MMD² {value:.3e}",
        }
    )


def bench_schedule(device: str, latent_dim: int, data_root: str, queue) -> None:
    """One epoch of `train.py` (MMD-VAE, MLP, batch 100) with the default metrics, which run when fit ends."""
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "train.py"), "model=mmd", "net=mlp", "data=binarized_mnist"]
        command += [f"data.root={data_root}", f"latent_dim={latent_dim}", "trainer.max_epochs=1"]
        command += [f"trainer.accelerator={accelerator}", f"hydra.run.dir={out}"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
        summary = json.loads((Path(out) / "summary.json").read_text())
    timing = summary["timing"]
    metrics = {name: seconds["val"] for name, seconds in timing["evaluation_seconds"].items()}
    evaluation = sum(metrics.values())
    epoch = timing["fit_seconds"] - evaluation  # training, validation loop, checkpoints
    share = evaluation / (5 * epoch + evaluation)
    each = ", ".join(f"{name} {seconds:.2f}" for name, seconds in metrics.items())
    queue.put(
        {
            "case": "default metrics, 1 epoch (MMD, MLP, b=100)",
            "seconds": evaluation,
            "rate": f"epoch {epoch:.1f} s; every 5th epoch: {100 * share:.1f}% of training",
            "peak_mb": float("nan"),
            "check": each,
        }
    )


def run_isolated(target, *args) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--nll-examples", type=int, default=10_000)
    parser.add_argument("--nll-samples", type=int, default=5000)
    parser.add_argument("--max-pairs", type=int, default=None, help="default: nll_is's for the device")
    parser.add_argument("--mmd-sizes", type=int, nargs="*", default=[10_000, 70_000], help="none: no MMD")
    parser.add_argument("--block-size", type=int, default=4096)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--data-root", default=DEFAULT_DATA_DIR)
    parser.add_argument("--no-pythae", action="store_true", help="skip pythae's get_nll")
    parser.add_argument("--no-schedule", action="store_true", help="skip the one-epoch run of train.py")
    args = parser.parse_args()

    print(f"device: {args.device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"| {'case':<42} | {'seconds':>8} | {'peak MB':>8} | {'throughput':<58} | check |")
    print(f"| {'-' * 42} | {'-' * 8} | {'-' * 8} | {'-' * 58} | --- |")
    d = args.latent_dim
    cases = [(bench_mmd, args.device, n, d, args.block_size) for n in args.mmd_sizes]
    nll = (args.device, args.nll_examples, args.nll_samples, d)
    cases.append((bench_nll, *nll, args.max_pairs, args.data_root))
    if not args.no_pythae:
        if (BENCH_SITE / "pythae").is_dir():
            cases.append((bench_nll_pythae, *nll, args.data_root))
        else:
            print(f"(pythae not in {BENCH_SITE}: `bash bench/setup.sh` adds its get_nll)", file=sys.stderr)
    if not args.no_schedule:
        cases.append((bench_schedule, args.device, d, args.data_root))
    for target, *case_args in cases:
        r = run_isolated(target, *case_args)
        row = f"| {r['case']:<42} | {r['seconds']:8.2f} | {r['peak_mb']:8.0f} | {r['rate']:<58}"
        print(f"{row} | {r['check']} |", flush=True)


if __name__ == "__main__":
    main()
