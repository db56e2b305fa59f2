"""The neighbour term's start, phase by phase: time, and what each phase is worth.

``AutoencoderTransformer(neighbor_weight > 0).fit`` builds umap-learn's fuzzy
graph, its spectral layout and umap-learn's optimised layout, trains the
encoder to place each row where UMAP would place it in that layout, and only
then trains the term with the reconstruction. A fit reports one time and
one map; this script runs the same phases with the functions and constants
``fit`` uses, exposed in :mod:`skae.neighbors`, and records, for each
dataset:

- the seconds of each phase (after an untimed numba warm-up), and of the
  parallel layout an unseeded fit runs instead;
- the 5-NN accuracy of umap-learn's layout itself, from its first 50,000
  training rows to the other 10,000 (in-sample: the layout has no encoder);
- for the encoder's start with and without input masking: 5-NN from the encoded
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
import itertools
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from reportkit import environment
from reportkit.data import load_split
from reportkit.methods import timed
from reportkit.scoring import knn_accuracy, training_rows_accuracy

from skae import AutoencoderTransformer
from skae.neighbors import (
    START_BATCH,
    START_MASKING,
    START_STEPS,
    fit_encoder_to_layout,
    fuzzy_graph,
    spectral_start,
    umap_layout,
)


def _warm_up() -> None:
    """Compile umap-learn's numba kernels (NN-descent, the serial layout)."""
    warm = np.random.default_rng(0).random((5000, 30)).astype(np.float32)
    graph = fuzzy_graph(warm, 15, 0)
    start = spectral_start(warm, graph, 2, 0)
    umap_layout(warm, graph, start, 0)
    umap_layout(warm, graph, start, 0, parallel=True)


def _encoder(model: AutoencoderTransformer, n_features: int, seed: int):
    """A fresh encoder of the estimator's default shape (dense, GELU)."""
    torch.manual_seed(seed)
    sizes = [n_features, *model.hidden_layer_sizes, model.n_components]
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.GELU())
    return torch.nn.Sequential(*layers)


def _encode(encoder, X) -> np.ndarray:
    encoder.eval()
    with torch.inference_mode():
        return np.concatenate(
            [
                encoder(torch.from_numpy(X[i : i + 4096])).numpy()
                for i in range(0, len(X), 4096)
            ]
        )


def run(dataset: str, dim: int, seed: int) -> dict:
    X_train, y_train, X_test, y_test = load_split(dataset, 60000, 10000)
    model = AutoencoderTransformer(n_components=dim, neighbor_weight=1.0)
    graph, graph_s = timed(fuzzy_graph, X_train, model.n_neighbors, seed + 2)
    start, spectral_s = timed(spectral_start, X_train, graph, dim, seed + 3)
    layout, layout_s = timed(umap_layout, X_train, graph, start, seed + 4)
    # What an unseeded fit runs instead (not reproducible: threads race).
    _, layout_parallel_s = timed(
        umap_layout, X_train, graph, start, seed + 4, parallel=True
    )
    starts = []
    for masking in (0.0, START_MASKING):
        encoder = _encoder(model, X_train.shape[1], seed)
        _, start_s = timed(
            fit_encoder_to_layout,
            encoder,
            X_train,
            layout,
            graph,
            masking=masking,
            learning_rate=model.learning_rate_init,
            seed=seed + 5,
        )
        Z_train = _encode(encoder, X_train)
        Z_test = _encode(encoder, X_test)
        starts.append(
            {
                "masking": masking,
                "start_s": start_s,
                "knn5_accuracy": knn_accuracy(Z_train, y_train, Z_test, y_test),
                "split_knn5_accuracy": training_rows_accuracy(Z_train, y_train),
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
        "layout_split_knn5_accuracy": training_rows_accuracy(layout, y_train),
        "starts": starts,
        "constants": {
            "warm_start_steps": START_STEPS,
            "warm_start_batch": START_BATCH,
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
                    f"masking {g['masking']}: {g['start_s']:.1f}s, 5-NN "
                    f"{g['knn5_accuracy']:.4f} (split {g['split_knn5_accuracy']:.4f})"
                    for g in r["starts"]
                ),
                flush=True,
            )
    out = {"rows": rows, "environment": environment.describe()}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
