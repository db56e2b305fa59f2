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
  ``convergence.py``), and the same in-sample split as the layout's;
- ``frozen_decoder``: a decoder trained on the (masked) start's codes with
  the encoder frozen, through ``AutoencoderTransformer(encoder=...)``: its
  time and test MSE, to compare with a full fit, whose term's epochs train
  the encoder and the decoder together (the map keeps the start's 5-NN);
- ``repulsion``: for each ``--repulsion`` value, umap-learn's layout with that
  ``repulsion_strength`` (``fit`` uses 1), its in-sample 5-NN, and the
  masked start trained on it (with the fit's term, UMAP's default
  repulsion).

The full fit (start plus term) is measured by ``convergence.py``
('skae neighbors'). Run::

    SKAE_DATA=../shared/data python benchmarks/neighbor_start.py

Rows go to ``--out`` (``benchmarks/results/neighbor_start.json``) with the
constants used, the thread count and the code revision. The repelled
layouts of ``neighbor_start_repulsion.json`` come from::

    SKAE_DATA=../shared/data python benchmarks/neighbor_start.py --repulsion 4 \
        --out benchmarks/results/neighbor_start_repulsion.json
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
from reportkit.methods import decoded, timed
from reportkit.scoring import knn_accuracy, training_rows_accuracy

from skae import AutoencoderTransformer
from skae._auto import LARGE_DATA
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
    """A fresh encoder of the shape a neighbour model gets (dense, GELU): the
    large-data hidden layers, which ``hidden_layer_sizes="auto"`` gives it at
    every size."""
    torch.manual_seed(seed)
    sizes = [n_features, *LARGE_DATA["hidden_layer_sizes"], model.n_components]
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


def _start(model, X_train, y_train, X_test, y_test, layout, graph, masking, seed):
    """The encoder's start on ``layout``: its time, and the 5-NN of the codes."""
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
    scores = {
        "masking": masking,
        "start_s": start_s,
        "knn5_accuracy": knn_accuracy(Z_train, y_train, Z_test, y_test),
        "split_knn5_accuracy": training_rows_accuracy(Z_train, y_train),
    }
    return encoder, scores


def _frozen_decoder(encoder, X_train, X_test, seed: int) -> dict:
    """A decoder trained on the started encoder's codes, the encoder frozen.

    What the term's epochs would cost and give if they trained the decoder
    only: ``AutoencoderTransformer(encoder=...)`` trains a copy of a user
    encoder, and a copy of one without trainable parameters stays as it is.
    """
    encoder.requires_grad_(False)  # its last use: the start is finished
    model = AutoencoderTransformer(
        n_components=encoder[-1].out_features, encoder=encoder, random_state=seed
    )
    _, decoder_s = timed(model.fit, X_train)
    recon = model.inverse_transform(model.transform(X_test))
    return {
        "decoder_s": decoder_s,
        "n_iter": model.n_iter_,
        # The error as every decoding method's in the report and convergence.py.
        "test_mse": decoded(recon, X_test)["recon_mse"],
    }


def run(dataset: str, dim: int, seed: int, repulsions: list[float]) -> dict:
    X_train, y_train, X_test, y_test = load_split(dataset, 60000, 10000)
    model = AutoencoderTransformer(n_components=dim, neighbor_weight=1.0)
    graph, graph_s = timed(fuzzy_graph, X_train, model.n_neighbors, seed + 2)
    start, spectral_s = timed(spectral_start, X_train, graph, dim, seed + 3)
    layout, layout_s = timed(umap_layout, X_train, graph, start, seed + 4)
    # What an unseeded fit runs instead (not reproducible: threads race).
    _, layout_parallel_s = timed(
        umap_layout, X_train, graph, start, seed + 4, parallel=True
    )
    data = (X_train, y_train, X_test, y_test)
    starts, encoders = [], {}
    for masking in (0.0, START_MASKING):
        encoders[masking], scores = _start(model, *data, layout, graph, masking, seed)
        starts.append(scores)
    # The fit's start (masked) with a decoder trained on its frozen codes.
    frozen = _frozen_decoder(encoders[START_MASKING], X_train, X_test, seed)
    # Stronger repulsion in the layout, the encoder started on each (masked).
    repelled = []
    for strength in repulsions:
        other, other_s = timed(
            umap_layout,
            X_train,
            graph,
            start,
            seed + 4,
            repulsion_strength=strength,
        )
        _, scores = _start(model, *data, other, graph, START_MASKING, seed)
        repelled.append(
            {
                "repulsion_strength": strength,
                "layout_s": other_s,
                "layout_split_knn5_accuracy": training_rows_accuracy(other, y_train),
                "start": scores,
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
        "frozen_decoder": frozen,
        "repulsion": repelled,
        "constants": {
            "warm_start_steps": START_STEPS,
            "warm_start_batch": START_BATCH,
            "learning_rate": model.learning_rate_init,
            "hidden_layer_sizes": list(LARGE_DATA["hidden_layer_sizes"]),
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
        "--repulsion",
        nargs="*",
        type=float,
        default=[],
        help="other repulsion_strength values for the layout (fit uses 1)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/neighbor_start.json")
    )
    args = p.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's and umap-learn's chatter
        _warm_up()
        rows = []
        for dataset in args.datasets:
            rows.append(run(dataset, args.dim, args.seed, args.repulsion))
            r, frozen = rows[-1], rows[-1]["frozen_decoder"]
            print(
                f"{dataset}: graph {r['graph_s']:.1f}s, spectral {r['spectral_s']:.1f}s, "
                f"layout {r['layout_s']:.1f}s (parallel {r['layout_parallel_s']:.1f}s, split 5-NN "
                f"{r['layout_split_knn5_accuracy']:.4f}); "
                + "; ".join(
                    f"masking {g['masking']}: {g['start_s']:.1f}s, 5-NN "
                    f"{g['knn5_accuracy']:.4f} (split {g['split_knn5_accuracy']:.4f})"
                    for g in r["starts"]
                )
                + f"; frozen decoder: {frozen['decoder_s']:.1f}s, test MSE "
                f"{frozen['test_mse']:.4f}; "
                + "; ".join(
                    f"repulsion {g['repulsion_strength']}: layout {g['layout_s']:.1f}s, "
                    f"split 5-NN {g['layout_split_knn5_accuracy']:.4f}, start 5-NN "
                    f"{g['start']['knn5_accuracy']:.4f}"
                    for g in r["repulsion"]
                ),
                flush=True,
            )
    out = {"rows": rows, "environment": environment.describe()}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
