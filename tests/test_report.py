"""`infovae report <sweep dir>`: a real toy sweep (ELBO and MMD-VAE × 2 seeds, a few steps each) with one job
whose summary.json is gone (killed or still running) and one that failed, reported by
`python -m infovae_lightning.report`; and the grouping and statistics on hand-made jobs."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, run_train

from infovae_lightning.report.build import Report, build_report, rebuild_report
from infovae_lightning.report.collect import Job, read_history
from infovae_lightning.report.figures import curve_file
from infovae_lightning.report.markdown import group_tables, jobs_table, toy_grid
from infovae_lightning.report.tables import (
    Stat,
    group_jobs,
    group_keys,
    metric_names,
    summarize,
    swept_keys,
)

# Seconds per job on a CPU: 2 epochs of 2 batches on 200 toy points, the cheap metrics at every validation.
QUICK = [
    "data=toy",
    "latent_dim=1",
    "trainer.max_epochs=2",
    "data.toy_size=200",
    "data.batch_size=100",
    "trainer.log_every_n_steps=1",
    "metrics=[mmd_full,logdet,latent_usage]",
    "metrics.mmd_full.every_n_val_epochs=1",
    "metrics.logdet.every_n_val_epochs=1",
    "metrics.latent_usage.every_n_val_epochs=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infovae_lightning.report", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Jobs 0-3: model=elbo,mmd × seed=0,1 (job 1's summary.json removed); job 4: a failed model.lam=-1."""
    tmp = tmp_path_factory.mktemp("report")
    sweep = tmp / "sweep"
    proc = run_train("-m", "model=elbo,mmd", "seed=0,1", *QUICK, f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep / "1" / "summary.json").unlink()  # as a job that is still running, or was killed, leaves it
    failed = tmp / "failed"
    proc = run_train("-m", "model=mmd", "model.lam=-1", *QUICK, f"hydra.sweep.dir={failed}")
    assert proc.returncode != 0  # the sweep reports its failed job
    shutil.copytree(failed / "0", sweep / "4")
    proc = report(str(sweep))
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = "5 jobs (3 completed, 1 failed, 1 missing), 3 groups"
    assert proc.stdout.strip() == f"{sweep / 'report' / 'report.md'}: {counts}"
    return sweep


def summary(sweep: Path, job: int) -> dict:
    return json.loads((sweep / str(job) / "summary.json").read_text())


@pytest.fixture(scope="module")
def built(sweep: Path, tmp_path_factory) -> Report:
    """The sweep's report as `build_report` returns it (its data structures, not report.md's text)."""
    return build_report(sweep, tmp_path_factory.mktemp("built"), toy_samples=200)


def test_report_writes_markdown_csv_and_figures(sweep: Path, built: Report) -> None:
    out = sweep / "report"
    for name in ["report.md", "report.csv", "groups.csv", "report.json", "curves.csv"]:
        assert (out / name).stat().st_size > 0, name
    assert {"val/loss", "val/mmd_full", "val/logdet_cov_per_dim", "train/loss"} <= set(built.curves)
    for metric, path in built.curves.items():
        assert path == built.out / curve_file(metric) and path.stat().st_size > 10_000, metric
        assert (out / path.name).stat().st_size > 10_000, metric  # the command line's report has them too
    md = (out / "report.md").read_text()  # the Markdown renders, with its links
    assert md.startswith("# Sweep report: ") and "## Curves" in md
    assert "![val/loss](curve_val_loss.png)" in md


