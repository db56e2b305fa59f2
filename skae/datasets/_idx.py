"""Reading IDX files (the MNIST format), gzipped or not, with validation."""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

# Third byte of the magic number -> element type (big-endian on disk).
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXFormatError(ValueError):
    """An IDX file is truncated, corrupt or not an IDX file at all."""


def _read_bytes(path: str | os.PathLike) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head != b"\x1f\x8b":
            return fh.read()
        try:
            return gzip.GzipFile(fileobj=fh).read()
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXFormatError(
                f"{os.fspath(path)}: the gzip stream is corrupt or truncated ({exc})."
            ) from exc


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file into an array.

    Parameters
    ----------
    raw : bytes
        The (decompressed) file content.
    name : str
        File name used in error messages.

    Returns
    -------
    ndarray
        Of the shape and element type given by the header (native byte order).

    Raises
    ------
    IDXFormatError
        If the magic number, the dimensions or the length are wrong.
    """
    if len(raw) < 4:
        raise IDXFormatError(
            f"{name}: {len(raw)} bytes is too short for an IDX header."
        )
    zero, type_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or type_code not in _IDX_TYPES or ndim == 0:
        raise IDXFormatError(
            f"{name}: bad magic number 0x{raw[:4].hex()} (expected 0x0000TTNN with a "
            "known type TT and NN >= 1 dimensions); not an IDX file."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXFormatError(f"{name}: truncated inside the header ({len(raw)} bytes).")
    shape = tuple(
        int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    dtype = _IDX_TYPES[type_code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "has trailing bytes"
        raise IDXFormatError(
            f"{name}: {problem}: header says shape {shape} ({expected} bytes in all) "
            f"but the file holds {len(raw)} bytes."
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzipped) from ``path``.

    Parameters
    ----------
    path : path-like
        File to read; gzip compression is detected from its first bytes.

    Returns
    -------
    ndarray
    """
    return parse_idx(_read_bytes(path), name=os.fspath(path))
