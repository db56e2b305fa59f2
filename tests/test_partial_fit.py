"""Incremental training: partial_fit, warm_start, callbacks, memory-mapped X."""

from __future__ import annotations

import pickle
import re

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
    state = ae._partial_["optimizer"]["state"]
    assert state and all(s["step"] > 0 for s in state.values())
    steps = next(iter(state.values()))["step"].item()
    ae.partial_fit(blobs)
    # One pass of 200 rows at batch 32 is 7 Adam steps: they add up.
    assert next(iter(ae._partial_["optimizer"]["state"].values()))["step"] == 2 * steps


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
    fitted = AutoencoderTransformer(
        16, hidden_layer_sizes=(128,), max_iter=5, random_state=0
    ).fit(X)
    looped = AutoencoderTransformer(
        16, hidden_layer_sizes=(128,), max_iter=50, random_state=0
    )
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