def test_csv_has_one_row_per_job_with_status_and_final_metrics(sweep: Path) -> None:
    with (sweep / "report" / "report.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["job"] for row in rows] == ["0", "1", "2", "3", "4"]
    statuses = [row["status"] for row in rows]
    assert statuses == ["completed", "missing", "completed", "completed", "failed"]
    assert [row["model"] for row in rows] == ["elbo", "elbo", "mmd", "mmd", "mmd"]
    assert [row["seed"] for row in rows] == ["0", "1", "0", "1", ""]
    assert "lam (λ) must be >= 0, got -1.0" in rows[4]["error"]
    assert "no summary.json" in rows[1]["error"]
    assert "model.lam=-1" in rows[4]["overrides"]
    for row in rows:
        if row["status"] != "completed":
            assert row["val/loss"] == ""
            continue
        final = summary(sweep, int(row["job"]))
        assert int(row["global_step"]) == final["global_step"] == 4
        for metric, value in final["metrics"].items():
            assert float(row[metric]) == value, (row["job"], metric)


def test_grouped_table_has_mean_and_std_over_seeds(sweep: Path, built: Report) -> None:
    # Job 4 overrides model.lam, so λ is a swept key; the other jobs take theirs from the resolved config.
    assert built.keys == ["model", "latent_dim", "model.lam"]
    assert [g.values for g in built.groups] == [
        ("elbo", "1", "1.0"),
        ("mmd", "1", "1000.0"),
        ("mmd", "1", "-1"),
    ]
    tables = group_tables(built)
    assert {"val", "toy", "train"} <= set(tables)
    for header, rows in tables.values():  # one row per group in each split's table, seeds and completed
        table = [dict(zip(header, row, strict=True)) for row in rows]
        assert [(r["model"], r["model.lam"], r["seeds"], r["completed"]) for r in table] == [
            ("elbo", "1.0", "0, 1", "1/2"),
            ("mmd", "1000.0", "0, 1", "2/2"),
            ("mmd", "-1", "0", "0/1"),  # the failed job's seed, from its composed config
        ]
    val_header, val_rows = tables["val"]
    val = {row[1 + 1]: dict(zip(val_header, row, strict=True)) for row in val_rows}  # by λ
    with (sweep / "report" / "groups.csv").open() as f:
        grouped = {(r["model"], r["model.lam"], r["metric"]): r for r in csv.DictReader(f)}
    mmd = built.groups[1]
    for metric in ("val/mmd_full", "val/loss", "val/logdet_cov_per_dim"):
        values = [summary(sweep, job)["metrics"][metric] for job in (2, 3)]
        mean, std = statistics.fmean(values), statistics.stdev(values)
        stat = mmd.stat(metric)
        assert stat is not None and stat.n == 2
        assert stat.mean == pytest.approx(mean, rel=1e-12) and stat.std == pytest.approx(std, rel=1e-12)
        assert val["1000.0"][metric] == str(stat)  # the table shows the group's Stat
        row = grouped[("mmd", "1000.0", metric)]
        assert float(row["mean"]) == pytest.approx(mean, rel=1e-12)
        assert float(row["std"]) == pytest.approx(std, rel=1e-12)
        assert row["n"] == "2" and row["jobs"] == "2" and row["completed"] == "2"
    # The ELBO group has one completed job of two: its value, n=1, no std.
    elbo = summary(sweep, 0)["metrics"]["val/mmd_full"]
    assert built.groups[0].stat("val/mmd_full") == Stat(elbo, None, 1)
    assert val["1.0"]["val/mmd_full"] == str(Stat(elbo, None, 1))
    assert val["-1"]["val/mmd_full"] == "—"  # the failed job's group has no value
    assert grouped[("elbo", "1.0", "val/mmd_full")]["std"] == ""


def test_missing_and_failed_jobs_are_listed(built: Report) -> None:
    header, rows = jobs_table(built)
    jobs = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert list(jobs) == [0, 1, 2, 3, 4]
    cells = ("overrides", "status", "steps")
    assert [jobs[1][c] for c in cells] == ["model=elbo seed=1", "missing", "—"]
    assert "no summary.json" in jobs[1]["error"]
    assert [jobs[4][c] for c in cells] == ["model=mmd model.lam=-1", "failed", "—"]
    assert "lam (λ) must be >= 0, got -1.0" in jobs[4]["error"]
    assert [jobs[n]["status"] for n in (0, 2, 3)] == ["completed"] * 3 and jobs[0]["error"] == ""


def test_toy_figure_and_var_qz(sweep: Path, built: Report) -> None:
    out = sweep / "report"
    md = (out / "report.md").read_text()
    assert "## Toy problem (Figure 1)" in md and "![job 0](toy_job0.png)" in md
    assert built.toy_figures == {job: built.out / f"toy_job{job}.png" for job in (0, 2, 3)}
    for job in (0, 2, 3):
        assert (out / f"toy_job{job}.png").stat().st_size > 10_000
    assert not (out / "toy_job1.png").exists() and not (out / "toy_job4.png").exists()
    # ELBO and MMD-VAE side by side, though their presets' λ differ (λ is swept because of job 4).
    models, rows = toy_grid(built)
    assert models == ["elbo", "mmd"]
    assert rows == {
        ("latent_dim=1", "seed=0"): {"elbo": [0], "mmd": [2]},
        ("latent_dim=1", "seed=1"): {"mmd": [3]},
    }
    with (out / "report.csv").open() as f:
        rows = {row["job"]: row for row in csv.DictReader(f)}
    for job in ("0", "2", "3"):
        assert 0.01 < float(rows[job]["toy/var_qz"]) < 10
    assert rows["1"]["toy/var_qz"] == ""


def test_toy_sweep_puts_its_experiments_side_by_side(tmp_path: Path) -> None:
    """`+sweeps=toy` chooses whole experiments; two of them are MMD-VAEs (α = 0 and α = 1), so Figure 1's
    columns are the experiments, not the model classes, and the seeds make the rows."""
    sweep = tmp_path / "toy"
    arms = "experiment=toy_elbo,toy_alpha1"
    proc = run_train("-m", "+sweeps=toy", arms, "seed=0,1", *QUICK[1:], f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    alphas = [summary(sweep, n)["config"]["model"]["alpha"] for n in range(4)]
    assert alphas == [0.0, 0.0, 1.0, 1.0]  # jobs 0, 1: the ELBO; 2, 3: InfoVAE with α = 1
    assert report(str(sweep)).returncode == 0
    md = (sweep / "report" / "report.md").read_text()
    assert md.startswith("# Sweep report: `toy: toy`\n")  # the task and the folder, not an absolute path
    models, rows = toy_grid(rebuild_report(sweep / "report"))  # the grid of the report just made
    assert models == ["toy_elbo", "toy_alpha1"]
    assert rows[("latent_dim=1", "seed=1")] == {"toy_elbo": [1], "toy_alpha1": [3]}


def test_var_qz_is_the_variance_of_the_aggregate_posterior(sweep: Path) -> None:
    from infovae_lightning.report.toy import analyse

    analysis = analyse(sweep / "2" / "checkpoints" / "last.ckpt", samples=20_000)
    z = np.concatenate(list(analysis.z_given_x.values()))  # q(z) = ½ q(z|x=-1) + ½ q(z|x=+1)
    assert np.var(z) == pytest.approx(analysis.var_qz, rel=0.05)
    assert np.std(analysis.z_prior) == pytest.approx(1.0, rel=0.05)


def test_infovae_report_dispatches_before_lightning_cli(sweep: Path, tmp_path: Path, capsys) -> None:
    from infovae_lightning.run.cli import main

    main(["report", str(sweep), "--out", str(tmp_path / "elsewhere"), "--toy-samples", "200"])
    assert "5 jobs" in capsys.readouterr().out
    md = (tmp_path / "elsewhere" / "report.md").read_text()
    assert "![job 0](toy_job0.png)" in md  # figures go with the report
    assert "## Samples" not in md  # a 1-D toy latent draws no pictures
    main(["report", "--from-report", str(tmp_path / "elsewhere"), "--out", str(tmp_path / "again")])
    assert "not redrawn (kept as drawn): toy_job0.png" in capsys.readouterr().out
    assert (tmp_path / "again" / "curve_val_loss.png").is_file()
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "infovae report <sweep dir>" in " ".join(capsys.readouterr().out.split())


def test_pictures_are_copied_into_the_report_folder(sweep: Path, tmp_path: Path) -> None:
    from infovae_lightning.report.build import build_report

    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy, ignore=shutil.ignore_patterns("report"))
    images = copy / "2" / "images"
    images.mkdir()
    for step in (10, 20):  # the latest of a kind is shown
        (images / f"val_samples_step{step:06d}.png").write_bytes(f"step {step}".encode())
    (copy / "1" / "images").mkdir()  # job 1 has no summary.json: not completed, not shown
    (copy / "1" / "images" / "val_samples_step000010.png").write_bytes(b"unfinished")
    out = tmp_path / "docs" / "results"
    build_report(copy, out, toy_samples=100)
    shutil.rmtree(copy)  # the report folder stands on its own
    assert (out / "pictures" / "job2_val_samples.png").read_bytes() == b"step 20"
    assert sorted(p.name for p in (out / "pictures").iterdir()) == ["job2_val_samples.png"]
    md = (out / "report.md").read_text()
    assert "## Samples" in md and "![val_samples](pictures/job2_val_samples.png)" in md
    rebuilt = rebuild_report(out)  # kept, not redrawn: pictures are the runs' images
    assert rebuilt.pictures == {2: {"val_samples": out / "pictures" / "job2_val_samples.png"}}


@pytest.mark.slow  # CI time; the same path is covered by a quicker test in the default suite
def test_report_of_a_directory_without_jobs_is_one_error_line(tmp_path: Path) -> None:
    proc = report(str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"error: {tmp_path} holds no job directories (0/, 1/, ...) and no summary.json; give a run "
        "directory, outputs/<task>/<time>, or a sweep directory, multirun/<task>/<time>"
    )


# --- grouping and statistics on hand-made jobs --------------------------------------------------------------


def job(num: int, status: str, overrides: list[str], **metrics: float) -> Job:
    return Job(num, Path(str(num)), status, overrides, {k.replace("__", "/"): v for k, v in metrics.items()})


def test_groups_pool_seeds_and_keep_only_completed_finite_values() -> None:
    jobs = [
        job(0, "completed", ["model=mmd", "latent_dim=2", "seed=0", "model.lam=10"], val__loss=1.0),
        job(1, "completed", ["model=mmd", "latent_dim=2", "seed=1", "model.lam=10"], val__loss=2.0),
        job(2, "completed", ["model=mmd", "latent_dim=2", "seed=2", "model.lam=10"], val__loss=4.0),
        job(3, "completed", ["model=mmd", "latent_dim=2", "seed=0", "model.lam=100"], val__loss=math.nan),
        job(4, "completed", ["model=mmd", "latent_dim=2", "seed=1", "model.lam=100"], val__loss=5.0),
        job(5, "interrupted", ["model=mmd", "latent_dim=2", "seed=2", "model.lam=100"], val__loss=0.5),
        job(6, "failed", ["model=mmd", "latent_dim=2", "seed=3", "model.lam=100"]),
    ]
    assert swept_keys(jobs) == ["seed", "model.lam"]
    keys = group_keys(jobs)
    assert keys == ["model", "latent_dim", "model.lam"]
    groups = group_jobs(jobs, keys)
    assert [g.values for g in groups] == [("mmd", "2", "10"), ("mmd", "2", "100")]
    assert [[j.num for j in g.jobs] for g in groups] == [[0, 1, 2], [3, 4, 5, 6]]
    stat = groups[0].stat("val/loss")
    assert stat == Stat(7 / 3, statistics.stdev([1.0, 2.0, 4.0]), 3)
    assert str(stat) == "2.333 ± 1.528 (n=3)"
    # The NaN seed, the interrupted and the failed job are left out: one value remains.
    assert groups[1].stat("val/loss") == Stat(5.0, None, 1)
    assert str(groups[1].stat("val/loss")) == "5 (n=1)"
    assert groups[1].stat("val/kl") is None
    assert summarize([]) is None


def test_model_and_latent_dim_always_group_and_paper_metrics_come_first() -> None:
    jobs = [
        job(0, "completed", ["model=elbo", "seed=0"], train__loss=1, val__loss=1, val__mmd_full=1, zeta=0),
        job(1, "completed", ["model=elbo", "seed=1"], test__nll_is=1, test__semisup_acc_100=1, val__mi=1),
        job(2, "completed", ["model=elbo", "seed=2"], val__kl=1, val__kl_full=1),
    ]
    assert swept_keys(jobs) == ["seed"]
    assert group_keys(jobs) == ["model", "latent_dim"]
    assert metric_names(jobs) == [
        "test/nll_is",
        "test/semisup_acc_100",
        "val/mmd_full",
        "val/kl_full",  # the evaluator's full-set KL beside the mutual information
        "val/mi",
        "val/loss",
        "val/kl",  # the model's term, with the other loss terms
        "train/loss",
        "zeta",
    ]


def test_history_keeps_the_last_value_logged_at_a_step(tmp_path: Path) -> None:
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/loss\n0,0,3.0,\n0,1,2.0,\n0,1,,1.5\n0,1,,1.25\n1,3,1.0,nan\n"
    )
    history = read_history(Job(0, tmp_path, "completed"))
    assert history == {"train/loss": [(0, 3.0), (1, 2.0), (3, 1.0)], "val/loss": [(1, 1.25)]}


