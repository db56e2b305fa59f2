"""The defaults that depend on the data: ``"auto"`` values resolved per fit.

``hidden_layer_sizes``, ``noise``, ``noise_level`` and ``batch_size`` default
to ``"auto"``. On a few thousand rows a plain dense autoencoder overfits with
the large-data settings and loses to PCA; a shallower network trained with
masking noise in small batches does not (``benchmarks/small_data.py``, 5-NN
on the 10,000 test images, against PCA in the 12 cells of 2,000 and 5,000
rows of MNIST and Fashion-MNIST at 8, 16 and 32-D: the large-data settings
won 8 and 9 cells with seeds 0 and 1, the small-data ones 11 and 11). On
7,500 rows the small-data settings beat PCA in all six cells and the
large-data ones lose MNIST at 32-D (0.951 against PCA's 0.952); on 10,000
the large-data settings are ahead in every MNIST cell (8-D: 0.936 against
0.915), so the switch is there (the FAQ has the tables).

The rule covers the plain dense model only: the convolutional
architecture, user modules, sparsity, the variational model and the
neighbour term (whose batches are graph edges) were not measured with the
small-data settings, and keep the large-data ones at every size.
"""

from __future__ import annotations

from typing import Any

# Fewer training rows than this get the small-data settings (see above).
SMALL_DATA_ROWS = 10_000
SMALL_DATA = {"hidden_layer_sizes": (256,), "noise": "masking", "batch_size": 32}
LARGE_DATA = {"hidden_layer_sizes": (256, 128), "noise": None, "batch_size": 256}
# noise_level="auto" by noise kind: the masking probability that won on small
# data, the level the other kinds were measured at, one pixel for shifts.
_SMALL_MASKING_LEVEL = 0.3
_NOISE_LEVEL = 0.2
_SHIFT_LEVEL = 1


def is_auto(value: Any) -> bool:
    """Whether a parameter value is ``"auto"`` (arrays compare as not)."""
    return isinstance(value, str) and value == "auto"


def small_data(params: dict[str, Any], n_train: int) -> bool:
    """Whether ``"auto"`` takes the small-data settings for these parameters
    and ``n_train`` training rows."""
    return (
        n_train < SMALL_DATA_ROWS
        and params["architecture"] == "dense"
        and params["encoder"] is None
        and params["decoder"] is None
        and params["sparsity"] is None
        and not params["variational"]
        and params["neighbor_weight"] == 0
    )


def resolve_auto(
    params: dict[str, Any],
    n_train: int,
    *,
    stream: bool = False,
    fitted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``params`` with each data-dependent ``"auto"`` made concrete.

    Parameters
    ----------
    params : dict
        The estimator's parameters.
    n_train : int
        The rows the fit trains on (after any validation split).
    stream : bool, default=False
        ``partial_fit``: a call's rows say nothing about the stream's size,
        so ``"auto"`` takes the large-data settings.
    fitted : dict, optional
        The resolved parameters of the model being continued (a warm start,
        a later ``partial_fit`` call): its hidden layers stay as they are.
    """
    small = not stream and small_data(params, n_train)
    values = SMALL_DATA if small else LARGE_DATA
    resolved = dict(params)
    for name, value in values.items():
        if is_auto(params[name]):
            resolved[name] = value
    if fitted is not None and is_auto(params["hidden_layer_sizes"]):
        # As the fit recorded it (an int stays an int): the network builders
        # normalise layer specs, as they do the user's.
        resolved["hidden_layer_sizes"] = fitted["hidden_layer_sizes"]
    if is_auto(params["noise_level"]):
        noise = resolved["noise"]
        if noise == "shift":
            resolved["noise_level"] = _SHIFT_LEVEL
        elif noise == "masking" and small:
            resolved["noise_level"] = _SMALL_MASKING_LEVEL
        else:
            resolved["noise_level"] = _NOISE_LEVEL
    return resolved
