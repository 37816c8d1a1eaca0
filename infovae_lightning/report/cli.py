"""The command line of the report: `infovae report <run or sweep dir> [--out DIR]`,
`infovae report --from-report <report dir> [--out DIR]` (dispatched by `infovae`'s
`main` before LightningCLI parses, as it is no Lightning subcommand) and
`python -m infovae_lightning.report <sweep dir>`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from infovae_lightning.errors import InfoVAEError
from infovae_lightning.report.build import build_report, rebuild_report
from infovae_lightning.report.collect import status_counts

DESCRIPTION = (
    "Report on a sweep (a Hydra multirun directory, multirun/<task>/<time>) or on one run "
    "(outputs/<task>/<time>, a sweep of one job): a table of every job with its "
    "overrides, status and final metrics; mean ± std over seeds grouped by model, latent dimension and the "
    "other swept keys; metric curves; sample grids; for the toy data, the paper's Figure 1 per job. Writes "
    "report.md, report.csv, groups.csv, report.json, curves.csv and PNG figures. With --from-report, "
    "redraws a report from its folder alone (e.g. docs/results/<name>), without the job directories."
)


def parser(prog: str = "infovae report") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    p.add_argument(
        "sweep", type=Path, help="a sweep directory (holding the job directories 0/, 1/, ...) or one run's"
    )
    p.add_argument(
        "--from-report",
        action="store_true",
        help="the directory is a report folder (report.csv, report.json, curves.csv, pictures/): rebuild "
        "report.md, the CSV files and the figures from it alone (default --out: the folder itself)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the report (default: <sweep>/report, or the report folder with --from-report)",
    )
    p.add_argument(
        "--toy-samples",
        type=int,
        default=5000,
        help="samples per distribution in the toy figures (default: 5000)",
    )
    return p


def main(argv: Sequence[str] | None = None, prog: str = "python -m infovae_lightning.report") -> int:
    args = parser(prog).parse_args(argv)
    try:
        if args.from_report:
            report = rebuild_report(args.sweep, args.out)
        else:
            report = build_report(args.sweep, args.out, toy_samples=args.toy_samples)
    except InfoVAEError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    counts = status_counts(report.jobs)
    print(f"{report.out / 'report.md'}: {len(report.jobs)} jobs ({counts}), {len(report.groups)} groups")
    if args.from_report:
        redrawn = [*report.curves.values(), *(p for paths in report.trends.values() for p in paths.values())]
        redrawn = [p for p in redrawn if p not in report.not_redrawn]
        print(f"redrawn: {', '.join(p.name for p in redrawn) or 'no figures'}")
        if report.not_redrawn:
            print(f"not redrawn (kept as drawn): {', '.join(p.name for p in report.not_redrawn)}")
        for note in report.notes:
            if note.startswith(("Not redrawn", "Rebuilt")):
                print(note)
    return 0
