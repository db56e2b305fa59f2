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
