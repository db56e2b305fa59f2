"""Incremental training: partial_fit, warm_start, callbacks, memory-mapped X."""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier

import skae._data
from skae import AutoencoderTransformer
from skae.callbacks import PrintEpochs, ProgressBar


def small_ae(**params) -> AutoencoderTransformer:
    defaults = dict(
        n_components=3,
        hidden_layer_sizes=(16,),
        max_iter=10,
        batch_size=32,
        noise=None,  # explicit: "auto" would mask in fit, not in partial_fit
        learning_rate_init=1e-2,
        random_state=0,
    )
    return AutoencoderTransformer(**{**defaults, **params})


def chunks(X, n):
    return np.array_split(X, n)


# ------------------------------------------------------------- partial_fit
def test_first_call_builds_the_network_and_later_calls_continue(blobs):
    ae = small_ae()
    ae.partial_fit(blobs[:100])
    assert ae.n_features_in_ == 12 and ae.n_iter_ == 1 and len(ae.loss_curve_) == 1
    first = ae.transform(blobs)
    ae.partial_fit(blobs[100:])
    assert ae.n_iter_ == 2 and len(ae.history_["reconstruction"]) == 2
    assert ae.stop_reason_ == "partial_fit"
    assert not np.allclose(ae.transform(blobs), first)


def test_optimiser_state_persists_between_calls(blobs):
    ae = small_ae().partial_fit(blobs)
    state = ae._trainer_state_.optimizer["state"]
    assert state and all(s["step"] > 0 for s in state.values())
    steps = next(iter(state.values()))["step"].item()
    ae.partial_fit(blobs)
    # One pass of 200 rows at batch 32 is 7 Adam steps: they add up.
    assert (
        next(iter(ae._trainer_state_.optimizer["state"].values()))["step"] == 2 * steps
    )


def test_same_calls_give_the_same_model_pickled_in_between_or_not(blobs):
    straight = small_ae()
    for chunk in chunks(blobs, 4):
        straight.partial_fit(chunk)
    resumed = small_ae()
    for i, chunk in enumerate(chunks(blobs, 4)):
        resumed.partial_fit(chunk)
        if i == 1:
            resumed = pickle.loads(pickle.dumps(resumed))
    np.testing.assert_array_equal(resumed.transform(blobs), straight.transform(blobs))


def test_partial_fit_loop_matches_fit_quality_on_mnist(mnist_small):
    """Ten chunks times five epochs against fit for five epochs: the same
    number of steps and the same cosine schedule (max_iter counts calls)."""
    X, y, X_test, y_test = mnist_small
    # Explicit settings: "auto" gives fit on these 2,000 rows the small-data
    # ones and partial_fit the large-data ones.
    same = dict(hidden_layer_sizes=(128,), batch_size=256, noise=None, random_state=0)
    fitted = AutoencoderTransformer(16, max_iter=5, **same).fit(X)
    looped = AutoencoderTransformer(16, max_iter=50, **same)
    rng = np.random.default_rng(0)
    for _ in range(5):
        for rows in chunks(rng.permutation(len(X)), 10):
            looped.partial_fit(X[rows])

    def knn(ae):
        clf = KNeighborsClassifier(5).fit(ae.transform(X), y)
        return clf.score(ae.transform(X_test), y_test)

    assert looped.n_iter_ == 50
    assert knn(looped) >= knn(fitted) - 0.02
    assert looped.score(X_test) >= 1.1 * fitted.score(X_test)  # scores are < 0


def test_cosine_schedule_ends_after_max_iter_calls(blobs):
    ae = small_ae(max_iter=2)
    ae.partial_fit(blobs).partial_fit(blobs)
    before = ae.transform(blobs)
    with pytest.warns(ConvergenceWarning, match="max_iter_=2 calls"):
        ae.partial_fit(blobs)
    np.testing.assert_array_equal(ae.transform(blobs), before)
    assert ae.n_iter_ == 2
    # A constant rate has no end.
    constant = small_ae(max_iter=2, learning_rate="constant")
    for _ in range(3):
        constant.partial_fit(blobs)
    assert constant.n_iter_ == 3


def test_partial_fit_after_fit_continues_from_the_fitted_weights(blobs):
    ae = small_ae(max_iter=5).fit(blobs)
    score = ae.score(blobs)
    ae.partial_fit(blobs)
    assert ae.n_iter_ == 6 and len(ae.loss_curve_) == 6
    assert ae.score(blobs) > score - 0.05


def test_partial_fit_composes_with_sparsity_and_noise(blobs):
    ae = small_ae(sparsity="l1", noise="gaussian", noise_level=0.1)
    for chunk in chunks(blobs, 3):
        ae.partial_fit(chunk)
    assert ae.history_["penalty"][-1] > 0 and np.isfinite(ae.transform(blobs)).all()


