"""
Reconstructions of each autoencoder variant
===========================================

The variants are settings of one estimator. Here each is trained with a
32-unit code on 3,000 MNIST digits for a few epochs, and reconstructs test
digits it never saw. The training curves show the sparsity penalty as a
separate term.
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer
from skae.datasets import fetch_mnist
from skae.plotting import LossCurveDisplay, ReconstructionDisplay

# The models train for a short, fixed budget (max_iter) to keep this page
# quick to build; they stop before their loss has flattened, and the
# ConvergenceWarning that says so is silenced.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X_train, _ = fetch_mnist(subset="train", return_X_y=True)
X_test, _ = fetch_mnist(subset="test", return_X_y=True)
X_train = X_train[:3000]

variants = {
    "vanilla": dict(hidden_layer_sizes=()),
    "deep": dict(hidden_layer_sizes=(256, 128)),
    "convolutional": dict(architecture="conv"),
    "sparse (KL)": dict(hidden_layer_sizes=(256, 128), sparsity="kl"),
    "denoising": dict(hidden_layer_sizes=(256, 128), noise="masking", noise_level=0.3),
}
# Each variant is one change to the same plain model: on 3,000 rows the
# defaults would add masking noise and batches of 32 (the small-data
# settings), so noise and batch size are set here.
plain = dict(noise=None, batch_size=256)
models = {
    name: AutoencoderTransformer(
        n_components=32,
        max_iter=8,
        learning_rate_init=3e-3,
        random_state=0,
        **{**plain, **params},
    ).fit(X_train)
    for name, params in variants.items()
}

fig, axes = plt.subplots(len(models), 1, figsize=(8, 2.1 * len(models)))
for ax, (name, model) in zip(axes, models.items(), strict=True):
    mse = -model.score(X_test[:1000])
    ReconstructionDisplay.from_estimator(
        model, X_test, n_images=8, ax=ax, title=f"{name}: test MSE {mse:.4f}"
    )
fig.tight_layout()

# %%
# Training curves
# ---------------
# The sparse model's objective is its reconstruction term plus the penalty
# (recorded at full weight; the optimiser's weight on it rises from 0 over
# the first 40% of the run, so that the code units learn the digits first).
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
LossCurveDisplay.from_estimator(models["deep"], ax=left, title="deep")
LossCurveDisplay.from_estimator(models["sparse (KL)"], ax=right, title="sparse (KL)")
fig.tight_layout()
