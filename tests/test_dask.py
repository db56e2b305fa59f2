"""Dask: blockwise inference, streamed training, grid search and Incremental
on a real ``distributed.LocalCluster`` (two worker processes on 127.0.0.1)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from skae import AutoencoderTransformer  # noqa: E402

# Unpickled copies of CountingAutoencoder, per process (read on the workers).
UNPICKLED = {"n": 0}


class CountingAutoencoder(AutoencoderTransformer):
    """Counts how often a process unpickles it."""

    def __setstate__(self, state):
        UNPICKLED["n"] += 1
        super().__setstate__(state)


def _unpickled() -> int:
    return UNPICKLED["n"]


@pytest.fixture(scope="module")
def client():
    # Starting worker processes sets OMP_NUM_THREADS=1 in this process's
    # environment too (distributed's nanny); put it back for later tests.
    environ = dict(os.environ)
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()
    os.environ.clear()
    os.environ.update(environ)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(1200, 3))
    X = latent @ rng.normal(size=(3, 12)) + 0.05 * rng.normal(size=(1200, 12))
    return X.astype(np.float32)


@pytest.fixture(scope="module")
def fitted(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CountingAutoencoder(
            3, hidden_layer_sizes=(16,), max_iter=5, random_state=0
        ).fit(data)


def test_import_skae_does_not_import_dask():
    code = "import sys, skae; skae.AutoencoderTransformer; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_blockwise_inference_is_lazy_and_matches_numpy(client, data, fitted):
    dX = da.from_array(data, chunks=(100, 12))
    codes = fitted.transform(dX)
    assert isinstance(codes, da.Array) and codes.chunks == (dX.chunks[0], (3,))
    np.testing.assert_allclose(codes.compute(), fitted.transform(data), atol=1e-6)
    recon = fitted.inverse_transform(codes)
    np.testing.assert_allclose(
        recon.compute(), fitted.inverse_transform(fitted.transform(data)), atol=1e-6
    )
    scores = fitted.score_samples(dX)
    assert scores.ndim == 1
    np.testing.assert_allclose(scores.compute(), fitted.score_samples(data), rtol=1e-5)


def test_the_model_reaches_each_worker_once_not_per_block(client, data, fitted):
    before = sum(client.run(_unpickled).values())
    codes = fitted.transform(da.from_array(data, chunks=(50, 12)))  # 24 blocks
    # One key holds the model; every block's task depends on it.
    graph = dict(codes.__dask_graph__())
    model_keys = [k for k in graph if "CountingAutoencoder" in str(k)]
    assert len(model_keys) == 1
    codes.compute()
    unpickled = sum(client.run(_unpickled).values()) - before
    assert 1 <= unpickled <= len(client.scheduler_info()["workers"])


def test_workers_run_torch_on_one_thread_each(client):
    # distributed's nanny sets OMP_NUM_THREADS=1 in worker processes; with
    # one Dask thread per worker, torch cannot oversubscribe the cores.
    def torch_threads():
        import torch

        return torch.get_num_threads()

    assert set(client.run(torch_threads).values()) == {1}


def test_grid_search_over_n_components_on_the_cluster(client, data):
    import joblib
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=5, random_state=0),
        {"n_components": [1, 3]},
        cv=2,
        n_jobs=-1,
    )
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_backend("dask"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(data)
    assert search.best_params_ == {"n_components": 3}  # the data are 3-D
    assert len(stream.data) >= 4  # the four fits ran as cluster tasks


def test_incremental_drives_partial_fit_over_the_blocks(client, data):
    from dask_ml.wrappers import Incremental

    dX = da.from_array(data, chunks=(300, 12))
    model = Incremental(
        AutoencoderTransformer(
            3, hidden_layer_sizes=(16,), max_iter=4, random_state=0, batch_size=32
        )
    )
    model.fit(dX)
    inner = model.estimator_
    assert inner.n_iter_ == 4 and len(inner.loss_curve_) == 4
    assert inner.loss_curve_[-1] < inner.loss_curve_[0]


def test_fit_streams_a_dask_array_block_by_block(client, data):
    dX = da.from_array(data, chunks=(250, 12))

    def fit(X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Seed 0 starts this model in a poor minimum for both sources
            # (scores -0.14 in memory, -0.26 from blocks, against about -0.02
            # for seeds 1 to 3): the comparison is about the shuffling.
            return AutoencoderTransformer(
                3, hidden_layer_sizes=(16,), max_iter=8, batch_size=32, random_state=1
            ).fit(X)

    ae = fit(dX)
    assert ae.n_features_in_ == 12 and ae.n_iter_ == 8
    # Shuffled within blocks, it fits as well as a global shuffle (the
    # data's variance is 2.9; in-memory training reaches about 0.09).
    assert ae.score(data) > 1.5 * fit(data).score(data)
    # Seeded: the same blocks in the same order give the same model.
    np.testing.assert_array_equal(fit(dX).transform(data), ae.transform(data))


def test_partial_fit_takes_a_dask_array(client, data):
    ae = AutoencoderTransformer(3, hidden_layer_sizes=(16,), random_state=0)
    ae.partial_fit(da.from_array(data, chunks=(400, 12)))
    assert ae.n_iter_ == 1 and ae.n_features_in_ == 12


@pytest.mark.parametrize("method", ["transform", "score_samples", "partial_fit"])
def test_wrong_column_count_is_refused_before_any_compute(fitted, data, method):
    dX = da.from_array(data[:, :11], chunks=(100, 11))
    with pytest.raises(ValueError, match="X has 11 features, but"):
        getattr(fitted, method)(dX)


def test_inverse_transform_checks_the_code_width(fitted, data):
    with pytest.raises(ValueError, match=r"X has 2 features, but .* expecting 3"):
        fitted.inverse_transform(da.zeros((10, 2), chunks=(5, 2)))


@pytest.mark.parametrize("method", ["fit", "transform"])
def test_chunks_split_along_columns_are_refused(fitted, data, method):
    dX = da.from_array(data, chunks=(100, 6))
    with pytest.raises(ValueError, match=r"chunked along its columns.*rechunk"):
        getattr(AutoencoderTransformer() if method == "fit" else fitted, method)(dX)


def test_nan_in_a_block_gets_fits_error_and_keeps_the_model(client, data, fitted):
    bad = data.copy()
    bad[700, 3] = np.nan
    model = AutoencoderTransformer(3, hidden_layer_sizes=(16,), max_iter=2)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.fit(da.from_array(bad, chunks=(100, 12)))
    assert not hasattr(model, "n_features_in_")
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fitted.transform(da.from_array(bad, chunks=(100, 12))).compute()


@pytest.mark.parametrize(
    "params", [dict(neighbor_weight=1.0), dict(early_stopping=True)]
)
def test_options_that_need_all_rows_are_refused_for_dask_fit(data, params):
    with pytest.raises(ValueError, match="not supported with a Dask array"):
        AutoencoderTransformer(**params).fit(da.from_array(data, chunks=(100, 12)))


def test_a_one_dimensional_dask_array_is_refused():
    with pytest.raises(ValueError, match="Expected a 2-D Dask array"):
        AutoencoderTransformer().fit(da.zeros(10, chunks=5))


@pytest.mark.parametrize("shape", [(0, 12), (10, 0)])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_empty_arrays_get_numpys_errors(shape, method):
    params = dict(n_components=1, max_iter=1)
    with pytest.raises(ValueError) as from_numpy:
        getattr(AutoencoderTransformer(**params), method)(np.zeros(shape))
    with pytest.raises(ValueError) as from_dask:
        getattr(AutoencoderTransformer(**params), method)(
            da.zeros(shape, chunks=(5, -1))
        )
    assert str(from_dask.value) == str(from_numpy.value)


def test_empty_blocks_are_skipped_in_training(data):
    # Row chunks (0, 500, 0, 700, 0): the empty blocks hold no batch.
    dX = da.from_array(data, chunks=((0, 500, 0, 700, 0), (12,)))
    assert 0 in dX.chunks[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=1)
        ae = AutoencoderTransformer(3, **params).fit(dX)
        ref = AutoencoderTransformer(3, **params).fit(data)
    assert ae.n_iter_ == 3 and np.isfinite(ae.transform(data)).all()
    assert ae.score(data) > 2 * ref.score(data)  # as good, within the noise


def test_a_model_with_a_module_class_defined_in_a_function_runs_on_workers(
    client, data
):
    """Plain pickle cannot store such a class; the workers get the model by
    value (cloudpickle) instead of failing there."""
    import torch

    def make_encoder():
        class Local(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.linear = torch.nn.Linear(12, 3)

            def forward(self, x):
                return self.linear(x)

        return Local()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ae = AutoencoderTransformer(3, encoder=make_encoder(), max_iter=2).fit(data)
    lazy = ae.transform(da.from_array(data, chunks=(300, 12)))
    np.testing.assert_allclose(lazy.compute(), ae.transform(data), rtol=1e-6)
