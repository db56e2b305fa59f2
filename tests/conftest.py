"""Shared fixtures: data home, small MNIST subsets, deterministic settings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Point the loaders at the checked-in copy of the datasets unless the caller
# chose another data home (CI sets SKAE_DATA to the same folder).
os.environ.setdefault("SKAE_DATA", str(SHARED_DATA))


@pytest.fixture(scope="session")
def data_home() -> Path:
    home = Path(os.environ["SKAE_DATA"])
    if not (home / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST files not found under {home} (set SKAE_DATA)")
    return home


@pytest.fixture(scope="session")
def mnist(data_home):
    """MNIST as float32 in [0, 1]: (X_train, y_train, X_test, y_test)."""
    from skae.datasets import fetch_mnist

    X_train, y_train = fetch_mnist(data_home=data_home, subset="train", return_X_y=True)
    X_test, y_test = fetch_mnist(data_home=data_home, subset="test", return_X_y=True)
    return X_train, y_train, X_test, y_test


@pytest.fixture(scope="session")
def mnist_small(mnist):
    """2,000 training digits and 1,000 test digits."""
    X_train, y_train, X_test, y_test = mnist
    return X_train[:2000], y_train[:2000], X_test[:1000], y_test[:1000]


@pytest.fixture
def blobs():
    """A small, seeded dataset with low-dimensional structure."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(200, 3))
    mixing = rng.normal(size=(3, 12))
    return (latent @ mixing + 0.05 * rng.normal(size=(200, 12))).astype(np.float32)
