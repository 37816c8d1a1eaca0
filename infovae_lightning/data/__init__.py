"""Data sets for InfoVAE: the paper's toy problem, scikit-learn's 8×8 digits, MNIST, binarized MNIST,
Fashion-MNIST and CIFAR-10, each a record in the registry (`dataset_spec`) kept next to its loader.

`InfoVAEDataModule` serves any registered data set; `input_shape`, `natural_likelihood` and the other
static questions read no data (the config resolvers use them). A new data set is one module that calls
`register_dataset` plus one `conf/data/<name>.yaml`.
"""

from importlib import import_module

from .datamodule import InfoVAEDataModule
from .errors import DatasetFormatError, DatasetNotFoundError
from .registry import (
    DatasetSpec,
    SplitPlan,
    classifiable_datasets,
    classifier_domain,
    dataset_names,
    dataset_spec,
    gaussian_sigma,
    input_shape,
    intensity_levels,
    learns_sigma,
    likelihood_defaults,
    load_split,
    natural_likelihood,
    register_dataset,
    selectable_sources,
    train_test_sources,
    unregister_dataset,
)
from .toy import toy

# Importing a data set's module registers its record; this order is the order `dataset_names()` lists them in.
BUILT_IN_MODULES = ("toy", "digits", "mnist", "binarized_mnist", "cifar10")  # mnist.py: also fashion_mnist
for _module in BUILT_IN_MODULES:
    import_module(f".{_module}", __name__)

__all__ = [
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "InfoVAEDataModule",
    "SplitPlan",
    "classifiable_datasets",
    "classifier_domain",
    "dataset_names",
    "dataset_spec",
    "gaussian_sigma",
    "input_shape",
    "intensity_levels",
    "learns_sigma",
    "likelihood_defaults",
    "load_split",
    "natural_likelihood",
    "register_dataset",
    "selectable_sources",
    "train_test_sources",
    "unregister_dataset",
    "toy",
]
