"""Training throughput: our Lightning path against a bare PyTorch loop and pythae, on binarized MNIST.

    python bench/throughput.py                                   # every model × mlp, conv × batch 100, 500
    python bench/throughput.py --models mmd --nets mlp --batch-sizes 100 --steps 300
    python bench/throughput.py --device cuda --variants lightning bare --settings base model.compile=true
    bash bench/setup.sh                                          # once, for the pythae column

For each model, net and batch size, in a fresh process each (so that peak memory is the case's own):

  (a) lightning: `train.py` itself, with the case's overrides and the Trainer, DataModule, callbacks and
      logger it builds by default (evaluation metrics off: `bench/metrics.py` measures them). A
      `Throughput` callback (bench/timing.py) times the steps and ends the run.
  (b) bare: a hand-written PyTorch loop of the same networks, loss and optimizers on the same images
      (bench/bare_loop.py; tests/test_bench.py checks its loss equals our module's).
  (c) pythae: pythae 0.1.2's VAE / INFOVAE_MMD / Adversarial_AE on the same networks, through its trainer
      (bench/pythae_loop.py); not for Stein (pythae has none), and only where pythae is installed.

Each runs `--warmup` steps, then the same `--steps` timed steps (`--conv-steps` for the conv net, which is
~50× slower on a CPU). A step's time runs from the end of the previous step to the end of this one;
Lightning's and pythae's first step of each epoch (what ends an epoch: validation, checkpoints) is left out,
the bare loop's epoch change (one randperm) is kept. Peak memory, MB: the process's resident set at its
peak while training (the high-water mark is reset when training starts), with in brackets its growth over
the resident set at that start (libraries, data and model are already there: importing torch alone takes
~500 MB); on a GPU also the GPU's peak allocation.

`--settings` runs (a) once per set of extra overrides ("base": none), e.g. `model.compile=true`,
`trainer.precision=bf16-mixed` or `data.on_device=false`, each row against the same (b) and (c).

`--paired` measures the ratios inside processes instead (bench/paired.py): `train.py` runs with the bare
loop timed between windows of its steps, and a/b is the median ratio of neighbouring windows, free of the
±15% between processes; pythae's trainer runs the same way for c/b, and a/c = (a/b) / (c/b). It prints no
peak memory (each process holds two models).

`--repeats R` runs each process R times, interleaved ((b), (c), (a)..., then again), and reports the median
images/s: on a shared 2-core machine one process's speed varies by ±15% with where its memory landed and
what else ran, more than the differences measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import DEFAULT_DATA_DIR, MODELS, NETS, Case, Result  # noqa: E402

BENCH_SITE = ROOT / ".bench-site"  # where bench/setup.sh installs pythae
VARIANTS = ("lightning", "bare", "pythae")
PYTHAE_MODELS = ("elbo", "mmd", "aae")


def environment(pythae: bool = False) -> dict[str, str]:
    paths = [str(ROOT), *([str(BENCH_SITE)] if pythae else []), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "PYTHONWARNINGS": "ignore"}


def run_process(command: list[str], log: Path, env: dict[str, str]) -> None:
    with log.open("w") as out:
        proc = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text()[-2000:]
        raise RuntimeError(f"{' '.join(command[:3])} ... failed (exit {proc.returncode}):\n{tail}")


def run_train_py(case: Case, work: Path, run: str, callback: dict[str, Any]) -> None:
    """`train.py` with the case's overrides and one more callback, `callback` (`_target_` and arguments),
    as `callbacks.extra`; its run directory and log are named `run`."""
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        *case.config_overrides(),
        f"hydra.run.dir={work / run}",
    ]
    command += [f"+callbacks.extra.{key}={value}" for key, value in callback.items()]
    run_process(command, work / f"{run}.log", environment())


def run_lightning(case: Case, work: Path, repeat: int = 0) -> Result:
    """`train.py` with the case's overrides, timed by the Throughput callback."""
    out = work / f"lightning-{case.name}-{repeat}.json"
    timer = {"_target_": "bench.timing.Throughput", "warmup": case.warmup, "path": out}
    run_train_py(case, work, f"run-{case.name}-{repeat}", {**timer, "stop_after": case.steps})
    r = json.loads(out.read_text())
    rss = (r["peak_rss_mb"], r["rss_at_train_start_mb"])
    return Result("lightning", r["steps"], r["images"], r["seconds"], *rss, r.get("cuda_peak_mb"))


