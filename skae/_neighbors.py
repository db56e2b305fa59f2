"""The neighbour-graph term, whole: UMAP's fuzzy graph, sampled edges, the
cross-entropy, and the encoder's start from umap-learn's layout.

Reconstruction alone does not keep neighbourhoods in a 2-D code. Parametric
UMAP (Sainburg, McInnes & Gentner 2021) adds UMAP's objective on the codes:
edges of the fuzzy k-nearest-neighbour graph of the training rows should be
short in the code space, random pairs long. The graph comes from umap-learn
(its fuzzy simplicial set over pynndescent neighbours), built once per fit;
this module samples its edges and scores the codes. With ``neighbor_weight
> 0``, :func:`neighbor_term` builds the graph, lays it out as UMAP does (its
spectral layout, then umap-learn's optimiser), trains the encoder to place
rows in that layout as UMAP's ``transform`` places new ones, and returns the
term, which the trainer sees only as a
:class:`~skae._training.PairTerm`. It knows nothing about scikit-learn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from ._corruption import corrupt
from ._data import RowSource
from ._training import warm_start
from ._warnings import warn_user

# As UMAP does, exact neighbours below this many rows: brute force is quick
# there, and it spares the numba compilation of nearest-neighbour descent
# (minutes on a 2-core machine, once per process).
_EXACT_KNN_BELOW = 4096
# UMAP's curve for min_dist=0.1, spread=1.0 (its defaults), from
# umap.umap_.find_ab_params: a code distance d has edge probability
# 1 / (1 + a * d**(2 * b)).
_MIN_DIST, _SPREAD = 0.1, 1.0
# Added to squared distances before the log, as UMAP's own gradient adds
# 0.001, so that coinciding codes repel with a finite force.
_DIST_EPS = 1e-3
# UMAP scales its spectral initialisation to this largest absolute coordinate
# before optimising; its edge curve (a, b) is fitted to distances of that order.
_START_EXTENT = 10.0


def fuzzy_graph(X, n_neighbors: int, seed: int) -> sp.coo_matrix:
    """UMAP's symmetric fuzzy k-NN graph of the rows of ``X`` (Euclidean).

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Training rows.
    n_neighbors : int
        Neighbourhood size, each row counted as its own first neighbour (as
        in UMAP).
    seed : int
        Seeds nearest-neighbour descent (used from ``_EXACT_KNN_BELOW`` rows).

    Returns
    -------
    scipy.sparse.coo_matrix of shape (n_samples, n_samples)
        Membership strengths in (0, 1]; no explicit zeros.

    Raises
    ------
    ValueError
        If X has fewer than 2 rows. An ``n_neighbors`` above the number of
        rows is lowered to it with a warning, as UMAP does.
    """
    # umap-learn imports numba and compiles on first use: import it only when
    # a model actually asks for the neighbour term.
    from umap.umap_ import fuzzy_simplicial_set, nearest_neighbors

    n_samples = X.shape[0]
    if n_samples < 2:
        raise ValueError(
            "The neighbour term (neighbor_weight > 0) needs at least 2 training "
            f"samples; got n_samples={n_samples}."
        )
    if n_neighbors > n_samples:
        # UMAP's behaviour: a neighbourhood cannot hold more rows than exist.
        warn_user(
            f"n_neighbors={n_neighbors} exceeds the {n_samples} training samples; "
            f"using n_neighbors={n_samples}."
        )
        n_neighbors = n_samples
    random_state = np.random.RandomState(seed)
    if n_samples < _EXACT_KNN_BELOW:
        from sklearn.neighbors import NearestNeighbors

        dists, indices = NearestNeighbors(n_neighbors=n_neighbors).fit(X).kneighbors(X)
    else:
        indices, dists, _ = nearest_neighbors(
            X, n_neighbors, "euclidean", {}, False, random_state
        )
    graph, _, _ = fuzzy_simplicial_set(
        X,
        n_neighbors,
        random_state,
        "euclidean",
        knn_indices=indices,
        knn_dists=dists,  # fuzzy_simplicial_set casts to float32 itself
    )
    graph = graph.tocoo()
    graph.eliminate_zeros()
    return graph


def spectral_start(
    X, graph: sp.coo_matrix, n_components: int, seed: int
) -> np.ndarray | None:
    """UMAP's spectral layout of ``graph``: a start for the codes, or None.

    The leading non-trivial eigenvectors of the graph's normalised Laplacian
    place rows of one dense region together from the first step, which a
    randomly initialised encoder only reaches after thousands of steps of the
    neighbour term (UMAP starts its own optimisation here for the same
    reason). Scaled so that its largest absolute coordinate is
    ``_START_EXTENT``, UMAP's scale.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        The rows of the graph; umap-learn only reads them to place the
        connected components of a disconnected graph relative to each other.
    graph : scipy.sparse.coo_matrix of shape (n_samples, n_samples)
        The fuzzy graph from :func:`fuzzy_graph`.
    n_components : int
        Dimension of the layout (the code size).
    seed : int
        Seeds the eigensolver's start.

    Returns
    -------
    ndarray of shape (n_samples, n_components), float32, or None
        None when the graph has too few rows for that many eigenvectors
        (``n_samples <= n_components + 2``): the encoder then starts from its
        random initialisation.
    """
    from umap.spectral import spectral_layout

    if graph.shape[0] <= n_components + 2:
        return None
    layout = spectral_layout(
        X, graph.tocsr(), n_components, np.random.RandomState(seed)
    )
    extent = np.abs(layout).max()
    if not np.isfinite(extent) or extent == 0:
        return None
    return (layout * (_START_EXTENT / extent)).astype(np.float32)


def umap_layout(
    X,
    graph: sp.coo_matrix,
    start: np.ndarray,
    seed: int,
    parallel: bool = False,
    repulsion_strength: float = 1.0,
) -> np.ndarray:
    """umap-learn's own optimised layout of ``graph``, from ``start``.

    A target for the encoder's warm start. Unfolding a map with the
    parametric term alone takes far more optimiser steps than a 2-core CPU
    gives in a minute (on full MNIST 5,000 steps of 256 edges reached 2-D
    5-NN 0.909, four times as many 0.926), while umap-learn's numba
    optimiser moves each training row directly and needs no network pass.
    Its layout is what the encoder then learns to reproduce as a function of
    the inputs.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        The rows of the graph (umap-learn reads only their number here).
    graph : scipy.sparse.coo_matrix of shape (n_samples, n_samples)
        The fuzzy graph from :func:`fuzzy_graph`; not modified.
    start : ndarray of shape (n_samples, n_components)
        Starting layout, e.g. from :func:`spectral_start`.
    seed : int
        Seeds the negative sampling.
    parallel : bool, default=False
        Run umap-learn's parallel optimiser: about twice as fast on 2 cores
        (11-16 s against 22 s on MNIST's graph, benchmarks/neighbor_start.py),
        but its threads race, so the layout differs run to run. As UMAP
        does, for unseeded fits only.
    repulsion_strength : float, default=1.0
        Weight of the negative samples in umap-learn's optimiser (UMAP's
        ``repulsion_strength``); ``fit`` uses UMAP's default, 1. Larger
        values push rows further apart, within clusters and between them: a
        step from UMAP towards t-SNE along the attraction-repulsion spectrum
        (Böhm, Berens & Kobak, 2022). ``benchmarks/neighbor_start.py``
        measures what that gives the map.

    Returns
    -------
    ndarray of shape (n_samples, n_components), float32
        Centred on the origin, at UMAP's scale (the scale of ``edge_curve``).
    """
    from umap.umap_ import simplicial_set_embedding

    if not isinstance(repulsion_strength, Real) or isinstance(repulsion_strength, bool):
        raise TypeError(
            "repulsion_strength must be a real number, got "
            f"{type(repulsion_strength).__name__}."
        )
    if not repulsion_strength > 0:
        raise ValueError(
            f"repulsion_strength must be positive, got {repulsion_strength!r}."
        )
    a, b = edge_curve()
    # UMAP's own epoch rule: 500 for small graphs, 200 from 10,000 rows.
    n_epochs = 500 if graph.shape[0] <= 10_000 else 200
    layout, _ = simplicial_set_embedding(
        X,
        graph.copy(),  # umap-learn prunes weak edges of its argument in place
        start.shape[1],
        1.0,  # initial learning rate, UMAP's default
        a,
        b,
        float(repulsion_strength),
        5,  # negative samples per positive, UMAP's default
        n_epochs,
        start,
        np.random.RandomState(seed),
        "euclidean",
        {},
        False,  # no densMAP
        {},
        False,
        parallel=parallel,
    )
    return (layout - layout.mean(axis=0)).astype(np.float32)


@functools.cache
def edge_curve() -> tuple[float, float]:
    """UMAP's ``(a, b)`` for its default ``min_dist`` and ``spread``.

    Cached: a fit asks for it twice (the layout and the term), and
    umap-learn finds it by a least-squares curve fit.
    """
    from umap.umap_ import find_ab_params

    a, b = find_ab_params(_SPREAD, _MIN_DIST)
    return float(a), float(b)


class EdgeSampler:
    """Draws graph edges with probability proportional to membership strength.

    UMAP visits each edge a number of times proportional to its strength; a
    minibatch trainer gets the same expectation by sampling edges with that
    probability, through a binary search in the cumulative strengths.
    """

    def __init__(self, graph: sp.coo_matrix) -> None:
        if graph.nnz == 0:
            raise ValueError("The neighbour graph has no edges.")
        self.head = torch.as_tensor(graph.row, dtype=torch.int64)
        self.tail = torch.as_tensor(graph.col, dtype=torch.int64)
        cdf = np.cumsum(graph.data, dtype=np.float64)
        self._cdf = torch.as_tensor(cdf / cdf[-1])

    @property
    def n_edges(self) -> int:
        return len(self.head)

    def sample(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` edges as (heads, tails): CPU int64 row indices."""
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        k = torch.searchsorted(self._cdf, u).clamp_(max=self.n_edges - 1)
        return self.head[k], self.tail[k]


