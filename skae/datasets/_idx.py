"""Reading IDX files (the MNIST format), gzipped or not, with validation."""

from __future__ import annotations

import contextlib
import gzip
import math
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


_CHUNK = 1 << 20


def _read_up_to(stream, n: int) -> bytes:
    """At most ``n`` bytes of ``stream``, read in chunks (never one n-byte buffer)."""
    parts, total = [], 0
    while total < n:
        part = stream.read(min(_CHUNK, n - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def _declared_size(head: bytes) -> int | None:
    """Total file size the header ``head`` declares; None if it is malformed."""
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_TYPES:
        return None
    ndim = head[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(head) < header:
        return None
    shape = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    # math.prod on Python ints cannot overflow, unlike np.prod in int64.
    return header + math.prod(shape) * _IDX_TYPES[head[2]].itemsize


def _read_bytes(path: str | os.PathLike, max_bytes: int | None) -> bytes:
    """The decompressed bytes of an IDX file, but never more than its header
    declares (plus one byte, to detect trailing data) or ``max_bytes``: a
    small gzip bomb is refused after its header, not after inflating it."""
    name = os.fspath(path)
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(open(path, "rb"))
        gzipped = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        stream = stack.enter_context(gzip.GzipFile(fileobj=fh)) if gzipped else fh
        try:
            head = stream.read(4)
            if len(head) == 4:
                head += stream.read(4 * head[3])
            declared = _declared_size(head)
            if declared is None:
                return head  # parse_idx names what is wrong with the header
            if max_bytes is not None and declared > max_bytes:
                raise IDXFormatError(
                    f"{name}: the header declares {declared} bytes, more than the "
                    f"{max_bytes} such a file can hold; the file is corrupt."
                )
            return head + _read_up_to(stream, declared - len(head) + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXFormatError(
                f"{name}: the gzip stream is corrupt or truncated ({exc})."
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
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) < expected:
        raise IDXFormatError(
            f"{name}: truncated: header says shape {shape} ({expected} bytes in all) "
            f"but the file holds {len(raw)} bytes."
        )
    if len(raw) > expected:
        raise IDXFormatError(
            f"{name}: has trailing bytes after the {expected} that its header "
            f"declares (shape {shape})."
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """Read an IDX file (optionally gzipped) from ``path``.

    Parameters
    ----------
    path : path-like
        File to read; gzip compression is detected from its first bytes.
    max_bytes : int or None
        Largest decompressed size to accept; a header that declares more is
        an :class:`IDXFormatError` before anything else is inflated.

    Returns
    -------
    ndarray
    """
    return parse_idx(_read_bytes(path, max_bytes), name=os.fspath(path))