def test_final_metrics_are_drawn_against_numeric_swept_keys(tmp_path: Path) -> None:
    """λ = 1, 10, 100 for two models, two seeds each: one figure per metric against λ with a line per model;
    the model (not a number) and a key with two values get none."""
    from infovae_lightning.report.figures import numeric_keys, trend_file, trend_lines, trends

    jobs = [
        job(
            2 * i + s,
            "completed",
            [f"model={m}", "latent_dim=5", f"seed={s}", f"model.lam={lam}"],
            test__mmd_full=lam * (s + 1),
        )
        for i, (m, lam) in enumerate((m, lam) for m in ("mmd", "stein") for lam in (1, 10, 100))
        for s in (0, 1)
    ]
    keys = group_keys(jobs)
    groups = group_jobs(jobs, keys)
    assert numeric_keys(groups, keys) == ["model.lam"]
    # Seeds 0 and 1 give lam and 2·lam: mean 1.5·lam, std lam/√2, a line per model in λ's order.
    lines = trend_lines(groups, keys.index("model.lam"), "test/mmd_full")
    expected = [(lam, 1.5 * lam, pytest.approx(lam / math.sqrt(2))) for lam in (1.0, 10.0, 100.0)]
    assert lines == {("mmd", "5"): expected, ("stein", "5"): expected}
    assert trend_lines(groups, keys.index("model.lam"), "test/nll_is") == {}
    written = trends(groups, keys, "test", tmp_path)
    assert written == {"model.lam": {"test/mmd_full": tmp_path / trend_file("model.lam", "test/mmd_full")}}
    assert (tmp_path / "vs_model_lam_test_mmd_full.png").stat().st_size > 10_000


