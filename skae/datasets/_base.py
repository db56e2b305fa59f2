"""Where datasets are cached."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "SKAE_DATA"


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Return the folder that holds skae's datasets.

    Parameters
    ----------
    data_home : path-like, default=None
        Explicit folder. When None, the environment variable ``SKAE_DATA`` is
        used if set, else ``$XDG_CACHE_HOME/skae`` (``~/.cache/skae``).

    Returns
    -------
    pathlib.Path
        The folder (not created here: read-only data homes are fine as long
        as the files are already in them).

    Raises
    ------
    ValueError
        If ``data_home`` or ``SKAE_DATA`` is an empty string.
    """
    source = "data_home"
    if data_home is None:
        data_home, source = os.environ.get(DATA_ENV), DATA_ENV
    if data_home is None:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        data_home = os.path.join(cache, "skae")
    path = os.fspath(data_home)
    # Path("") is the current directory: an empty setting (an unset shell
    # variable exported as "") would silently read and write the data there.
    if not str(path).strip():
        raise ValueError(
            f"{source} is empty; give a folder for skae's datasets, or leave "
            f"{DATA_ENV} unset to use ~/.cache/skae."
        )
    return Path(os.path.expanduser(path))
