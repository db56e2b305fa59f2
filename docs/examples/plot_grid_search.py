"""
Choosing the bottleneck size with GridSearchCV
==============================================

:meth:`~skae.AutoencoderTransformer.score` is the negative reconstruction
error, so a grid search over ``n_components`` needs no custom scorer. Bigger
codes always reconstruct better; whether they are *worth it* shows when the
autoencoder feeds a classifier, so we also search a Pipeline scored by
accuracy.
"""

import matplotlib.pyplot as plt
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from skae import AutoencoderTransformer
from skae.datasets import fetch_mnist

X, y = fetch_mnist(subset="train", return_X_y=True)
X, y = X[:3000], y[:3000]
sizes = [2, 4, 8, 16, 32]
ae = AutoencoderTransformer(
    hidden_layer_sizes=(128,), max_iter=8, learning_rate_init=3e-3, random_state=0
)

by_reconstruction = GridSearchCV(ae, {"n_components": sizes}, cv=3).fit(X)
pipe = make_pipeline(ae, KNeighborsClassifier(n_neighbors=5))
by_accuracy = GridSearchCV(
    pipe, {"autoencodertransformer__n_components": sizes}, cv=3
).fit(X, y)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
left.plot(sizes, -by_reconstruction.cv_results_["mean_test_score"], "o-")
left.set(
    xscale="log",
    xlabel="n_components",
    ylabel="held-out reconstruction MSE",
    title="estimator score",
)
right.plot(sizes, by_accuracy.cv_results_["mean_test_score"], "o-", color="C1")
right.set(
    xscale="log", xlabel="n_components", ylabel="5-NN accuracy", title="pipeline score"
)
for ax in (left, right):
    ax.set_xticks(sizes, labels=[str(s) for s in sizes])
fig.tight_layout()
print("best by reconstruction:", by_reconstruction.best_params_)
print("best by 5-NN accuracy: ", by_accuracy.best_params_)
