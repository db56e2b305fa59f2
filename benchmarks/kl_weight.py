"""The KL sparsity weight on the full protocol: how sparse, at what cost.

``sparsity="kl"`` aims the mean activation of each sigmoid code unit at
``sparsity_target`` (0.05). For each ``--weights`` value this script fits
``AutoencoderTransformer(n_components=--dim, sparsity="kl",
sparsity_weight=w)`` (defaults otherwise) on all 60,000 training images and
records the mean code activation on the 10,000 test images and the 5-NN
accuracy of the codes; a negative weight stands for the plain deep model
without the penalty, the reference of the "5-NN within 0.01 of deep" rule.
Run::

    SKAE_DATA=../shared/data python benchmarks/kl_weight.py

Each row holds the estimator's full parameters, the seed, the data sizes,
the thread count and the code revision, appended to ``--out`` as it
finishes.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch
from reportkit import environment
from reportkit.data import load_split
from reportkit.methods import append_row, jsonable_params
from reportkit.scoring import knn_accuracy
from reportkit.variants import VARIANTS
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer


def run(dataset: str, dim: int, weight: float, seed: int) -> dict:
    X, y, X_test, y_test = load_split(dataset)
    variant = "sparse (kl)" if weight >= 0 else "deep"
    params = {**VARIANTS[variant], "n_components": dim, "random_state": seed}
    if weight >= 0:
        params["sparsity_weight"] = weight
    model = AutoencoderTransformer(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tic = time.perf_counter()
        model.fit(X)
        fit_s = time.perf_counter() - tic
    Z, Z_test = model.transform(X), model.transform(X_test)
    return {
        "dataset": dataset,
        "variant": variant,
        "params": jsonable_params(model.get_params()),
        "n_train": len(X),
        "n_test": len(X_test),
        "mean_activation": float(Z_test.mean()),
        "knn5_accuracy": knn_accuracy(Z, y, Z_test, y_test),
        "fit_s": fit_s,
        "threads": torch.get_num_threads(),
        "skae_revision": environment.code_revision(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["mnist"])
    p.add_argument("--dim", type=int, default=32)
    p.add_argument(
        "--weights", nargs="+", type=float, default=[-1, 0.015, 0.06, 0.2, 0.6]
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/kl_weight.jsonl")
    )
    args = p.parse_args(argv)
    for dataset in args.datasets:
        for weight in args.weights:
            row = run(dataset, args.dim, weight, args.seed)
            print(
                f"{dataset} weight {weight:g}: mean activation "
                f"{row['mean_activation']:.3f}, 5-NN {row['knn5_accuracy']:.4f}",
                flush=True,
            )
            append_row(args.out, row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
