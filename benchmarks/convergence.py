"""Default and recommended skae models against PCA, UMAP and t-SNE, full protocol.

Fits each method on the first ``--n-train`` training images (all 60,000 by
default), encodes the first ``--n-test`` test images (all 10,000), and scores
the codes by 5-NN accuracy (``KNeighborsClassifier(5)`` fitted on the
training codes) and by the trustworthiness of the test codes (5 neighbours).
Beside them, ``train_knn5_accuracy`` is the 5-NN accuracy among the training
codes themselves (the first 50,000 against the rest): the gap to the test
rows' accuracy is how much a map has learnt its rows rather than a function.
skae models are built with nothing but the settings listed in ``SETTINGS``
and ``random_state``: ``"skae default"`` is
``AutoencoderTransformer(n_components=d, random_state=seed)``. Run::

    SKAE_DATA=../shared/data python benchmarks/convergence.py

and for the 2-D maps of the neighbour-graph term::

    SKAE_DATA=../shared/data python benchmarks/convergence.py --dims 2 \
        --methods 'skae neighbors' 'skae default' UMAP t-SNE \
        --out benchmarks/results/neighbors.json

Every finished (dataset, method, dim) row is appended to ``--out`` at once,
with every parameter the fitted estimator used ("auto" settings resolved), the
processor and the start time of its run
(``run_started``), so an interrupted run resumes where it stopped and any
number can be recomputed from the file alone. ``--rerun-baselines`` fits PCA,
UMAP and t-SNE again, to compare timings within one run. UMAP is run as
users run it: unseeded, so that umap-learn uses all cores (its row states the
thread count); its numba compilation is done once, untimed, before the first
timed fit. t-SNE cannot embed new rows: it embeds train and test together.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from reportkit import environment, methods
from reportkit.data import FETCHERS, load_split
from reportkit.scoring import knn_accuracy, training_rows_accuracy
from reportkit.variants import VARIANTS, named
from sklearn.manifold import trustworthiness

# skae settings compared; each adds only these parameters to the defaults.
# The variants shared with the other scripts come from the one table
# (reportkit.variants), under the names this script's results use.
_SHARED = named(
    {
        "skae default": "deep",
        "skae vanilla": "vanilla",
        "skae sparse l1": "sparse (l1)",
        "skae sparse kl": "sparse (kl)",
        "skae denoising": "denoising (masking 0.3)",
        "skae conv": "conv",
        "skae neighbors": "neighbors",
        "skae neighbors shift": "neighbors shift",
    }
)
_NEIGHBORS = VARIANTS["neighbors"]
SETTINGS: dict[str, dict] = {
    **_SHARED,
    "skae bfloat16": {"precision": "bfloat16"},
    "skae wide": {"hidden_layer_sizes": (512, 256)},
    # Masking as a regulariser for the map's encoder in the term's epochs (the
    # start masks 20% of its inputs either way). With the encoder regressed
    # onto the layout first it did not raise MNIST's 5-NN (neighbors.json);
    # with the start that places rows as UMAP's transform does, it raises
    # Fashion-MNIST's and lowers its trustworthiness, so it is not a default.
    "skae neighbors masking": {**_NEIGHBORS, "noise": "masking"},
    # The "defaults otherwise": unseeded, so that umap-learn's layout
    # runs in parallel, as it does for the unseeded UMAP it is timed against.
    # Its map differs run to run, as UMAP's does.
    "skae neighbors unseeded": {**_NEIGHBORS, "random_state": None},
    # The step budget: four times the epochs max_iter="auto" gives the
    # neighbour term on 60,000 rows (22), to measure what more edge samples buy.
    "skae neighbors 4x steps": {**_NEIGHBORS, "max_iter": 88},
    # The same edge samples in a quarter of the steps: larger batches use the
    # CPU's matrix kernels better.
    "skae neighbors 4x batch": {**_NEIGHBORS, "max_iter": 88, "batch_size": 1024},
    # Encoder capacity: in a prototype on 10,000 digits (2-D, 5,000 steps,
    # 2,000 test digits) the wide encoder raised 5-NN from 0.819 to 0.870.
    "skae neighbors wide": {**_NEIGHBORS, "hidden_layer_sizes": (512, 256)},
    # Fit time against quality at 32-D: max_iter="auto" gives 60,000 rows
    # 11 epochs (about 2,500 steps), which fits in about half of UMAP's time;
    # twice that budget shows what a longer fit buys.
    "skae default max_iter=22": {"max_iter": 22},
    "skae wide max_iter=22": {"hidden_layer_sizes": (512, 256), "max_iter": 22},
}
BASELINES = ("PCA", "UMAP", "t-SNE")


def _row_fields(emb: methods.Embedding, note: str | None = None) -> dict:
    """The fields every method's row has, from its embedding."""
    out = {
        "Z": (emb.train, emb.test),
        "fit_s": emb.fit_s,
        "transform_s": emb.transform_s,
        "test_mse": emb.recon_mse,
        "params": emb.params,
        "threads": emb.threads,
    }
    return out if note is None else {**out, "note": note}