def run_paired(case: Case, work: Path, window: int, repeat: int = 0) -> dict[str, Any]:
    """`train.py` with the case's overrides, the bare loop timed between windows of its steps (paired.py)."""
    out = work / f"paired-{case.name}-{repeat}.json"
    pairing = {"_target_": "bench.paired.PairedBareLoop", "model": case.model, "path": out, "window": window}
    pairing |= {"warmup": case.warmup, "pairs": max(1, case.steps // window)}
    run_train_py(case, work, f"paired-{case.name}-{repeat}", pairing)
    return json.loads(out.read_text())


def paired_row(case: Case, setting: str, ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> str:
    """A table row: medians over processes of (a) and (b) images/s, a/b, c/b, and a/c = (a/b) / (c/b)."""

    def cell(ratios: list[float]) -> str:
        spread = f" ({min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""
        return f"{statistics.median(ratios):.2f}{spread}"

    b = case.batch_size
    a_rate = statistics.median(b / r["measured_s_per_step"] for r in ours)
    b_rate = statistics.median(b / r["bare_s_per_step"] for r in ours)
    a_b = [r["ratio"] for r in ours]
    c_b = [r["ratio"] for r in theirs]
    a_c = f"{statistics.median(a_b) / statistics.median(c_b):.2f}" if c_b else "—"
    cells = [case.model, case.net, str(b), setting, f"{a_rate:,.0f}", f"{b_rate:,.0f}", cell(a_b)]
    cells += [cell(c_b) if c_b else "—", a_c, str(sum(r["pairs"] for r in ours + theirs))]
    return "| " + " | ".join(cells) + " |"


def run_worker(case: Case, variant: str, work: Path, repeat: int = 0, window: int = 0) -> Path:
    """The bare, pythae or pythae-paired (`window` steps a window) case in a fresh process (`--worker`);
    returns the path of its JSON result."""
    out = work / f"{variant}-{case.name}-{repeat}.json"
    command = [sys.executable, str(Path(__file__)), "--worker", variant, "--case", json.dumps(asdict(case))]
    command += ["--out", str(out), "--window", str(window)]
    env = environment(pythae=variant.startswith("pythae"))
    run_process(command, work / f"{variant}-{case.name}-{repeat}.log", env)
    return out


def worker(variant: str, case_json: str, out: str, window: int) -> None:
    case_dict = json.loads(case_json)
    case = Case(**{**case_dict, "overrides": tuple(case_dict["overrides"])})
    if variant == "bare":
        from bench import bare_loop

        bare_loop.run(case).save(out)
        return
    from bench import pythae_loop

    if variant == "pythae-paired":
        Path(out).write_text(json.dumps(pythae_loop.run_paired(case, window)))
    else:
        pythae_loop.run(case).save(out)


def median(results: list[Result]) -> Result | None:
    """The run with the median images/s (the lower middle one for an even count)."""
    if not results:
        return None
    return sorted(results, key=lambda r: r.images_per_s)[(len(results) - 1) // 2]


def memory(result: Result | None) -> str:
    if result is None:
        return "—"
    host = f"{result.peak_rss_mb:.0f} (+{result.peak_rss_mb - result.rss_start_mb:.0f})"
    return host if result.cuda_peak_mb is None else f"GPU {result.cuda_peak_mb:.0f}, host {host}"


def rate(result: Result | None) -> str:
    return "—" if result is None else f"{result.images_per_s:,.0f}"


def ratio(a: Result | None, b: Result | None) -> str:
    return "—" if a is None or b is None else f"{a.images_per_s / b.images_per_s:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[100, 500])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per case (MLP)")
    parser.add_argument("--conv-steps", type=int, default=40, help="timed steps per case with the conv net")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["base"],
        help='sets of extra train.py overrides for (a), each one space-separated string; "base": none',
    )
    parser.add_argument(
        "--paired", action="store_true", help="(a)/(b) in one process, windows alternating (bench/paired.py)"
    )
    parser.add_argument("--window", type=int, default=20, help="--paired: steps per window (MLP; conv: 5)")
    parser.add_argument("--repeats", type=int, default=1, help="processes per variant; the median is shown")
    parser.add_argument("--data-root", default=DEFAULT_DATA_DIR)
    parser.add_argument("--keep", help="keep the runs' logs and JSON results in this folder")
    parser.add_argument("--worker", choices=("bare", "pythae", "pythae-paired"), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.case, args.out, args.window)
        return

    pythae = "pythae" in args.variants and (BENCH_SITE / "pythae").is_dir()
    if "pythae" in args.variants and not pythae:
        print(f"pythae not found in {BENCH_SITE}: run `bash bench/setup.sh` for column (c)", file=sys.stderr)
    threads, cores = torch.get_num_threads(), os.cpu_count()
    print(
        f"device {args.device}, torch {torch.__version__}, {threads} threads on {cores} cores "
        f"({platform.machine()}); latent_dim {args.latent_dim}; warm-up {args.warmup}; timed steps: "
        f"mlp {args.steps}, conv {args.conv_steps}; median of {args.repeats} process(es) each"
    )
    if args.paired:
        print("| model | net | batch | (a) setting | (a) img/s | (b) bare img/s | a/b | c/b | a/c | pairs |")
        print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
    else:
        print(
            "| model | net | batch | (a) setting | (a) Lightning img/s | (b) bare img/s | (c) pythae img/s "
            "| a/b | a/c | peak MB a | peak MB b | peak MB c |"
        )
        print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    work_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="infovae-bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    for net in args.nets:
        for model in args.models:
            for batch_size in args.batch_sizes:
                steps = args.conv_steps if net == "conv" else args.steps
                case = Case(
                    model, net, batch_size, steps, args.warmup, args.latent_dim, args.device, args.data_root
                )
                settings = [() if setting == "base" else tuple(setting.split()) for setting in args.settings]
                if args.paired:
                    window = args.window if net == "mlp" else 5
                    theirs = []
                    if pythae and model in PYTHAE_MODELS:
                        for r in range(args.repeats):
                            path = run_worker(case, "pythae-paired", work_dir, r, window)
                            theirs.append(json.loads(path.read_text()))
                    for setting, overrides in zip(args.settings, settings, strict=True):
                        setting_case = replace(case, overrides=overrides)
                        ours = [run_paired(setting_case, work_dir, window, r) for r in range(args.repeats)]
                        print(paired_row(case, setting, ours, theirs), flush=True)
                    continue
                runs: dict[str, list[Result]] = {name: [] for name in ("bare", "pythae", *args.settings)}
                for repeat in range(args.repeats):
                    if "bare" in args.variants:
                        runs["bare"].append(Result.load(run_worker(case, "bare", work_dir, repeat)))
                    if pythae and model in PYTHAE_MODELS:
                        runs["pythae"].append(Result.load(run_worker(case, "pythae", work_dir, repeat)))
                    if "lightning" in args.variants:
                        for setting, overrides in zip(args.settings, settings, strict=True):
                            ours = run_lightning(replace(case, overrides=overrides), work_dir, repeat)
                            runs[setting].append(ours)
                bare, theirs = median(runs["bare"]), median(runs["pythae"])
                for setting in args.settings:
                    ours = median(runs[setting])
                    cells = [model, net, str(batch_size), setting, rate(ours), rate(bare), rate(theirs)]
                    cells += [
                        ratio(ours, bare),
                        ratio(ours, theirs),
                        memory(ours),
                        memory(bare),
                        memory(theirs),
                    ]
                    print("| " + " | ".join(cells) + " |", flush=True)
    if not args.keep:
        print(f"(logs in {work_dir})")


if __name__ == "__main__":
    main()
