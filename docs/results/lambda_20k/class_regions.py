"""Latent 2: why the α = 1 arms match the classes worse than the ELBO while their q(z) is at p(z).

`class_dist_ce` labels decoded z ~ p(z) with a classifier. Its value can be poor for three reasons: q(z) puts
each class's codes where p(z) has less or more mass than the class's share (a mismatch the MMD, a sum over
kernel distances, can miss); the decoder does not turn codes into their class's digits; or it does at the
codes but not between them. For each completed latent-2 job, from its last checkpoint, over the first N
labelled validation images (the evaluation set the metric reads) this measures each:

- `knn_ce`: `class_dist_ce` of M prior samples each labelled by its nearest code's image: 0 when every
  class's codes hold the class's share of p(z) (up to the N codes' graininess);
- `codes_ce` and `codes_acc`: `class_dist_ce` of the decoded codes and the share the classifier gives their
  image's label: does the decoder keep the class through two dimensions?
- `prior_ce`: `class_dist_ce` of the M decoded prior samples (the run's metric again, on these images), and
  `snap_ce` with each prior sample replaced by its nearest code: the gap between the two is the decoder
  between the codes, where a narrow q(z|x) never trained it;
- `width` and `spread`: the geometric mean of q(z|x)'s standard deviations, and the root mean square over
  dimensions of the codes' means' standard deviation (p(z)'s is 1): what the KL term (α < 1) keeps wide.

Codes are q(z|x)'s means. `class_regions.csv` (committed) keeps every job's values, so the table can be
made again from it alone:

    python docs/results/lambda_20k/class_regions.py --root ../shared/data /work/exp/<sweep> ...
    python docs/results/lambda_20k/class_regions.py             # from class_regions.csv
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections import defaultdict
from functools import partial
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from make_tables import key_of  # noqa: E402
from sweep_points import cell, completed_jobs, datamodule_of, first_examples, stored_points  # noqa: E402

CODES = 2000  # N: labelled validation images encoded
CHUNK = 1000  # rows decoded, classified or compared at once
LATENT = 2
METRICS = {  # metric: (column title, format)
    "val/class_dist_ce": ("class_dist_ce (run)", "{:.3f}"),
    "prior_ce": ("decoded p(z)", "{:.3f}"),
    "snap_ce": ("decoded nearest codes of p(z)", "{:.3f}"),
    "knn_ce": ("p(z) by nearest code", "{:.3f}"),
    "codes_ce": ("decoded codes", "{:.3f}"),
    "codes_acc": ("decoded codes' accuracy", "{:.3f}"),
    "width": ("σ of q(z\\|x)", "{:.3f}"),
    "spread": ("spread of codes", "{:.2f}"),
}
FIELDS = ["model", "alpha", "lam", "latent", "seed", "batches", "step", "metric", "value"]


def measure(
    model: torch.nn.Module, classifier: torch.nn.Module, classes: int, x: torch.Tensor, y: torch.Tensor
) -> dict:
    """The metrics of the docstring for one model on labelled images (x, y) of `classes` classes."""
    from infovae_lightning.metrics.class_dist import (
        ClassDistributionCE,
        class_distribution_ce,
        class_frequencies,
    )
    from infovae_lightning.protocols import decoded_mean, encode

    def labels_of(z: torch.Tensor) -> torch.Tensor:  # the classifier's label of each decoded E[x|z]
        return torch.cat([classifier(decoded_mean(model, c)).argmax(-1) for c in z.split(CHUNK)])

    real = class_frequencies(y, classes)
    prior_samples = (
        inspect.signature(ClassDistributionCE).parameters["num_samples"].default
    )  # M: the metric's
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        q = encode(model, x)
        z = torch.randn(prior_samples, q.mean.shape[1], generator=generator)
        nearest = torch.cat([torch.cdist(c, q.mean).argmin(dim=1) for c in z.split(CHUNK)])
        from_prior, from_codes = labels_of(z), labels_of(q.mean)
    out = dict(
        prior_ce=class_distribution_ce(real, from_prior, classes)[0],
        snap_ce=class_distribution_ce(real, from_codes[nearest], classes)[0],
        knn_ce=class_distribution_ce(real, y[nearest], classes)[0],
        codes_ce=class_distribution_ce(real, from_codes, classes)[0],
        codes_acc=(from_codes == y).double().mean().item(),
        spread=q.mean.var(dim=0).mean().sqrt().item(),
    )
    if q.std is not None:  # a deterministic encoder has no width
        out["width"] = q.std.log().mean().exp().item()
    return out


def read_regions(sweeps: list[Path], root: Path, classifier_path: Path) -> list[dict]:
    """(model, α, λ, latent, seed, batches, step, metric, value) of the completed latent-2 jobs."""
    from infovae_lightning.metrics.classifier import load_classifier
    from infovae_lightning.report.collect import read_history
    from infovae_lightning.run.checkpoints import load_model, read_checkpoint

    out = []
    for job in completed_jobs(sweeps):
        if job.config["latent_dim"] != LATENT:
            continue
        path = job.path / "checkpoints" / "last.ckpt"
        model = load_model(path).eval()
        data = job.config["eval_data"]
        classifier, meta = load_classifier(classifier_path, data["name"], model.hparams["input_shape"])
        batches = read_checkpoint(path).global_step // model.optimizer_steps_per_batch()
        x, y = first_examples(datamodule_of({"data": data}, root).val_dataloader(), CODES)
        values = measure(model, classifier.eval(), int(meta["num_classes"]), x, y)
        logged = dict(read_history(job).get("val/class_dist_ce", []))
        if batches - 1 in logged:  # the validation after the last batch is logged at its step − 1
            values["val/class_dist_ce"] = logged[batches - 1]
        key = key_of(job.config) | dict(batches=batches, step=batches)
        out += [key | dict(metric=m, value=v) for m, v in values.items()]
        print(f"read {job.path}", file=sys.stderr)
    return out


def table(rows: list[dict]) -> str:
    """Mean ± std over seeds for each (model, α, λ, batches)."""
    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        arm = (r["model"], float(r["alpha"]), float(r["lam"]), int(r["batches"]))
        values[arm][r["metric"]].append(float(r["value"]))
    head = ["model", "α", "λ", "batches", "seeds", *(title for title, _ in METRICS.values())]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for arm in sorted(values, key=lambda a: (a[0] != "ELBO", a[1], a[0], a[2], a[3])):
        model, alpha, lam, batches = arm
        cells = [cell(values[arm].get(m, []), form) for m, (_, form) in METRICS.items()]
        seeds = len(values[arm]["prior_ce"])
        lines.append(f"| {model} | {alpha:g} | {lam:g} | {batches:,} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="*", help="sweep directories to add to class_regions.csv")
    parser.add_argument("--root", type=Path, help="the data root (holding MNIST's test file); with sweeps")
    parser.add_argument("--classifier", type=Path, default=Path("classifiers/mnist_digits.pt"))
    args = parser.parse_args(argv)
    if args.sweeps and args.root is None:
        parser.error("--root is needed to read sweeps")
    read = partial(read_regions, root=args.root, classifier_path=args.classifier)
    print(table(stored_points(HERE / "class_regions.csv", args.sweeps, read, FIELDS)))


if __name__ == "__main__":
    main(sys.argv[1:])
