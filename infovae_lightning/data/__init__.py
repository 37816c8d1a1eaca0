"""Data sets for InfoVAE: the paper's toy problem, scikit-learn's 8×8 digits, MNIST, binarized MNIST,
Fashion-MNIST and CIFAR-10.

`InfoVAEDataModule` serves any of them; `input_shape` and `natural_likelihood` answer static questions
without reading data (the config resolvers use them).
"""

from .datamodule import InfoVAEDataModule
from .errors import DatasetFormatError, DatasetNotFoundError
from .sources import (
    DATASET_SHAPES,
    DATASETS,
    gaussian_sigma,
    input_shape,
    intensity_levels,
    learns_sigma,
    load_split,
    natural_likelihood,
)
from .toy import toy

__all__ = [
    "DATASETS",
    "DATASET_SHAPES",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "InfoVAEDataModule",
    "gaussian_sigma",
    "input_shape",
    "intensity_levels",
    "learns_sigma",
    "load_split",
    "natural_likelihood",
    "natural_sigma",
    "toy",
]
