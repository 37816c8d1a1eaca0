"""`infovae report <sweep dir>`: a real toy sweep (ELBO and MMD-VAE × 2 seeds, a few steps each) with one job
whose summary.json is gone (killed or still running) and one that failed, reported by
`python -m infovae_lightning.report`; and the grouping and statistics on hand-made jobs."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, run_train

from infovae_lightning.report.collect import Job, read_history
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


def test_report_writes_markdown_csv_and_figures(sweep: Path) -> None:
    out = sweep / "report"
    for name in ["report.md", "report.csv", "groups.csv", "curve_val_loss.png", "curve_val_mmd_full.png"]:
        assert (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    assert "![val/loss](curve_val_loss.png)" in md
    assert "![val/mmd_full](curve_val_mmd_full.png)" in md


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


def test_grouped_table_has_mean_and_std_over_seeds(sweep: Path) -> None:
    md = (sweep / "report" / "report.md").read_text()
    # Job 4 overrides model.lam, so λ is a swept key; the other jobs take theirs from the resolved config.
    assert "## Results by model, latent_dim, model.lam" in md
    mmd_rows = [line for line in md.splitlines() if line.startswith("| mmd | 1 | 1000.0 | 0, 1 | 2/2 |")]
    assert len(mmd_rows) >= 2  # one row in each split's table (val, toy, train)
    with (sweep / "report" / "groups.csv").open() as f:
        grouped = {(r["model"], r["model.lam"], r["metric"]): r for r in csv.DictReader(f)}
    for metric in ("val/mmd_full", "val/loss", "val/logdet_cov_per_dim"):
        values = [summary(sweep, job)["metrics"][metric] for job in (2, 3)]
        mean, std = statistics.fmean(values), statistics.stdev(values)
        assert f"{mean:.4g} ± {std:.4g} (n=2)" in md, metric
        row = grouped[("mmd", "1000.0", metric)]
        assert float(row["mean"]) == pytest.approx(mean, rel=1e-12)
        assert float(row["std"]) == pytest.approx(std, rel=1e-12)
        assert row["n"] == "2" and row["jobs"] == "2" and row["completed"] == "2"
    # The ELBO group has one completed job of two: its value, n=1, no std.
    elbo = summary(sweep, 0)["metrics"]["val/mmd_full"]
    assert f"| elbo | 1 | 1.0 | 0, 1 | 1/2 | {elbo:.4g} (n=1) |" in md
    assert grouped[("elbo", "1.0", "val/mmd_full")]["std"] == ""


def test_missing_and_failed_jobs_are_listed(sweep: Path) -> None:
    md = (sweep / "report" / "report.md").read_text()
    jobs = {line.split(" | ")[0]: line for line in md.splitlines() if line.startswith("| ") and " | " in line}
    assert "| model=elbo seed=1 | missing | — |" in jobs["| 1"]
    assert "no summary.json" in jobs["| 1"]
    assert "| model=mmd model.lam=-1 | failed | — |" in jobs["| 4"]
    assert "lam (λ) must be >= 0, got -1.0" in jobs["| 4"]


def test_toy_figure_and_var_qz(sweep: Path) -> None:
    out = sweep / "report"
    md = (out / "report.md").read_text()
    assert "## Toy problem (Figure 1)" in md
    for job in (0, 2, 3):
        assert (out / f"toy_job{job}.png").stat().st_size > 10_000
        assert f"![job {job}](toy_job{job}.png)" in md
    assert not (out / "toy_job1.png").exists() and not (out / "toy_job4.png").exists()
    # ELBO and MMD-VAE side by side, though their presets' λ differ (λ is swept because of job 4).
    assert "| latent_dim=1, seed=0 | ![job 0](toy_job0.png) | ![job 2](toy_job2.png) |" in md
    assert "| latent_dim=1, seed=1 | — | ![job 3](toy_job3.png) |" in md
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
    assert "| setting | toy_elbo | toy_alpha1 |" in md
    assert "| latent_dim=1, seed=1 | ![job 1](toy_job1.png) | ![job 3](toy_job3.png) |" in md


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
