"""Moving validated arrays into torch, a batch at a time.

On the CPU, training gathers each batch from the caller's array (dense,
sparse or memory-mapped) and casts it to float32 then, so X is never copied
whole; on a GPU dense rows are copied to device memory once. Inference and
the input scan walk the rows in slices, so that memory stays bounded by the
output plus one batch, whatever the size of ``X``.

A memory-mapped X (:class:`numpy.memmap`, ``np.load(..., mmap_mode="r")``)
is read through the page cache, and every page a pass touches through the
map counts in the process's resident memory until it is unmapped: a pass
over a file larger than memory would look like a copy of it. So in-order
passes (the scan, inference) hand their pages back to the kernel every
``_RELEASE_BYTES`` (:class:`_MappedPages`; the pages stay in the page
cache), and training's shuffled batches read their rows from the file with
``os.preadv`` instead of through the map (:class:`_FileRows`): a fault on a
file map maps the whole page-cache folio around it (up to megabytes on
recent kernels), so 256 random rows mapped about 240 MB, more than releasing
after every batch could bound.
"""

from __future__ import annotations

import itertools
import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ._inputs import check_block

# Rows per slice of the input scan and of inference.
SCAN_ROWS = 4096
# How much of a shared memory map an in-order pass may touch before its
# pages are handed back (see the module docstring).
_RELEASE_BYTES = 128 * 2**20


