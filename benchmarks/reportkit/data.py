"""The one loader of MNIST and Fashion-MNIST for every benchmark script."""

from __future__ import annotations

import functools

from skae.datasets import fetch_fashion_mnist, fetch_mnist

# Dataset names as the scripts' --datasets options spell them.
FETCHERS = {"mnist": fetch_mnist, "fashion-mnist": fetch_fashion_mnist}


@functools.cache
def load_data(
    dataset: str = "mnist",
    n_train: int | None = None,
    n_test: int | None = None,
    *,
    data_home: str | None = None,
    download_if_missing: bool = True,
) -> dict:
    """The first ``n_train`` training and ``n_test`` test images (all when
    None), float32 in [0, 1], with their labels and the class names:
    ``X_train``, ``y_train``, ``X_test``, ``y_test``, ``target_names``.

    ``data_home`` and ``download_if_missing`` go to the fetcher (None: the
    ``SKAE_DATA`` setting). Cached per arguments: a script that loops over
    methods loads once; callers must not modify the arrays.
    """
    fetch = functools.partial(
        FETCHERS[dataset], data_home=data_home, download_if_missing=download_if_missing
    )
    train, test = fetch(subset="train"), fetch(subset="test")
    return {
        "X_train": train.data[:n_train],
        "y_train": train.target[:n_train],
        "X_test": test.data[:n_test],
        "y_test": test.target[:n_test],
        "target_names": test.target_names,
    }


def load_split(
    dataset: str = "mnist", n_train: int | None = None, n_test: int | None = None
):
    """``(X_train, y_train, X_test, y_test)`` of :func:`load_data`."""
    data = load_data(dataset, n_train, n_test)
    return data["X_train"], data["y_train"], data["X_test"], data["y_test"]
