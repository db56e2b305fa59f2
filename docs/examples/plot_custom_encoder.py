"""
Bring your own encoder
======================

:class:`~skae.AutoencoderTransformer` builds dense and convolutional
networks from its parameters, but any :class:`torch.nn.Module` can take the
encoder's place (or the decoder's): pass it as ``encoder=``. Here a small
convolutional encoder of our own, with its own reshape of the flat 784-pixel
rows, is paired with the dense decoder that skae builds from
``hidden_layer_sizes``. The estimator trains a copy of the module, so the
object you pass stays as it was, and ``clone``, grid searches and pickling
work as for the built networks.

Training progress goes through a callback: each epoch's record (losses and
time) is passed to every callable in ``callbacks``, and one returning True
stops the fit. Last, the fitted encoder is exported with
:func:`skae.export_encoder` for serving without skae, and the exported file
gives the codes of ``transform``.
"""

import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from skae import AutoencoderTransformer, export_encoder
from skae.datasets import fetch_mnist

# Short fixed budgets keep this page quick to build; the models stop before
# their loss has flattened, and the ConvergenceWarning saying so is silenced.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = fetch_mnist(subset="train", return_X_y=True)
X_test, y_test = fetch_mnist(subset="test", return_X_y=True)
X, y, X_test, y_test = X[:4000], y[:4000], X_test[:1000], y_test[:1000]


class SmallConvEncoder(nn.Module):
    """28x28 digits -> a code of ``n_components`` values."""

    def __init__(self, n_components: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),  # skae hands over flat rows
            nn.Conv2d(1, 16, 3, stride=2, padding=1),  # 16 x 14 x 14
            nn.GELU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),  # 32 x 7 x 7
            nn.GELU(),
            nn.Flatten(),
        )
        self.head = nn.Linear(32 * 7 * 7, n_components)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# %%
# Train it, and stop once an epoch improves the loss by less than 0.5%.


class StopOnSmallGain:
    """Stop when an epoch lowers the loss by less than ``fraction`` of it."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def __call__(self, estimator, epoch, record):
        previous = None if epoch == 1 else self.previous
        self.previous = record["loss"]
        return previous is not None and previous - record["loss"] < (
            self.fraction * previous
        )


torch.manual_seed(0)  # the module's own initial weights
custom = AutoencoderTransformer(
    n_components=16,
    encoder=SmallConvEncoder(16),
    hidden_layer_sizes=(128,),
    max_iter=15,
    callbacks=[StopOnSmallGain(0.005)],
    random_state=0,
).fit(X)
# A user encoder keeps the large-data settings at every size (no noise,
# batches of 256); the dense model is given the same, for a fair comparison.
dense = AutoencoderTransformer(
    n_components=16,
    hidden_layer_sizes=(128,),
    noise=None,
    batch_size=256,
    max_iter=15,
    random_state=0,
).fit(X)


def knn_accuracy(ae):
    clf = KNeighborsClassifier(5).fit(ae.transform(X), y)
    return clf.score(ae.transform(X_test), y_test)


print(
    f"custom conv encoder: {custom.n_iter_} epochs ({custom.stop_reason_}), "
    f"test 5-NN {knn_accuracy(custom):.3f}, test MSE {-custom.score(X_test):.4f}"
)
print(
    f"built dense encoder: {dense.n_iter_} epochs, "
    f"test 5-NN {knn_accuracy(dense):.3f}, test MSE {-dense.score(X_test):.4f}"
)

# %%
# The training objective of both fits, epoch by epoch.
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(np.arange(1, custom.n_iter_ + 1), custom.loss_curve_, label="custom conv")
ax.plot(np.arange(1, dense.n_iter_ + 1), dense.loss_curve_, label="built dense")
ax.set(xlabel="epoch", ylabel="training loss (BCE)", yscale="log")
ax.legend()
fig.tight_layout()

# %%
# Export the fitted encoder and check it against ``transform``.
with tempfile.TemporaryDirectory() as folder:
    path = export_encoder(custom, Path(folder) / "encoder.pt2")
    served = torch.export.load(path).module()
    codes = served(torch.from_numpy(X_test)).detach().numpy()
gap = np.abs(codes - custom.transform(X_test)).max()
print(f"exported encoder vs transform: largest difference {gap:.1e}")
