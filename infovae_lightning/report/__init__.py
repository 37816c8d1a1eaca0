"""A sweep's report: `infovae report <sweep dir>` or `python -m infovae_lightning.report <sweep dir>`.

Reads every job directory of a Hydra multirun (`summary.json`, `csv/metrics.csv`, `images/`, `.hydra/`) and
writes `report.md`, `report.csv` (one row per job), `groups.csv` (mean, std, n per group and metric) and PNG
figures into `<sweep dir>/report/`:

- `collect.py`   job directories -> `Job` records (failed, unfinished and unreadable jobs included)
- `tables.py`    swept keys, groups, mean ± std over seeds, the CSV files
- `toy.py`       the toy problem from a checkpoint: posterior and decoder samples, Var q(z)
- `figures.py`   metric curves and Figure 1 (matplotlib, Agg canvas)
- `markdown.py`  report.md
- `build.py`     all of the above in order; `cli.py`, the command line
"""

from infovae_lightning.report.build import Report, build_report

__all__ = ["Report", "build_report"]
