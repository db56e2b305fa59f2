"""
Neighbour-preserving 2-D maps beside UMAP's
===========================================

A plain autoencoder squeezed to two numbers mixes classes that UMAP keeps
apart: reconstruction does not ask neighbours to stay neighbours. With
``neighbor_weight=1.0``, :class:`~skae.AutoencoderTransformer` adds UMAP's
own fuzzy-graph objective to the reconstruction loss (as Parametric UMAP
with an autoencoder loss does). The result is still an autoencoder: new
images are placed on the map by one encoder pass, and any point of the map
decodes to an image, so we can walk from one cluster to another and look at
what lies between.

To keep the gallery quick, each map is fitted on 3,000 training images, with
a shortened training budget, and shows 1,000 test images the models never
saw; the user guide gives the full-data numbers (60,000 training images).
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import umap
from sklearn.neighbors import KNeighborsClassifier

from skae import AutoencoderTransformer
from skae.datasets import fetch_fashion_mnist, fetch_mnist
from skae.plotting import LatentSpaceDisplay


def load(fetch, n_train=3000, n_test=1000):
    train, test = fetch(subset="train"), fetch(subset="test")
    return (
        train.data[:n_train],
        train.target[:n_train],
        test.data[:n_test],
        test.target[:n_test],
        train.target_names,
    )


def knn5(Z_train, y_train, Z_test, y_test):
    return KNeighborsClassifier(5).fit(Z_train, y_train).score(Z_test, y_test)


models = {}
fig, axes = plt.subplots(2, 2, figsize=(10, 9.5))
for row, (name, fetch) in zip(
    axes,
    [("MNIST", fetch_mnist), ("Fashion-MNIST", fetch_fashion_mnist)],
    strict=True,
):
    X_train, y_train, X_test, y_test, names = load(fetch)
    # max_iter=100 (1,200 steps) rather than "auto" (2,500) keeps the gallery
    # build short; the encoder starts from umap-learn's layout of the graph,
    # so the shorter run costs the map little.
    ae = AutoencoderTransformer(
        n_components=2, neighbor_weight=1.0, max_iter=100, random_state=0
    )
    ae.fit(X_train)
    with warnings.catch_warnings():
        # Seeding makes umap-learn single-threaded, and it says so; the
        # gallery prefers reproducible pictures.
        warnings.filterwarnings("ignore", message="n_jobs value")
        reducer = umap.UMAP(n_components=2, random_state=0).fit(X_train)
    for ax, label, model in zip(row, ("skae", "UMAP"), (ae, reducer), strict=True):
        tic = time.perf_counter()
        Z_test = model.transform(X_test)
        seconds = time.perf_counter() - tic
        accuracy = knn5(model.transform(X_train), y_train, Z_test, y_test)
        title = f"{name}, {label}: 5-NN {accuracy:.3f}, transform {seconds:.2f} s"
        LatentSpaceDisplay.from_embedding(
            Z_test,
            y_test,
            label_names=names,
            ax=ax,
            title=title,
            legend=label == "UMAP",
            s=4,
        )
    models[name] = (ae, X_test, y_test, names)
fig.tight_layout()

# %%
# Both maps place the 1,000 test images that neither model was fitted on.
# UMAP's ``transform`` optimises each new point against the training graph;
# skae's is a single pass of the encoder, which is why it is so much faster.
# On 3,000 training images UMAP's map is still the sharper one: the
# encoder has to generalise its map to images it has not seen, from few
# examples (the user guide's full-data table shows how the gap narrows).
#
# Decoding a path between two clusters
# ------------------------------------
# The decoder turns any point of the map into an image. Here we walk in a
# straight line from the centre of the test images of one class to the
# centre of another and decode ten points along the way.


def decoded_path(ae, X_test, y_test, start, end, n_steps=10):
    codes = ae.transform(X_test)
    a = codes[y_test == start].mean(axis=0)
    b = codes[y_test == end].mean(axis=0)
    path = np.linspace(a, b, n_steps).astype(np.float32)
    return ae.inverse_transform(path).reshape(n_steps, 28, 28)


# Two classes far apart on each map: a '1' and a '0', a sneaker and a
# trouser; the decoded images in between show what the map put there.
fig, axes = plt.subplots(2, 1, figsize=(10, 2.6))
for ax, (name, start, end) in zip(
    axes, [("MNIST", 1, 0), ("Fashion-MNIST", 7, 1)], strict=True
):
    ae, X_test, y_test, names = models[name]
    images = decoded_path(ae, X_test, y_test, start, end)
    ax.imshow(np.hstack(images), cmap="gray")
    ax.set_axis_off()
    ax.set_title(f"{name}: decoded from '{names[start]}' to '{names[end]}'")
fig.tight_layout()
