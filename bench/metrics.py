"""Cost of the two expensive evaluation metrics: `nll_is` throughput and full-set MMD time and memory.

    .venv/bin/python bench/metrics.py                      # nll_is K=5000 on 10,000 images; MMD at 10k, 70k
    .venv/bin/python bench/metrics.py --nll-examples 1000  # a quicker look
    .venv/bin/python bench/metrics.py --device cuda

Each measurement runs in a fresh process, so that its peak memory (CPU: the growth of the process's
maximum resident set over its state just before the call; GPU: torch's peak allocation) is its own. The
model is the default MLP (3×200) on 28×28 binary images, the latent 10-dimensional (the paper's largest):
throughput does not depend on the weights, so they are left untrained. Prints one table row per case.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import torch


def peak_memory_mb(device: str, rss_before_kb: int) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kb) / 1024  # Linux: kB


def reset_peak(device: str) -> int:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_nll(device: str, examples: int, samples: int, latent_dim: int, max_pairs: int, queue) -> None:
    from infovae_lightning.metrics.nll import importance_sampled_log_likelihood
    from infovae_lightning.models import ELBOVAE

    torch.manual_seed(0)
    model = ELBOVAE(latent_dim=latent_dim, input_shape=[1, 28, 28]).to(device).eval()
    x = torch.bernoulli(torch.full((examples, 1, 28, 28), 0.13)).to(device)
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
            "case": f"nll_is K={samples}, N={examples}",
            "seconds": seconds,
            "rate": f"{examples / seconds:.1f} images/s, "
            f"{examples * samples / seconds / 1e6:.3f} M decodes/s",
            "peak_mb": peak_memory_mb(device, before),
            "check": f"mean {nll.mean().item():.1f} nats",
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
    parser.add_argument("--max-pairs", type=int, default=50_000)
    parser.add_argument("--mmd-sizes", type=int, nargs="+", default=[10_000, 70_000])
    parser.add_argument("--block-size", type=int, default=4096)
    parser.add_argument("--latent-dim", type=int, default=10)
    args = parser.parse_args()

    print(f"device: {args.device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"| {'case':<40} | {'seconds':>8} | {'peak MB':>8} | {'throughput':<58} | check |")
    print(f"| {'-' * 40} | {'-' * 8} | {'-' * 8} | {'-' * 58} | --- |")
    cases = [(bench_mmd, args.device, n, args.latent_dim, args.block_size) for n in args.mmd_sizes]
    cases.append(
        (bench_nll, args.device, args.nll_examples, args.nll_samples, args.latent_dim, args.max_pairs)
    )
    for target, *case_args in cases:
        r = run_isolated(target, *case_args)
        row = f"| {r['case']:<40} | {r['seconds']:8.2f} | {r['peak_mb']:8.0f} | {r['rate']:<58}"
        print(f"{row} | {r['check']} |")


if __name__ == "__main__":
    main()
