"""scikit-learn's callback API (``set_callbacks``, scikit-learn >= 1.9)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skae import AutoencoderTransformer

sk_callback = pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9")
from sklearn.callback._callback_context import get_context_path  # noqa: E402


class Recorder:
    """Records every hook; its end hook asks to stop after ``stop_at`` epochs
    and keeps the codes of the ``fitted_estimator`` it is handed."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.stop_at = stop_at
        self.events: list[tuple] = []
        self.codes: list[np.ndarray] = []

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))

    def on_fit_task_begin(self, estimator, context):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, X=None, fitted_estimator=None):
        self.events.append(("end", context.task_name, context.task_id))
        if context.task_name != "epoch":
            return False
        self.codes.append(fitted_estimator.transform(X))
        return self.stop_at is not None and context.task_id + 1 >= self.stop_at


class Propagated(Recorder):
    """The same, passed on by meta-estimators to the estimators they fit."""

    max_propagation_depth = None

    def on_fit_task_end(self, estimator, context, *, X=None, fitted_estimator=None):
        if context.task_name == "epoch":
            path = get_context_path(context)
            self.events.append(tuple((c.estimator_name, c.task_name) for c in path))
        return False


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).random((200, 12)).astype(np.float32)


def small(**params):
    return AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(8,), random_state=0, **params
    )


def quiet(call, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args)


def test_epochs_are_subtasks_and_a_stop_request_ends_the_fit(X):
    rec = Recorder(stop_at=3)
    ae = small(max_iter=10).set_callbacks(rec)
    quiet(ae.fit, X)
    assert ae.n_iter_ == 3 and ae.stop_reason_ == "callback"
    epochs = [("begin", "epoch", i) for i in range(3)]
    ends = [("end", "epoch", i) for i in range(3)]
    expected = [("setup", "fit"), ("begin", "fit", 0)]
    expected += [e for pair in zip(epochs, ends, strict=True) for e in pair]
    expected += [("end", "fit", 0), ("teardown", "fit")]
    assert rec.events == expected
    # fitted_estimator is the model as it stood at each epoch's end: the
    # last one is the model fit returned, and training moved the codes.
    np.testing.assert_allclose(rec.codes[-1], ae.transform(X), rtol=1e-6)
    assert not np.allclose(rec.codes[0], rec.codes[-1])
    assert not hasattr(ae, "_callback_fit_ctx")


def test_callbacks_reach_each_fit_of_a_grid_search(X):
    rec = Propagated()
    grid = {"n_components": [1, 2]}
    search = GridSearchCV(small(max_iter=2), grid, cv=2).set_callbacks(rec)
    quiet(search.fit, X)
    paths = [e for e in rec.events if isinstance(e[0], tuple)]
    # 2 candidates x 2 folds, then the refit: 5 fits of 2 epochs each.
    assert len(paths) == 10
    assert all(p[0] == ("GridSearchCV", "fit") for p in paths)
    assert all(p[-2:] == (("AutoencoderTransformer", "fit"),
                          ("AutoencoderTransformer", "epoch")) for p in paths)  # fmt: skip
    # Propagated callbacks are the search's, not left on the refitted model.
    assert not getattr(search.best_estimator_, "_skl_callbacks", [])


def test_each_partial_fit_call_is_one_task(X):
    rec = Recorder()
    ae = small(max_iter=4).set_callbacks(rec)
    for chunk in np.array_split(X, 2):
        ae.partial_fit(chunk)
    assert rec.events == [("setup", "partial_fit"), ("begin", "partial_fit", 0),
                          ("end", "partial_fit", 0), ("teardown", "partial_fit")] * 2  # fmt: skip


def test_a_failed_fit_rolls_back_and_still_tears_callbacks_down(X):
    rec = Recorder()
    ae = quiet(small(max_iter=2).fit, X)
    before = ae.transform(X)

    def fail(estimator, epoch, record):
        raise RuntimeError("callback failed")

    ae.set_params(callbacks=[fail]).set_callbacks(rec)
    with pytest.raises(RuntimeError, match="callback failed"):
        ae.fit(X)
    assert rec.events[-1] == ("teardown", "fit")
    np.testing.assert_array_equal(ae.transform(X), before)
    assert not hasattr(ae, "_callback_fit_ctx")


def test_registered_callbacks_survive_clone_and_pickle(X):
    rec = Recorder()
    ae = small(max_iter=2).set_callbacks(rec)
    assert clone(ae)._skl_callbacks == [rec]  # scikit-learn's clone shares them
    restored = pickle.loads(pickle.dumps(quiet(ae.fit, X)))
    np.testing.assert_array_equal(restored.transform(X), ae.transform(X))
    assert len(restored._skl_callbacks) == 1


def test_set_callbacks_refuses_what_is_not_a_callback():
    with pytest.raises(TypeError, match="FitCallback protocol"):
        small().set_callbacks(lambda estimator, epoch, record: None)


def test_sklearn_progress_bar_draws_the_epochs_of_each_fit(X, capsys):
    pytest.importorskip("rich")
    bar = sk_callback.ProgressBar(max_propagation_depth=None)
    search = GridSearchCV(small(max_iter=2), {"n_components": [1, 2]}, cv=2)
    quiet(search.set_callbacks(bar).fit, X)
    out = capsys.readouterr().out
    assert "GridSearchCV - fit" in out
    assert out.count("AutoencoderTransformer - fit") >= 5  # 4 folds and the refit


def test_scoring_monitor_scores_each_epoch_when_fit_is_given_a_y(X):
    # scikit-learn's ScoringMonitor skips scoring when y is None; skae passes
    # on the y that fit was given (and ignores it itself).
    mse = {"score": lambda estimator, X, y: estimator.score(X)}
    monitor = sk_callback.ScoringMonitor(scoring=mse)
    ae = quiet(small(max_iter=3).set_callbacks(monitor).fit, X, np.zeros(len(X)))
    rows = monitor.get_logs().data
    epochs = [r["score"] for r in rows if r["task_name"] == "epoch"]
    assert len(epochs) == 3
    assert epochs[-1] == pytest.approx(ae.score(X), rel=1e-6)
    assert epochs[0] != pytest.approx(epochs[-1], rel=1e-6)