# --- rebuilding a report from its folder alone --------------------------------------------------------------


def fake_job(sweep: Path, num: int, overrides: list[str], config: dict, status: str = "completed") -> None:
    """A job directory as train.py leaves it, written by hand: overrides, summary.json, a metrics.csv whose
    values depend on the job, one picture."""
    path = sweep / str(num)
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text("".join(f"- {item}\n" for item in overrides))
    lam, seed = config["model"]["lam"], config["seed"]
    metrics = {"test/mmd_full": 0.01 * lam + seed, "test/nll_is": 90.0 + num, "val/loss": 100.0 - num / 3}
    summary = {"status": status, "global_step": 20, "config": config, "metrics": metrics}
    if status == "failed":
        summary |= {"error": "ValueError: boom", "metrics": {}}
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "csv").mkdir()
    steps = "".join(f"0,{step},{100 - step - num / 7},{99 - step + seed}\n" for step in (0, 10, 20))
    (path / "csv" / "metrics.csv").write_text("epoch,step,train/loss,val/loss\n" + steps)
    (path / "images").mkdir()
    (path / "images" / "test_samples_step000020.png").write_bytes(f"job {num}".encode())


@pytest.fixture
def fake_sweep(tmp_path: Path) -> Path:
    """λ = 1, 10, 100 × seed = 0, 1 (MMD-VAE), an ELBO whose λ comes from its config, a failed job."""
    sweep = tmp_path / "lam"
    base = {"task_name": "lam", "data": {"name": "mnist"}, "latent_dim": 2}
    num = 0
    for lam in (1, 10, 100):
        for seed in (0, 1):
            config = base | {"seed": seed, "model": {"lam": float(lam)}}
            fake_job(sweep, num, ["model=mmd", f"model.lam={lam}", f"seed={seed}"], config)
            num += 1
    fake_job(sweep, 6, ["model=elbo", "seed=0"], base | {"seed": 0, "model": {"lam": 1.0}})
    fake_job(
        sweep, 7, ["model=mmd", "model.lam=5", "seed=0"], base | {"seed": 0, "model": {"lam": 5.0}}, "failed"
    )
    return sweep


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def same_tables(a: Report, b: Report) -> None:
    assert (b.swept, b.keys, b.metrics) == (a.swept, a.keys, a.metrics)
    assert [(g.values, [j.num for j in g.jobs]) for g in b.groups] == [
        (g.values, [j.num for j in g.jobs]) for g in a.groups
    ]
    assert jobs_table(b) == jobs_table(a)
    assert group_tables(b) == group_tables(a)
    for name in ("report.csv", "groups.csv"):
        assert csv_rows(b.out / name) == csv_rows(a.out / name), name