def test_partial_fit_refuses_the_neighbour_term(blobs):
    with pytest.raises(ValueError, match=r"neighbor_weight=1\.0 is not supported by"):
        small_ae(neighbor_weight=1.0).partial_fit(blobs)


def test_partial_fit_with_a_different_feature_count_keeps_the_model(blobs):
    ae = small_ae().partial_fit(blobs)
    before = ae.transform(blobs)
    with pytest.raises(ValueError, match="X has 11 features, but"):
        ae.partial_fit(blobs[:, :11])
    np.testing.assert_array_equal(ae.transform(blobs), before)
    assert ae.n_iter_ == 1


def test_partial_fit_bad_values_get_fits_errors(blobs):
    ae = small_ae().partial_fit(blobs)
    bad = blobs.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        ae.partial_fit(bad)
    unit = small_ae(loss="auto").partial_fit(np.clip(blobs, 0, 1))
    assert unit.reconstruction_loss_ == "bce"
    with pytest.raises(
        ValueError, match=r"loss='bce' \(chosen by loss='auto'.*in \[0, 1\]"
    ):
        unit.partial_fit(blobs)
    assert unit.n_iter_ == 1


# --------------------------------------------------------------- warm start
def test_warm_start_continues_from_the_previous_weights(blobs):
    cold = small_ae(max_iter=3).fit(blobs)
    warm = clone(cold).set_params(warm_start=True).fit(blobs)
    first = warm.transform(blobs)
    np.testing.assert_array_equal(first, cold.transform(blobs))
    encoder = warm.encoder_
    warm.fit(blobs)
    assert warm.encoder_ is not encoder  # a trained copy, not the old modules
    assert warm.n_iter_ == 6 and len(warm.loss_curve_) == 6
    # The second run starts where the first ended: near its last loss, far
    # below the first run's start.
    assert warm.loss_curve_[3] < warm.loss_curve_[0] * 0.9
    restarted = clone(cold).fit(blobs)  # warm_start=False: from scratch
    np.testing.assert_array_equal(restarted.transform(blobs), first)


def test_warm_start_refuses_a_changed_network(blobs):
    ae = small_ae(max_iter=2, warm_start=True).fit(blobs)
    with pytest.raises(ValueError, match="different network than the fitted one"):
        ae.set_params(hidden_layer_sizes=(8,)).fit(blobs)
    with pytest.raises(ValueError, match="X has 11 features"):
        ae.set_params(hidden_layer_sizes=(16,)).fit(blobs[:, :11])
    assert ae.n_iter_ == 2


# ---------------------------------------------------------------- callbacks
def test_a_callback_that_stops_at_epoch_3_ends_like_convergence(blobs):
    seen = []

    def stop_at_3(estimator, epoch, record):
        seen.append((epoch, sorted(record)))
        return epoch == 3

    with warnings_as_errors():
        ae = small_ae(max_iter=20, callbacks=[stop_at_3]).fit(blobs)
    assert ae.n_iter_ == 3 and ae.stop_reason_ == "callback"
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert seen[0][1] == ["loss", "max_iter", "penalty", "reconstruction", "time"]


def test_stopping_with_early_stopping_keeps_the_best_epoch(blobs):
    ae = small_ae(
        max_iter=30,
        early_stopping=True,
        callbacks=[lambda est, epoch, record: epoch == 6],
    ).fit(blobs)
    assert ae.n_iter_ == 6 and 1 <= ae.best_epoch_ <= 6
    assert ae.best_validation_score_ == ae.validation_scores_[ae.best_epoch_ - 1]


def test_every_callback_sees_every_epoch_and_on_fit_end_runs_once(blobs):
    class Recorder:
        def __init__(self):
            self.epochs, self.ended = [], 0

        def __call__(self, estimator, epoch, record):
            self.epochs.append(epoch)

        def on_fit_end(self, estimator):
            self.ended += 1

    recorder = Recorder()
    small_ae(max_iter=4, callbacks=[lambda *a: True, recorder]).fit(blobs)
    assert recorder.epochs == [1] and recorder.ended == 1


def test_verbose_is_the_print_callback(blobs, capsys):
    small_ae(max_iter=2, verbose=1).fit(blobs)
    from_verbose = capsys.readouterr().out
    small_ae(max_iter=2, callbacks=[PrintEpochs()]).fit(blobs)
    from_callback = capsys.readouterr().out
    strip = re.compile(r"\(\d+\.\d+ s\)")  # epoch times differ
    assert strip.sub("", from_verbose) == strip.sub("", from_callback)
    assert from_verbose.count("Epoch ") == 2


