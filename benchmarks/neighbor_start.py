"""The neighbour term's start, phase by phase: time, and what each phase is worth.

``AutoencoderTransformer(neighbor_weight > 0).fit`` builds umap-learn's fuzzy
graph, its spectral layout and umap-learn's optimised layout, regresses the
encoder onto that layout, and only then trains the term with the
reconstruction. A fit reports one time and one map; this script runs the
same phases with skae's own functions and constants (which is why it reaches
into private modules) and records, for each dataset:

- the seconds of each phase (after an untimed numba warm-up), and of the
  parallel layout an unseeded fit runs instead;
- the 5-NN accuracy of umap-learn's layout itself, from its first 50,000
  training rows to the other 10,000 (in-sample: the layout has no encoder);
- for the regression with and without input masking: 5-NN from the encoded
  training rows to the 10,000 encoded test rows (the full protocol, as in
  ``convergence.py``), and the same in-sample split as the layout's.

The full fit (start plus term) is measured by ``convergence.py``
('skae neighbors'). Run::

    SKAE_DATA=../shared/data python benchmarks/neighbor_start.py

Rows go to ``--out`` (``benchmarks/results/neighbor_start.json``) with the
constants used, the thread count and the code revision.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from reportkit import environment
from reportkit.data import load_split
from reportkit.methods import timed
from reportkit.scoring import knn_accuracy
from sklearn.utils import check_random_state

from skae import AutoencoderTransformer
from skae import _neighbor_setup as setup
from skae._corruption import corrupt
from skae._data import RowSource, map_batches
from skae._neighbors import fuzzy_graph, spectral_start, umap_layout
from skae._training import fit_codes

N_SPLIT = 50_000  # in-sample split: first rows fit the 5-NN, the rest score it


def _split_accuracy(Z, y) -> float:
    n = min(N_SPLIT, len(Z) * 5 // 6)
    return knn_accuracy(Z[:n], y[:n], Z[n:], y[n:])


def _warm_up() -> None:
    """Compile umap-learn's numba kernels (NN-descent, the serial layout)."""
    warm = np.random.default_rng(0).random((5000, 30)).astype(np.float32)
    graph = fuzzy_graph(warm, 15, 0)
    start = spectral_start(warm, graph, 2, 0)
    umap_layout(warm, graph, start, 0)
    umap_layout(warm, graph, start, 0, parallel=True)


def _encode(encoder, X, dim: int) -> np.ndarray:
    encoder.eval()
    return map_batches(encoder, X, dim, 4096, torch.device("cpu"))


def run(dataset: str, dim: int, seed: int) -> dict:
    X_train, y_train, X_test, y_test = load_split(dataset, 60000, 10000)
    model = AutoencoderTransformer(n_components=dim, neighbor_weight=1.0)
    # The estimator's own seed stream (AutoencoderTransformer._fit).
    fit_seed = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
    graph, graph_s = timed(fuzzy_graph, X_train, model.n_neighbors, fit_seed + 2)
    start, spectral_s = timed(spectral_start, X_train, graph, dim, fit_seed + 3)
    layout, layout_s = timed(umap_layout, X_train, graph, start, fit_seed + 4)
    source = RowSource(X_train, torch.device("cpu"))
    # What an unseeded fit runs instead (not reproducible: threads race).
    _, layout_parallel_s = timed(
        umap_layout, X_train, graph, start, fit_seed + 4, parallel=True
    )
    steps = setup.START_STEPS
    regressions = []
    for masking in (0.0, setup.START_MASKING):
        net, _ = model._build_network(X_train.shape[1], fit_seed, "bce")
        mask_gen = torch.Generator().manual_seed(fit_seed + 5)
        _, regress_s = timed(
            fit_codes,
            net.encoder,
            source,
            torch.as_tensor(layout),
            steps,
            setup.START_BATCH,
            model.learning_rate_init,
            torch.Generator().manual_seed(fit_seed),
            corrupt=lambda b, m=masking, g=mask_gen: corrupt(b, "masking", m, g),
        )
        Z_train = _encode(net.encoder, X_train, dim)
        Z_test = _encode(net.encoder, X_test, dim)
        regressions.append(
            {
                "masking": masking,
                "regress_s": regress_s,
                "knn5_accuracy": knn_accuracy(Z_train, y_train, Z_test, y_test),
                "split_knn5_accuracy": _split_accuracy(Z_train, y_train),
            }
        )
    return {
        "dataset": dataset,
        "dim": dim,
        "seed": seed,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "graph_s": graph_s,
        "spectral_s": spectral_s,
        "layout_s": layout_s,
        "layout_parallel_s": layout_parallel_s,
        "layout_split_knn5_accuracy": _split_accuracy(layout, y_train),
        "regressions": regressions,
        "constants": {
            "warm_start_steps": steps,
            "warm_start_batch": setup.START_BATCH,
            "learning_rate": model.learning_rate_init,
            "hidden_layer_sizes": list(model.hidden_layer_sizes),
            "activation": model.activation,
            "n_neighbors": model.n_neighbors,
        },
        "threads": torch.get_num_threads(),
        "skae_revision": environment.code_revision(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    p.add_argument("--dim", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/neighbor_start.json")
    )
    args = p.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's and umap-learn's chatter
        _warm_up()
        rows = []
        for dataset in args.datasets:
            rows.append(run(dataset, args.dim, args.seed))
            r = rows[-1]
            print(
                f"{dataset}: graph {r['graph_s']:.1f}s, spectral {r['spectral_s']:.1f}s, "
                f"layout {r['layout_s']:.1f}s (parallel {r['layout_parallel_s']:.1f}s, split 5-NN "
                f"{r['layout_split_knn5_accuracy']:.4f}); "
                + "; ".join(
                    f"masking {g['masking']}: {g['regress_s']:.1f}s, 5-NN "
                    f"{g['knn5_accuracy']:.4f} (split {g['split_knn5_accuracy']:.4f})"
                    for g in r["regressions"]
                ),
                flush=True,
            )
    out = {"rows": rows, "environment": environment.describe()}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