def test_a_report_is_rebuilt_from_its_folder_without_the_jobs(fake_sweep: Path, tmp_path: Path) -> None:
    made = build_report(fake_sweep, tmp_path / "report")
    assert list(made.curves) == ["val/loss", "train/loss"]
    assert {metric for figs in made.trends.values() for metric in figs} == {"test/nll_is", "test/mmd_full"}
    curves = csv_rows(made.out / "curves.csv")
    assert curves[:2] == [
        {"job": "0", "step": "0", "key": "val/loss", "value": "99.0"},
        {"job": "0", "step": "10", "key": "val/loss", "value": "89.0"},
    ]
    assert len(curves) == 8 * 2 * 3  # jobs × curve metrics × steps (the failed job's curve is kept too)
    for num in range(8):
        shutil.rmtree(fake_sweep / str(num))
    for png in made.out.glob("*.png"):
        png.unlink()

    rebuilt = rebuild_report(made.out, tmp_path / "rebuilt")
    same_tables(made, rebuilt)
    assert rebuilt.group_of == made.group_of  # the ELBO's λ, from its config, is in report.json
    assert rebuilt.not_redrawn == [] and rebuilt.notes == []
    assert list(rebuilt.curves) == list(made.curves)
    assert {k: list(v) for k, v in rebuilt.trends.items()} == {k: list(v) for k, v in made.trends.items()}
    for path in [*rebuilt.curves.values(), *rebuilt.trends["model.lam"].values()]:
        assert path.parent == rebuilt.out and path.stat().st_size > 10_000, path.name
    assert rebuilt.pictures[6] == {"test_samples": rebuilt.out / "pictures" / "job6_test_samples.png"}
    assert rebuilt.pictures[6]["test_samples"].read_bytes() == b"job 6"
    assert (rebuilt.out / "report.md").read_text().startswith("# Sweep report: `lam: lam`")

    again = rebuild_report(rebuilt.out)  # in place, the default: the same again
    same_tables(rebuilt, again)


