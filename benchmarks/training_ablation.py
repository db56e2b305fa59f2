"""Which training settings give good codes: one skae setting per line.

Each positional argument is ``tag|dataset|n_train|params``: ``params`` is a
Python dict literal of :class:`skae.AutoencoderTransformer` parameters (added
to ``random_state=0``, which they may override), or ``pcaN`` for PCA with N
components. Every setting is fitted on the first ``n_train`` training
images and scored by 5-NN accuracy of the codes of all 10,000 test images;
one JSON line per setting is appended to ``--out``. The rows in
``benchmarks/results/training_ablation_10k.jsonl`` chose this package's
training defaults (loss, schedule, peak rate, step budget); for example::

    SKAE_DATA=../shared/data python benchmarks/training_ablation.py \\
        "pca|mnist|10000|pca32" \\
        "bce-auto-3e3|mnist|10000|{'n_components': 32, 'learning_rate_init': 3e-3}"

Timings in that file are not comparable with each other: they were taken
while other work ran on the same 2-core machine. Its rows marked
``"output_bias_init": false`` ran before the decoder's output bias started at
the feature means (today's code always does); the first rows there are the
measurement that motivated it.

``benchmarks/results/small_data_2k.jsonl`` holds the small-data rows of the
FAQ (2,000 training digits at 16-D, PCA against the defaults and one change
to them per row; the tags and parameters are in the file)::

    SKAE_DATA=../shared/data python benchmarks/training_ablation.py \\
        --out benchmarks/results/small_data_2k.jsonl "pca16|mnist|2000|pca16" \\
        "defaults|mnist|2000|{'n_components': 16}" \\
        "linear|mnist|2000|{'n_components': 16, 'hidden_layer_sizes': ()}"
"""

from __future__ import annotations

import argparse
import ast
import json
import time
import warnings

from reportkit import environment
from reportkit.data import load_split
from reportkit.methods import append_row, pca_model
from reportkit.scoring import knn_accuracy

from skae import AutoencoderTransformer

# This script's dataset names (kept: its result files use them).
FETCHERS = {"mnist": "mnist", "fashion": "fashion-mnist"}


def run(tag: str, dataset: str, n_train: int, spec: str) -> dict:
    X_train, y_train, X_test, y_test = load_split(FETCHERS[dataset], n_train)
    extra: dict = {}
    tic = time.perf_counter()
    if spec.startswith("pca"):
        model = pca_model(int(spec[3:] or 32), seed=0)
        Z_train = model.fit_transform(X_train)
        fit_s = time.perf_counter() - tic
    else:
        model = AutoencoderTransformer(**{"random_state": 0, **ast.literal_eval(spec)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X_train)
        fit_s = time.perf_counter() - tic
        Z_train = model.transform(X_train)
        extra = {
            "n_iter": model.n_iter_,
            "stop": model.stop_reason_,
            "mse": -model.score(X_test),
            "last_losses": [round(v, 5) for v in model.loss_curve_[-3:]],
        }
    accuracy = knn_accuracy(Z_train, y_train, model.transform(X_test), y_test)
    return {
        "tag": tag,
        "ds": dataset,
        "n": n_train,
        "params": spec,
        "acc": round(float(accuracy), 4),
        "fit_s": round(fit_s, 1),
        "skae_revision": environment.code_revision(),
        **extra,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="tag|dataset|n_train|params")
    parser.add_argument("--out", default="training_ablation.jsonl")
    args = parser.parse_args(argv)
    for line in args.settings:
        tag, dataset, n_train, spec = line.split("|")
        row = run(tag, dataset, int(n_train), spec)
        print(json.dumps(row), flush=True)
        append_row(args.out, row)


if __name__ == "__main__":
    main()
