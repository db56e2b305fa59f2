"""Checks on input arrays that scikit-learn's validation does not make.

Each turns an input that would otherwise fail deep inside NumPy or PyTorch,
or silently give NaN, into a ``TypeError``/``ValueError`` that names the
problem.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import assert_all_finite

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_array_like(X, name: str = "X"):
    """``X`` in a form :func:`sklearn.utils.check_array` can read.

    A torch tensor is detached and moved to the CPU (``np.asarray`` refuses a
    tensor that requires grad). A DataFrame with datetime or timedelta
    columns is refused by name: NumPy's error for those does not say which
    column is at fault.
    """
    if isinstance(X, torch.Tensor):
        return X.detach().cpu().numpy()
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(dtypes, "items"):
        bad = [
            f"{col!r} ({dtype})"
            for col, dtype in dtypes.items()
            if getattr(dtype, "kind", None) in ("m", "M")
        ]
        if bad:
            raise TypeError(
                f"{name} has datetime or timedelta columns: {', '.join(bad)}. "
                "Convert them to numbers (or drop them) first, for example "
                "with a ColumnTransformer."
            )
    return X


def check_block(X, name: str = "X") -> None:
    """Refuse NaN, infinities and values float32 cannot hold in ``X`` (or a
    slice of it), with scikit-learn's own messages for the first two."""
    assert_all_finite(X.data if sp.issparse(X) else X, input_name=name)
    check_float32_range(X, name)


def check_float32_range(X, name: str = "X") -> None:
    """Refuse finite float64 values that float32, the network's dtype, cannot hold.

    Cast to float32 they become infinite and every output NaN, which for
    anomaly scores is the worst failure: NaN never crosses a threshold.
    """
    if X.dtype != np.float64:
        return
    values = X.data if sp.issparse(X) else X
    if values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    if high > _FLOAT32_MAX or low < -_FLOAT32_MAX:
        raise ValueError(
            f"{name} has values up to {max(high, -low):.3g} in magnitude, beyond "
            f"float32's range (+-{_FLOAT32_MAX:.3g}), in which the network "
            f"computes. Rescale {name} (for example with StandardScaler)."
        )
