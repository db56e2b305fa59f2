"""
A variational autoencoder: samples and latent interpolation
===========================================================

With ``variational=True`` the encoder returns a Gaussian posterior for each
image rather than a point, the decoder is trained on draws from it, and a KL
term pulls the posteriors towards a standard normal prior. The prior then
describes where codes lie, so :meth:`~skae.AutoencoderTransformer.sample`
can decode new digits from random draws, and straight lines between two
codes decode to gradual changes of one digit into another.
:meth:`~skae.AutoencoderTransformer.transform` returns the posterior means,
and :meth:`~skae.AutoencoderTransformer.score_samples` each image's evidence
lower bound (ELBO), a bound on its log-likelihood under the model.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer
from skae.datasets import fetch_mnist

# A short, fixed budget (max_iter) keeps this page quick to build; the
# ConvergenceWarning that says the loss still falls is silenced.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X_train, _ = fetch_mnist(subset="train", return_X_y=True)
X_test, y_test = fetch_mnist(subset="test", return_X_y=True)
X_train, X_test, y_test = X_train[:10000], X_test[:1000], y_test[:1000]

vae = AutoencoderTransformer(
    n_components=8, variational=True, max_iter=15, random_state=0
).fit(X_train)
print(f"mean ELBO of 1,000 test digits: {vae.score(X_test):.1f} nats")

# %%
# Samples from the prior
# ----------------------
# Each image decodes one draw ``z ~ N(0, I)``: the decoder's pixel
# probabilities, not a binarised draw from them.
samples = vae.sample(40, random_state=0)
fig, axes = plt.subplots(4, 10, figsize=(8, 3.4))
for ax, image in zip(axes.flat, samples, strict=True):
    ax.imshow(image.reshape(28, 28), cmap="gray_r")
    ax.set_axis_off()
fig.suptitle("decoded draws from the prior")
plt.show()

# %%
# Interpolation between two test digits
# -------------------------------------
# The posterior means of a 3 and a 9, and eight codes evenly spaced on the
# segment between them, decoded.
start = X_test[y_test == 3][0]
end = X_test[y_test == 9][0]
codes = vae.transform(np.stack([start, end]))
weights = np.linspace(0, 1, 10)[:, None]
path = (1 - weights) * codes[0] + weights * codes[1]
decoded = vae.inverse_transform(path.astype(np.float32))

fig, axes = plt.subplots(1, 10, figsize=(8, 1.2))
for ax, image in zip(axes, decoded, strict=True):
    ax.imshow(image.reshape(28, 28), cmap="gray_r")
    ax.set_axis_off()
fig.suptitle("from a 3 to a 9 in the latent space")
plt.show()

# %%
# The ELBO flags what the model has not seen
# ------------------------------------------
# Digits score far higher than the same digits turned upside down and
# mirrored, which the model never saw.
flipped = X_test.reshape(-1, 28, 28)[:, ::-1, ::-1].reshape(len(X_test), -1)
print(f"digits:  {vae.score_samples(X_test).mean():8.1f} nats")
print(f"flipped: {vae.score_samples(flipped).mean():8.1f} nats")
