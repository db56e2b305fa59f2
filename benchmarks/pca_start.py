"""A prototype for small data: an autoencoder that starts as PCA.

Issue 35 asks for defaults that never lose to PCA's 5-NN at 8, 16 and 32-D
from 2,000 rows up. This script tests one candidate through the public API
(user ``encoder`` and ``decoder`` modules), before anything is built in:

- the encoder is ``W (x - mean) + r(x)`` and the decoder
  ``W^T z + mean + s(z)``, where ``W`` starts as PCA's components fitted on
  the training rows and the residual networks ``r`` and ``s`` (the default
  ``(256, 128)`` widths) have zero-initialised last layers, so the model
  starts exactly as PCA does and training moves it only where that lowers
  the loss;
- trained with the squared error (``loss="mse"``: a BCE decoder would put a
  sigmoid after the PCA reconstruction, and the start would not be PCA);
- with the settings of ``--settings`` (e.g. masking noise, a shorter budget).

PCA is fitted alongside. Each row stores the settings, sizes, seed and git
revision, appended to ``--out``. Run::

    SKAE_DATA=../shared/data python benchmarks/pca_start.py --sizes 2000

A quality sweep, not a timing benchmark.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch
from reportkit import environment
from reportkit.data import FETCHERS, load_split
from reportkit.methods import jsonable_params, pca_model
from reportkit.scoring import knn_accuracy
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from small_data import _setting
from torch import nn

from skae import AutoencoderTransformer

HIDDEN = (256, 128)


def _residual(sizes: list[int]) -> nn.Sequential:
    """GELU layers through ``sizes`` whose last layer starts at zero."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.GELU())
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


class PCAStartEncoder(nn.Module):
    """``W (x - mean) + r(x)``, with ``W`` PCA's components and ``r`` zero at
    the start."""

    def __init__(self, pca: PCA) -> None:
        super().__init__()
        components = torch.as_tensor(pca.components_, dtype=torch.float32)
        k, d = components.shape
        self.register_buffer("mean", torch.as_tensor(pca.mean_, dtype=torch.float32))
        self.linear = nn.Linear(d, k, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(components)
        self.residual = _residual([d, *HIDDEN, k])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x - self.mean) + self.residual(x)


class PCAStartDecoder(nn.Module):
    """``W^T z + mean + s(z)``, with ``s`` zero at the start."""

    def __init__(self, pca: PCA) -> None:
        super().__init__()
        components = torch.as_tensor(pca.components_, dtype=torch.float32)
        k, d = components.shape
        self.linear = nn.Linear(k, d)
        with torch.no_grad():
            self.linear.weight.copy_(components.T)
            self.linear.bias.copy_(torch.as_tensor(pca.mean_, dtype=torch.float32))
        self.residual = _residual([k, *HIDDEN[::-1], d])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z) + self.residual(z)


def run(dataset: str, n_train: int, dim: int, name: str, params, args) -> dict:
    X, y, X_test, y_test = load_split(dataset, n_train, args.n_test)
    tic = time.perf_counter()
    if params is None:
        model = pca_model(dim, args.seed).fit(X)
    else:
        pca = pca_model(dim, args.seed).fit(X)
        torch.manual_seed(args.seed)  # the residual networks' first layers
        model = AutoencoderTransformer(
            n_components=dim,
            loss="mse",
            encoder=PCAStartEncoder(pca),
            decoder=PCAStartDecoder(pca),
            random_state=args.seed,
            **params,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
    fit_s = time.perf_counter() - tic
    return {
        "dataset": dataset,
        "setting": name,
        "start": None if params is None else "pca-residual",
        "residual_hidden": None if params is None else list(HIDDEN),
        "dim": dim,
        "n_train": len(X),
        "n_test": len(X_test),
        "seed": args.seed,
        "knn5_accuracy": round(
            knn_accuracy(model.transform(X), y, model.transform(X_test), y_test), 4
        ),
        "fit_s": round(fit_s, 1),
        "threads": torch.get_num_threads(),
        "params": jsonable_params(model.get_params()),
        "estimator": type(model).__name__,
        "skae_revision": environment.code_revision(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", choices=list(FETCHERS), default=list(FETCHERS)
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[2000, 5000])
    parser.add_argument("--dims", nargs="+", type=int, default=[8, 16, 32])
    parser.add_argument(
        "--settings",
        nargs="+",
        type=_setting,
        default=[
            ("pca start", {}),
            ("pca start, 80 epochs", {"max_iter": 80}),
            (
                "pca start, masking 0.2, 80 epochs",
                {"noise": "masking", "noise_level": 0.2, "max_iter": 80},
            ),
        ],
        help="name={JSON} of estimator parameters",
    )
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/pca_start.jsonl")
    )
    args = parser.parse_args(argv)
    for dataset in args.datasets:
        for n_train in args.sizes:
            for dim in args.dims:
                for name, params in [("PCA", None), *args.settings]:
                    row = run(dataset, n_train, dim, name, params, args)
                    print(
                        json.dumps({k: v for k, v in row.items() if k != "params"}),
                        flush=True,
                    )
                    with args.out.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
