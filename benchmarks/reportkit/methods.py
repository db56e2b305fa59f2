"""How each benchmarked method embeds the data.

Every method returns an :class:`Embedding` of the training and test rows,
timed the same way. Methods that can embed new data are fitted on the
training rows and ``transform`` the test rows; t-SNE cannot, so it embeds
train and test together (labels unused) and is marked transductive.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.manifold import TSNE

from skae import AutoencoderTransformer

N_RECONSTRUCTIONS = 8  # test images kept for the reconstruction figure


@dataclass
class Embedding:
    train: np.ndarray
    test: np.ndarray
    fit_s: float
    transform_s: float | None
    transductive: bool = False
    recon_mse: float | None = None
    reconstructions: np.ndarray | None = None
    history: dict | None = None
    extra: dict = field(default_factory=dict)


# The skae variants compared in the report, as estimator settings.
SKAE_VARIANTS = {
    "skae vanilla": dict(hidden_layer_sizes=()),
    "skae deep": dict(hidden_layer_sizes=(256, 128)),
    "skae conv": dict(architecture="conv", conv_channels=(16, 32)),
    "skae sparse": dict(hidden_layer_sizes=(256, 128), sparsity="kl"),
    "skae denoising": dict(
        hidden_layer_sizes=(256, 128), noise="masking", noise_level=0.3
    ),
}
BASELINES = ("raw pixels", "PCA", "t-SNE", "UMAP")
ALL_METHODS = (*BASELINES, *SKAE_VARIANTS)


def _timed(fn: Callable, *args):
    tic = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - tic


def raw_pixels(X_train, X_test, dim, seed, epochs, progress) -> Embedding:
    return Embedding(X_train, X_test, fit_s=0.0, transform_s=0.0)


def pca(X_train, X_test, dim, seed, epochs, progress) -> Embedding:
    model = PCA(n_components=dim, random_state=seed)
    Z_train, fit_s = _timed(model.fit_transform, X_train)
    Z_test, transform_s = _timed(model.transform, X_test)
    recon = model.inverse_transform(Z_test)
    return Embedding(
        Z_train,
        Z_test,
        fit_s,
        transform_s,
        recon_mse=float(np.mean((recon - X_test) ** 2)),
        reconstructions=recon[:N_RECONSTRUCTIONS].astype(np.float32),
    )


def tsne(X_train, X_test, dim, seed, epochs, progress) -> Embedding:
    if dim > 3:
        raise ValueError("t-SNE (Barnes-Hut) supports at most 3 dimensions.")
    model = TSNE(n_components=dim, random_state=seed, init="pca", n_jobs=-1)
    both = np.vstack([X_train, X_test])
    Z, fit_s = _timed(model.fit_transform, both)
    n = len(X_train)
    return Embedding(
        Z[:n],
        Z[n:],
        fit_s,
        transform_s=None,
        transductive=True,
        extra={"params": model.get_params()},
    )


_UMAP_COMPILED: set[bool] = set()
# umap-learn finds exact neighbours below this many rows and switches to
# NN-descent (pynndescent) at or above it; each path compiles its own code.
_UMAP_NNDESCENT_ROWS = 4096


def _warm_up_umap(umap, n_rows: int) -> None:
    """Run UMAP once on throwaway data so numba's one-off JIT compilation
    (minutes on 2 cores) is not charged to the first timed cell. The warm-up
    takes the same neighbour-search path as ``n_rows`` rows will: compiling
    NN-descent for a small run would only cost time (25+ minutes on a slow
    CI machine), and skipping it for a large run would bill it to UMAP."""
    large = n_rows >= _UMAP_NNDESCENT_ROWS
    if large not in _UMAP_COMPILED:
        n = 5000 if large else 300
        X = np.random.default_rng(0).random((n, 30)).astype(np.float32)
        umap.UMAP(n_components=2, random_state=0, n_epochs=5).fit(X).transform(X[:50])
        _UMAP_COMPILED.add(large)


def umap_(X_train, X_test, dim, seed, epochs, progress) -> Embedding:
    import umap

    model = umap.UMAP(n_components=dim, random_state=seed)
    with warnings.catch_warnings():
        # umap warns that random_state disables parallelism: intended here.
        warnings.simplefilter("ignore", UserWarning)
        _warm_up_umap(umap, len(X_train))
        Z_train, fit_s = _timed(model.fit_transform, X_train)
        Z_test, transform_s = _timed(model.transform, X_test)
    return Embedding(Z_train, Z_test, fit_s, transform_s)


def skae_variant(name: str):
    """An embedding function for one skae variant."""

    def run(X_train, X_test, dim, seed, epochs, progress) -> Embedding:
        params = {**SKAE_VARIANTS[name], "n_components": dim}
        if (
            dim > X_train.shape[1]
            and "sparsity" not in params
            and "noise" not in params
        ):
            raise ValueError(f"{name} cannot have a code wider than the input.")
        model = AutoencoderTransformer(
            **params, max_iter=epochs, random_state=seed, verbose=progress is not None
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budget
            _, fit_s = _timed(progress_fit(model, progress), X_train)
        Z_test, transform_s = _timed(model.transform, X_test)
        recon = model.inverse_transform(Z_test[:N_RECONSTRUCTIONS])
        return Embedding(
            model.transform(X_train),
            Z_test,
            fit_s,
            transform_s,
            recon_mse=-model.score(X_test),
            reconstructions=recon,
            history=model.history_,
            extra={"n_iter": model.n_iter_, "params": params},
        )

    return run


def progress_fit(model, progress):
    """``model.fit``, with its per-epoch lines sent to ``progress`` if given."""
    if progress is None:
        return model.fit
    from contextlib import redirect_stdout

    def fit(X):
        with redirect_stdout(progress):
            return model.fit(X)

    return fit


METHODS: dict[str, Callable[..., Embedding]] = {
    "raw pixels": raw_pixels,
    "PCA": pca,
    "t-SNE": tsne,
    "UMAP": umap_,
    **{name: skae_variant(name) for name in SKAE_VARIANTS},
}


def dims_for(method: str, dims: list[int], n_features: int) -> list[int]:
    """The latent dimensions a method is run at."""
    if method == "raw pixels":
        return [n_features]
    if method == "t-SNE":
        return [d for d in dims if d == 2]  # Barnes-Hut's practical limit
    return list(dims)
