"""
Anomaly detection with reconstruction error
===========================================

An autoencoder trained on handwritten digits reconstructs digits well and
anything else badly. :meth:`~skae.AutoencoderTransformer.score_samples`
(negative per-sample reconstruction error) therefore ranks clothing images
from Fashion-MNIST as anomalies among MNIST test digits.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score

from skae import AutoencoderTransformer
from skae.datasets import fetch_fashion_mnist, fetch_mnist

# The model trains for a short, fixed budget (max_iter) to keep this page
# quick to build; it stops before its loss has flattened, and the
# ConvergenceWarning that says so is silenced.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

digits_train, _ = fetch_mnist(subset="train", return_X_y=True)
digits_test, _ = fetch_mnist(subset="test", return_X_y=True)
clothes, _ = fetch_fashion_mnist(subset="test", return_X_y=True)

ae = AutoencoderTransformer(
    n_components=16,
    hidden_layer_sizes=(128,),
    batch_size=256,  # "auto" takes 32 on 4,000 rows; 256 keeps the page quick
    max_iter=10,
    learning_rate_init=3e-3,
    random_state=0,
).fit(digits_train[:4000])

normal = ae.score_samples(digits_test[:1000])
anomalous = ae.score_samples(clothes[:100])
threshold = np.quantile(
    ae.score_samples(digits_train[:4000]), 0.01
)  # 1% false alarms on training data

labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
auc = roc_auc_score(labels, -np.r_[normal, anomalous])
print(
    f"ROC AUC = {auc:.3f}; flagged: {np.mean(normal < threshold):.1%} of digits, "
    f"{np.mean(anomalous < threshold):.1%} of clothes"
)

fig, ax = plt.subplots(figsize=(7, 3.5))
bins = np.linspace(min(normal.min(), anomalous.min()), 0, 50)
ax.hist(normal, bins=bins, alpha=0.6, density=True, label="MNIST digits (normal)")
ax.hist(
    anomalous, bins=bins, alpha=0.6, density=True, label="Fashion-MNIST (anomalies)"
)
ax.axvline(threshold, color="k", ls="--", label="threshold (1% of training digits)")
ax.set(xlabel="score_samples (negative reconstruction MSE)", ylabel="density")
ax.legend(fontsize="small")
fig.tight_layout()
