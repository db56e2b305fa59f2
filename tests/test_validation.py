"""Bad input and bad parameters: specific errors, never a torch traceback,
and a previously fitted estimator that keeps working."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.utils._param_validation import InvalidParameterError

from skae import AutoencoderTransformer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_GOOD = np.random.default_rng(0).random((60, 9)).astype(np.float32)


def with_value(value, row=3, col=2):
    X = X_GOOD.astype(np.float64)
    X[row, col] = value
    return X


BAD_FIT_INPUTS = {
    "nan": (with_value(np.nan), ValueError, "Input X contains NaN"),
    "inf": (with_value(np.inf), ValueError, "Input X contains infinity"),
    "1d": (X_GOOD[:, 0], ValueError, "Expected 2D array, got 1D array"),
    "3d": (X_GOOD.reshape(60, 3, 3), ValueError, "Found array with dim 3"),
    "strings": (
        np.array([["a", "b"], ["c", "d"]]),
        ValueError,
        "could not convert string",
    ),
    "complex": (X_GOOD.astype(np.complex64), ValueError, "Complex data not supported"),
    "empty rows": (np.empty((0, 9)), ValueError, "0 sample"),
    "empty features": (np.empty((5, 0)), ValueError, "0 feature"),
    "bce range": (
        X_GOOD * 3 - 1,
        ValueError,
        r"loss='bce' needs inputs in \[0, 1\].*MinMaxScaler",
    ),
    "beyond float32": (with_value(1e39), ValueError, "beyond float32's range"),
    "datetime column": (
        pd.DataFrame({"a": np.arange(60.0), "when": pd.date_range("2020", periods=60)}),
        TypeError,
        r"datetime or timedelta columns: 'when'",
    ),
}


@pytest.fixture
def fitted():
    ae = AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(8,), loss="bce", max_iter=3, random_state=0
    )
    return ae.fit(X_GOOD)


@pytest.mark.parametrize("case", list(BAD_FIT_INPUTS))
def test_bad_fit_input_raises_and_leaves_fitted_model_intact(fitted, case):
    X, error, match = BAD_FIT_INPUTS[case]
    before = fitted.transform(X_GOOD)
    state = dict(fitted.__dict__)
    with pytest.raises(error, match=match):
        fitted.fit(X)
    assert fitted.__dict__.keys() == state.keys()
    assert fitted.n_features_in_ == 9
    np.testing.assert_array_equal(fitted.transform(X_GOOD), before)


def test_bce_range_check_on_sparse_input():
    X = (
        sp.random(30, 9, density=0.3, format="csr", random_state=0, dtype=np.float32)
        * 5
    )
    with pytest.raises(ValueError, match="bce"):
        AutoencoderTransformer(loss="bce", max_iter=1).fit(X)


@pytest.mark.parametrize("method", ["transform", "score_samples", "score"])
def test_feature_count_mismatch_at_inference(fitted, method):
    with pytest.raises(
        ValueError, match="X has 5 features, but AutoencoderTransformer is expecting 9"
    ):
        getattr(fitted, method)(X_GOOD[:, :5])


def test_nan_at_transform(fitted):
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fitted.transform(with_value(np.nan))


def test_inverse_transform_checks_code_width(fitted):
    with pytest.raises(
        ValueError, match=r"expects codes with 2 columns \(n_components_\), got 3"
    ):
        fitted.inverse_transform(np.zeros((4, 3)))


BAD_PARAMS = [
    ({"n_components": 0}, InvalidParameterError, "n_components"),
    ({"architecture": "rnn"}, InvalidParameterError, "architecture"),
    ({"activation": "swish"}, InvalidParameterError, "activation"),
    ({"loss": "l1"}, InvalidParameterError, "loss"),
    ({"batch_size": 0}, InvalidParameterError, "batch_size"),
    ({"learning_rate_init": 0.0}, InvalidParameterError, "learning_rate_init"),
    ({"validation_fraction": 1.0}, InvalidParameterError, "validation_fraction"),
    ({"device": 3}, InvalidParameterError, "device"),
    (
        {"hidden_layer_sizes": (8, 0)},
        ValueError,
        "hidden_layer_sizes must contain only positive",
    ),
    (
        {"hidden_layer_sizes": ("a",)},
        TypeError,
        "hidden_layer_sizes must contain only integers",
    ),
    ({"device": "gpu0"}, ValueError, "device='gpu0' is not a valid torch device"),
    *[
        ({"device": kind}, ValueError, f"device='{kind}' is not supported")
        for kind in ("xpu", "hpu", "meta", "ipu", "mtia", "vulkan")
    ],
    ({"batch_size": True}, TypeError, "batch_size must be an int, got True"),
    ({"n_components": True}, TypeError, "n_components must be an int"),
    ({"max_iter": True}, TypeError, "max_iter must be an int or 'auto'"),
    (
        {"hidden_layer_sizes": {16, 4}},
        TypeError,
        "hidden_layer_sizes must be an int or an ordered sequence",
    ),
    (
        {"architecture": "conv", "image_shape": (1.9, 16), "conv_channels": (2,)},
        TypeError,
        "image_shape must be a tuple of ints",
    ),
    (
        {"architecture": "conv", "image_shape": ("3", "3"), "conv_channels": (2,)},
        TypeError,
        "image_shape must be a tuple of ints",
    ),
    # A 10**7 x 10**7 layer is 400 TB, beyond a 48-bit address space, so it
    # fails to allocate even where the kernel overcommits memory.
    (
        {"hidden_layer_sizes": (1, 10**7, 10**7)},
        ValueError,
        r"network could not be allocated.*hidden_layer_sizes=\(1, 10000000, 10000000\)",
    ),
    (
        {"sparsity": "l1", "sparsity_weight": 1e300},
        ValueError,
        "sparsity penalty became inf; lower sparsity_weight",
    ),
    (
        {"noise": "gaussian", "noise_level": 1e30, "loss": "mse"},
        ValueError,
        "noise_level=1e\\+30 is the standard deviation of the gaussian noise",
    ),
    ({"learning_rate_init": 1e39, "batch_size": 1000}, ValueError, "diverged"),
    ({"n_components": 20}, ValueError, "n_components=20 exceeds n_features=9"),
    (
        {"early_stopping": True, "validation_fraction": 0.001},
        ValueError,
        "validation_fraction",
    ),
]


@pytest.mark.parametrize("params, error, match", BAD_PARAMS)
def test_bad_parameters_raise_specific_errors(fitted, params, error, match):
    before = fitted.transform(X_GOOD)
    fitted.set_params(**params)
    with pytest.raises(error, match=match):
        fitted.fit(X_GOOD)
    np.testing.assert_array_equal(fitted.transform(X_GOOD), before)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_explicit_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        AutoencoderTransformer(device="cuda", max_iter=1).fit(X_GOOD)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_index_is_checked_too():
    with pytest.raises(ValueError, match="device='cuda:7'"):
        AutoencoderTransformer(device="cuda:7", max_iter=1).fit(X_GOOD)


@pytest.mark.parametrize("method", ["transform", "score_samples", "inverse_transform"])
def test_values_beyond_float32_are_refused_at_inference(fitted, method):
    # Cast to float32 they would become inf and every output NaN.
    width = 2 if method == "inverse_transform" else 9
    X = np.full((2, width), 1e39)
    with pytest.raises(ValueError, match="beyond float32's range"):
        getattr(fitted, method)(X)
    with pytest.raises(ValueError, match="beyond float32's range"):
        getattr(fitted, method)(sp.csr_matrix(X))


def test_tensor_that_requires_grad_is_accepted_as_data(fitted):
    X = torch.tensor(X_GOOD, requires_grad=True)
    np.testing.assert_array_equal(fitted.transform(X), fitted.transform(X_GOOD))


def test_unfitted_estimator_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    for method in ("transform", "inverse_transform", "score_samples", "score"):
        with pytest.raises(NotFittedError):
            getattr(AutoencoderTransformer(), method)(X_GOOD)


def test_coo_input_works_in_every_method(fitted):
    coo = sp.coo_matrix(X_GOOD)
    np.testing.assert_allclose(fitted.transform(coo), fitted.transform(X_GOOD))
    np.testing.assert_allclose(fitted.score_samples(coo), fitted.score_samples(X_GOOD))
    codes = fitted.transform(X_GOOD)
    np.testing.assert_allclose(
        fitted.inverse_transform(sp.coo_matrix(codes)), fitted.inverse_transform(codes)
    )
    refit = AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(8,), max_iter=3, random_state=0
    )
    np.testing.assert_allclose(
        refit.fit_transform(coo), refit.fit(X_GOOD).transform(X_GOOD), atol=1e-5
    )


def test_cuda_index_beyond_the_device_count(monkeypatch):
    from skae._data import resolve_device

    # A machine with two GPUs, as far as resolve_device can tell.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(
        ValueError, match=r"has 2 CUDA device\(s\) \(cuda:0 to cuda:1\)"
    ):
        resolve_device("cuda:7")
