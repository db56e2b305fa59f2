"""Verified downloads into the data cache.

A file reaches the cache only after its SHA-256 matches the pinned value: it
is streamed into a temporary file in the destination folder and renamed into
place atomically, so a failed, partial or corrupt download never leaves
anything that a later call could trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from http.client import HTTPException
from pathlib import Path

_CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror delivered a file with the expected checksum."""


class ChecksumError(OSError):
    """A downloaded file's SHA-256 differs from the pinned one."""


def sha256sum(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _progress(name: str, done: int, total: int | None) -> None:
    if total:
        msg = (
            f"\rDownloading {name}: {100 * done / total:5.1f}% of {total / 1e6:.1f} MB"
        )
    else:
        msg = f"\rDownloading {name}: {done / 1e6:.1f} MB"
    print(msg, end="", file=sys.stderr, flush=True)


def _stream_to(
    url: str, fh, name: str, verbose: bool, timeout: float, size: int | None
) -> str:
    """Copy ``url`` into the open file ``fh``; return the SHA-256 of the bytes.

    The whole transfer must finish within ``timeout`` seconds (a server that
    drips a byte at a time never trips a per-read timeout), and more than
    ``size`` bytes, when the size is known, is refused as soon as it shows.
    """
    digest = hashlib.sha256()
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if size is not None and total is not None and total > size:
            raise DownloadError(
                f"{url}: announces {total} bytes, but {name} has {size}."
            )
        # read1 returns what has arrived; read(n) would wait for all n bytes.
        read = getattr(response, "read1", response.read)
        done = 0
        while chunk := read(_CHUNK):
            fh.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if size is not None and done > size:
                raise DownloadError(
                    f"{url}: sent more than the {size} bytes of {name}."
                )
            if time.monotonic() > deadline:
                raise DownloadError(
                    f"{url}: not finished after {timeout:g} s ({done} bytes); "
                    "gave up (raise timeout for a slow connection)."
                )
            if verbose:
                _progress(name, done, total)
        if total is not None and done != total:
            raise DownloadError(f"{url}: got {done} of {total} bytes (truncated).")
    if verbose:
        print(file=sys.stderr)
    return digest.hexdigest()


def remove_stale_parts(folder: str | os.PathLike, name: str, age: float) -> None:
    """Delete ``name``'s temporary files older than ``age`` seconds.

    A process killed mid-download (SIGTERM, SIGKILL) runs no cleanup and
    leaves its ``.part`` file behind. One not written to for longer than a
    download may last belongs to no live download.
    """
    now = time.time()
    for part in Path(folder).glob(f".{name}.*.part"):
        with contextlib.suppress(OSError):  # gone already, or not ours to delete
            if now - part.stat().st_mtime > age:
                part.unlink()


def download_verified(
    url: str,
    dest: str | os.PathLike,
    sha256: str,
    *,
    verbose: bool = False,
    timeout: float = 300.0,
    size: int | None = None,
) -> None:
    """Download ``url`` to ``dest`` if and only if its SHA-256 is ``sha256``.

    ``timeout`` bounds the whole transfer in seconds; ``size``, when given,
    is the file's exact size, and a server that sends more is cut off.

    Raises
    ------
    ChecksumError
        If the content's checksum differs (the message names the file and
        both checksums).
    OSError
        On any network or file-system failure. In every failure case nothing
        is left at ``dest`` nor beside it.
    """
    dest = os.fspath(dest)
    folder, name = os.path.split(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            actual = _stream_to(url, fh, name, verbose, timeout, size)
        if actual != sha256:
            raise ChecksumError(
                f"{name} from {url} failed verification: expected SHA-256 {sha256}, "
                f"got {actual}."
            )
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fetch_file(
    name: str,
    sha256: str,
    folder: str | os.PathLike,
    mirrors: Sequence[str],
    *,
    verbose: bool = False,
    timeout: float = 300.0,
    size: int | None = None,
) -> str:
    """Download ``name`` from the first mirror that serves it intact.

    Parameters
    ----------
    name : str
        File name, appended to each mirror's base URL.
    sha256 : str
        Pinned hex digest.
    folder : path-like
        Destination folder (created if missing).
    mirrors : sequence of str
        Base URLs tried in order; a mirror that is down, truncates the file or
        serves other bytes is skipped.
    verbose : bool
        Show a progress indicator on standard error.
    timeout : float
        Seconds one mirror may take to deliver the whole file (also the
        socket timeout). Temporary files of ``name`` older than this are
        left from killed downloads and are removed first.
    size : int or None
        The file's exact size in bytes, if known: a mirror sending more is
        abandoned at once instead of being read to the end.

    Returns
    -------
    str
        Path of the verified file.

    Raises
    ------
    DownloadError
        When every mirror failed; the message lists each failure.
    """
    os.makedirs(folder, exist_ok=True)
    remove_stale_parts(folder, name, timeout)
    dest = os.path.join(folder, name)
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        try:
            download_verified(
                url, dest, sha256, verbose=verbose, timeout=timeout, size=size
            )
            return dest
        except (OSError, HTTPException, ValueError) as exc:
            # ValueError: a malformed mirror URL; the others are network,
            # HTTP-protocol and checksum failures.
            failures.append(f"  {url}: {exc}")
    raise DownloadError(
        f"Could not download {name}; every mirror failed:\n" + "\n".join(failures)
    )
