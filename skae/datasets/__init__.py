"""MNIST and Fashion-MNIST loaders with verified download and a local cache.

This subpackage depends on NumPy and scikit-learn only (no torch).
"""

from ._base import get_data_home
from ._download import ChecksumError, DownloadError
from ._idx import IDXFormatError, read_idx
from ._mnist import fetch_fashion_mnist, fetch_mnist

__all__ = [
    "ChecksumError",
    "DownloadError",
    "IDXFormatError",
    "fetch_fashion_mnist",
    "fetch_mnist",
    "get_data_home",
    "read_idx",
]
