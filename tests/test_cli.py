"""The `infovae` Lightning CLI: fit, fine-tune, resume, test and predict; checkpoints shared with train.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import compose_config

from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.run.checkpoints import load_model, read_checkpoint
from infovae_lightning.run.cli import main
from infovae_lightning.run.train import run

SMALL = ["--data.toy_size", "400", "--data.val_size", "100", "--data.test_size", "100"]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def cli(subcommand: str, *args: str, root: Path) -> None:
    main([subcommand, *args, *SMALL, *QUIET, "--trainer.default_root_dir", str(root)])


def version(root: Path, n: int) -> Path:
    return root / "lightning_logs" / f"version_{n}"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """`infovae fit` of the default model (MMD-VAE) with latent_dim 2: its log directory."""
    root = tmp_path_factory.mktemp("cli")
    cli("fit", "--model.latent_dim", "2", "--trainer.max_epochs", "2", root=root)
    return version(root, 0)


def test_fit_writes_a_config_and_checkpoints(fitted: Path) -> None:
    config = yaml.safe_load((fitted / "config.yaml").read_text())
    assert config["model"]["class_path"] == "infovae_lightning.models.MMDVAE"
    assert config["model"]["init_args"]["input_shape"] == [1]  # from the data, as in train.py
    ckpt = read_checkpoint(fitted / "checkpoints" / "last.ckpt")  # weights_only
    assert ckpt.class_name == "MMDVAE" and ckpt.hparams["latent_dim"] == 2


def test_fine_tune_uses_the_new_lambda_and_freezes_the_encoder(fitted: Path, tmp_path: Path) -> None:
    start = fitted / "checkpoints" / "last.ckpt"
    # No --model: the class and every other value come from the checkpoint; those given win.
    cli(
        "fit",
        "--model.init_from",
        str(start),
        "--model.lam",
        "10",
        "--model.freeze",
        "encoder",
        "--trainer.max_epochs",
        "1",
        root=tmp_path,
    )
    run_dir = version(tmp_path, 0)
    logged = yaml.safe_load((run_dir / "hparams.yaml").read_text())
    assert logged["lam"] == 10.0 and logged["freeze"] == "encoder" and logged["init_from"] == str(start)
    tuned, original = load_model(run_dir / "checkpoints" / "last.ckpt"), load_model(start)
    assert tuned.hparams.lam == 10.0 and tuned.objective.div_weight == 10.0 and tuned.hparams.latent_dim == 2
    assert all(
        torch.equal(a, b)
        for a, b in zip(tuned.encoder.parameters(), original.encoder.parameters(), strict=True)
    )
    assert not all(
        torch.equal(a, b)
        for a, b in zip(tuned.decoder.parameters(), original.decoder.parameters(), strict=True)
    )
    # Fine-tuning the fine-tuned model: the frozen part is a choice of that run, not inherited.
    cli(
        "fit",
        "--model.init_from",
        str(run_dir / "checkpoints" / "last.ckpt"),
        "--trainer.max_epochs",
        "1",
        root=tmp_path,
    )
    again = yaml.safe_load((version(tmp_path, 1) / "hparams.yaml").read_text())
    assert again["freeze"] is None and again["lam"] == 10.0


def test_resume_continues_the_run_and_refuses_new_values(fitted: Path, tmp_path: Path, capsys) -> None:
    last = fitted / "checkpoints" / "last.ckpt"
    with pytest.raises(SystemExit) as exit_:
        cli("fit", "--ckpt_path", str(last), "--model.lam", "10", root=tmp_path)
    assert exit_.value.code == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message == (
        f"error: --ckpt_path {last} continues that run with its own hyperparameters, but --model.lam=10.0 "
        f"differs from its 1000.0; to start a new run from its weights with new values, use "
        f"--model.init_from={last}"
    )
    assert not tmp_path.joinpath("lightning_logs").exists()
    # The run's own config file and checkpoint: two more epochs continue from step 8.
    cli(
        "fit",
        "--config",
        str(fitted / "config.yaml"),
        "--ckpt_path",
        str(last),
        "--trainer.max_epochs",
        "4",
        root=tmp_path,
    )
    resumed = torch.load(version(tmp_path, 0) / "checkpoints" / "last.ckpt", weights_only=True)
    assert (resumed["epoch"], resumed["global_step"]) == (3, 16)


def test_hydra_and_cli_checkpoints_are_interchangeable(fitted: Path, tmp_path: Path) -> None:
    # A CLI checkpoint resumed by train.py, and fine-tuned by it...
    cli_ckpt = fitted / "checkpoints" / "last.ckpt"
    common = [
        "data=toy",
        "data.toy_size=400",
        "data.val_size=100",
        "metrics=none",
        "logger=none",
        "trainer.max_epochs=3",
    ]
    resumed = run(compose_config([*common, f"ckpt_path={cli_ckpt}"], tmp_path / "resumed"))
    assert "val/loss" in resumed
    run(compose_config([*common, f"model.init_from={cli_ckpt}", "model.lam=10"], tmp_path / "tuned"))
    hydra_ckpt = tmp_path / "tuned" / "checkpoints" / "last.ckpt"
    assert read_checkpoint(hydra_ckpt).hparams["lam"] == 10.0
    # ...and a train.py checkpoint tested and predicted by the CLI.
    cli("test", "--ckpt_path", str(hydra_ckpt), root=tmp_path / "cli")
    out = tmp_path / "z.npz"
    cli(
        "predict",
        "--ckpt_path",
        str(hydra_ckpt),
        "--data.predict_split",
        "val",
        "--prediction.path",
        str(out),
        "--prediction.samples",
        "7",
        root=tmp_path / "cli",
    )
    arrays = np.load(out)
    # The posterior of every validation example, in order.
    data = InfoVAEDataModule("toy", toy_size=400, val_size=100).examples("val")
    model = load_model(hydra_ckpt)
    with torch.no_grad():
        q = model.encoder(data.x)
    np.testing.assert_allclose(arrays["mean"], q.mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays["var"], q.std.square().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(arrays["label"], data.y.numpy())
    assert arrays["z"].shape == (7, 2) and arrays["samples"].shape == (7, 1)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["fit", "--model.latent_dim", "0"], 1, "error: model: latent_dim must be > 0, got 0"),
        (["fit", "--model.lam", "-1"], 1, "error: model: lam (λ) must be >= 0, got -1.0"),
        (["fit", "--model.lamda", "3"], 2, "error: model: Option 'lamda' is not accepted"),
        (["fit", "--model", "FooVAE"], 2, "FooVAE"),
        (["fit", "--data.name", "svhn"], 1, "error: data: unknown data set 'svhn'"),
        (["fit", "--data.batch_size", "0"], 1, "error: data: batch_size must be >= 1, got 0"),
        (
            ["fit", "--checkpoint.every_n_epochs", "-3"],
            1,
            "error: checkpoint: Invalid value for every_n_epochs",
        ),
        (["fit", "--trainer.max_epochs", "0"], 1, "error: trainer.max_epochs must be an integer >= 1"),
        (
            ["fit", "--data.name", "mnist", "--data.root", "/no/such/dir"],
            1,
            "data.root /no/such/dir does not exist",
        ),
        (["fit", "--ckpt_path", "nope.ckpt"], 1, "error: ckpt_path: checkpoint nope.ckpt does not exist"),
        (["test", "--model", "ELBOVAE", "--ckpt_path", "{ckpt}"], 1, "holds a MMDVAE, not the --model"),
        (
            ["fit", "--model.init_from", "{ckpt}", "--model.latent_dim", "3"],
            1,
            "has latent_dim=2, the MMDVAE has",
        ),
        (
            ["test", "--ckpt_path", "{ckpt}", "--data.name", "cifar10"],
            1,
            "was trained on inputs of shape [1]",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    args: list[str], code: int, message: str, fitted: Path, tmp_path: Path, capsys
) -> None:
    args = [a.format(ckpt=fitted / "checkpoints" / "last.ckpt") for a in args]
    with pytest.raises(SystemExit) as exit_:
        cli(*args, root=tmp_path / "out")
    assert exit_.value.code == code
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "out").exists()


def test_the_console_script_prints_the_config(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "infovae"
    proc = subprocess.run([str(script), "fit", "--print_config"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    assert config["model"]["class_path"] == "infovae_lightning.models.MMDVAE"
    assert config["data"]["name"] == "toy" and config["last_checkpoint"] == {"dirpath": None}


def test_the_cli_refuses_more_devices_than_the_machine_has() -> None:
    """The CLI passes trainer.devices as a string ('4096'), which the pre-flight counts too."""
    from jsonargparse import Namespace

    from infovae_lightning.errors import ConfigError
    from infovae_lightning.run.preflight import check_values

    with pytest.raises(ConfigError, match="trainer.devices=4096, but this machine has"):
        check_values(Namespace(trainer=Namespace(devices="4096", accelerator="cpu")))
