"""InfoVAE (Zhao, Song & Ermon) with PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
