"""Data sets for InfoVAE: the paper's toy problem, scikit-learn's 8×8 digits, MNIST, binarized MNIST,
Fashion-MNIST and CIFAR-10, each a record in the registry (`dataset_spec`) kept next to its loader.

`InfoVAEDataModule` serves any registered data set; `input_shape`, `natural_likelihood` and the other
static questions read no data (the config resolvers use them). A new data set is one module that calls
`register_dataset` plus one `conf/data/<name>.yaml`.
"""

from importlib import import_module
from pkgutil import iter_modules

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

# Importing a data set's module registers its record: the built-in ones first, in the order `dataset_names()`
# (and its error messages) list them; then every other module of this package, so that a new data set is its
# module and its conf/data YAML, with no list to edit.
BUILT_IN_ORDER = ("toy", "digits", "mnist", "binarized_mnist", "cifar10")  # mnist.py: also fashion_mnist
for _module in (*BUILT_IN_ORDER, *sorted(module.name for module in iter_modules(__path__))):
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
