"""The shared LightningModule: encoder, decoder, prior and the InfoVAE objective.

A model differs from another only in its divergence D(q(z)‖p(z)) (see `divergence`), plus, for the
AAE, how it is optimised. Everything else — networks, likelihood, logging — lives here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from infovae_lightning.errors import NonFiniteLossError
from infovae_lightning.nets import build_decoder, build_encoder, net_spec
from infovae_lightning.objective import InfoVAEObjective
from infovae_lightning.run.checkpoints import MODEL_CLASS_KEY, class_path, load_weights

DEFAULT_NET = {"encoder": {"name": "mlp"}, "decoder": {"name": "mlp"}}  # MLP's default widths filled in
DEFAULT_LIKELIHOOD = {"name": "bernoulli"}
FREEZABLE = ("encoder", "decoder")


def compile_options(device_type: str) -> dict[str, Any]:
    """`torch.compile`'s arguments for the loss computation on `device_type`: on CUDA, Inductor's layout
    optimization off (with it, the conv net's compiled backward failed a stride check; docs/benchmarks.md).
    """
    return {"options": {"layout_optimization": False}} if device_type == "cuda" else {}


# The layers whose weights `weight_decay` shrinks.
DECAYED_LAYERS = (
    torch.nn.Linear,
    torch.nn.Conv1d,
    torch.nn.Conv2d,
    torch.nn.Conv3d,
    torch.nn.ConvTranspose1d,
    torch.nn.ConvTranspose2d,
    torch.nn.ConvTranspose3d,
)


def decay_groups(
    modules: Sequence[torch.nn.Module],
    weight_decay: float,
    decayed_modules: Sequence[torch.nn.Module] | None = None,
) -> list[dict[str, Any]]:
    """The trainable parameters of `modules` as optimizer groups: the weights of the linear and conv layers
    of `decayed_modules` (default: all of `modules`) with `weight_decay`, the rest (biases, a likelihood's
    log σ) without: decay would pull log σ to 0, σ towards 1, and biases are not what overfits. Without
    decay, one group, as checkpoints written before `weight_decay` existed hold (their optimizer state
    resumes)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    if not weight_decay:
        return [{"params": params}]
    decayed_modules = modules if decayed_modules is None else decayed_modules
    layers = [layer for m in decayed_modules for layer in m.modules() if isinstance(layer, DECAYED_LAYERS)]
    decayed = {id(layer.weight) for layer in layers}
    groups = [
        {"params": [p for p in params if id(p) in decayed], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decayed], "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def adam(params: Any, lr: float, device: torch.device, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam, fused (one kernel for all parameters) on a CPU or CUDA device: torch's default loops over the
    parameters, a large share of a small model's step (bench/adam.py, docs/benchmarks.md).

    With `weight_decay` > 0, AdamW: the decay is decoupled from Adam's per-parameter scale (Loshchilov &
    Hutter), so it shrinks every weight alike instead of mostly the rarely-updated ones."""
    fused = device.type in ("cpu", "cuda")
    if weight_decay > 0:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)
    return torch.optim.Adam(params, lr=lr, fused=fused)


def reaches_loggers(trainer: L.Trainer, optimizer_steps_per_batch: int = 1) -> bool:
    """Whether Lightning passes the values logged in the training batch about to run on to the loggers:
    every `log_every_n_steps`-th batch that steps the optimizer, or when the trainer is about to stop.

    Lightning's own decision (`should_update_logs` of its private logger connector), from the Trainer's
    public state: tests/test_compat.py checks the two agree on every step. `global_step` counts optimizer
    steps, `optimizer_steps_per_batch` of them a batch; Lightning counts batches, the coming one included.
    """
    every = trainer.log_every_n_steps
    if every == 0:
        return False
    batch = trainer.global_step // optimizer_steps_per_batch + 1
    return batch % every == 0 or trainer.should_stop


@dataclass
class Divergence:
    """One batch estimate of D(q(z)‖p(z)): `value` enters the loss; `monitor` is what gets logged.

    They differ when the loss term is a surrogate whose *gradient* is what matters (Stein) or a
    game value (adversarial); `monitor` is then a genuine discrepancy estimate.
    """

    value: Tensor
    monitor: Tensor


@dataclass
class Terms:
    log_px: Tensor  # batch mean of log p(x|z), summed over pixels
    kl: Tensor | None  # batch mean of KL(q(z|x)‖p(z)); None for a deterministic encoder
    div: Divergence | None  # None when the model has no D term (ELBO, β-VAE)
    loss: Tensor  # −L

    def check_finite(self, where: str) -> None:
        """Raises `NonFiniteLossError` naming each NaN/Inf term (recon, kl, div), before the loss is used."""
        if torch.isfinite(self.loss.detach()):  # one check (one device sync) per step; the details on failure
            return
        named = {"recon": -self.log_px, "kl": self.kl, "div": self.div.value if self.div else None}
        values = {name: float(v.detach()) for name, v in named.items() if v is not None}
        culprits = [name for name, v in values.items() if not math.isfinite(v)] or ["loss"]
        shown = ", ".join(f"{name}={v:.6g}" for name, v in values.items())
        raise NonFiniteLossError(f"non-finite {' and '.join(culprits)} at {where} ({shown})")


def _plain(value: Any) -> Any:
    """Hyperparameters must be plain Python (dict/list/str/number) so checkpoints load with weights_only."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(v) for v in value]
    raise TypeError(f"hyperparameter of type {type(value).__name__} is not a plain value")


class InfoVAE(L.LightningModule):
    """Base of every model. Hyperparameters are primitives; networks are built from them.

    Args:
        latent_dim: dimension of z.
        input_shape: shape of one x, e.g. [1, 28, 28] (filled from the data config).
        alpha, lam: the paper's α and λ (see `infovae_lightning.objective`).
        lam_warmup_steps: warm λ up linearly from 1 over the first this many optimizer steps of training
            (0: off); validation and test report the full objective. See `infovae_lightning.objective`.
        net: the encoder and decoder networks, each a registered name with its keys (`nets.registry`):
            {"encoder": {"name": "conv", "channels": [64, 128], "fc": 1024},
            "decoder": {"name": "pixelcnn", "layers": 5, "channels": 16, "kernel": 5}}. Keys left out get the
            network's defaults, a part left out the MLP. The flat form of earlier versions' checkpoints
            ({"name": "mlp", "hidden": [...]}, ...) is read as the nested one (`nets.registry.net_spec`).
        likelihood: {"name": "bernoulli"}, {"name": "gaussian", "sigma": 0.707, "learn_sigma": false,
            "sigma_min": 0.01, "levels": 256} (`levels`: 8-bit data, dequantized; null: continuous) or
            {"name": "logistic_mixture", "components": 10} (8-bit images).
        std_floor: lower bound on the encoder's standard deviation.
        std_init: the encoder's standard deviation at initialisation (null: softplus(0) ≈ 0.69, near the
            prior's). A small one makes z carry x from the first step (measured: docs/results.md).
        deterministic: point-mass encoder q(z|x) (requires alpha = 1: no KL(q(z|x)‖p(z)) term).
        lr: Adam learning rate of the encoder and decoder.
        weight_decay: decoupled weight decay (AdamW) of the encoder's and decoder's linear and conv weights;
            0 is plain Adam. A regulariser for small training sets (docs/likelihoods.md).
        weight_decay_nets: the networks whose weights `weight_decay` shrinks: both, or ["decoder"] to
            regularise the decoder alone (the encoder then scales its codes up, q(z) wider than p(z):
            docs/likelihoods.md, "Which networks decay").
        init_from: fine-tune: start fitting from this checkpoint's weights (same class and architecture)
            with a fresh optimizer and the hyperparameters given here. Ignored when resuming a checkpoint.
        freeze: "encoder" or "decoder": keep that network's weights fixed (not optimised).
        compile: run the loss computation (`terms`: encoder, decoder, likelihood and divergence, forward and
            backward) through `torch.compile`. A way of running the model, not a property of it: a run may be
            resumed or fine-tuned with another value. Measured effect: docs/benchmarks.md.

    Mixed precision (`trainer.precision=bf16-mixed`) runs the networks in bfloat16; q(z|x), the likelihood's
    sums and the divergence D are computed in float32 (see `terms`).
    """

    def __init__(
        self,
        latent_dim: int = 5,
        input_shape: Sequence[int] = (1, 28, 28),
        alpha: float = 0.0,
        lam: float = 1.0,
        lam_warmup_steps: int = 0,
        net: Mapping[str, Any] = DEFAULT_NET,
        likelihood: Mapping[str, Any] = DEFAULT_LIKELIHOOD,
        std_floor: float = 1e-3,
        std_init: float | None = None,
        deterministic: bool = False,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        weight_decay_nets: Sequence[str] = FREEZABLE,
        init_from: str | None = None,
        freeze: str | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if latent_dim <= 0:
            raise ValueError(f"latent_dim must be > 0, got {latent_dim}")
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        if not set(weight_decay_nets) <= set(FREEZABLE):
            raise ValueError(
                f"weight_decay_nets must be among {', '.join(FREEZABLE)}, got {weight_decay_nets}"
            )
        if freeze is not None and freeze not in FREEZABLE:
            raise ValueError(f"freeze must be one of {', '.join(FREEZABLE)} (or null), got {freeze!r}")
        likelihood = _plain(likelihood)  # a copy: the default is shared
        # Nested, with the defaults filled in (an old flat form converted).
        net = _plain(net_spec(_plain(net)))
        input_shape = [int(s) for s in input_shape]
        self.save_hyperparameters()  # every class's arguments, a subclass's own ones too
        # ...as plain values with the defaults filled in (a subclass passes its **kwargs on as it got them).
        normalized = {"input_shape": input_shape, "net": net, "likelihood": likelihood}
        normalized["weight_decay_nets"] = [str(n) for n in weight_decay_nets]
        if init_from is not None:
            normalized["init_from"] = str(init_from)
        self.save_hyperparameters(_plain({**self.hparams, **normalized}))
        self.objective = InfoVAEObjective(alpha, lam, lam_warmup_steps)
        # The training steps' D weight, set from global_step before each step (a tensor, so that a compiled
        # `terms` reads it without recompiling); not saved: it follows from the step on resume.
        self.register_buffer("train_div_weight", torch.tensor(self.objective.div_weight), persistent=False)
        if deterministic and self.objective.kl_weight != 0:
            raise ValueError(
                f"a deterministic encoder has infinite KL(q(z|x)||p(z)): set alpha=1 (got {alpha})"
            )
        self.encoder = build_encoder(net, input_shape, latent_dim, std_floor, deterministic, std_init)
        self.decoder = build_decoder(net, input_shape, latent_dim, likelihood)
        if freeze is not None:
            getattr(self, freeze).requires_grad_(False)
        self._weights_restored = False  # set once a checkpoint has filled the weights: init_from is then moot
        # Compiled lazily, on the first call: building the model (to load a checkpoint, in tests) stays cheap.
        self._compiled_terms: Any = None
        self._log_step = True  # whether this training step logs: see on_train_batch_start
        self.logged_at: dict[str, int] = {}  # stage -> global step of its last logged values

    # --- the model -------------------------------------------------------------------------------------

    def sample_prior(self, n: int) -> Tensor:
        """z ~ p(z) = N(0, I)."""
        return torch.randn(n, self.hparams.latent_dim, device=self.device)

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """Generated images: E[x | z] for z ~ p(z)."""
        return self.decoder.mean(self.sample_prior(n))

    def divergence(self, z: Tensor) -> Divergence | None:
        """D(q(z)‖p(z)) estimated from this process's batch of posterior samples; subclasses define it.

        Under DDP an estimator works on the global batch: `global_batch(z)`, and prior samples gathered the
        same way, so that every process computes the same D.
        """
        return None

    def global_batch(self, t: Tensor) -> Tensor:
        """`t` of every process concatenated in rank order; this process's `t` when it is the only one.

        Batch statistics such as MMD must see the global batch, or W processes × batch B would train another
        objective than 1 process × batch WB. The gather keeps the autograd graph: every process computes D
        and its gradient for every shard, the gather's backward sums those into each process's own shard
        (W times the gradient of D), and DDP's mean of the parameter gradients over the W processes is then
        exactly the gradient of D on the whole batch (tests/test_ddp_divergence.py checks it).
        """
        try:
            if self.trainer.world_size == 1:
                return t
        except RuntimeError:  # not attached to a Trainer (a model used on its own)
            return t
        return self.all_gather(t, sync_grads=t.requires_grad and torch.is_grad_enabled()).flatten(0, 1)

    def terms(self, x: Tensor) -> Terms:
        """Every term of −L on the batch `x`, through `torch.compile` if the model was built with compile."""
        if not self.hparams.get("compile", False):
            return self.eager_terms(x)
        if self._compiled_terms is None:
            self._compiled_terms = torch.compile(self.eager_terms, **compile_options(x.device.type))
        return self._compiled_terms(x)

    def eager_terms(self, x: Tensor) -> Terms:
        q = self.encoder(x)  # float32 also under bf16 autocast (see GaussianEncoder)
        z = q.rsample()
        log_px = self.decoder.log_prob(x, z).mean()
        kl = None if q.deterministic else q.kl_to_prior().mean()
        # Kernel sums over B² pairs of latents (MMD, Stein) lose their digits in bfloat16: D in float32, with
        # autocast off (a no-op when it is not on).
        with torch.autocast(z.device.type, enabled=False):
            div = self.divergence(z)
        loss = self.objective.loss(
            log_px,
            kl if kl is not None else 0.0,
            div.value if div is not None else 0.0,
            self.train_div_weight if self.training and self.objective.lam_warmup_steps else None,
        )
        return Terms(log_px, kl, div, loss)

    # --- Lightning hooks -------------------------------------------------------------------------------

    def log_terms(self, stage: str, terms: Terms, batch_size: int) -> None:
        """Every term of −L logged under its own name: recon = −E log p(x|z), kl, div (its monitor).

        Training steps log only when their values reach a logger (`logs_this_step`)."""
        if stage == "train" and not self._log_step:
            return
        self.logged_at[stage] = self.global_step  # summary.json: the step each logged value was taken at
        metrics = {f"{stage}/recon": -terms.log_px}
        if stage != "train" and (bpd := self.bits_per_dim(-terms.log_px.detach())) is not None:
            metrics[f"{stage}/recon_bpd"] = bpd
        if terms.kl is not None:
            metrics[f"{stage}/kl"] = terms.kl
        if terms.div is not None:
            metrics[f"{stage}/div"] = terms.div.monitor
        per_step = stage == "train"
        options = {"on_step": per_step, "on_epoch": not per_step, "batch_size": batch_size}
        self.log(f"{stage}/loss", terms.loss.detach(), prog_bar=True, **options)
        self.log_dict({k: v.detach() for k, v in metrics.items()}, **options)

    def bits_per_dim(self, nll: Tensor) -> Tensor | None:
        """A negative log-likelihood of x (nats per example, as the likelihood gives it) in bits per
        dimension of the discrete data: −log₂ P(x) / D. None when the data are continuous, or the decoder's
        likelihood does not say how its density relates to the discrete pixels (`discrete_log_offset`)."""
        likelihood = getattr(self.decoder, "likelihood", None)
        offset = getattr(likelihood, "discrete_log_offset", None)
        if offset is None:
            return None
        dims = math.prod(self.hparams.input_shape)
        return (nll / dims + offset) / math.log(2)

    def optimizer_steps_per_batch(self) -> int:
        """How much `trainer.global_step` grows per training batch (one per optimizer step)."""
        return 1

    def logs_this_step(self) -> bool:
        """Whether this training step's values reach a logger: when Lightning passes logged values on to the
        loggers (`reaches_loggers`), on the last batch of an epoch, the last step of fit, and every step of a
        fast_dev_run.

        On the other steps `self.log` only replaces values that no logger receives, at a cost per call
        (docs/benchmarks.md). The progress bar's loss changes when a step logs.
        """
        trainer, per_batch = self.trainer, self.optimizer_steps_per_batch()
        if trainer.fast_dev_run or trainer.is_last_batch or reaches_loggers(trainer, per_batch):
            return True
        max_steps = trainer.max_steps
        return max_steps > 0 and trainer.global_step + per_batch >= max_steps

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Decided before the step, as its optimizer steps (two or more for the AAE) advance global_step.
        self._log_step = self.logs_this_step()
        if self.objective.lam_warmup_steps:
            # global_step: the optimizer steps taken, as trainer.max_steps counts them; restored on resume.
            self.train_div_weight.fill_(self.objective.div_weight_at(self.global_step))

    def step_name(self, stage: str, batch_idx: int) -> str:
        return f"{stage} step {self.global_step}, epoch {self.current_epoch}, batch {batch_idx}"

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, _ = batch
        terms = self.terms(x)
        # Checked before backward: a NaN never reaches the weights; the last checkpoint is the last good one.
        terms.check_finite(self.step_name("training", batch_idx))
        self.log_terms("train", terms, x.shape[0])
        return terms.loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, _ = batch
        terms = self.terms(x)
        # Checked before validation ends, so no checkpoint of weights that give a NaN is written.
        terms.check_finite(self.step_name("validation", batch_idx))
        self.log_terms("val", terms, x.shape[0])

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, _ = batch
        self.log_terms("test", self.terms(x), x.shape[0])

    def predict_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """The posterior q(z|x) of each example: its mean and variance (see `predict.PredictionWriter`)."""
        x, y = batch
        q = self.encoder(x)
        var = q.std.square() if q.std is not None else torch.zeros_like(q.mean)  # a point mass: 0
        return {"mean": q.mean, "var": var, "label": y}

    def trainable_parameters(self) -> list[dict[str, Any]]:
        """The encoder's and decoder's parameters, less the frozen ones, in `decay_groups`."""
        decayed = [getattr(self, name) for name in self.hparams.weight_decay_nets]
        return decay_groups([self.encoder, self.decoder], self.hparams.weight_decay, decayed)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return adam(self.trainable_parameters(), self.hparams.lr, self.device, self.hparams.weight_decay)

    # --- checkpoints -----------------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        # Fine-tuning: the weights come from `init_from` unless a resumed checkpoint has already set them
        # (Lightning restores a checkpoint before this hook). The optimizer is the fresh one just made.
        if self.hparams.init_from and not self._weights_restored:
            load_weights(self, self.hparams.init_from)
            self._weights_restored = True

    def on_train_start(self) -> None:
        per_batch, max_steps = self.optimizer_steps_per_batch(), self.trainer.max_steps
        if per_batch > 1 and max_steps > 0:
            # A trap when comparing models at one `trainer.max_steps`: this one would see fewer batches.
            rank_zero_info(
                f"{type(self).__name__} makes {per_batch} optimizer steps a batch and trainer.max_steps "
                f"counts each: max_steps={max_steps} is {math.ceil(max_steps / per_batch)} batches. To match "
                f"a model trained for N batches, set trainer.max_steps to {per_batch}·N."
            )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[MODEL_CLASS_KEY] = class_path(type(self))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._weights_restored = True
