"""A multirun whose jobs each train with DDP on 2 CPU processes (gloo) and log to W&B offline, as users
run it: one sweep directory, one directory per job with its checkpoint and summary, one W&B run per job in the
sweep's group, and no process left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import ROOT, job_dirs, run_train
from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024  # the W&B transaction log is in LevelDB's log format: 32 KiB blocks of framed records


def wandb_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """The records of an offline run's `run-<id>.wandb` file (what `wandb sync` uploads)."""
    data, pos, records, pending = path.read_bytes(), 7, [], b""  # after the 7-byte ":W&B" file header
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # a block's tail too short for a record header is padding
            pos += BLOCK - pos % BLOCK
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 2):  # a whole record, or its first part
            pending = chunk
        elif kind in (3, 4):  # a middle or last part
            pending += chunk
        if kind in (1, 4):
            records.append(wandb_internal_pb2.Record.FromString(pending))
    return records


def offline_run(job: Path) -> dict:
    (log,) = (job / "wandb").glob("offline-run-*/run-*.wandb")
    run, config, summary = None, {}, {}
    for record in wandb_records(log):
        if record.WhichOneof("record_type") == "run":
            run = record.run
        elif record.WhichOneof("record_type") == "config":
            config |= {item.key: json.loads(item.value_json) for item in record.config.update}
        elif record.WhichOneof("record_type") == "summary":
            summary |= {item.key: json.loads(item.value_json) for item in record.summary.update}
    assert run is not None
    return {"group": run.run_group, "name": run.display_name, "config": config, "summary": summary}


def processes_mentioning(text: str) -> list[str]:
    """The processes whose command line contains `text` (Linux: /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(cmdline.parent.name)
        except OSError:  # the process ended meanwhile
            pass
    return found


def test_ddp_jobs_of_a_multirun_with_wandb_offline(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env |= {"HOME": str(tmp_path), "NETRC": str(tmp_path / "no-netrc")}  # no API key: offline
    proc = run_train(
        "-m",
        "latent_dim=2,3",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=2",
        "data=toy",
        "data.toy_size=400",
        "metrics=none",
        "logger=wandb",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # One sweep directory: the ranks > 0 ran their job, not the sweep again (a re-run sweep would have
    # made its own, timestamped one, under multirun/ or in the same directory as jobs 2 and 3).
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["sweep"]
    assert not (ROOT / "multirun").exists()
    jobs = job_dirs(sweep)
    assert [j.name for j in jobs] == ["0", "1"]
    groups = set()
    for job, latent_dim in zip(jobs, (2, 3), strict=True):
        summary = json.loads((job / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["config"]["latent_dim"] == latent_dim
        assert summary["global_step"] == 4  # 400 examples, batch 100, 2 ranks, 2 epochs
        assert (job / "checkpoints" / "last.ckpt").is_file()
        assert not list(job.glob("*rank*"))  # rank 1 wrote no log of its own
        run = offline_run(job)
        assert run["name"].startswith(f"data.toy_size=400,data=toy,latent_dim={latent_dim},logger=wandb,")
        assert run["config"]["resolved"]["latent_dim"] == latent_dim
        assert run["config"]["latent_dim"] == latent_dim  # the model's hyperparameters
        assert run["summary"]["status"] == "completed"
        assert run["summary"]["val/loss"] == summary["metrics"]["val/loss"]
        groups.add(run["group"])
    assert groups == {f"train/{sweep.name}"}
    assert processes_mentioning(str(sweep)) == []  # no rank left behind