def test_progress_bar_callback_counts_epochs(blobs):
    import io

    stream = io.StringIO()
    bar = ProgressBar(file=stream, mininterval=0)
    ae = small_ae(max_iter=4, callbacks=[bar]).fit(blobs)
    assert "4/4" in stream.getvalue() and bar._bar is None  # closed at the end
    pickle.loads(pickle.dumps(ae))  # the callback pickles without its stream


def test_callbacks_must_be_callables(blobs):
    with pytest.raises(TypeError, match="callbacks must be a list of callables"):
        small_ae(callbacks=["print"]).fit(blobs)
    with pytest.raises(TypeError, match="the class PrintEpochs, not an instance"):
        small_ae(callbacks=[PrintEpochs]).fit(blobs)


def test_partial_fit_calls_the_callbacks_once_per_call(blobs):
    epochs = []
    ae = small_ae(callbacks=[lambda est, epoch, record: epochs.append(epoch)])
    ae.partial_fit(blobs).partial_fit(blobs)
    assert epochs == [1, 2]


class warnings_as_errors:
    """No warning at all (a callback stop is not a ConvergenceWarning)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


# ------------------------------------------------------------ memory maps
def test_memmap_trains_without_copying_x(tmp_path, blobs, monkeypatch):
    path = tmp_path / "X.npy"
    np.save(path, np.tile(blobs, (20, 1)))
    X = np.load(path, mmap_mode="r")
    released = []
    real = skae._data._MappedPages.release

    def count(self):
        released.append(self._map is not None)
        real(self)

    monkeypatch.setattr(skae._data._MappedPages, "release", count)
    monkeypatch.setattr(skae._data, "_RELEASE_BYTES", 64 * 1024)
    ae = small_ae(max_iter=2, batch_size=256).fit(X)
    in_memory = small_ae(max_iter=2, batch_size=256).fit(np.asarray(X).copy())
    np.testing.assert_array_equal(ae.transform(X), in_memory.transform(X))
    # The scan and transform handed their pages back as they went; the
    # shuffled batches were read from the file, not through the map.
    assert sum(released) >= 4
    assert skae._data.RowSource(X, torch.device("cpu"))._file is not None


def test_file_rows_read_what_the_map_holds(tmp_path):
    data = np.arange(5 * 7 * 3, dtype=np.float64).reshape(5 * 7, 3)
    path = tmp_path / "X.npy"
    np.save(path, data)
    view = np.load(path, mmap_mode="r")[4:30:2]  # an offset and a row stride
    rows = skae._data._FileRows.of(view)
    index = np.array([3, 0, 12, 5])
    np.testing.assert_array_equal(rows.take(index), view[index])
    # Writable maps may hold changes the file lacks: read through the map.
    assert skae._data._FileRows.of(np.load(path, mmap_mode="r+")) is None
    assert skae._data._FileRows.of(np.asfortranarray(view)) is None


def test_copy_on_write_maps_are_never_released(tmp_path, blobs):
    path = tmp_path / "X.npy"
    np.save(path, blobs)
    assert skae._data._shared_mapping(np.load(path, mmap_mode="c")) is None
    assert skae._data._shared_mapping(np.load(path, mmap_mode="r")[10:]) is not None
    assert skae._data._shared_mapping(blobs) is None


# ------------------------------------------------------------ one engine
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"noise": "masking", "sparsity": "kl", "loss": "mse"},
        {"learning_rate": "constant", "alpha": 1e-3},
    ],
)
def test_fit_equals_max_iter_partial_fit_calls(blobs, params):
    """fit and partial_fit run the same engine: same seed, same epochs, same
    schedule, so the same weights, bit for bit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 4 epochs is short
        fitted = small_ae(max_iter=4, tol=0.0, **params).fit(blobs)
    streamed = small_ae(max_iter=4, tol=0.0, **params)
    for _ in range(4):
        streamed.partial_fit(blobs)
    np.testing.assert_array_equal(streamed.transform(blobs), fitted.transform(blobs))
    assert streamed.loss_curve_ == fitted.loss_curve_
    assert streamed.n_iter_ == fitted.n_iter_ == 4


def test_set_params_between_calls_cannot_desynchronise_the_model(blobs):
    ae = small_ae().partial_fit(blobs)
    before = ae.transform(blobs)
    ae.set_params(n_components=5)
    with pytest.raises(ValueError, match="different network than the fitted one"):
        ae.partial_fit(blobs)
    assert ae.n_components_ == 3 and ae.n_iter_ == 1
    np.testing.assert_array_equal(ae.transform(blobs), before)
    # Training settings are read at each call; the attributes stay the model's.
    ae.set_params(n_components=3, learning_rate_init=1e-3, max_iter=99)
    ae.partial_fit(blobs)
    assert ae.n_iter_ == 2 and ae.max_iter_ == 10 and ae.n_components_ == 3


