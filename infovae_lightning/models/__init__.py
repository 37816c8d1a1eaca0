"""One LightningModule per model; all share `InfoVAE` and differ in their divergence D(q(z)‖p(z)).

Each model's module registers it (`models/registry.py`); every module of this package is imported, so that a
new model is its module and its `conf/model` YAML, with no list to edit.
"""

from importlib import import_module
from pkgutil import iter_modules

from infovae_lightning.models.aae import AdversarialAE
from infovae_lightning.models.base import InfoVAE
from infovae_lightning.models.elbo import ELBOVAE
from infovae_lightning.models.mmd import MMDVAE
from infovae_lightning.models.registry import ModelSpec, model_names, model_spec, register_model
from infovae_lightning.models.stein import SteinVAE

for _module in sorted(module.name for module in iter_modules(__path__)):
    import_module(f".{_module}", __name__)

__all__ = [
    "InfoVAE",
    "ELBOVAE",
    "MMDVAE",
    "SteinVAE",
    "AdversarialAE",
    "ModelSpec",
    "model_names",
    "model_spec",
    "register_model",
]
