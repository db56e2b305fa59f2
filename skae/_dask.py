"""Dask arrays in and out: validation, block-streamed training, blockwise inference.

Nothing here imports Dask at module level: an array can only be a Dask array
once the caller has imported ``dask.array``, so :func:`is_dask_array` looks
in ``sys.modules`` and ``import skae`` never pays for Dask.

Training reads one block at a time (computed by whatever scheduler is
active: threads, or a ``distributed`` cluster) and shuffles rows within it,
visiting blocks in a fresh random order each epoch; memory holds one block,
not X. Inference maps the fitted estimator over the blocks lazily, with the
estimator wrapped in a single :func:`dask.delayed` key so that each worker
receives (and unpickles) it once, however many blocks it encodes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import torch

from ._data import Summary, _to_tensor, batch_slices, combine_stats, slice_stats
from ._inputs import check_block


def is_dask_array(X) -> bool:
    """Whether ``X`` is a :class:`dask.array.Array` (without importing Dask)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(X, module.Array)


def check_dask_array(X, n_features: int | None, estimator_name: str, name="X"):
    """Refuse Dask arrays the estimator cannot stream, naming the problem.

    ``n_features`` is the fitted feature count (None when fitting anew).
    """
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D Dask array for {name}, got {X.ndim} dimension(s) "
            f"with shape {X.shape}."
        )
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) or np.issubdtype(
        X.dtype, np.complexfloating
    ):
        raise TypeError(
            f"{name} is a Dask array of dtype {X.dtype}; a real numeric dtype is "
            "needed."
        )
    # scikit-learn's own messages for in-memory arrays (check_array).
    for axis, what in ((0, "sample(s)"), (1, "feature(s)")):
        if X.shape[axis] < 1:
            raise ValueError(
                f"Found array with 0 {what} (shape={X.shape}) while a minimum of "
                f"1 is required by {estimator_name}."
            )
    if len(X.chunks[1]) != 1:
        raise ValueError(
            f"{name} is a Dask array chunked along its columns (column chunks "
            f"{X.chunks[1]}); every block must hold whole rows. Rechunk it with "
            f"{name}.rechunk({{1: -1}})."
        )
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but {estimator_name} is expecting "
            f"{n_features} features as input."
        )
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            f"{name} is a Dask array with unknown row chunk sizes; call "
            f"{name}.compute_chunk_sizes() first."
        )
    return X


def summarize_blocks(X, name: str = "X") -> Summary:
    """:func:`skae._data.summarize` for a Dask array: one pass over its blocks.

    Each block is checked as the in-memory scan checks its slices, so NaN,
    infinities and out-of-range float64 values get the same errors.
    """
    import dask

    blocks = X.to_delayed().ravel()
    stats = dask.compute(*[dask.delayed(slice_stats)(b, name) for b in blocks])
    return combine_stats(stats, X.shape[0], X.shape[1])


class BlockSource:
    """Training rows from a Dask array, one computed block at a time.

    Offers :meth:`epoch` like :class:`skae._data.RowSource`; batches carry
    over block boundaries, so an epoch has the steps of in-memory data
    (:func:`skae._data.batch_slices`).
    """

    def __init__(self, X, device: torch.device, name: str = "X") -> None:
        self._blocks = X.to_delayed().ravel()
        self.n_samples = int(X.shape[0])
        self.device = device
        self._name = name

    def epoch(
        self, batch_size: int, shuffle: bool, generator: torch.Generator
    ) -> Iterator[tuple[torch.Tensor, None]]:
        n_blocks = len(self._blocks)
        order = (
            torch.randperm(n_blocks, generator=generator)
            if shuffle
            else torch.arange(n_blocks)
        )
        # Batches as for in-memory rows, filled across block boundaries.
        sizes = [s.stop - s.start for s in batch_slices(self.n_samples, batch_size)]
        pending, k = [], 0
        for b in order.tolist():
            block = np.asarray(self._blocks[b].compute())
            check_block(block, self._name)
            block = block.astype(np.float32, copy=False)
            if shuffle:
                block = block[torch.randperm(len(block), generator=generator).numpy()]
            pending.append(block)
            rows = np.concatenate(pending) if len(pending) > 1 else block
            start = 0
            while k < len(sizes) and len(rows) - start >= sizes[k]:
                yield _to_tensor(rows[start : start + sizes[k]], self.device), None
                start, k = start + sizes[k], k + 1
            pending = [rows[start:]]


def _transform_block(block, estimator):
    return estimator.transform(block)


def _inverse_block(block, estimator):
    return estimator.inverse_transform(block)


def _score_block(block, estimator):
    return estimator.score_samples(block)


_BLOCK_METHODS = {
    "transform": _transform_block,
    "inverse_transform": _inverse_block,
    "score_samples": _score_block,
}


def map_estimator(estimator, method: str, X, n_outputs: int | None):
    """``estimator.method`` over the blocks of ``X``, as a lazy Dask array.

    The estimator becomes one graph key, computed (unpickled) once per
    worker; a block-level ``method`` validates each block as it would an
    in-memory array. ``n_outputs`` None gives one value per row (1-D).
    """
    import dask

    model = dask.delayed(estimator, pure=False)
    func = _BLOCK_METHODS[method]
    if n_outputs is None:
        return X.map_blocks(
            func,
            model,
            dtype=np.float32,
            drop_axis=1,
            chunks=(X.chunks[0],),
            meta=np.empty((0,), dtype=np.float32),
        )
    return X.map_blocks(
        func,
        model,
        dtype=np.float32,
        chunks=(X.chunks[0], (n_outputs,)),
        meta=np.empty((0, n_outputs), dtype=np.float32),
    )
