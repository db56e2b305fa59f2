"""The data-dependent "auto" defaults (skae._auto) and how fits use them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skae import AutoencoderTransformer, load_model, save_model
from skae._auto import SMALL_DATA_ROWS, resolve_auto
from skae._data import summarize
from skae._fit_plan import plan_fit

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X = np.random.default_rng(0).random((120, 16)).astype(np.float32)
SMALL = {
    "hidden_layer_sizes": (256,),
    "noise": "masking",
    "noise_level": 0.3,
    "batch_size": 32,
}
LARGE = {
    "hidden_layer_sizes": (256, 128),
    "noise": None,
    "noise_level": 0.2,
    "batch_size": 256,
}


def params(**changes) -> dict:
    return {**AutoencoderTransformer().get_params(deep=False), **changes}


def chosen(resolved: dict) -> dict:
    return {k: resolved[k] for k in SMALL}


def test_plain_dense_model_takes_the_small_data_settings_below_the_threshold():
    assert chosen(resolve_auto(params(), SMALL_DATA_ROWS - 1)) == SMALL
    assert chosen(resolve_auto(params(), SMALL_DATA_ROWS)) == LARGE


@pytest.mark.parametrize(
    "changes",
    [
        {"architecture": "conv"},
        {"sparsity": "l1"},
        {"variational": True},
        {"neighbor_weight": 1.0},
        {"encoder": torch.nn.Linear(16, 2)},
        {"decoder": torch.nn.Linear(2, 16)},
    ],
)
def test_unmeasured_models_keep_the_large_data_settings(changes):
    assert chosen(resolve_auto(params(**changes), 500)) == LARGE


def test_explicit_values_are_kept_and_the_noise_level_follows_the_noise():
    resolved = resolve_auto(params(hidden_layer_sizes=(64,), noise=None), 500)
    assert chosen(resolved) == {
        **SMALL,
        "hidden_layer_sizes": (64,),
        "noise": None,
        "noise_level": 0.2,  # unused without noise
    }
    assert resolve_auto(params(noise="gaussian"), 500)["noise_level"] == 0.2
    assert resolve_auto(params(noise="masking"), 50_000)["noise_level"] == 0.2
    assert resolve_auto(params(noise="masking"), 500)["noise_level"] == 0.3
    assert resolve_auto(params(noise="shift"), 50_000)["noise_level"] == 1
    assert resolve_auto(params(noise_level=0.1), 500)["noise_level"] == 0.1


def test_streams_take_the_large_data_settings_and_continued_models_their_layers():
    assert chosen(resolve_auto(params(), 500, stream=True)) == LARGE
    continued = resolve_auto(params(), 50_000, fitted={"hidden_layer_sizes": (256,)})
    assert chosen(continued) == {**LARGE, "hidden_layer_sizes": (256,)}


def test_the_threshold_counts_the_rows_left_after_the_validation_split():
    summary = summarize(X)
    n = SMALL_DATA_ROWS + 100
    whole = plan_fit(params(), summary, n, 16, seed=0)
    split = plan_fit(params(early_stopping=True), summary, n, 16, seed=0)
    assert whole.training.batch_size == 256 and whole.corruption.noise is None
    assert split.training.batch_size == 32
    assert split.corruption.noise == "masking"
    assert split.corruption.level == 0.3
    assert split.spec.hidden_layer_sizes == (256,)
    assert split.params["hidden_layer_sizes"] == (256,)  # what a file records


def test_a_small_fit_builds_the_shallow_network_and_saves_what_it_used(tmp_path):
    ae = AutoencoderTransformer(n_components=3, max_iter=2, random_state=0).fit(X)
    widths = [m.out_features for m in ae.encoder_ if isinstance(m, torch.nn.Linear)]
    assert widths == [256, 3]
    assert ae.hidden_layer_sizes == "auto"  # the parameter is left alone
    save_model(ae, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert chosen(loaded.get_params()) == SMALL
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))


def test_continuing_a_small_fit_keeps_its_network():
    ae = AutoencoderTransformer(n_components=3, max_iter=2, random_state=0).fit(X)
    ae.partial_fit(X)  # large-data settings, but the fitted hidden layers
    ae.set_params(warm_start=True).fit(X)
    widths = [m.out_features for m in ae.encoder_ if isinstance(m, torch.nn.Linear)]
    assert widths == [256, 3] and ae.n_iter_ == 5


def test_a_model_fitted_with_an_int_width_continues_under_auto():
    ae = AutoencoderTransformer(
        n_components=3, hidden_layer_sizes=8, max_iter=2, random_state=0
    ).fit(X)
    ae.set_params(hidden_layer_sizes="auto").partial_fit(X)
    widths = [m.out_features for m in ae.encoder_ if isinstance(m, torch.nn.Linear)]
    assert widths == [8, 3] and ae.n_iter_ == 3


def test_an_overcomplete_code_needs_noise_the_user_asked_for():
    # "auto" masks on these 120 rows, not on 10,000: the same call must not
    # pass on one and fail on the other.
    with pytest.raises(ValueError, match="overcomplete code needs sparsity or noise"):
        AutoencoderTransformer(n_components=20, max_iter=1).fit(X)
    AutoencoderTransformer(n_components=20, noise="masking", max_iter=1).fit(X)


@pytest.mark.parametrize(
    "name, value",
    [("batch_size", "big"), ("noise", "auto2"), ("noise_level", "high")],
)
def test_other_strings_are_refused_by_name(name, value):
    with pytest.raises(ValueError, match=f"The '{name}' parameter"):
        AutoencoderTransformer(**{name: value}).fit(X)