@dataclass(frozen=True)
class NeighborTerm:
    """UMAP's cross-entropy between the graph and the codes of sampled edges.

    Each sampled edge (head, tail) is a positive pair. Every head is also a
    negative pair with every *other* tail of the batch (tails are drawn by
    strength, so close to uniformly over rows); their mean cost counts
    ``negative_sample_rate`` times, UMAP's expected number of negatives per
    positive. Using all ``n * (n - 1)`` pairs rather than ``rate`` random
    ones costs no extra forward pass and gives a lower-variance repulsion:
    on 10,000 MNIST digits it raised 2-D 5-NN from 0.67 to 0.71 at the same
    2,000 steps. A pair at code distance ``d`` has probability
    ``q = 1 / (1 + a d^(2b))``; positives cost ``-log q``, negatives
    ``-log(1 - q)``; the result is the per-pair average times ``weight``.
    """

    sampler: EdgeSampler
    weight: float
    a: float
    b: float
    negative_sample_rate: int = 5

    def __call__(
        self, head_code: torch.Tensor, tail_code: torch.Tensor
    ) -> torch.Tensor:
        n = head_code.shape[0]
        # -log q = softplus(t) and -log(1 - q) = softplus(-t), with
        # t = log(a d^(2b)): both stay finite for any distance.
        positive = ((head_code - tail_code) ** 2).sum(dim=1)
        cost = F.softplus(self._log_odds(positive)).mean()
        if n > 1:
            pairwise = _pairwise_squared_distances(head_code, tail_code)
            negative = F.softplus(-self._log_odds(pairwise))
            # The off-diagonal mean as the whole sum less the diagonal: a
            # boolean-mask selection copied the n x n matrix and scattered
            # its gradient back, more than doubling the term's cost per step
            # (4.6 ms against 1.9 ms for 512 2-D pairs on 2 CPU cores).
            off_diagonal = negative.sum() - negative.diagonal().sum()
            cost = cost + self.negative_sample_rate * off_diagonal / (n * (n - 1))
        return self.weight * cost / (1 + self.negative_sample_rate)

    def sample(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` edges of the graph as ``(heads, tails)`` row indices (the
        trainer's :class:`~skae._training.PairTerm` interface)."""
        return self.sampler.sample(n, generator)

    def _log_odds(self, squared: torch.Tensor) -> torch.Tensor:
        """``log(a d^(2b))`` from squared distances: the log-odds of *no* edge."""
        return np.log(self.a) + self.b * torch.log(squared + _DIST_EPS)


def _pairwise_squared_distances(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``n x m`` squared distances between the rows of ``u`` and ``v``.

    Through ``|u|^2 + |v|^2 - 2 u.v``, so memory is ``n x m`` rather than the
    ``n x m x d`` of broadcast differences (gigabytes for a 4,096-edge batch
    of 32-D codes). Its rounding error, about 1e-6 of the squared norms, can
    make it slightly negative (clamped at 0) and only matters for
    near-coinciding negatives, whose repulsion ``_DIST_EPS`` bounds anyway.
    """
    squared = (u * u).sum(dim=1, keepdim=True) + (v * v).sum(dim=1) - 2 * u @ v.T
    return squared.clamp(min=0)


# ---------------------------------------------------------------- a fit's set-up
# neighbor_weight multiplies UMAP's per-pair cross-entropy by this, so that
# neighbor_weight=1.0 weighs the graph term ten times the per-pixel
# reconstruction loss. On 10,000 MNIST digits, 2-D, 2,000 steps, 2,000 test
# digits (5-NN): relative reconstruction weight 1 gave 0.71, 0.1 gave 0.79,
# 0 (graph term alone, no decoder) 0.79: at 0.1 the map is as good as
# without reconstruction while the decoder still trains.
NEIGHBOR_SCALE = 10.0
# The encoder's warm start (start_encoder): 3,000 steps of 512 edges (26
# epochs of 60,000 rows), with 20% of each row's inputs masked. A budget in
# steps, as for max_iter="auto". Full data, 2-D, seed 0, 5-NN of the 10,000
# encoded test images (benchmarks/neighbor_start.py): regressed onto each
# row's own layout position, the encoder reached 0.928 on MNIST and 0.725
# on Fashion-MNIST (neighbor_start.json at 3dd2591); trained as UMAP's
# transform places new rows, 0.944 and 0.736, for 25-27 s against the
# regression's 12-17 s. Without the masking, 0.938 and 0.735.
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
    settings,
    seed: int,
) -> NeighborTerm:
    """The graph term over ``X[train_rows]`` (all rows when None), after
    warm-starting ``encoder`` in place onto umap-learn's layout of the graph.

    ``settings`` is the plan's :class:`~skae._fit_plan.NeighborSettings`. The
    graph's row i is ``source``'s row i. Seeds ``seed + 2`` to ``seed + 6``
    drive the graph, the spectral start, the layout, and the encoder start's
    masking and batches (:func:`start_encoder`); ``settings.parallel`` runs umap-learn's parallel
    optimiser, which is not reproducible (UMAP itself runs it when unseeded).
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X)  # COO cannot be indexed by rows
    if train_rows is not None:
        X = X[train_rows.numpy()]
    graph = fuzzy_graph(X, settings.n_neighbors, seed + 2)
    sampler = EdgeSampler(graph)
    start = spectral_start(X, graph, settings.n_components, seed + 3)
    if start is not None:
        layout = umap_layout(X, graph, start, seed + 4, parallel=settings.parallel)
        start_encoder(
            encoder,
            source,
            layout,
            sampler,
            settings.start_steps,
            settings.learning_rate,
            seed + 5,
            augment=settings.start_augment,
        )
    return NeighborTerm(sampler, NEIGHBOR_SCALE * settings.weight, *edge_curve())


def start_encoder(
    encoder: torch.nn.Module,
    source: RowSource,
    layout: np.ndarray,
    sampler: EdgeSampler,
    steps: int,
    learning_rate: float,
    seed: int,
    masking: float = START_MASKING,
    batch_size: int = START_BATCH,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
) -> None:
    """Train ``encoder`` in place to place each row of ``source`` as UMAP
    places an unseen row in a finished ``layout``.

    Each step draws ``batch_size`` edges from ``sampler`` and scores, with
    the neighbour term at weight 1, the codes of the heads against the
    layout's *fixed* positions of the tails: attracted to the tail of their
    own edge, repelled from the batch's other tails. This is the objective
    UMAP's own ``transform`` optimises for new rows; an encoder trained on
    it, rather than regressed onto each row's own position, learns where a
    row's neighbours lie and snaps rows between clusters to one of them
    (measured beside :data:`START_STEPS`).
    ``masking`` of each batch's inputs set to 0 makes the encoder a smoother
    function of its input, which places unseen rows better. ``augment``
    (``noise="shift"``'s corruption), when given, transforms each batch
    before the masking. Seeds ``seed`` (augmentation and masking) and
    ``seed + 1`` (edges).
    """
    term = NeighborTerm(sampler, 1.0, *edge_curve())
    anchors = torch.as_tensor(layout, device=source.device)
    mask_gen = torch.Generator(device=source.device).manual_seed(seed)
    edge_gen = torch.Generator().manual_seed(seed + 1)

    def batch_loss() -> torch.Tensor:
        heads, tails = term.sample(batch_size, edge_gen)
        inputs = source.take(heads)
        if augment is not None:
            inputs = augment(inputs, mask_gen)
        inputs = corrupt(inputs, "masking", masking, mask_gen)
        return term(encoder(inputs), anchors[tails.to(anchors.device)])

    warm_start(encoder, steps, learning_rate, batch_loss)