def test_an_old_report_folder_is_rebuilt_as_far_as_its_tables_allow(fake_sweep: Path, tmp_path: Path) -> None:
    """A report made before report.json and curves.csv (docs/results/): the tables and the figures against
    λ are redrawn from report.csv and groups.csv; the curves are kept as drawn, and the report says so."""
    made = build_report(fake_sweep, tmp_path / "report")
    (made.out / "report.json").unlink()
    (made.out / "curves.csv").unlink()
    for png in made.out.glob("vs_*.png"):
        png.unlink()
    rebuilt = rebuild_report(made.out, tmp_path / "rebuilt")
    same_tables(made, rebuilt)  # the seeds were overridden and the ELBO's λ is found in groups.csv
    assert sorted(p.name for p in rebuilt.not_redrawn) == ["curve_train_loss.png", "curve_val_loss.png"]
    assert rebuilt.curves == {m: rebuilt.out / curve_file(m) for m in ("val/loss", "train/loss")}
    assert all(path.is_file() for path in rebuilt.curves.values())  # carried over from the old folder
    assert [k for k in rebuilt.trends] == ["model.lam"] and all(
        p.stat().st_size > 10_000 for p in rebuilt.trends["model.lam"].values()
    )
    assert len(rebuilt.notes) == 1 and rebuilt.notes[0].startswith(
        "Not redrawn: the report folder has no curves"
    )


def test_every_figure_under_docs_results_is_cited() -> None:
    """docs/results/ keeps only the figures a Markdown file shows (README.md, docs/*.md, the reports)."""
    markdown = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("docs/results/**/*.md")]
    cited = {
        (md.parent / target).resolve()
        for md in markdown
        for target in re.findall(r"\]\(([^)\s]+\.png)\)", md.read_text())
    }
    figures = sorted((ROOT / "docs" / "results").rglob("*.png"))
    assert figures and [p.relative_to(ROOT) for p in figures if p.resolve() not in cited] == []
