"""The defaults against PCA as the training set shrinks: 5-NN at 8, 16, 32-D.

For each dataset, training-set size (``--sizes``, the first rows of the
60,000 training images) and code size (``--dims``), fits PCA and every
setting in ``--settings`` (the estimator's defaults unless given), encodes
the 10,000 test images and scores the codes by 5-NN accuracy
(``KNeighborsClassifier(5)`` fitted on the training codes). Each row stores
the estimator's full parameters, the seed, the sizes and the git revision,
and is appended to ``--out`` as it finishes. Run::

    SKAE_DATA=../shared/data python benchmarks/small_data.py
    SKAE_DATA=../shared/data python benchmarks/small_data.py --sizes 2000 \\
        --settings 'masking 0.2={"noise": "masking", "noise_level": 0.2}'

A quality sweep, not a timing benchmark: ``fit_s`` is for orientation.
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
from reportkit.methods import append_row, jsonable_params, pca_model
from reportkit.scoring import knn_accuracy
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer


def _setting(text: str) -> tuple[str, dict]:
    """``name={...}`` on the command line: a label (which may hold "=") and
    estimator parameters as a JSON object; a bare name means the defaults."""
    name, brace, params = text.partition("={")
    return name, json.loads(brace[1:] + params) if brace else {}


def skae_model(X, dim: int, params: dict, seed: int):
    """This script's model: the estimator with ``params`` over its defaults."""
    return AutoencoderTransformer(n_components=dim, random_state=seed, **params), {}


def scored_row(model, data, fit_s: float, seed: int) -> dict:
    """What every sweep row records about a fitted ``model``."""
    X, y, X_test, y_test = data
    row = {
        "n_train": len(X),
        "n_test": len(X_test),
        "seed": seed,
        "knn5_accuracy": round(
            knn_accuracy(model.transform(X), y, model.transform(X_test), y_test), 4
        ),
        "fit_s": round(fit_s, 1),
        "threads": torch.get_num_threads(),
        "params": jsonable_params(model.get_params()),
        "estimator": type(model).__name__,
        "skae_revision": environment.code_revision(),
    }
    if hasattr(model, "n_iter_"):
        row.update(n_iter=model.n_iter_, max_iter=model.max_iter_)
    return row


def sweep(args, make_model) -> None:
    """Fit PCA (unless ``args.no_pca``) and ``make_model(X, dim, params,
    seed) -> (unfitted model, extra row fields)`` for every setting of
    ``args.settings``, size and dimension; print each row and append it to
    ``args.out``."""
    settings = ([] if args.no_pca else [("PCA", None)]) + args.settings
    for dataset in args.datasets:
        for n_train in args.sizes:
            data = load_split(dataset, n_train, args.n_test)
            for dim in args.dims:
                for name, params in settings:
                    if params is None:
                        model, extra = pca_model(dim, args.seed), {}
                    else:
                        model, extra = make_model(data[0], dim, params, args.seed)
                    tic = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        model.fit(data[0])
                    fit_s = time.perf_counter() - tic
                    row = {"dataset": dataset, "setting": name, "dim": dim, **extra}
                    row.update(scored_row(model, data, fit_s, args.seed))
                    print(
                        json.dumps({k: v for k, v in row.items() if k != "params"}),
                        flush=True,
                    )
                    append_row(args.out, row)


def arguments(description: str, sizes, settings, out: str, argv=None):
    """The command line every small-data sweep shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--datasets", nargs="+", choices=list(FETCHERS), default=list(FETCHERS)
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=sizes)
    parser.add_argument("--dims", nargs="+", type=int, default=[8, 16, 32])
    parser.add_argument(
        "--settings",
        nargs="*",
        type=_setting,
        default=settings,
        help="name={JSON} of estimator parameters (a bare name: no changes); "
        "none: PCA's rows only",
    )
    parser.add_argument("--no-pca", action="store_true", help="skip the PCA rows")
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(out))
    args = parser.parse_args(argv)
    if args.no_pca and not args.settings:
        parser.error("nothing to run: --no-pca and no --settings")
    return args


def main(argv=None) -> int:
    args = arguments(
        __doc__.splitlines()[0],
        sizes=[2000, 5000, 60000],
        settings=[("defaults", {})],
        out="benchmarks/results/small_data.jsonl",
        argv=argv,
    )
    sweep(args, skae_model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
