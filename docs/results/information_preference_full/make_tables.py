"""The tables and curves of docs/results.md's information-preference runs at the experiment's full size.

Each job is keyed by its arm (ELBO; InfoVAE with α = 1, its kernel, λ, λ warm-up and encoder), its budget
and its seed. The GPU jobs (27 Nov) shared one GPU and were cut by `trainer.max_time`, so the time set how
far they got; the CPU jobs (29 Nov) ran alone to `trainer.max_steps` or the experiment's 20 epochs. The
first table is one row per arm and budget, the test split's metrics at the end (mean ± std over seeds); the
second one row per run, with the KL of the first validation (step 250, inside a λ warm-up): a KL in the
thousands there means the encoder's means flew far from the prior. `curves.png`: the validation metrics
against steps, one line per run. `runs.csv` (committed) holds every point read:

    python docs/results/information_preference_full/make_tables.py <run or sweep dirs> ...  # add to runs.csv
    python docs/results/information_preference_full/make_tables.py                        # from runs.csv
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from sweep_points import cell, points, stored_points  # noqa: E402

FIELDS = ["arm", "budget", "seed", "step", "metric", "value"]
CURVES = {"mi": "MI (nats)", "kl": "KL(q(z|x)‖p(z)) (nats)", "recon": "recon −log p(x|z) (nats)"}
TEST = {  # metric: (column title, format)
    "kl": ("KL", "{:.1f}"),
    "mi": ("MI", "{:.2f}"),
    "active_units": ("active", "{:.1f}"),
    "recon": ("recon", "{:.1f}"),
    "nll_is": ("`nll_is` (K = 1000)", "{:.1f}"),
    "semisup_acc_100": ("semi-sup. 100", "{:.3f}"),
    "semisup_acc_all": ("semi-sup. 8,000", "{:.3f}"),
    "mmd_full": ("`mmd_full`", "{:.4f}"),
}
FIRST_VALIDATION = 249  # logged after the 250th update
FLOWN_KL = 1000.0  # a KL above this at the first validation: the codes flew far from the prior
AWAY_MMD = 0.1  # a test `mmd_full` above this: q(z) ended far from p(z) (its largest value is about 0.7)

# (arm, budget) → (split, metric) → seed → [(step, value)]
Series = dict[tuple[str, str], dict[tuple[str, str], dict[int, list[tuple[int, float]]]]]


def arm_of(config: dict) -> dict[str, str]:
    model = config["model"]
    if model["_target_"].endswith("ELBOVAE"):
        arm = "ELBO"
    else:
        arm = f"InfoVAE, α = {model['alpha']:g}, {model['kernel']} λ = {model['lam']:g}"
        if model.get("lam_warmup_steps"):
            arm += f", λ warm-up {model['lam_warmup_steps']}"
        if model.get("deterministic"):
            arm += ", deterministic encoder"
    trainer = config["trainer"]
    # a GPU job shared its GPU and was cut by `trainer.max_time`; a CPU job ran alone to `trainer.max_steps`
    # or to the experiment's epochs
    if trainer.get("max_time"):
        budget = trainer["max_time"]
    elif (trainer.get("max_steps") or -1) > 0:
        budget = f"{trainer['max_steps']} steps"
    else:
        budget = f"{trainer['max_epochs']} epochs"
    return {"arm": arm, "budget": str(budget), "seed": config["seed"]}


def read_runs(runs: list[Path]) -> list[dict]:
    wanted = {f"val/{m}" for m in [*CURVES, "mmd_full"]} | {f"test/{m}" for m in TEST}
    return points(runs, arm_of, wanted)


def series_of(rows: list[dict]) -> Series:
    series: Series = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in rows:
        split, _, metric = r["metric"].partition("/")
        series[r["arm"], r["budget"]][split, metric][int(r["seed"])].append(
            (int(r["step"]), float(r["value"]))
        )
    return series


def last(logged: list[tuple[int, float]]) -> tuple[int, float]:
    return max(logged)


def in_words(budget: str) -> str:
    """A GPU job's `trainer.max_time` (DD:HH:MM:SS) in minutes; a CPU job's steps or epochs as they are."""
    if budget.endswith((" steps", " epochs")):
        count, unit = budget.split()
        return f"{int(count):,} {unit} (CPU)"
    days, hours, mins, secs = (int(part) for part in budget.split(":"))
    total = (days * 24 + hours) * 60 + mins
    return f"{total} min" + (f" {secs} s" if secs else "")


def summary_table(series: Series) -> str:
    """One row per arm and budget: the test metrics at the end, and how many runs' codes flew out."""
    head = ["arm", "budget", "seeds", "steps", "codes out at step 250 / at the end"]
    head += [title for title, _ in TEST.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for (arm, budget), by_metric in series.items():
        seeds = by_metric["test", "recon"]
        steps = [last(logged)[0] for logged in seeds.values()]
        early = [dict(by_metric["val", "kl"].get(s, [])).get(FIRST_VALIDATION, 0.0) for s in seeds]
        flown = sum(kl > FLOWN_KL for kl in early)
        away = sum(last(v)[1] > AWAY_MMD for v in by_metric["test", "mmd_full"].values())
        cells = [
            cell([last(v)[1] for v in by_metric["test", m].values()], form) for m, (_, form) in TEST.items()
        ]
        lines.append(
            f"| {arm} | {in_words(budget)} | {len(seeds)} | {min(steps):,}–{max(steps):,} | {flown} / {away} "
            + "| "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def runs_table(series: Series) -> str:
    """One row per run: the KL at the first validation (inside the warm-up), then the test metrics."""
    head = ["arm", "seed", "steps", "KL at step 250", "KL", "MI", "recon", "`mmd_full`"]
    forms = {"kl": "{:.3g}", "mi": "{:.2f}", "recon": "{:.1f}", "mmd_full": "{:.4f}"}
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    arms = list(dict.fromkeys(arm for arm, _ in series))  # in the order first read
    runs = [
        (arm, seed, by_metric)
        for (arm, _), by_metric in series.items()
        for seed in by_metric["test", "recon"]
    ]
    for arm, seed, by_metric in sorted(runs, key=lambda run: (arms.index(run[0]), run[1])):
        steps = last(by_metric["test", "recon"][seed])[0]
        early = dict(by_metric["val", "kl"].get(seed, [])).get(FIRST_VALIDATION)
        first = "—" if early is None else f"{early:.3g}"
        logged = {m: by_metric["test", m].get(seed, []) for m in forms}  # a metric the run did not log: —
        cells = [form.format(last(logged[m])[1]) if logged[m] else "—" for m, form in forms.items()]
        lines.append(f"| {arm} | {seed} | {steps:,} | {first} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(series: Series, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVES), figsize=(5 * len(CURVES), 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, arm in enumerate(sorted({arm for arm, _ in series})):
        for (name, _), by_metric in series.items():
            if name != arm:
                continue
            for ax, metric in zip(axes, CURVES, strict=True):
                for n, logged in enumerate(by_metric["val", metric].values()):
                    steps, values = zip(*sorted(logged), strict=True)
                    ax.plot(
                        steps, values, color=colors[i % len(colors)], alpha=0.8, label=arm if n == 0 else None
                    )
    for ax, title in zip(axes, CURVES.values(), strict=True):
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[list(CURVES).index("kl")].set_yscale("log")
    axes[list(CURVES).index("recon")].set_ylim(80, 110)
    unique = {}  # an arm without MI or KL (a deterministic encoder) has its lines on the recon axis only
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            unique.setdefault(label, handle)
    fig.legend(unique.values(), unique.keys(), loc="lower center", ncol=2, fontsize=8)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def tables(series: Series) -> list[str]:
    return [summary_table(series), runs_table(series)]


def main(argv: list[str]) -> None:
    rows = stored_points(HERE / "runs.csv", argv, read_runs, FIELDS)
    series = series_of(rows)
    print("\n\n".join(tables(series)))
    plot(series, HERE / "curves.png")


if __name__ == "__main__":
    main(sys.argv[1:])
