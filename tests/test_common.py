"""scikit-learn's estimator checks over representative settings.

Every architecture x sparsity x noise combination below passes the full
suite with no expected failure. ``loss="bce"`` is absent on purpose: it is
defined only for inputs in [0, 1], the checks feed unbounded data, and the
estimator rightly rejects that with a ValueError (tests/test_variants.py and
tests/test_validation.py cover BCE). Conv instances use ``image_shape=(1, -1)``
(rows as 1-D signals) because the checks use feature counts such as 3 or 10
that are not images; square images are tested in tests/test_variants.py.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import AutoencoderTransformer

# Small, fast instances: the checks fit dozens of times on tiny data.
FAST = dict(n_components=1, max_iter=5, batch_size=16)
CONV = dict(architecture="conv", image_shape=(1, -1), conv_channels=(2, 3))

ESTIMATORS = [
    AutoencoderTransformer(**FAST, hidden_layer_sizes=()),
    AutoencoderTransformer(**FAST, hidden_layer_sizes=(4,)),
    AutoencoderTransformer(
        **FAST, hidden_layer_sizes=(4,), early_stopping=True, validation_fraction=0.2
    ),
    AutoencoderTransformer(
        **FAST, hidden_layer_sizes=(4,), sparsity="l1", noise="gaussian"
    ),
    AutoencoderTransformer(
        **FAST, hidden_layer_sizes=(4,), sparsity="kl", noise="salt_pepper"
    ),
    AutoencoderTransformer(**FAST, hidden_layer_sizes=(4,), noise="masking"),
    AutoencoderTransformer(**FAST, **CONV),
    AutoencoderTransformer(
        **FAST, hidden_layer_sizes=(4,), neighbor_weight=1.0, n_neighbors=5
    ),
    AutoencoderTransformer(
        **FAST, **CONV, sparsity="kl", noise="masking", early_stopping=True
    ),
]


# The check instances stop after 5 epochs on purpose (speed); the resulting
# ConvergenceWarning is expected, not a failure.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
