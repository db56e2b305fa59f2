"""
Denoising corrupted digits
==========================

A denoising autoencoder is trained on corrupted inputs with the clean images
as targets, so it learns to undo the corruption. Here 40% of the pixels of
each test digit are set to zero; the denoising model restores them far
better than a plain model of the same size and seed.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer
from skae.datasets import fetch_mnist
from skae.plotting import ReconstructionDisplay

# The model trains for a short, fixed budget (max_iter) to keep this page
# quick to build; it stops before its loss has flattened, and the
# ConvergenceWarning that says so is silenced.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X_train, _ = fetch_mnist(subset="train", return_X_y=True)
X_test, _ = fetch_mnist(subset="test", return_X_y=True)
X_train, X_test = X_train[:4000], X_test[:1000]

# Batches of 256 keep the page quick (on 4,000 rows batch_size="auto" would
# take 32); the plain model sets noise=None, since "auto" would mask there.
common = dict(
    n_components=32,
    hidden_layer_sizes=(256,),
    batch_size=256,
    max_iter=10,
    learning_rate_init=3e-3,
    random_state=0,
)
plain = AutoencoderTransformer(**common, noise=None).fit(X_train)
denoiser = AutoencoderTransformer(**common, noise="masking", noise_level=0.4).fit(
    X_train
)

rng = np.random.default_rng(0)
corrupted = np.where(rng.random(X_test.shape) < 0.4, 0, X_test).astype(np.float32)


def restore(model):
    return model.inverse_transform(model.transform(corrupted))


for name, model in [("plain", plain), ("denoising", denoiser)]:
    print(
        f"{name:>9}: MSE to the clean digits = {np.mean((restore(model) - X_test) ** 2):.4f}"
    )

fig, axes = plt.subplots(3, 1, figsize=(8, 6.3))
ReconstructionDisplay.from_predictions(
    X_test[:8], corrupted[:8], ax=axes[0], title="clean (top) and corrupted (bottom)"
)
ReconstructionDisplay.from_predictions(
    corrupted[:8], restore(plain)[:8], ax=axes[1], title="plain model"
)
ReconstructionDisplay.from_predictions(
    corrupted[:8], restore(denoiser)[:8], ax=axes[2], title="denoising model"
)
fig.tight_layout()
