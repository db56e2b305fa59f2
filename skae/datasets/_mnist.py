"""MNIST and Fashion-MNIST, downloaded once, verified, read from the cache."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np
from sklearn.utils import Bunch

from ._base import DATA_ENV, get_data_home
from ._download import ChecksumError, DownloadError, fetch_file, sha256sum
from ._idx import read_idx

# The largest file, 60,000 training images of 28x28, is 47,040,016 bytes
# decompressed; a header declaring more is corrupt (or a decompression bomb).
_MAX_IDX_BYTES = 48_000_000

_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@dataclass(frozen=True)
class _Dataset:
    folder: str
    sha256: dict[str, str]
    sizes: dict[str, int]  # bytes of each gzipped file, to cut off oversize replies
    mirrors: tuple[str, ...]
    target_names: tuple[str, ...]
    descr: str


MNIST = _Dataset(
    folder="mnist",
    sha256={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    sizes={
        "train-images-idx3-ubyte.gz": 9912422,
        "train-labels-idx1-ubyte.gz": 28881,
        "t10k-images-idx3-ubyte.gz": 1648877,
        "t10k-labels-idx1-ubyte.gz": 4542,
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    target_names=tuple(str(d) for d in range(10)),
    descr=(
        "MNIST handwritten digits (LeCun, Cortes and Burges): 60,000 training and "
        "10,000 test grayscale images of 28x28 pixels, labels 0-9. "
        "License: CC BY-SA 3.0."
    ),
)

FASHION_MNIST = _Dataset(
    folder="fashion-mnist",
    sha256={
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    sizes={
        "train-images-idx3-ubyte.gz": 26421880,
        "train-labels-idx1-ubyte.gz": 29515,
        "t10k-images-idx3-ubyte.gz": 4422102,
        "t10k-labels-idx1-ubyte.gz": 5148,
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    target_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    descr=(
        "Fashion-MNIST (Xiao, Rasul and Vollgraf, Zalando Research): 60,000 "
        "training and 10,000 test grayscale images of 28x28 pixels of 10 kinds "
        "of clothing. License: MIT."
    ),
)


def _ensure_file(
    spec: _Dataset, name: str, folder, download_if_missing: bool, download
) -> str:
    path = os.path.join(folder, name)
    manual = (
        f"Place the original gzipped IDX files ({', '.join(spec.sha256)}) in "
        f"{folder}, or set the {DATA_ENV} environment variable (or data_home) to a "
        f"folder holding a '{spec.folder}/' subfolder with them."
    )
    problem = f"{path} is missing"
    bad = False
    if os.path.exists(path):
        # Verified on every use, not only on download: a cached file may have
        # been truncated, edited or put in the wrong folder since. Hashing the
        # four MNIST files takes about 10 ms, and needs no write access to
        # the data home (which may be read-only), unlike a verification memo.
        actual = sha256sum(path)
        if actual == spec.sha256[name]:
            return path
        problem = (
            f"{path} is not the file it should be (SHA-256 {actual}, expected "
            f"{spec.sha256[name]}): a corrupt or truncated copy, or another "
            "dataset's file"
        )
        bad = True
        if not download_if_missing:
            raise ChecksumError(
                f"{problem}. Delete it, or replace it with the original, and call "
                "again (download_if_missing=True fetches it again)."
            )
    elif not download_if_missing:
        raise FileNotFoundError(f"{problem} and download_if_missing=False. {manual}")
    try:
        # An intact download replaces a bad cached file atomically.
        return download(name, spec.sha256[name], size=spec.sizes[name])
    except DownloadError as exc:
        if bad:  # known bad, and a fetch was allowed: leave nothing corrupt
            try:
                os.unlink(path)
                problem += "; removed it"
            except OSError as err:  # e.g. a read-only data home
                problem += f"; could not remove it ({err}): delete it"
        raise DownloadError(f"{problem}; fetching it failed. {exc}\n{manual}") from None


def _load_split(spec, split, folder, download_if_missing, download):
    images_name, labels_name = _SPLIT_FILES[split]
    paths = [
        _ensure_file(spec, name, folder, download_if_missing, download)
        for name in (images_name, labels_name)
    ]
    images = read_idx(paths[0], max_bytes=_MAX_IDX_BYTES)
    labels = read_idx(paths[1], max_bytes=_MAX_IDX_BYTES)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{paths[0]} and {paths[1]} do not form a dataset: shapes "
            f"{images.shape} and {labels.shape}."
        )
    return images, labels


def _fetch(
    spec: _Dataset,
    *,
    data_home,
    subset: str,
    download_if_missing: bool,
    return_X_y: bool,
    as_frame: bool,
    normalize: bool,
    mirrors: Sequence[str] | None,
    verbose: bool,
    timeout: float,
):
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all', got {subset!r}.")
    if isinstance(mirrors, str):
        raise TypeError("mirrors must be a sequence of base URLs, not a single string.")
    folder = get_data_home(data_home) / spec.folder
    mirrors = spec.mirrors if mirrors is None else tuple(mirrors)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, Real)
        or not (math.isfinite(timeout) and timeout > 0)
    ):
        raise ValueError(
            f"timeout must be a positive number of seconds (finite), got {timeout!r}."
        )
    download = functools.partial(
        fetch_file, folder=folder, mirrors=mirrors, verbose=verbose, timeout=timeout
    )
    splits = ["train", "test"] if subset == "all" else [subset]
    parts = [
        _load_split(spec, s, folder, download_if_missing, download) for s in splits
    ]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    target = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    target = target.astype(np.int64)
    if normalize:
        images = images.astype(np.float32) / np.float32(255)
    data = images.reshape(len(images), -1)
    if as_frame:
        import pandas as pd

        columns = [f"pixel_{i}" for i in range(data.shape[1])]
        data = pd.DataFrame(data, columns=columns)
        target = pd.Series(target, name="target")
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        images=images,
        target_names=list(spec.target_names),
        feature_names=[f"pixel_{i}" for i in range(images[0].size)],
        DESCR=spec.descr,
    )


_DOC = """Load the {title} dataset, downloading it on first use.

    Parameters
    ----------
    data_home : path-like, default=None
        Folder holding a ``{folder}/`` subfolder with the original gzipped IDX
        files. Defaults to ``$SKAE_DATA``, else ``~/.cache/skae``.
    subset : {{"train", "test", "all"}}, default="train"
        Which split to load; ``"all"`` is the training images then the test
        images (70,000 rows).
    download_if_missing : bool, default=True
        Download missing files from ``mirrors``; each file is checked against
        its pinned SHA-256 before it enters the cache. Cached files are checked
        again on every call; a bad one is downloaded again, and removed if no
        mirror delivers it (with False, it is left alone and reported as a
        :class:`ChecksumError` naming the file to delete).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Return ``data`` as a pandas DataFrame and ``target`` as a Series.
    normalize : bool, default=True
        Pixels as float32 in [0, 1]; when False, the raw uint8 values.
    mirrors : sequence of str, default=None
        Base URLs tried in order; None uses the public mirrors.
    verbose : bool, default=False
        Show download progress on standard error.
    timeout : float, default=300
        Seconds one mirror may take to deliver one file; a slower or stalled
        transfer is abandoned for the next mirror.

    Returns
    -------
    data : Bunch
        ``data`` (n_samples, 784), ``target`` (n_samples,) int64 labels,
        ``images`` (n_samples, 28, 28), ``target_names``, ``feature_names``
        and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    FileNotFoundError
        If a file is missing and ``download_if_missing`` is False.
    skae.datasets.ChecksumError
        If a cached file is not the pinned one and ``download_if_missing`` is
        False; the message names the file to delete.
    skae.datasets.DownloadError
        If no mirror delivered a verified file; the message says where to
        place the files manually.
    skae.datasets.IDXFormatError
        If a cached file is truncated or corrupt.
    """


def _make_fetcher(spec: _Dataset, name: str, title: str):
    """A public ``fetch_*`` function for ``spec`` with its own name and docstring."""

    def fetch(
        *,
        data_home: str | os.PathLike | None = None,
        subset: str = "train",
        download_if_missing: bool = True,
        return_X_y: bool = False,
        as_frame: bool = False,
        normalize: bool = True,
        mirrors: Sequence[str] | None = None,
        verbose: bool = False,
        timeout: float = 300.0,
    ):
        return _fetch(
            spec,
            data_home=data_home,
            subset=subset,
            download_if_missing=download_if_missing,
            return_X_y=return_X_y,
            as_frame=as_frame,
            normalize=normalize,
            mirrors=mirrors,
            verbose=verbose,
            timeout=timeout,
        )

    fetch.__name__ = fetch.__qualname__ = name
    fetch.__module__ = "skae.datasets"
    fetch.__doc__ = _DOC.format(title=title, folder=spec.folder)
    return fetch


fetch_mnist = _make_fetcher(MNIST, "fetch_mnist", "MNIST handwritten digits")
fetch_fashion_mnist = _make_fetcher(
    FASHION_MNIST, "fetch_fashion_mnist", "Fashion-MNIST"
)
