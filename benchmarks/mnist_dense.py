"""Fit and transform time of the deep dense model on all of MNIST.

Trains ``AutoencoderTransformer(n_components=32, hidden_layer_sizes=(256, 128))``
for a fixed number of epochs on the 60,000 training images, encodes both
splits and reports the 5-NN test accuracy of the codes. Run::

    SKAE_DATA=../shared/data python benchmarks/mnist_dense.py --epochs 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import torch
from reportkit.data import load_split
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier

from skae import AutoencoderTransformer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="optional JSON output path")
    args = parser.parse_args()

    X_train, y_train, X_test, y_test = load_split("mnist", args.n_train)
    ae = AutoencoderTransformer(
        n_components=32,
        hidden_layer_sizes=(256, 128),
        max_iter=args.epochs,
        random_state=args.seed,
        device=args.device,
    )
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budget
        ae.fit(X_train)
    fit_s = time.perf_counter() - tic
    tic = time.perf_counter()
    Z_train = ae.transform(X_train)
    transform_s = time.perf_counter() - tic
    Z_test = ae.transform(X_test)
    knn = KNeighborsClassifier(n_neighbors=5).fit(Z_train, y_train)
    result = {
        "n_train": len(X_train),
        "epochs": ae.n_iter_,
        "fit_s": round(fit_s, 2),
        "transform_train_s": round(transform_s, 3),
        "test_mse": round(-ae.score(X_test), 5),
        "knn5_test_accuracy": round(float(knn.score(Z_test, y_test)), 4),
        "torch_threads": torch.get_num_threads(),
        "device": str(next(ae.encoder_.parameters()).device),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
