"""Train an InfoVAE-family model. Examples:

python train.py                                   # MMD-VAE on the paper's toy data
python train.py model=elbo data=binarized_mnist   # ELBO on binarized MNIST
python train.py model=mmd latent_dim=2,5,10 -m    # a sweep: one run directory per value
"""

from infovae_lightning.run.train import main

if __name__ == "__main__":
    main()
