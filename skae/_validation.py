"""Checks on parameter values that ``_parameter_constraints`` cannot express.

Each raises a ``TypeError``/``ValueError`` that names the parameter, before
any work is done.
"""

from __future__ import annotations

from numbers import Integral, Real

# Integer parameters: bool is an Integral, so the constraints accept True.
_INTEGER_PARAMS = ("n_components", "batch_size", "n_neighbors", "n_iter_no_change")


def positive_int_tuple(value, name: str, allow_empty: bool) -> tuple[int, ...]:
    """Validate a layer-size spec (an int or a sequence of ints)."""
    sizes = (value,) if isinstance(value, Integral) else value
    # Layer order matters: a set or a dict would give an arbitrary network.
    if isinstance(sizes, (set, frozenset, dict, str, bytes)):
        raise TypeError(
            f"{name} must be an int or an ordered sequence of ints, got {value!r}."
        )
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a sequence of ints, got {value!r}."
        ) from None
    if not allow_empty and not sizes:
        raise ValueError(f"{name} must not be empty.")
    if not all(isinstance(s, Integral) and not isinstance(s, bool) for s in sizes):
        raise TypeError(f"{name} must contain only integers, got {value!r}.")
    if any(s < 1 for s in sizes):
        raise ValueError(f"{name} must contain only positive sizes, got {value!r}.")
    return tuple(int(s) for s in sizes)


def check_integer_params(params: dict) -> None:
    """Refuse booleans where an int is meant (``max_iter`` may be "auto")."""
    for name in _INTEGER_PARAMS:
        if isinstance(params[name], bool):
            raise TypeError(f"{name} must be an int, got {params[name]!r}.")
    if isinstance(params["max_iter"], bool):
        raise TypeError(
            f"max_iter must be an int or 'auto', got {params['max_iter']!r}."
        )


def check_noise_level(
    noise: str | None,
    noise_level: float,
    image_shape: tuple[int, int, int] | None = None,
) -> None:
    """``noise_level`` read as ``noise`` reads it; ``image_shape`` (resolved)
    is needed for ``noise="shift"`` only."""
    if noise in ("masking", "salt_pepper") and noise_level > 1:
        raise ValueError(
            f"noise_level={noise_level} is a probability for "
            f"noise={noise!r} and must be in [0, 1]."
        )
    if noise == "shift":
        check_shift(noise_level, image_shape, "noise_level", " for noise='shift'")


def check_shift(
    shift, image_shape: tuple[int, int, int], name: str, context: str = ""
) -> None:
    """A largest shift in pixels: a whole number, below the image's sides."""
    _, height, width = image_shape
    if (
        isinstance(shift, bool)
        or not isinstance(shift, Real)
        or shift != int(shift)
        or not 1 <= shift < min(height, width)
    ):
        raise ValueError(
            f"{name}={shift!r} is the largest shift in pixels{context} and must "
            f"be a whole number from 1 to {min(height, width) - 1} for "
            f"{height}x{width} images (e.g. {name}=1)."
        )


def check_code_size(
    n_components: int, n_features: int, sparsity: str | None, noise: str | None
) -> None:
    """An overcomplete code needs a penalty or noise, else it can copy X."""
    if n_components > n_features and sparsity is None and noise is None:
        raise ValueError(
            f"n_components={n_components} exceeds n_features={n_features}; "
            "an overcomplete code needs sparsity or noise set, else it can "
            "learn the identity."
        )


def require_unit_range(value_range: tuple[float, float], what: str) -> None:
    """BCE compares with targets in [0, 1]: refuse data outside it."""
    low, high = value_range
    if low < 0 or high > 1:
        raise ValueError(
            f"{what} needs inputs in [0, 1], but X ranges over "
            f"[{low:g}, {high:g}]. Scale it first, e.g. with "
            "sklearn.preprocessing.MinMaxScaler in a Pipeline, or use "
            "loss='mse' (or 'auto')."
        )


def check_variational(params: dict) -> None:
    """What ``variational=True`` cannot be combined with."""
    if not params["variational"]:
        return
    if params["sparsity"] is not None:
        raise ValueError(
            f"variational=True cannot be combined with sparsity="
            f"{params['sparsity']!r}: the KL term to the prior already shapes the "
            "code (raise beta for a more constrained one); set sparsity=None."
        )
    if params["encoder"] is not None:
        raise ValueError(
            "variational=True builds its own encoder, with a mean and a "
            "log-variance head; a user encoder cannot be given with it (a user "
            "decoder can)."
        )
