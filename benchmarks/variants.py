"""Every skae variant on the full protocol: neighbourhoods, and each doing its job.

Each variant is fitted with its defaults (``max_iter="auto"``: the same
budget of about 2,500 optimiser steps for all) on all 60,000 training images
at every ``--dims``, then scored on the 10,000 test images by

- 5-NN accuracy of the codes (``KNeighborsClassifier(5)`` on the training
  codes), the number the "within 0.02 of the deep model" rule is about;
- Hoyer sparsity of the test codes (what the sparse variants are for: 0 when
  every unit is equally active, 1 when one is) and their mean (the KL
  penalty's sigmoid codes aim for a mean of ``sparsity_target``, 0.05);
- reconstruction MSE of the clean test images and of the test images with
  ``--mask`` of their pixels zeroed, against the clean images (what the
  denoising variant is for).

PCA is fitted alongside as a reference. Run::

    SKAE_DATA=../shared/data python benchmarks/variants.py

Every row stores the estimator's full parameters, the seed, the data sizes,
the thread count and the git revision; rows are appended to ``--out`` as
they finish, so an interrupted run keeps what it measured. Fit times are for
orientation: ``convergence.py`` times the defaults against PCA and UMAP.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from reportkit import environment
from reportkit.data import FETCHERS, load_split
from reportkit.methods import append_row, jsonable_params, pca_model
from reportkit.render import variants_markdown
from reportkit.scoring import knn_accuracy
from reportkit.variants import VARIANTS
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer

# The variants are the shared table's (reportkit.variants), under its names.
# The neighbour model is a choice but not a default: it is for 2-D maps
# (convergence.py measures it), and this file's rows predate it.
DEFAULT_VARIANTS = [name for name in VARIANTS if name != "neighbors"]


def hoyer_sparsity(Z: np.ndarray) -> float:
    """Hoyer's measure per row, averaged; scale-free, so shrinking codes
    does not count as sparsifying them."""
    n = Z.shape[1]
    ratio = np.abs(Z).sum(1) / (np.sqrt((Z**2).sum(1)) + 1e-12)
    return float(np.mean((np.sqrt(n) - ratio) / (np.sqrt(n) - 1)))


def masked(X: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """X with ``fraction`` of its entries zeroed (a fixed draw per seed)."""
    keep = np.random.default_rng(seed).random(X.shape) >= fraction
    return (X * keep).astype(X.dtype)


def _model(name: str, dim: int, seed: int):
    if name == "PCA":
        return pca_model(dim, seed)
    return AutoencoderTransformer(n_components=dim, random_state=seed, **VARIANTS[name])


def run(dataset: str, name: str, dim: int, args) -> dict:
    X, y, X_test, y_test = load_split(dataset, args.n_train, args.n_test)
    model = _model(name, dim, args.seed)
    tic = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X)
    fit_s = time.perf_counter() - tic
    Z_test = model.transform(X_test)
    corrupted = masked(X_test, args.mask, args.seed)
    restored = model.inverse_transform(model.transform(corrupted))
    row = {
        "dataset": dataset,
        "variant": name,
        "dim": dim,
        "seed": args.seed,
        "n_train": len(X),
        "n_test": len(X_test),
        "knn5_accuracy": round(knn_accuracy(model.transform(X), y, Z_test, y_test), 4),
        "hoyer_sparsity": round(hoyer_sparsity(Z_test), 4),
        # What the KL penalty targets (sparsity_target) in its sigmoid codes.
        "mean_code": round(float(Z_test.mean()), 4),
        "test_mse": float(np.mean((model.inverse_transform(Z_test) - X_test) ** 2)),
        "masked_test_mse": float(np.mean((restored - X_test) ** 2)),
        "mask_fraction": args.mask,
        "fit_s": round(fit_s, 1),
        "threads": torch.get_num_threads(),
        "convergence_warning": any(
            issubclass(w.category, ConvergenceWarning) for w in caught
        ),
        "params": jsonable_params(model.get_params()),
        "estimator": type(model).__name__,
        "skae_revision": environment.code_revision(),
    }
    if name != "PCA":
        row.update(n_iter=model.n_iter_, stop_reason=model.stop_reason_)
    if getattr(model, "variational", False):
        # The mean evidence lower bound of the test images, in nats.
        row["test_elbo"] = round(model.score(X_test), 2)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", choices=list(FETCHERS), default=["mnist"]
    )
    parser.add_argument("--dims", nargs="+", type=int, default=[2, 8, 32])
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=["PCA", *VARIANTS],
        default=["PCA", *DEFAULT_VARIANTS],
    )
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mask", type=float, default=0.3, help="masked fraction")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/variants.jsonl")
    )
    args = parser.parse_args(argv)
    rows = []
    for dataset in args.datasets:
        for dim in args.dims:
            for name in args.variants:
                row = run(dataset, name, dim, args)
                rows.append(row)
                print(
                    json.dumps({k: v for k, v in row.items() if k != "params"}),
                    flush=True,
                )
                append_row(args.out, row)
    print(variants_markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
