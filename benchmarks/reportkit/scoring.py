"""How every benchmark scores codes: 5-NN accuracy on held-out rows."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import KNeighborsClassifier


def knn_accuracy(
    Z_train: np.ndarray,
    y_train: np.ndarray,
    Z_test: np.ndarray,
    y_test: np.ndarray,
    k: int = 5,
) -> float:
    """Accuracy on ``Z_test`` of a ``k``-NN classifier fitted on ``Z_train``."""
    knn = KNeighborsClassifier(n_neighbors=k).fit(Z_train, y_train)
    return float(knn.score(Z_test, y_test))


def training_rows_accuracy(Z_train: np.ndarray, y_train: np.ndarray) -> float:
    """5-NN accuracy among a model's own training codes: fitted on the first
    five sixths of them (at most 50,000), scored on the rest.

    Set beside the test rows' accuracy it measures generalisation: a map
    that places its training rows well and unseen rows worse has learnt the
    rows, not the function.
    """
    n = min(50_000, len(Z_train) * 5 // 6)
    return knn_accuracy(Z_train[:n], y_train[:n], Z_train[n:], y_train[n:])
