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
    """
    if data_home is None:
        data_home = os.environ.get(DATA_ENV)
    if data_home is None:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        data_home = os.path.join(cache, "skae")
    return Path(os.path.expanduser(os.fspath(data_home)))
