"""How each benchmarked method embeds the data.

Every method returns an :class:`Embedding` of the training and test rows,
timed the same way: fitted on the training rows, with ``transform`` of the
test rows timed separately. Each runs at its own default settings and
stopping rule (skae's ``max_iter="auto"``, UMAP's and openTSNE's epoch
schedules), and records its complete parameters and the threads it ran on,
so that any cell can be recomputed from ``results.json`` alone.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info

from skae import AutoencoderTransformer

from .variants import named

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
    params: dict = field(default_factory=dict)
    threads: int | None = None
    seeded: bool = True  # False: the method ran unseeded (UMAP, for parallelism)
    extra: dict = field(default_factory=dict)


def jsonable_params(params: dict) -> dict:
    """``params`` with tuples as lists and anything JSON cannot hold dropped
    (callbacks, generators), so the row can be written and reloaded."""
    out = {}
    for key, value in params.items():
        value = list(value) if isinstance(value, tuple) else value
        try:
            json.dumps(value)
        except TypeError:
            continue
        out[key] = value
    return out


def append_row(path, row: dict) -> None:
    """Append ``row`` to the JSON-lines file ``path``, so an interrupted
    sweep keeps the rows it finished."""
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def blas_threads() -> int | None:
    """Threads of the BLAS that PCA and k-NN run on."""
    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return max(counts) if counts else None


# The skae variants compared in the report, under the names its results use.
SKAE_VARIANTS = named(
    {
        "skae vanilla": "vanilla",
        "skae deep": "deep",
        "skae conv": "conv",
        "skae sparse": "sparse (kl)",
        "skae denoising": "denoising (masking 0.3)",
        "skae variational": "variational",
        "skae neighbors": "neighbors",
        "skae shift": "shift",
        "skae neighbors shift": "neighbors shift",
    }
)
# The neighbour-preserving models (neighbor_weight > 0) are for maps: at 32-D
# the term lowered full MNIST's 5-NN from 0.978 to 0.963 (user guide), so the
# report runs them up to 8-D only, where it helped (0.957 to 0.964).
NEIGHBOR_MAX_DIM = 8
BASELINES = ("raw pixels", "PCA", "t-SNE", "UMAP")
ALL_METHODS = (*BASELINES, *SKAE_VARIANTS)


def timed(fn: Callable, *args, **kwargs):
    """``(fn(*args, **kwargs), seconds)``."""
    tic = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - tic


def decoded(recon: np.ndarray, X_test) -> dict:
    """The reconstruction fields of an :class:`Embedding` from the decoded
    test codes: every decoding method's error is computed the same way."""
    return {
        "recon_mse": float(np.mean((recon - X_test) ** 2)),
        "reconstructions": recon[:N_RECONSTRUCTIONS].astype(np.float32),
    }


def raw_pixels(X_train, X_test, dim, seed, epochs, progress) -> Embedding:
    return Embedding(X_train, X_test, fit_s=0.0, transform_s=0.0)


def pca_model(dim: int, seed: int) -> PCA:
    """PCA as every script fits it."""
    return PCA(n_components=dim, random_state=seed)


def pca(X_train, X_test, dim, seed, epochs, progress) -> Embedding:
    model = pca_model(dim, seed)
    Z_train, fit_s = timed(model.fit_transform, X_train)
    Z_test, transform_s = timed(model.transform, X_test)
    recon = model.inverse_transform(Z_test)
    return Embedding(
        Z_train,
        Z_test,
        fit_s,
        transform_s,
        **decoded(recon, X_test),
        params=jsonable_params(model.get_params()),
        threads=blas_threads(),
    )


def tsne(X_train, X_test, dim, seed, epochs, progress) -> Embedding:
    """openTSNE: FFT-accelerated gradients, and a ``transform`` that places
    new rows in a fitted map, so t-SNE is scored out of sample like the rest."""
    from openTSNE import TSNE

    if dim > 2:
        raise ValueError("t-SNE (openTSNE's FFT gradients) supports 1 or 2 dimensions.")
    model = TSNE(n_components=dim, random_state=seed, n_jobs=-1)
    fitted, fit_s = timed(model.fit, X_train)
    Z_test, transform_s = timed(fitted.transform, X_test)
    return Embedding(
        np.asarray(fitted),
        np.asarray(Z_test),
        fit_s,
        transform_s,
        params=jsonable_params(vars(model)),
        threads=os.cpu_count(),  # n_jobs=-1
    )


_UMAP_COMPILED: set[tuple[bool, bool]] = set()
# umap-learn finds exact neighbours below this many rows and switches to
# NN-descent (pynndescent) at or above it; each path compiles its own code.
_UMAP_NNDESCENT_ROWS = 4096


