"""The few plain lines a single run ends with: what was trained, its key numbers, where its files are, what
to run next. Read from the run's summary.json, so they say what the run recorded, nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SHOWN_PICTURES = ("val_samples", "val_latent_space", "val_reconstructions")


def trained_what(config: dict[str, Any]) -> str:
    """e.g. "MMDVAE (alpha=1, lam=1000) on digits, latent_dim=2"."""
    model = config.get("model") or {}
    name = str(model.get("_target_", "model")).rpartition(".")[2]
    values = ", ".join(f"{k}={model[k]:g}" for k in ("alpha", "lam") if isinstance(model.get(k), int | float))
    data = config.get("data") or {}
    data_name = data.get("name") or str(data.get("_target_", "data")).rpartition(".")[2]
    return f"{name}{f' ({values})' if values else ''} on {data_name}, latent_dim={config.get('latent_dim')}"


def latest_pictures(out: Path) -> list[Path]:
    """The last PNG of each kind the run drew (samples, q(z) plot, reconstructions)."""
    found = []
    for kind in SHOWN_PICTURES:
        files = sorted((out / "images").glob(f"{kind}_step*.png"))
        if files:
            found.append(files[-1])
    return found


def closing_lines(out: Path, summary: dict[str, Any], command: str | None = None) -> list[str]:
    """The lines printed at the end of a run into `out` whose summary.json holds `summary`."""
    command = command or ("python train.py" if Path(sys.argv[0]).name == "train.py" else "infovae-train")
    metrics = summary.get("metrics", {})
    seconds = (summary.get("timing") or {}).get("fit_seconds")
    took = f" in {seconds:.0f} s" if isinstance(seconds, int | float) else ""
    lines = [
        f"Trained {trained_what(summary.get('config', {}))}: {summary.get('epoch')} epochs, "
        f"{summary.get('global_step')} steps{took} ({summary.get('status')})."
    ]
    if "val/active_units" in metrics:
        latent = summary.get("config", {}).get("latent_dim")
        mi = metrics.get("val/mi")
        lines.append(
            f"  latent code: {metrics['val/active_units']:.0f} of {latent} units active"
            + (f", I(x;z) = {mi:.2f} nats" if isinstance(mi, float) else "")
            + " (val; 0 would mean z is ignored)"
        )
    shown = [
        k for k in ("val/loss", "val/recon", "val/kl", "val/mmd_full") if isinstance(metrics.get(k), float)
    ]
    if shown:
        lines.append("  " + ", ".join(f"{k} = {metrics[k]:.4g}" for k in shown))
    lines.append(f"Files in {out}: summary.json, config.yaml, checkpoints/, csv/metrics.csv")
    lines += [f"  picture: {path}" for path in latest_pictures(out)]
    nexts = [
        (f"{command} -m model=elbo,mmd", "a sweep: ELBO against MMD-VAE, one job each"),
        ("infovae report multirun/train/<time>", f"its report (this run's: infovae report {out})"),
        (f"{command} experiment=toy", "the paper's toy problem; --help lists every group"),
    ]
    width = max(len(command) for command, _ in nexts)
    lines.append("Next:")
    lines += [f"  {command.ljust(width)}  # {why}" for command, why in nexts]
    return lines
