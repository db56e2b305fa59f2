"""smallest_within: a refit rule that picks the smallest adequate bottleneck."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer
from skae.model_selection import smallest_within

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def results(values, means, stds, name="param_n_components"):
    return {
        name: np.ma.masked_array(values, dtype=object),
        "mean_test_score": np.asarray(means, dtype=float),
        "std_test_score": np.asarray(stds, dtype=float),
    }


def test_picks_the_smallest_value_within_the_margin():
    cv = results(
        [2, 4, 8, 16, 32], [-0.060, -0.030, -0.021, -0.0195, -0.019], [0.0025] * 5
    )
    assert smallest_within()(cv) == 2  # one std (0.0025) below -0.019 admits 8
    assert smallest_within(tolerance=0.0)(cv) == 4  # the best itself: 32
    assert smallest_within(tolerance=0.015)(cv) == 1  # 4 is within 0.015
    assert smallest_within(n_std=0)(cv) == 4


def test_ties_on_the_parameter_go_to_the_better_score():
    cv = results([8, 8, 32], [-0.03, -0.02, -0.019], [0.0, 0.0, 0.0])
    assert smallest_within(tolerance=0.05)(cv) == 1


def test_failed_candidates_are_ignored_and_bad_arguments_refused():
    cv = results([2, 8, 32], [np.nan, -0.02, -0.019], [np.nan, 0.001, 0.001])
    assert smallest_within()(cv) == 1
    with pytest.raises(ValueError, match="every candidate failed"):
        smallest_within()(results([2], [np.nan], [np.nan]))
    with pytest.raises(ValueError, match="tolerance must be"):
        smallest_within(tolerance=-1)
    with pytest.raises(ValueError, match=r"no parameter.*named 'alpha'"):
        smallest_within("alpha")(cv)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"param": 3}, TypeError, "param must be a parameter name"),
        ({"tolerance": "a"}, TypeError, "tolerance must be a number"),
        ({"tolerance": np.nan}, ValueError, "tolerance must be a finite number"),
        ({"n_std": np.inf}, ValueError, "n_std must be a finite number"),
        ({"n_std": True}, TypeError, "n_std must be a number"),
        ({"scoring": None}, TypeError, "scoring must be a metric name"),
    ],
)
def test_bad_arguments_are_refused_when_the_rule_is_made(kwargs, error, message):
    with pytest.raises(error, match=message):
        smallest_within(**kwargs)


def test_missing_columns_and_nan_spreads_get_clear_errors():
    cv = results([2, 8, 32], [-0.03, -0.02, -0.019], [0.001, 0.001, np.nan])
    with pytest.raises(ValueError, match=r"no finite spread.*tolerance"):
        smallest_within()(cv)
    assert smallest_within(tolerance=0.015)(cv) == 0  # no spread needed
    with pytest.raises(ValueError, match=r"no 'mean_test_acc' column.*\['score'\]"):
        smallest_within(scoring="acc")(cv)
    del cv["std_test_score"]
    with pytest.raises(ValueError, match="no 'std_test_score' column"):
        smallest_within()(cv)


def test_in_a_real_search_over_a_pipeline(mnist_small):
    X_train = mnist_small[0][:600]
    grid = {"autoencodertransformer__n_components": [2, 8, 32]}
    # A single-layer model trains in few steps, so the scores order by code
    # size as they do at full budget (-0.064, -0.053, -0.033); clipping keeps
    # the held-out fold in [0, 1] like the training fold.
    pipe = make_pipeline(
        MinMaxScaler(clip=True),
        AutoencoderTransformer(hidden_layer_sizes=(), max_iter=30, random_state=0),
    )
    plain = GridSearchCV(pipe, grid, cv=2).fit(X_train)
    # Reconstruction favours the largest code; a generous margin does not.
    assert plain.best_params_ == {"autoencodertransformer__n_components": 32}
    scores = plain.cv_results_["mean_test_score"]
    margin = scores.max() - scores[1] + 1e-9  # just enough to admit 8
    chosen = GridSearchCV(pipe, grid, cv=2, refit=smallest_within(tolerance=margin))
    chosen.fit(X_train)
    assert chosen.best_params_ == {"autoencodertransformer__n_components": 8}
    assert chosen.best_estimator_[-1].n_components_ == 8


def test_values_that_cannot_be_ordered_are_a_clear_error():
    cv = results([None, 8, 32], [-0.03, -0.02, -0.019], [0.001, 0.001, 0.001])
    with pytest.raises(ValueError, match="cannot be ordered"):
        smallest_within(tolerance=0.05)(cv)
