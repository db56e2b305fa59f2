"""Fit time, test reconstruction MSE and 5-NN accuracy of each skae variant.

Every variant has ``n_components=32`` and is trained on the first
``--n-train`` MNIST training images, then evaluated on the 10,000 test
images. Run::

    SKAE_DATA=../shared/data python benchmarks/variants.py --epochs 20

Writes a Markdown table to stdout and, with ``--out``, a JSON file.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier

from skae import AutoencoderTransformer
from skae.datasets import fetch_mnist

# The variants as parameter settings of the one estimator.
VARIANTS = {
    "vanilla": dict(hidden_layer_sizes=()),
    "deep": dict(hidden_layer_sizes=(256, 128)),
    "conv": dict(architecture="conv", conv_channels=(16, 32), hidden_layer_sizes=()),
    "sparse (l1)": dict(hidden_layer_sizes=(256, 128), sparsity="l1"),
    "sparse (kl)": dict(hidden_layer_sizes=(256, 128), sparsity="kl"),
    "denoising (masking 0.3)": dict(
        hidden_layer_sizes=(256, 128), noise="masking", noise_level=0.3
    ),
}


def n_parameters(ae: AutoencoderTransformer) -> int:
    return sum(p.numel() for m in (ae.encoder_, ae.decoder_) for p in m.parameters())


def run_variant(name, params, X_train, y_train, X_test, y_test, args) -> dict:
    ae = AutoencoderTransformer(
        n_components=32, max_iter=args.epochs, random_state=args.seed, **params
    )
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budget
        ae.fit(X_train)
    fit_s = time.perf_counter() - tic
    knn = KNeighborsClassifier(n_neighbors=5).fit(ae.transform(X_train), y_train)
    return {
        "variant": name,
        "params": params,
        "n_parameters": n_parameters(ae),
        "epochs": ae.n_iter_,
        "fit_s": round(fit_s, 1),
        "test_mse": round(-ae.score(X_test), 5),
        "knn5_test_accuracy": round(float(knn.score(ae.transform(X_test), y_test)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    X_train, y_train = fetch_mnist(subset="train", return_X_y=True)
    X_test, y_test = fetch_mnist(subset="test", return_X_y=True)
    X_train, y_train = X_train[: args.n_train], y_train[: args.n_train]
    rows = []
    print(
        f"MNIST: {len(X_train)} train, {len(X_test)} test, {args.epochs} epochs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads\n"
    )
    print("| variant | parameters | fit (s) | test MSE | 5-NN test accuracy |")
    print("|---|---:|---:|---:|---:|")
    for name in args.variants:
        row = run_variant(name, VARIANTS[name], X_train, y_train, X_test, y_test, args)
        rows.append(row)
        print(
            f"| {name} | {row['n_parameters']:,} | {row['fit_s']} | "
            f"{row['test_mse']:.5f} | {row['knn5_test_accuracy']:.4f} |",
            flush=True,
        )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
