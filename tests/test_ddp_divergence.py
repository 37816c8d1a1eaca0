"""Under DDP the batch-statistic divergences see the global batch: 2 processes × batch 8 train exactly what 1
process × batch 16 trains (the same D and, after DDP's averaging, the same gradient of every parameter)."""

from __future__ import annotations

from pathlib import Path

import torch
from helpers import run_script

ROOT = Path(__file__).resolve().parents[1]


def test_two_processes_train_the_single_process_objective(tmp_path: Path) -> None:
    script = ROOT / "tests" / "scripts" / "ddp_divergence.py"
    runs = {}
    for devices in (1, 2):
        out = tmp_path / f"ddp_{devices}.pt"
        run_script(script, str(devices), str(out), cwd=tmp_path)
        runs[devices] = torch.load(out, weights_only=True)
    assert (runs[1]["world_size"], runs[2]["world_size"]) == (1, 2)
    for model, one in runs[1]["results"].items():
        two = runs[2]["results"][model]
        assert abs(two["div"] - one["div"]) <= 1e-5 * abs(one["div"]), model
        assert one["grads"].keys() == two["grads"].keys() and len(one["grads"]) > 4, model
        for name, grad in one["grads"].items():
            # Equal up to float32 rounding (the two runs sum the examples in different orders).
            error = (two["grads"][name] - grad).abs().max()
            assert error <= 1e-5 * grad.abs().max(), f"{model} {name}: off by {error:.3g}"