def _warm_up_umap(umap, X_train, X_test, parallel: bool) -> None:
    """Run UMAP once on a slice of the data so numba's one-off JIT
    compilation (minutes on 2 cores) is not charged to the first timed cell.

    The warm-up takes the same paths as the timed run will. The neighbour
    search: compiling NN-descent for a small run would only cost time (25+
    minutes on a slow CI machine), and skipping it for a large run would
    bill it to UMAP. And the optimiser: unseeded, umap-learn runs parallel
    variants of its layout code, compiled separately from the serial ones
    (a seeded warm-up left the first unseeded MNIST ``transform`` about 11 s
    of compilation: 14.5 s against 3.3 s at the next dimension)."""
    large = len(X_train) >= _UMAP_NNDESCENT_ROWS
    if (large, parallel) not in _UMAP_COMPILED:
        n = 5000 if large else 300
        seed = None if parallel else 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # seeded: serial
            model = umap.UMAP(n_components=2, random_state=seed, n_epochs=5)
            model.fit(X_train[:n]).transform(X_test[:50])
        _UMAP_COMPILED.add((large, parallel))


def umap_(X_train, X_test, dim, seed, epochs, progress) -> Embedding:
    """UMAP as users run it: unseeded, so umap-learn optimises in parallel
    (a ``random_state`` makes it single-threaded); the seed is not used."""
    import numba
    import umap

    model = umap.UMAP(n_components=dim)
    _warm_up_umap(umap, X_train, X_test, parallel=True)
    Z_train, fit_s = timed(model.fit_transform, X_train)
    Z_test, transform_s = timed(model.transform, X_test)
    return Embedding(
        Z_train,
        Z_test,
        fit_s,
        transform_s,
        params=jsonable_params(model.get_params()),
        threads=numba.get_num_threads(),
        seeded=False,
    )


def warm_up_skae(X_train, params: dict) -> int:
    """One untimed epoch with the same layer shapes: a process's first steps
    import parts of torch lazily and let oneDNN generate its kernels (tens of
    seconds here in bfloat16), one-time costs that would otherwise be charged
    to the timed fit and transform, as numba's are for UMAP (whose warm-up
    transforms too). With the neighbour term, on 4,096 rows, so that
    umap-learn's NN-descent is compiled as UMAP's is. Returns the number of
    rows it used, for the record."""
    n_rows = 4096 if params.get("neighbor_weight") else 512
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm = X_train[:n_rows]
        AutoencoderTransformer(**{**params, "max_iter": 1}).fit(warm).transform(warm)
    return len(warm)


def fit_skae(params: dict, X_train, X_test, seed: int, callbacks=None) -> Embedding:
    """Fit ``AutoencoderTransformer(**params)`` and embed both splits.

    Every warning of the fit is recorded (``extra["warnings"]``), not
    printed, along with how training ended.
    """
    # A setting may fix random_state itself (None: an unseeded fit).
    params = {"random_state": seed, **params}
    model = AutoencoderTransformer(**params, callbacks=callbacks)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, fit_s = timed(model.fit, X_train)
    Z_test, transform_s = timed(model.transform, X_test)
    # Decoded codes, as PCA's: for a variational model these are the
    # posterior means, and its score() is an ELBO rather than an error.
    recon = model.inverse_transform(Z_test)
    return Embedding(
        model.transform(X_train),
        Z_test,
        fit_s,
        transform_s,
        **decoded(recon, X_test),
        history=model.history_,
        # The values the fit used, its "auto" settings resolved (what
        # save_model records), so that a row reruns the same model even
        # after an "auto" rule changes.
        params=jsonable_params(model._fit_params_),
        threads=torch.get_num_threads(),
        extra={
            "n_iter": model.n_iter_,
            "max_iter_resolved": model.max_iter_,
            "stop_reason": model.stop_reason_,
            "loss_resolved": model.reconstruction_loss_,
            "loss_curve": list(model.loss_curve_),
            "warnings": sorted({type(w.message).__name__ for w in caught}),
            "convergence_warning": any(
                issubclass(w.category, ConvergenceWarning) for w in caught
            ),
        },
    )


def skae_variant(name: str):
    """An embedding function for one skae variant of the report."""

    def run(X_train, X_test, dim, seed, epochs, progress) -> Embedding:
        params = {**SKAE_VARIANTS[name], "n_components": dim}
        if (
            dim > X_train.shape[1]
            and "sparsity" not in params
            and "noise" not in params
        ):
            raise ValueError(f"{name} cannot have a code wider than the input.")
        if params.get("neighbor_weight"):
            import umap

            # The graph and layout's JIT code; seeded, skae's layout is serial.
            _warm_up_umap(umap, X_train, X_test, parallel=False)
        # Its own stopping rule (max_iter="auto") unless --epochs asks for one.
        params["max_iter"] = "auto" if epochs is None else epochs
        callbacks = None if progress is None else [progress]
        return fit_skae(params, X_train, X_test, seed, callbacks)

    return run


# The class each method's ``params`` belong to, for recomputing a cell.
METHOD_ESTIMATORS = {
    "PCA": "sklearn.decomposition.PCA",
    "t-SNE": "openTSNE.TSNE",
    "UMAP": "umap.UMAP",
    **{name: "skae.AutoencoderTransformer" for name in SKAE_VARIANTS},
}
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
        return [d for d in dims if d == 2]  # openTSNE's FFT gradients: 1-D or 2-D
    if SKAE_VARIANTS.get(method, {}).get("neighbor_weight", 0) > 0:
        return [d for d in dims if d <= NEIGHBOR_MAX_DIM]
    return list(dims)