def test_a_callback_that_changes_the_estimator_does_not_change_the_attributes(
    blobs, tmp_path
):
    from skae import load_model, save_model

    def meddle(estimator, epoch, record):
        estimator.set_params(n_components=7, hidden_layer_sizes=(2,))

    ae = small_ae(max_iter=2, callbacks=[meddle])
    with pytest.warns(ConvergenceWarning):
        ae.fit(blobs)
    assert ae.n_components_ == 3 and ae.transform(blobs).shape == (200, 3)
    assert ae.n_components == 7  # the parameter changed, for the next fit
    # The model file holds the parameters the model was fitted with.
    ae.set_params(callbacks=None)
    save_model(ae, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.n_components == 3 and loaded.hidden_layer_sizes == (16,)
    np.testing.assert_array_equal(loaded.transform(blobs), ae.transform(blobs))


def test_fit_after_partial_fit_starts_a_fresh_stream(blobs):
    ae = small_ae().partial_fit(blobs)
    assert ae._trainer_state_.epochs_done == 1
    with warnings_as_errors():
        ae.set_params(max_iter=3, tol=1.0).fit(blobs)
    assert ae._trainer_state_ is None and ae.n_iter_ == 3


def test_partial_fit_divergence_by_magnitude_keeps_the_model(blobs, monkeypatch):
    import skae._fit_plan as plan_module

    ae = small_ae().partial_fit(blobs)
    before = ae.transform(blobs)
    original = plan_module.Objective

    class Exploding(original):
        calls = 0

        def __call__(self, *args):
            Exploding.calls += 1
            recon, penalty = super().__call__(*args)
            return recon * 1e4 ** min(Exploding.calls, 6), penalty

    monkeypatch.setattr(plan_module, "Objective", Exploding)
    with pytest.raises(ValueError, match="partial_fit call: the loss exploded"):
        ae.partial_fit(blobs)
    assert ae.n_iter_ == 1
    np.testing.assert_array_equal(ae.transform(blobs), before)


# ----------------------------------------------------- callback protocol
@pytest.mark.parametrize("answer", [1, "stop", [0], np.True_])
def test_any_true_answer_stops(blobs, answer):
    ae = small_ae(max_iter=20, callbacks=[lambda est, epoch, rec: answer])
    with warnings_as_errors():
        ae.fit(blobs)
    assert ae.n_iter_ == 1 and ae.stop_reason_ == "callback"


class FailsAtTheEnd(skae.callbacks.Callback):
    def on_fit_end(self, estimator):
        raise RuntimeError("cannot close the log")


def test_a_failing_on_fit_end_leaves_the_previous_model(blobs):
    ae = small_ae(max_iter=2)
    with pytest.warns(ConvergenceWarning):
        ae.fit(blobs)
    before, state = ae.transform(blobs), dict(ae.__dict__)
    ae.set_params(callbacks=[FailsAtTheEnd()], max_iter=4)
    with pytest.raises(RuntimeError, match="cannot close the log"):
        ae.fit(blobs)
    assert ae.n_iter_ == 2 and ae.history_ == state["history_"]
    np.testing.assert_array_equal(ae.transform(blobs), before)
    with pytest.raises(RuntimeError, match="cannot close the log"):
        ae.partial_fit(blobs)
    assert ae.n_iter_ == 2
    np.testing.assert_array_equal(ae.transform(blobs), before)


def test_a_callback_raising_mid_warm_start_leaves_the_previous_model(blobs):
    ae = small_ae(max_iter=2)
    with pytest.warns(ConvergenceWarning):
        ae.fit(blobs)
    before = ae.transform(blobs)

    def fail_at_2(estimator, epoch, record):
        if epoch == 2:
            raise KeyError("boom")

    ae.set_params(warm_start=True, callbacks=[fail_at_2])
    with pytest.raises(KeyError):
        ae.fit(blobs)
    assert ae.n_iter_ == 2
    np.testing.assert_array_equal(ae.transform(blobs), before)


def test_the_declared_protocol_is_what_the_shipped_callbacks_follow():
    from skae.callbacks import Callback

    assert issubclass(PrintEpochs, Callback) and issubclass(ProgressBar, Callback)
    assert Callback()(None, 1, {}) is None and Callback().on_fit_end(None) is None


def test_an_ambiguous_answer_is_the_callbacks_error(blobs):
    ae = small_ae(callbacks=[lambda est, epoch, rec: np.array([0.1, 0.2])])
    with pytest.raises(TypeError, match="truth value is ambiguous"):
        ae.fit(blobs)
    assert not hasattr(ae, "encoder_")
