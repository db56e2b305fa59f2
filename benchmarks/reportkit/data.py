"""The one loader of MNIST and Fashion-MNIST for every benchmark script."""

from __future__ import annotations

import functools

from skae.datasets import fetch_fashion_mnist, fetch_mnist

# Dataset names as the scripts' --datasets options spell them.
FETCHERS = {"mnist": fetch_mnist, "fashion-mnist": fetch_fashion_mnist}


@functools.cache
def load_split(
    dataset: str = "mnist", n_train: int | None = None, n_test: int | None = None
):
    """``(X_train, y_train, X_test, y_test)``: the first ``n_train`` training
    and ``n_test`` test images (all when None), float32 in [0, 1].

    Cached per arguments: a script that loops over methods loads once.
    """
    fetch = FETCHERS[dataset]
    X_train, y_train = fetch(subset="train", return_X_y=True)
    X_test, y_test = fetch(subset="test", return_X_y=True)
    return X_train[:n_train], y_train[:n_train], X_test[:n_test], y_test[:n_test]