def run_skae(X_train, X_test, dim, seed, extra: dict) -> dict:
    params = {"n_components": dim, **extra}
    warm_rows = methods.warm_up_skae(X_train, params)
    emb = methods.fit_skae(params, X_train, X_test, seed)
    info = emb.extra
    return {
        **_row_fields(emb),
        "n_iter": info["n_iter"],
        "max_iter_resolved": info["max_iter_resolved"],
        "stop_reason": info["stop_reason"],
        "loss_resolved": info["loss_resolved"],
        "loss_curve": [round(v, 6) for v in info["loss_curve"]],
        "warnings": info["warnings"],
        "note": (
            f"one untimed 1-epoch fit and transform on {warm_rows} rows first "
            "(torch/oneDNN warm-up)"
        ),
        "skae_revision": environment.code_revision(),
    }


# The baselines, run as the report runs them (reportkit.methods): UMAP
# unseeded and parallel after a warm-up on the same code paths, t-SNE by
# openTSNE with the test rows placed in the fitted map by its ``transform``.
# (t-SNE rows written before the report switched were scikit-learn's
# Barnes-Hut, fitted on train and test rows together; their note says so.)
_NOTES = {
    "UMAP": "unseeded so that umap-learn runs in parallel, as users run it",
    "t-SNE": "openTSNE: test rows placed in the fitted map with transform",
}
_BASELINE_RUNNERS = {"PCA": methods.pca, "UMAP": methods.umap_, "t-SNE": methods.tsne}


def run_method(method: str, X_train, X_test, dim: int, seed: int) -> dict:
    if method in _BASELINE_RUNNERS:
        emb = _BASELINE_RUNNERS[method](
            X_train, X_test, dim, seed, epochs=None, progress=None
        )
        return _row_fields(emb, _NOTES.get(method))
    return run_skae(X_train, X_test, dim, seed, SETTINGS[method])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--datasets", nargs="+", choices=list(FETCHERS), default=list(FETCHERS)
    )
    p.add_argument(
        "--methods",
        nargs="+",
        choices=[*BASELINES, *SETTINGS],
        default=[*BASELINES, *SETTINGS],
    )
    p.add_argument("--dims", nargs="+", type=int, default=[32])
    p.add_argument("--n-train", type=int, default=60000)
    p.add_argument("--n-test", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/convergence.json")
    )
    p.add_argument(
        "--rerun-baselines",
        action="store_true",
        help="fit PCA, UMAP and t-SNE again even if the file has their rows, so "
        "that every timing compared in one table comes from one run",
    )
    args = p.parse_args(argv)

    results = json.loads(args.out.read_text()) if args.out.exists() else {"rows": []}
    results["environment"] = environment.describe()
    # A skae row is reused only if the same committed code produced it (an
    # edited checkout reruns everything); rows of other revisions stay in the
    # file as history. Baseline rows do not depend on skae and carry none.
    revision = environment.code_revision()
    if revision is None or revision.endswith("+dirty"):
        revision = "uncommitted"
    fields = ("dataset", "method", "dim", "n_train", "n_test", "seed")
    done = {(*(r[f] for f in fields), r.get("skae_revision")) for r in results["rows"]}
    # Rows written by this invocation share its start time: timings are only
    # comparable within one run on a shared machine.
    run_started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    # Per row: the file's environment is the last run's, and a seeded skae
    # map differs from one processor to another (BLAS rounding).
    cpu = results["environment"]["cpu"]
    for dataset in args.datasets:
        X_train, y_train, X_test, y_test = load_split(
            dataset, args.n_train, args.n_test
        )
        for dim in args.dims:
            for method in args.methods:
                code = revision if method in SETTINGS else None
                row_key = (dataset, method, dim, len(X_train), len(X_test), args.seed)
                rerun = args.rerun_baselines and method in BASELINES
                if (*row_key, code) in done and not rerun:
                    continue
                out = run_method(method, X_train, X_test, dim, args.seed)
                Z_train, Z_test = out.pop("Z")
                row = {
                    "dataset": dataset,
                    "method": method,
                    "dim": dim,
                    "n_train": len(X_train),
                    "n_test": len(X_test),
                    "seed": args.seed,
                    "run_started": run_started,
                    "cpu": cpu,
                    "knn5_accuracy": knn_accuracy(Z_train, y_train, Z_test, y_test),
                    # The same among the training codes (generalisation gap).
                    "train_knn5_accuracy": training_rows_accuracy(Z_train, y_train),
                    # Of the test codes, 5 neighbours (O(n_test^2) memory).
                    "trustworthiness5": float(trustworthiness(X_test, Z_test)),
                    **out,
                }
                results["rows"].append(row)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=1) + "\n")
                print(
                    f"{dataset} {method} dim={dim}: 5-NN {row['knn5_accuracy']:.4f}, "
                    f"trustworthiness {row['trustworthiness5']:.4f}, "
                    f"fit {row['fit_s']:.1f}s",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
