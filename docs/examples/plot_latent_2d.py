"""
2-D latent space of MNIST digits
================================

An autoencoder with a 2-unit bottleneck gives a picture of the data, like
PCA, but non-linear; and unlike t-SNE it can place *new* digits on the same
map with :meth:`~skae.AutoencoderTransformer.transform` and turn any point of
the map back into an image with
:meth:`~skae.AutoencoderTransformer.inverse_transform`.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer
from skae.datasets import fetch_mnist
from skae.plotting import LatentSpaceDisplay

# The model trains for a short, fixed budget (max_iter) to keep this page
# quick to build; it stops before its loss has flattened, and the
# ConvergenceWarning that says so is silenced.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X_train, y_train = fetch_mnist(subset="train", return_X_y=True)
X_test, y_test = fetch_mnist(subset="test", return_X_y=True)
X_train, y_train, X_test, y_test = (
    X_train[:5000],
    y_train[:5000],
    X_test[:2000],
    y_test[:2000],
)

ae = AutoencoderTransformer(
    n_components=2,
    hidden_layer_sizes=(256, 128),
    batch_size=256,  # "auto" takes 32 on 5,000 rows; 256 keeps the page quick
    max_iter=15,
    learning_rate_init=3e-3,
    random_state=0,
).fit(X_train)
pca = PCA(n_components=2).fit(X_train)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
LatentSpaceDisplay.from_estimator(
    pca, X_test, y_test, ax=left, title="PCA", legend=False
)
LatentSpaceDisplay.from_estimator(
    ae, X_test, y_test, ax=right, title="skae (deep, 2-D code)"
)
fig.tight_layout()

# %%
# Decoding the map
# ----------------
# Points on a grid over the latent space decode to images: the decoder is a
# generative map from the plane to digit-like pictures.
codes = ae.transform(X_test)
lo, hi = np.percentile(codes, [5, 95], axis=0)
grid = np.array(
    [[x, y] for y in np.linspace(hi[1], lo[1], 8) for x in np.linspace(lo[0], hi[0], 8)]
)
images = ae.inverse_transform(grid.astype(np.float32)).reshape(8, 8, 28, 28)
fig, ax = plt.subplots(figsize=(5, 5))
ax.imshow(images.transpose(0, 2, 1, 3).reshape(8 * 28, 8 * 28), cmap="gray")
ax.set_axis_off()
ax.set_title("Decoded grid over the 2-D code space")
plt.show()
