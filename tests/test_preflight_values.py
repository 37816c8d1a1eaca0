"""Every key of the config schemas, given bad values generated from its type and range: the pre-flight
refuses each with one line naming the key, before anything is written (`train.run`, as `train.py` calls it).

The keys come from walking the dataclasses of `infovae_lightning.run.config` (and the trainer's keys from
`conf/trainer/default.yaml`); a key added there without bad values here, or a reason why every value is
valid, fails `test_every_schema_key_is_covered`.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
from helpers import compose_config, run_train
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from infovae_lightning.errors import InfoVAEError
from infovae_lightning.run import config as schemas
from infovae_lightning.run.override_check import override_error
from infovae_lightning.run.train import CONFIG_DIR, run

# Where each schema's keys live in the composed config (the MMD-VAE, the MLP and the toy data by default).
GROUPS = {
    "": schemas.TrainConf,
    "paths.": schemas.PathsConf,
    "model.": schemas.MMDConf,
    "model.likelihood.": schemas.LikelihoodConf,
    "data.": schemas.DataConf,
    "net.encoder.": schemas.MlpEncoderConf,
    "net.decoder.": schemas.MlpDecoderConf,
}
# Out-of-range values and contradictions, by key. Each must be refused by the pre-flight.
OUT_OF_RANGE: dict[str, list] = {
    "latent_dim": [0, -3],
    "ckpt_path": ["/no/such/run/last.ckpt"],
    "model.latent_dim": [0],
    "model.alpha": [1.5],  # (a negative alpha is a beta-VAE's beta = 1 - alpha > 1: valid)
    "model.lam": [-1.0],
    "model.std_floor": [-0.1],
    "model.std_init": [0.0, -1.0],
    "model.lr": [0.0, -1e-3],
    "model.init_from": ["/no/such/init.ckpt"],
    "model.freeze": ["both"],
    "model.weight_decay_nets": [["discriminator"]],
    "model.kernel": ["gauss"],
    "model.estimator": ["bogus"],
    "model.bandwidth": [0.0, -1.0],
    "model.distance": ["bogus"],
    "model.prior_samples": [0],
    "model.input_shape": [[0], [-1, 2]],
    "model.deterministic": [True],  # with alpha=0: an infinite KL(q(z|x)||p(z))
    "model.likelihood.name": ["bogus"],
    "model.likelihood.sigma": [0.0, -1.0],
    "model.likelihood.components": [0],
    "model.likelihood.levels": [1],
    "model.likelihood.sigma_min": [-0.1],
    "model.lam_warmup_steps": [-1],
    "model.weight_decay": [-0.1],
    "threads": [0],
    "data.name": ["svhn"],
    "data.batch_size": [0],
    "data.num_workers": [-1],
    "data.binarize": ["bogus", "dynamic"],  # dynamic: the toy data (x = ±1) has nothing to binarize
    "data.train_size": [0, 10**6],  # 10**6 > the toy data's points
    "data.val_size": [0],
    "data.test_size": [0],
    "data.source": ["bogus"],
    "data.toy_size": [0],
    "data.predict_split": ["bogus"],
    "net.encoder.name": ["resnet"],
    "net.decoder.name": ["resnet"],
    "net.encoder.hidden": [[0], [-5, 3]],
    "net.decoder.hidden": [[0]],
    "trainer.max_steps": [0, -2],
    "trainer.max_epochs": [0, -2],
    "trainer.devices": [0, -2, 4096],
    "trainer.precision": ["17-bogus"],
    "trainer.accelerator": ["bogus"],
    "trainer.strategy": ["bogus"],
    "trainer.limit_train_batches": [0, -1],
    "trainer.limit_val_batches": [-1],
    "trainer.check_val_every_n_epoch": [0],
    "trainer.log_every_n_steps": [-1],
    "trainer.gradient_clip_val": [-1.0],
}
# Keys for which every value of the right type is a valid choice, and why.
ANY_VALUE = {
    "seed": "any integer seeds the run",
    "task_name": "a folder name",
    "resume": "true or false (without last.ckpt, starts afresh)",
    "test": "true or false",
    "paths.data_dir": "read only by file-backed data sets (data.root): checked with them",
    "paths.output_dir": "the run directory: checked when locked (test_faults)",
    "paths.classifier_dir": "read only by class_dist_ce: checked with it (test_faults)",
    "model._target_": "chosen by the model group (model=foo is a Hydra error)",
    "model.net": "an interpolation of net",
    "model.compile": "true or false",
    "model.likelihood.learn_sigma": "true or false",
    "data._target_": "fixed by the schema",
    "data.root": "read only by file-backed data sets: test_robustness checks data.root=/no/such/dir",
    "data.download": "true or false",
    "data.seed": "any integer",
    "data.on_device": "true or false",
    "trainer._target_": "fixed",
    "trainer.default_root_dir": "the run directory",
    "trainer.val_check_interval": "null or a fraction/count; Lightning checks it against the data at fit",
    "trainer.deterministic": "true or false",
    "trainer.enable_progress_bar": "true or false",
    "trainer.enable_model_summary": "true or false",
    "model": "a group",
    "net": "a group",
    "data": "a group",
    "trainer": "a group",
    "logger": "a group",
    "callbacks": "a group",
    "metrics": "a group",
    "eval_data": "a group",
    "paths": "a group",
    "model.likelihood": "its keys (model.likelihood.*) are covered one by one",
}
WRONG_TYPE = {int: "abc", float: "abc", bool: "maybe"}


def schema_keys() -> dict[str, type | None]:
    """Every key of the schemas (and of the default trainer), with its scalar type where it has one."""
    keys: dict[str, type | None] = {}
    for prefix, schema in GROUPS.items():
        hints = typing.get_type_hints(schema)
        for f in dataclasses.fields(schema):
            hint = hints[f.name]
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            keys[prefix + f.name] = hint if hint in WRONG_TYPE else (args[0] if len(args) == 1 else None)
    trainer = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "trainer" / "default.yaml"))
    for key, value in trainer.items():
        keys[f"trainer.{key}"] = type(value) if type(value) in WRONG_TYPE else None
    return keys


def cases() -> list:
    """Each key's wrong-type value and its out-of-range values; beyond the first of each key they run with
    `-m slow` (each case builds a run: about a second on 2 cores)."""
    out = []
    for key, kind in schema_keys().items():
        values = [WRONG_TYPE[kind]] if kind in WRONG_TYPE else []  # a string where a number belongs
        values += OUT_OF_RANGE.get(key, [])
        for i, value in enumerate(values):
            marks = [pytest.mark.slow] if i > 1 or (i == 1 and kind not in WRONG_TYPE) else []
            out.append(pytest.param(key, value, marks=marks, id=f"{key}={value}"))
    return out


def test_every_schema_key_is_covered() -> None:
    uncovered = [key for key in schema_keys() if key not in OUT_OF_RANGE and key not in ANY_VALUE]
    assert not uncovered, f"give bad values (OUT_OF_RANGE) or a reason (ANY_VALUE) for {uncovered}"


def override(key: str, value: object) -> str:
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return f"{key}={text}" if key in FLAT else f"++{key}={text}"


FLAT = set(schema_keys())
BASE = [
    "data=toy",
    "model.alpha=0",  # the contradictory pairs below are against alpha=0 (e.g. a deterministic encoder)
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.max_steps=2",
    "trainer.limit_val_batches=1",
    "data.toy_size=500",
    "metrics=none",
    "logger=none",
]


@pytest.mark.parametrize(("key", "value"), cases())
def test_a_bad_value_is_refused_before_anything_is_written(key: str, value: object, tmp_path: Path) -> None:
    out = tmp_path / "run"
    # Small and short, so that a value the pre-flight missed fails fast instead of training for long.
    base = [o for o in BASE if o.partition("=")[0] != key]
    try:
        cfg = compose_config([*base, override(key, value)], out)
    except (HydraException, OmegaConfBaseException) as error:  # a wrong type: refused when composing
        assert key.rpartition(".")[2] in str(error)
        return
    with pytest.raises(InfoVAEError) as error:
        run(cfg)
    message = str(error.value)
    assert "\n" not in message
    named = [part for part in key.split(".") if part != "name"]  # `net.encoder.name`: names the net
    assert any(part in message for part in named), f"{key}={value}: {message}"
    assert not out.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            ["trainer.max_steps=0"],
            "error: trainer.max_steps must be an integer >= 1 (or -1), got 0",
            marks=pytest.mark.slow,
        ),
        (["latent_dim=abc"], "error: latent_dim: Value 'abc' of type 'str' could not be converted"),
        pytest.param(
            ["model.lamm=3"], "error: model.lamm: Key 'lamm' not in 'MMDConf'", marks=pytest.mark.slow
        ),
        (
            ["data=toy", "data.train_size=20000"],
            "error: data: train_size=20000 exceeds the 10000 examples available",
        ),
        pytest.param(["model.std_floor=-1"], "error: model: std_floor must be >= 0", marks=pytest.mark.slow),
        pytest.param(
            ["trainer.devices=4096", "trainer.accelerator=cpu"],
            "error: trainer.devices=4096, but this machine has",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_a_bad_value_from_the_command_line_is_one_line_and_no_run_directory(
    overrides: list[str], message: str, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    proc = run_train(*overrides, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(message), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not run_dir.exists()


def test_override_error_names_the_key_and_leaves_sweeps_and_flags_to_hydra() -> None:
    assert override_error(["latent_dim=abc"], CONFIG_DIR) == (
        "latent_dim: Value 'abc' of type 'str' could not be converted to Integer"
    )
    assert override_error(["model.lam=x", "hydra.run.dir=/tmp/x"], CONFIG_DIR).startswith("model.lam: ")
    assert override_error(["model=elbo", "latent_dim=3", "hydra.run.dir=/tmp/x"], CONFIG_DIR) is None
    assert override_error(["latent_dim=2,abc"], CONFIG_DIR) is None  # a sweep: each job is checked by Hydra
    assert override_error(["-m", "latent_dim=abc"], CONFIG_DIR) is None
    assert override_error([], CONFIG_DIR) is None
