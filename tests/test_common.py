"""scikit-learn's estimator checks over representative settings.

Every architecture x sparsity x noise combination below passes the full
suite with no expected failure; the neighbour-term instance fails the two
checks that call ``partial_fit``, which refuses it by design, and the
user-encoder instance one check that cannot compare torch modules (see
``expected_failed_checks``). ``loss="bce"`` is absent on purpose: it is
defined only for inputs in [0, 1], the checks feed unbounded data, and the
estimator rightly rejects that with a ValueError (tests/test_variants.py and
tests/test_validation.py cover BCE). Conv instances use ``image_shape=(1, -1)``
(rows as 1-D signals) because the checks use feature counts such as 3 or 10
that are not images; square images are tested in tests/test_variants.py.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

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
    # Variational: dense with noise, conv with early stopping.
    AutoencoderTransformer(
        **FAST, hidden_layer_sizes=(4,), variational=True, noise="masking"
    ),
    AutoencoderTransformer(**FAST, **CONV, variational=True, early_stopping=True),
    # A user encoder; LazyLinear takes whatever feature count a check uses.
    AutoencoderTransformer(
        **FAST, encoder=nn.Sequential(nn.LazyLinear(4), nn.GELU(), nn.Linear(4, 1))
    ),
]


def expected_failed_checks(estimator):
    """The neighbour term needs all rows at once, so ``partial_fit`` refuses
    it with a ValueError (tests/test_partial_fit.py); these two checks call
    ``partial_fit`` on every estimator that has it.

    check_estimators_overwrite_params compares ``joblib.hash`` of each
    parameter with the hash of its deep copy taken before ``fit``; a deep
    copy of any ``torch.nn.Module`` hashes differently from the original
    (``joblib.hash(copy.deepcopy(m)) != joblib.hash(m)`` with no fit at
    all), so the check cannot pass for a module parameter.
    tests/test_extension.py checks that ``fit`` leaves the caller's module's
    weights untouched.
    """
    if estimator.encoder is not None:
        return {
            "check_estimators_overwrite_params": "a deep-copied torch module "
            "never hashes like its original (see expected_failed_checks)"
        }
    if estimator.neighbor_weight > 0:
        reason = "partial_fit refuses neighbor_weight > 0 (needs fit's graph)"
        return {
            "check_fit_score_takes_y": reason,
            "check_n_features_in_after_fitting": reason,
        }
    return {}


# The check instances stop after 5 epochs on purpose (speed); the resulting
# ConvergenceWarning is expected, not a failure.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
