"""The steps of the neighbour-graph term, one by one, for inspection and research.

``AutoencoderTransformer(neighbor_weight > 0).fit(X)`` runs these steps in
order before its training epochs, with the seeds and settings of the fit:

1. :func:`fuzzy_graph`: UMAP's fuzzy k-nearest-neighbour graph of the rows
   (umap-learn's own functions);
2. :func:`spectral_start`: the graph's spectral layout, at UMAP's scale;
3. :func:`umap_layout`: umap-learn's optimised layout from that start;
4. :func:`fit_encoder_to_layout`: the encoder trained to place each row
   where UMAP would place it as a new row of that layout, with a share of
   its inputs masked (and, for ``noise="shift"``, its images shifted).

The functions are the ones ``fit`` calls, exposed so that each step can be
timed or its result examined (``benchmarks/neighbor_start.py`` does both).
Use the estimator to train a model.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from ._corruption import Corruption
from ._data import RowSource
from ._inputs import check_block
from ._neighbors import (
    START_BATCH,
    START_MASKING,
    START_STEPS,
    EdgeSampler,
    fuzzy_graph,
    spectral_start,
    start_encoder,
    umap_layout,
)
from ._networks import resolve_image_shape
from ._validation import check_shift

__all__ = [
    "START_BATCH",
    "START_MASKING",
    "START_STEPS",
    "fit_encoder_to_layout",
    "fuzzy_graph",
    "spectral_start",
    "umap_layout",
]


def fit_encoder_to_layout(
    encoder: torch.nn.Module,
    X,
    layout,
    graph,
    *,
    steps: int = START_STEPS,
    masking: float = START_MASKING,
    batch_size: int = START_BATCH,
    learning_rate: float = 6e-3,
    seed: int = 0,
    shift: int = 0,
    image_shape: tuple[int, ...] | None = None,
) -> torch.nn.Module:
    """Train ``encoder`` in place to place rows in ``layout``, as ``fit`` starts it.

    ``steps`` Adam steps, the rate annealed along half a cosine. Each step
    draws ``batch_size`` edges of ``graph`` by strength and applies UMAP's
    cross-entropy between the codes of the heads (a fraction ``masking`` of
    their inputs set to 0) and the layout's fixed positions of the tails:
    the objective UMAP's ``transform`` optimises for a new row.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps float32 batches ``(n, n_features)`` to ``(n, n_components)``,
        on the CPU; trained in place.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        The rows of the layout.
    layout : array-like of shape (n_samples, n_components)
        Positions of the rows at UMAP's scale, e.g. from :func:`umap_layout`.
    graph : scipy.sparse matrix of shape (n_samples, n_samples)
        The rows' fuzzy graph, from :func:`fuzzy_graph`.
    steps, masking, batch_size, learning_rate : optional
        The start's budget and settings; the defaults are ``fit``'s.
    seed : int, default=0
        Seeds the shifts and masking (``seed``) and the edges (``seed + 1``).
    shift : int, default=0
        Translate each batch's images by up to this many whole pixels along
        each axis before the masking, as ``fit`` does with ``noise="shift",
        noise_level=shift``; 0 leaves them in place.
    image_shape : tuple of int, default=None
        The rows' image shape for ``shift``, as the estimator's
        ``image_shape`` (None: square one-channel images).

    Returns
    -------
    torch.nn.Module
        ``encoder``, trained.
    """
    check_block(X)
    n_samples = X.shape[0]
    layout = np.asarray(layout, dtype=np.float32)
    if layout.ndim != 2 or layout.shape[0] != n_samples:
        raise ValueError(
            f"layout must have one row per row of X ({n_samples}), got shape "
            f"{layout.shape}."
        )
    if not sp.issparse(graph) or graph.shape != (n_samples, n_samples):
        raise ValueError(
            f"graph must be a sparse ({n_samples}, {n_samples}) matrix (from "
            f"fuzzy_graph), got {type(graph).__name__} of shape "
            f"{getattr(graph, 'shape', None)}."
        )
    if not 0 <= masking < 1:
        raise ValueError(f"masking must be in [0, 1), got {masking!r}.")
    augment = None
    if shift:
        shape = resolve_image_shape(image_shape, X.shape[1], "shift")
        check_shift(shift, shape, "shift")
        augment = Corruption("shift", shift, image_shape=shape)
    source = RowSource(X, torch.device("cpu"))
    sampler = EdgeSampler(sp.coo_matrix(graph))
    start_encoder(
        encoder,
        source,
        layout,
        sampler,
        steps,
        learning_rate,
        seed,
        masking,
        batch_size,
        augment,
    )
    return encoder
