"""Moving validated arrays into torch, a batch at a time.

Training data lives in memory as one float32 tensor on the training device
(dense input) or as a CSR matrix on the host that is densified one batch at a
time (sparse input). Inference walks the rows in slices so that memory stays
bounded by the output plus one batch, whatever the size of ``X``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import scipy.sparse as sp
import torch


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
    # the caller's array is never aliased by a tensor we might modify.
    tensor = torch.tensor(block, dtype=torch.float32)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


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
        if device.type != "cpu" and not sp.issparse(X):
            self._X, self._rows = None, None
            self._resident = _to_tensor(X if rows is None else X[rows], device)
        else:
            self._X, self._rows, self._resident = X, rows, None

    def _rows_of_x(self, index: torch.Tensor) -> np.ndarray:
        """Positions in ``X`` of this source's rows ``index``."""
        return index.numpy() if self._rows is None else self._rows[index.numpy()]

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` (a CPU int64 tensor) as a dense tensor on ``device``."""
        if self._resident is not None:
            return self._resident[index.to(self.device, non_blocking=True)]
        block = self._X[self._rows_of_x(index)]  # a fresh array: fancy indexing copies
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


def iter_batches(
    X: np.ndarray | sp.spmatrix, batch_size: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, dense float32 block)`` covering ``X`` in order."""
    if sp.issparse(X) and X.format == "coo":
        X = X.tocsr()  # COO cannot be sliced by rows
    for start in range(0, X.shape[0], batch_size):
        rows = slice(start, min(start + batch_size, X.shape[0]))
        block = X[rows]
        if sp.issparse(block):
            block = block.toarray()
        yield rows, np.asarray(block, dtype=np.float32)


def map_batches(
    fn: Callable[[torch.Tensor], torch.Tensor],
    X: np.ndarray | sp.spmatrix,
    n_outputs: int,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Apply ``fn`` to ``X`` in row batches and return a float32 array.

    Runs under :func:`torch.inference_mode` on ``device`` and writes each
    batch straight into a preallocated ``(n_samples, n_outputs)`` array, so
    peak memory is the output plus one batch.
    """
    out = np.empty((X.shape[0], n_outputs), dtype=np.float32)
    with torch.inference_mode():
        for rows, block in iter_batches(X, batch_size):
            out[rows] = fn(_to_tensor(block, device)).cpu().numpy()
    return out
