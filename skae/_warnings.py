"""Warnings that point at the user's line, however deep skae issued them."""

from __future__ import annotations

import sys
import warnings

# Frames of these modules lie between the user and skae: sklearn's
# fit-context and set_output wrappers.
_WRAPPERS = ("sklearn.base", "sklearn.utils._set_output")


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first frame outside skae.

    A fixed ``stacklevel`` breaks whenever a call path gains a frame (a
    helper, a wrapper, ``partial_fit`` beside ``fit``); counting the frames
    keeps the warning on the caller's line.
    """
    # stacklevel 1 is this function, 2 its caller: count from there.
    level, frame = 2, sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not (module == "skae" or module.startswith("skae.") or module in _WRAPPERS):
            break
        level, frame = level + 1, frame.f_back
    warnings.warn(message, category, stacklevel=level)
