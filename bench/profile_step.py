"""Where a training step of our Lightning path goes: per-step time of every hook, the model's compute and
the rest, for one case of bench/throughput.py.

    python bench/profile_step.py --model mmd --net mlp --batch-size 100 --steps 300
    python bench/profile_step.py --override trainer.enable_progress_bar=false

It builds the run as `train.py` does (the same config, `_build`s, callbacks and logger), adds Lightning's
`SimpleProfiler` (a clock around every hook and loop action, ~1 µs each) and times, inside the steps, what
a bare loop also does: the forward pass and loss (`terms`), backward, the optimizer's step and zero_grad.
Everything else in the step is overhead: our module's logging and NaN check, Lightning's loop, the
callbacks, the data fetch. Prints µs per step over the timed steps (after `--warmup`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loops.optimization.automatic import Closure  # noqa: E402
from lightning.pytorch.profilers import SimpleProfiler  # noqa: E402
from torch.optim.optimizer import (  # noqa: E402
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from bench.common import DEFAULT_DATA_DIR, MODELS, NETS, Case  # noqa: E402
from bench.timing import Throughput  # noqa: E402
from infovae_lightning.models.base import Terms  # noqa: E402

# The callback hooks Lightning calls in every training step (not those of validation or of an epoch's end).
STEP_HOOKS = (
    "on_train_batch_start",
    "on_train_batch_end",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
)


class Window(Throughput):
    """The Throughput callback, which also says when the timed steps run (`active`)."""

    def __init__(self, warmup: int, steps: int) -> None:
        super().__init__(warmup=warmup, stop_after=steps)
        self.active = False
        self.marks: dict[str, int] = {}  # the number of each action's records when the window opened...
        self.final: dict[str, int] = {}  # ... and when it closed
        self.profiler: SimpleProfiler | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, i) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, i)
        if self.batches == self.warmup:  # what the profiler has recorded so far is warm-up
            self.active = True
            self.marks = {k: len(v) for k, v in self.profiler.recorded_durations.items()}
        if trainer.should_stop:
            self.active = False
            self.final = {k: len(v) for k, v in self.profiler.recorded_durations.items()}


def timed(store: dict[str, list[float]], name: str, window: Window, fn: Callable) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not window.active:
            return fn(*args, **kwargs)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            store[name].append(time.perf_counter() - start)

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="mmd", choices=MODELS)
    parser.add_argument("--net", default="mlp", choices=NETS)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", default=DEFAULT_DATA_DIR)
    parser.add_argument("--override", nargs="*", default=[], help="further train.py overrides")
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir

    from infovae_lightning.run.train import CONFIG_DIR, _build, _build_all

    case = Case(args.model, args.net, args.batch_size, args.steps, args.warmup, args.latent_dim, args.device)
    case = Case(**{**case.__dict__, "data_root": args.data_root, "overrides": tuple(args.override)})
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=case.config_overrides())
    out = tempfile.mkdtemp(prefix="infovae-profile-")
    cfg.paths.output_dir = out

    # train.py's run(), up to trainer.fit, with a profiler and the timing window added.
    datamodule = _build("data", cfg.data)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model = _build("model", cfg.model, _convert_="all")
    window = Window(args.warmup, args.steps)
    callbacks = _build_all("callbacks", cfg.callbacks) + _build_all("metrics", cfg.get("metrics")) + [window]
    profiler = SimpleProfiler(dirpath=out, filename="simple_profiler")  # its report: a file, not the terminal
    window.profiler = profiler
    loggers = _build_all("logger", cfg.logger)
    trainer = _build("trainer", cfg.trainer, callbacks=callbacks, logger=loggers or False, profiler=profiler)

    ours: dict[str, list[float]] = defaultdict(list)
    model.terms = timed(ours, "model: forward + loss (terms)", window, model.terms)
    model.log_terms = timed(ours, "module: self.log of the terms (log_terms)", window, model.log_terms)
    patched = [
        (torch.Tensor, "backward", "model: backward"),
        (torch.optim.Optimizer, "zero_grad", "model: zero_grad"),
        (Terms, "check_finite", "module: NaN check (check_finite)"),
    ]
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in patched]
    for owner, attr, name in patched:
        setattr(owner, attr, timed(ours, name, window, getattr(owner, attr)))
    # The optimizer's own update: Lightning's automatic optimization runs the step's closure (training_step,
    # zero_grad, backward) inside `optimizer.step`, so the closure's time is taken out of the step's.
    starts: list[float] = []
    closures: list[float] = []
    register_optimizer_step_pre_hook(lambda *a: starts.append(time.perf_counter()) if window.active else None)

    def step_end(*_: Any) -> None:
        if window.active and starts:
            ours["model: optimizer update (Adam)"].append(time.perf_counter() - starts.pop() - sum(closures))
        closures.clear()

    register_optimizer_step_post_hook(step_end)
    closure_call = Closure.__call__

    def timed_closure(self: Closure, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return closure_call(self, *args, **kwargs)
        finally:
            closures.append(time.perf_counter() - start)

    Closure.__call__ = timed_closure
    trainer.fit(model, datamodule=datamodule)
    Closure.__call__ = closure_call
    for owner, attr, original in originals:
        setattr(owner, attr, original)

    r = window.results()
    per_step = r["seconds"] / r["steps"] * 1e6
    steps = r["steps"] + r["skipped"]  # the intervals' steps, including skipped ones, ran the hooks
    print(f"{case.name}: {r['images_per_s']:,.0f} images/s, {per_step:,.0f} µs per step ({r['steps']} steps)")
    print("| part of a step | µs per step | share |")
    print("| --- | ---: | ---: |")
    rows = [(name, sum(values) / steps * 1e6) for name, values in ours.items()]
    compute = sum(v for name, v in rows if name.startswith("model:"))
    hooks: dict[str, float] = defaultdict(float)  # µs per step of each callback (all its step hooks)
    for action, values in profiler.recorded_durations.items():
        new = values[window.marks.get(action, 0) : window.final.get(action, len(values))]
        if action == "[_TrainingEpochLoop].train_dataloader_next":
            hooks["Lightning: the data loader's next batch"] += sum(new) / steps * 1e6
        elif action.startswith("[Callback]") and action.endswith(STEP_HOOKS):
            callback = action.removeprefix("[Callback]").split("{")[0].split(".")[0]
            hooks[f"callback {callback} (its step hooks)"] += sum(new) / steps * 1e6
    small = sum(v for v in hooks.values() if v < 10)
    lightning = [(name, v) for name, v in hooks.items() if v >= 10] + [("other callbacks' step hooks", small)]
    rest = per_step - sum(v for _, v in rows) - sum(v for _, v in lightning)
    rows = sorted(rows, key=lambda row: -row[1]) + sorted(lightning, key=lambda row: -row[1])
    rows += [
        ("Lightning's loop, hooks and logging, not attributed above", rest),
        ("**compute a bare loop also does** (model: ...)", compute),
        ("**everything else: overhead**", per_step - compute),
    ]
    for name, value in rows:
        print(f"| {name} | {value:,.0f} | {100 * value / per_step:.1f}% |")


if __name__ == "__main__":
    main()
