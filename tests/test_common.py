"""scikit-learn's estimator checks over representative settings."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import AutoencoderTransformer

# Small, fast instances: the checks fit dozens of times on tiny data.
FAST = dict(n_components=1, max_iter=5, batch_size=16)

ESTIMATORS = [
    AutoencoderTransformer(**FAST, hidden_layer_sizes=(4,)),
    AutoencoderTransformer(**FAST, hidden_layer_sizes=()),
    AutoencoderTransformer(
        **FAST, hidden_layer_sizes=(4,), early_stopping=True, validation_fraction=0.2
    ),
]


# The check instances stop after 5 epochs on purpose (speed); the resulting
# ConvergenceWarning is expected, not a failure.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