def batch_slices(n_samples: int, batch_size: int) -> list[slice]:
    """The row slices of one pass in batches of ``batch_size``.

    A last batch of a single row joins the batch before it (unless every
    batch is one row): a training step on one row is noisy, and modules that
    need batch statistics (batch normalisation) cannot take it.
    """
    bounds = [*range(0, n_samples, batch_size), n_samples]
    if batch_size > 1 and len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def resolve_device(device: str) -> torch.device:
    """Turn the ``device`` parameter into a :class:`torch.device`.

    ``"auto"`` picks CUDA when available, else the CPU. An explicit device that
    this machine lacks raises a ``ValueError`` naming it.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device string "
            "(use 'auto', 'cpu', 'cuda' or 'cuda:N')."
        ) from exc
    # Other torch device types (xpu, hpu, meta, ...) fail deep inside torch
    # with errors that do not name the parameter; skae trains on these three.
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(
            f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda', "
            "'cuda:N' or 'mps'."
        )
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this "
            "machine; use device='auto' or 'cpu'."
        )
    if resolved.type == "cuda" and resolved.index is not None:
        count = torch.cuda.device_count()
        if resolved.index >= count:
            raise ValueError(
                f"device={device!r} was requested but this machine has {count} "
                f"CUDA device(s) (cuda:0 to cuda:{count - 1})."
            )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but MPS is not available.")
    return resolved


def _to_tensor(block: np.ndarray, device: torch.device) -> torch.Tensor:
    # torch.tensor always copies, so read-only inputs (memmaps) are safe and
    # the caller's array is never aliased by a tensor we might modify. It
    # refuses negative strides (a flipped view such as X[:, ::-1]), which
    # ascontiguousarray copies into order first (a no-op for ordered rows).
    tensor = torch.tensor(np.ascontiguousarray(block), dtype=torch.float32)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


def _memmap_base(X) -> np.memmap | None:
    """The :class:`numpy.memmap` that owns the map ``X`` views, or None.

    Slices of a memmap are memmaps too, but only the owner's first value
    lies at ``offset`` in the file.
    """
    base = X
    while base is not None and not (
        isinstance(base, np.memmap) and isinstance(base.base, mmap.mmap)
    ):
        base = getattr(base, "base", None)
    return base


def _shared_mapping(X) -> mmap.mmap | None:
    """The shared memory map under ``X`` (a memmap or a view of one), or None.

    Copy-on-write maps (``mode="c"``) are left alone: unmapping their pages
    would discard the caller's private changes.
    """
    base = _memmap_base(X)
    if base is None or base.mode == "c":
        return None
    mapping = getattr(base, "_mmap", None)
    return mapping if hasattr(mapping, "madvise") else None


class _MappedPages:
    """Counts the bytes an in-order pass reads from a shared memory map and
    hands its pages back to the kernel (``MADV_DONTNEED``) every
    ``_RELEASE_BYTES``. A no-op for arrays that are not memory-mapped.
    """

    def __init__(self, X) -> None:
        self._map = None if sp.issparse(X) else _shared_mapping(X)
        self._row_bytes = X.shape[1] * X.dtype.itemsize if self._map else 0
        self._touched = 0

    def read(self, n_rows: int) -> None:
        """Record that the pass read ``n_rows`` more consecutive rows."""
        if self._map is None:
            return
        self._touched += n_rows * self._row_bytes
        if self._touched >= _RELEASE_BYTES:
            self.release()

    def release(self) -> None:
        if self._map is not None:
            self._map.madvise(mmap.MADV_DONTNEED)
            self._touched = 0


class _FileRows:
    """Rows of a read-only memory-mapped array, read from its file with
    ``os.preadv`` rather than through the map (see the module docstring).

    :meth:`of` returns None where this does not apply: not a memmap, a
    writable or copy-on-write map (the map may hold changes the file lacks),
    rows that are not contiguous runs of native-order values, or no
    ``os.preadv`` (Windows).
    """

    def __init__(self, path: str, start: int, row_stride: int, dtype, n_features):
        self._path, self._start, self._stride = path, start, row_stride
        self._dtype, self._n_features = dtype, n_features

    @classmethod
    def of(cls, X) -> _FileRows | None:
        base = _memmap_base(X)
        if (
            base is None
            or not hasattr(os, "preadv")
            or base.mode not in ("r", "readonly")
            or getattr(base, "filename", None) is None
            or X.ndim != 2
            or X.strides[1] != X.dtype.itemsize
            or X.strides[0] < 0
            or not X.dtype.isnative
        ):
            return None
        # X's first value, as an offset into the file.
        origin = np.asarray(base).__array_interface__["data"][0]
        start = X.__array_interface__["data"][0] - origin + base.offset
        return cls(base.filename, start, X.strides[0], X.dtype, X.shape[1])

    def take(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self._n_features), dtype=self._dtype)
        size = out.strides[0]
        with open(self._path, "rb", buffering=0) as fh:
            fd = fh.fileno()
            for i, row in enumerate(rows.tolist()):
                done = os.preadv(fd, [out[i]], self._start + row * self._stride)
                if done != size:
                    raise OSError(
                        f"{self._path}: read {done} of {size} bytes of row {row}; "
                        "was the file truncated?"
                    )
        return out


class RowSource:
    """Random access to the training rows, as float32 tensors on ``device``.

    On the CPU the rows are gathered from the caller's array and cast to
    float32 one batch at a time, so training adds a batch to memory, not a
    copy of X (a float32 copy of float64 data was 1.5 times the input, 2
    times with early stopping's split). On a GPU the rows are copied to
    device memory once, so that batches never cross the bus.

    Parameters
    ----------
    X : ndarray or sparse matrix
        The rows; kept by reference on the CPU.
    device : torch.device
        Where batches are returned.
    rows : ndarray of int or None
        The rows of X this source holds, in order (None: all of them).
    """

    def __init__(
        self,
        X: np.ndarray | sp.spmatrix,
        device: torch.device,
        rows: np.ndarray | None = None,
    ) -> None:
        self.device = device
        self.n_samples = X.shape[0] if rows is None else len(rows)
        if sp.issparse(X) and not (X.format == "csr" and X.dtype == np.float32):
            X = sp.csr_matrix(X, dtype=np.float32)  # row slicing needs CSR
        self._file = None
        if device.type != "cpu" and not sp.issparse(X):
            self._X, self._rows = None, None
            self._resident = _to_tensor(X if rows is None else X[rows], device)
        else:
            self._X, self._rows, self._resident = X, rows, None
            self._file = None if sp.issparse(X) else _FileRows.of(X)

    def _rows_of_x(self, index: torch.Tensor) -> np.ndarray:
        """Positions in ``X`` of this source's rows ``index``."""
        return index.numpy() if self._rows is None else self._rows[index.numpy()]

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` (a CPU int64 tensor) as a dense tensor on ``device``."""
        if self._resident is not None:
            return self._resident[index.to(self.device, non_blocking=True)]
        rows = self._rows_of_x(index)
        # A fresh array either way: fancy indexing copies.
        block = self._X[rows] if self._file is None else self._file.take(rows)
        if sp.issparse(block):
            block = block.toarray()
        return _to_tensor(block, self.device)

    def subset(self, index: torch.Tensor) -> RowSource:
        """A new source holding only rows ``index`` (no copy on the CPU)."""
        if self._resident is not None:
            out = RowSource.__new__(RowSource)
            out.n_samples, out.device = len(index), self.device
            out._X, out._rows, out._resident = None, None, self.take(index)
            return out
        return RowSource(self._X, self.device, rows=self._rows_of_x(index))

    def epoch(
        self, batch_size: int, shuffle: bool, generator: torch.Generator
    ) -> Iterator[tuple[torch.Tensor, None]]:
        """One pass as ``(batch, None)`` pairs, in a seeded random order when
        ``shuffle`` (the ``None`` stands for the tails of edge batches)."""
        n = self.n_samples
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for rows in batch_slices(n, batch_size):
            yield self.take(order[rows]), None


def iter_batches(
    X: np.ndarray | sp.spmatrix, batch_size: int, name: str = "X"
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, dense float32 block)`` covering ``X`` in order.

    Each block is checked (finite, within float32's range) before its cast,
    so that one pass both validates and converts: X is validated without
    sklearn's whole-array finiteness scan, which on a memory map would touch
    every page at once.
    """
    if sp.issparse(X) and X.format == "coo":
        X = X.tocsr()  # COO cannot be sliced by rows
    pages = _MappedPages(X)
    for start in range(0, X.shape[0], batch_size):
        rows = slice(start, min(start + batch_size, X.shape[0]))
        block = X[rows]
        if sp.issparse(block):
            block = block.toarray()
        check_block(block, name)
        pages.read(block.shape[0])
        yield rows, np.asarray(block, dtype=np.float32)
    pages.release()


@dataclass(frozen=True)
class Summary:
    """What one scan of the training rows found."""

    low: float
    high: float
    means: np.ndarray  # float64 column means

    @property
    def value_range(self) -> tuple[float, float]:
        return self.low, self.high


def summarize(X: np.ndarray | sp.spmatrix, name: str = "X") -> Summary:
    """Check X (finite, within float32) and find its range and column means.

    One pass in slices of ``SCAN_ROWS`` rows. The implicit zeros of sparse X
    count in its range. The means are accumulated in float64 so that, once
    rounded to float32, they do not depend on the memory layout of X.
    """
    n_samples, n_features = X.shape
    if sp.issparse(X):
        check_block(X, name)
        low, high = _extremes(X.data)
        if X.nnz < n_samples * n_features:
            low, high = min(low, 0.0), max(high, 0.0)
        # scipy's mean(dtype=float64) still accumulates float32 data in
        # float32; sum the stored values in float64 as the dense scan does,
        # so that sparse and dense copies of X start the same model.
        coo = X.tocoo(copy=False)
        sums = np.bincount(
            coo.col, weights=coo.data.astype(np.float64), minlength=n_features
        )
        return Summary(low, high, sums / n_samples)
    stats = []
    pages = _MappedPages(X)
    for start in range(0, n_samples, SCAN_ROWS):
        block = X[start : start + SCAN_ROWS]
        stats.append(slice_stats(block, name))
        pages.read(block.shape[0])
    pages.release()
    return combine_stats(stats, n_samples, n_features)


def slice_stats(block, name: str = "X") -> tuple[float, float, np.ndarray]:
    """Check a dense slice of X and return its smallest and largest values
    and its float64 column sums (what :func:`combine_stats` adds up)."""
    block = np.asarray(block)
    check_block(block, name)
    low, high = _extremes(block)
    return low, high, block.sum(axis=0, dtype=np.float64)


def combine_stats(stats, n_samples: int, n_features: int) -> Summary:
    """The :class:`Summary` of slices from :func:`slice_stats`."""
    if n_samples == 0 or not stats:
        return Summary(0.0, 0.0, np.zeros(n_features))
    low = min(s[0] for s in stats)
    high = max(s[1] for s in stats)
    return Summary(low, high, np.sum([s[2] for s in stats], axis=0) / n_samples)


def _extremes(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return np.inf, -np.inf
    return float(values.min()), float(values.max())


def map_batches(
    fn: Callable[[torch.Tensor], torch.Tensor],
    X: np.ndarray | sp.spmatrix,
    n_outputs: int,
    batch_size: int,
    device: torch.device,
    what: str = "The output",
) -> np.ndarray:
    """Apply ``fn`` to ``X`` in row batches and return a float32 array.

    Runs under :func:`torch.inference_mode` on ``device`` and writes each
    batch straight into a preallocated ``(n_samples, n_outputs)`` array, so
    peak memory is the output plus one batch. A non-finite output (finite
    inputs too large for float32 arithmetic) raises a ``ValueError`` naming
    ``what`` and the rows, rather than returning NaN.
    """
    out = np.empty((X.shape[0], n_outputs), dtype=np.float32)
    with torch.inference_mode():
        for rows, block in iter_batches(X, batch_size):
            result = fn(_to_tensor(block, device))
            if not bool(torch.isfinite(result).all()):
                raise _overflow(result, block, rows, what)
            out[rows] = result.cpu().numpy()
    return out


def _overflow(result: torch.Tensor, block: np.ndarray, rows: slice, what: str):
    """The error for a batch whose outputs left float32's range."""
    bad = (~torch.isfinite(result)).reshape(len(result), -1).any(dim=1)
    first = rows.start + int(bad.nonzero()[0, 0])
    largest = float(np.abs(block[bad.cpu().numpy()]).max())
    return ValueError(
        f"{what} overflowed float32 for {int(bad.sum())} row(s) of this batch "
        f"(the first is row {first}, with values up to {largest:.3g} in "
        "magnitude): the network computes in float32, and inputs this large "
        "leave its range. Rescale X (for example with StandardScaler) to the "
        "scale the model was fitted on."
    )
