"""A sweep's report: `infovae report <sweep dir>` or `python -m infovae_lightning.report <sweep dir>`.

Reads every job directory of a Hydra multirun (`summary.json`, `csv/metrics.csv`, `images/`, `.hydra/`) and
writes `report.md`, `report.csv` (one row per job), `groups.csv` (mean, std, n per group and metric),
`report.json`, `curves.csv` and PNG figures into `<sweep dir>/report/`; `infovae report --from-report <dir>`
redraws them from that folder alone:

- `collect.py`   job directories -> `Job` records (failed, unfinished and unreadable jobs included)
- `tables.py`    swept keys, groups, mean ± std over seeds, the CSV files
- `toy.py`       the toy problem from a checkpoint: posterior and decoder samples, Var q(z)
- `figures.py`   metric curves and Figure 1 (matplotlib, Agg canvas)
- `markdown.py`  report.md
- `stored.py`    what a report folder keeps for a rebuild (report.json, curves.csv), and reading it back
- `build.py`     all of the above in order (`build_report`), or from a report folder (`rebuild_report`);
                 `cli.py`, the command line
"""

from infovae_lightning.report.build import Report, build_report, rebuild_report

__all__ = ["Report", "build_report", "rebuild_report"]
