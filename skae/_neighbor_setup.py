"""Setting up a fit's neighbour-graph term: the graph, and the encoder's start.

With ``neighbor_weight > 0``, ``fit`` builds umap-learn's fuzzy graph of the
training rows, lays it out as UMAP does (the graph's spectral layout, then
umap-learn's optimiser), regresses the encoder onto that layout and hands
the loop the term it adds to each step (:class:`~skae._neighbors.NeighborTerm`).
This module only composes those pieces (``_neighbors`` for the graph and the
term, ``_training.fit_codes`` for the regression); the estimator decides
whether the term is on and with which settings.
"""

from __future__ import annotations

import scipy.sparse as sp
import torch

from ._corruption import corrupt
from ._data import RowSource
from ._neighbors import (
    EdgeSampler,
    NeighborTerm,
    edge_curve,
    fuzzy_graph,
    spectral_start,
    umap_layout,
)
from ._training import fit_codes

# neighbor_weight multiplies UMAP's per-pair cross-entropy by this, so that
# neighbor_weight=1.0 weighs the graph term ten times the per-pixel
# reconstruction loss. On 10,000 MNIST digits, 2-D, 2,000 steps, 2,000 test
# digits (5-NN): relative reconstruction weight 1 gave 0.71, 0.1 gave 0.79,
# 0 (graph term alone, no decoder) 0.79: at 0.1 the map is as good as
# without reconstruction while the decoder still trains.
NEIGHBOR_SCALE = 10.0
# The encoder's warm start: regressed onto umap-learn's optimised layout of
# the graph for 3,000 steps of 512 rows (26 epochs of 60,000 rows), with 20%
# of each row's inputs masked. A budget in steps, as for max_iter="auto": in
# a prototype on 3,000 MNIST digits, 150 steps (the 25 epochs of an earlier
# rule) gave held-out 2-D 5-NN 0.731 before the term's epochs and 3,000
# steps 0.801 (UMAP: 0.812; 1,000 test digits). Full MNIST, 2-D
# (benchmarks/neighbor_start.py): the regressed encoder places its training
# rows about as well as the layout (5-NN among them 0.964, the layout's own
# 0.971) and unseen rows worse, 0.934; masking makes it a smoother function
# of its input: 0.937 (Fashion-MNIST 0.724 to 0.730). With the term's 11
# epochs after it, the fit reaches 0.945, where the earlier start (500 steps
# onto the spectral layout, then 5,000 steps of the term) reached 0.909.
START_STEPS = 3000
START_BATCH = 512
START_MASKING = 0.2


def start_steps(max_iter: int | str, auto_epochs: int) -> int:
    """The warm start's budget in steps for a fit of ``max_iter`` epochs.

    An explicit ``max_iter`` below ``auto_epochs`` (what ``"auto"`` would
    give) shrinks it in proportion, so that ``max_iter`` bounds the whole
    fit (a one-epoch smoke test stays quick); ``"auto"`` or more keeps the
    measured :data:`START_STEPS`.
    """
    if max_iter == "auto":
        return START_STEPS
    share = int(max_iter) / auto_epochs
    return max(1, min(START_STEPS, round(START_STEPS * share)))


def neighbor_term(
    X,
    train_rows: torch.Tensor | None,
    encoder: torch.nn.Module,
    source: RowSource,
    generator: torch.Generator,
    *,
    n_components: int,
    weight: float,
    n_neighbors: int,
    seed: int,
    parallel: bool,
    start_steps: int,
    learning_rate: float,
) -> NeighborTerm:
    """The graph term over ``X[train_rows]`` (all rows when None), after
    warm-starting ``encoder`` (codes of ``n_components``) in place onto
    umap-learn's layout of the graph.

    The graph's row i is ``source``'s row i. Seeds ``seed + 2`` to
    ``seed + 5`` drive the graph, the spectral start, the layout and the
    masking; ``parallel`` runs umap-learn's parallel optimiser, which is not
    reproducible (UMAP itself runs it when unseeded).
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X)  # COO cannot be indexed by rows
    if train_rows is not None:
        X = X[train_rows.numpy()]
    graph = fuzzy_graph(X, n_neighbors, seed + 2)
    start = spectral_start(X, graph, n_components, seed + 3)
    if start is not None:
        layout = umap_layout(X, graph, start, seed + 4, parallel=parallel)
        mask_gen = torch.Generator(device=source.device).manual_seed(seed + 5)
        fit_codes(
            encoder,
            source,
            torch.as_tensor(layout, device=source.device),
            start_steps,
            START_BATCH,
            learning_rate,
            generator,
            corrupt=lambda batch: corrupt(batch, "masking", START_MASKING, mask_gen),
        )
    a, b = edge_curve()
    return NeighborTerm(EdgeSampler(graph), NEIGHBOR_SCALE * weight, a, b)
