"""Model files that load without running code: weights plus JSON.

A pickle (or joblib) file may run arbitrary code when loaded, and the torch
blobs nested in skae's pickles hide their imports from pickle scanners.
:func:`save_model` writes only tensors and JSON text, and :func:`load_model`
reads them back with ``torch.load(weights_only=True)``, which refuses
anything else; the network is rebuilt from the saved parameters.
"""

from __future__ import annotations

import json
import os
from numbers import Integral

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

_FORMAT = "skae-model"
_VERSION = 1
# Parameters that are tuples in the estimator and lists in JSON.
_TUPLE_PARAMS = ("hidden_layer_sizes", "conv_channels", "image_shape")
# Fitted attributes other than the two modules, all JSON-serialisable.
_FITTED = (
    "n_features_in_",
    "n_components_",
    "image_shape_",
    "reconstruction_loss_",
    "max_iter_",
    "history_",
    "loss_curve_",
    "n_iter_",
    "stop_reason_",
    "validation_scores_",
    "best_validation_score_",
    "best_loss_",
    "best_epoch_",
)


def _plain(value):
    """``value`` with tuples as lists and NumPy scalars as Python ones."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(estimator, path: str | os.PathLike) -> None:
    """Save a fitted :class:`AutoencoderTransformer` without pickle.

    The file holds the encoder's and decoder's weights and, as JSON text,
    the estimator's parameters and fitted attributes. Load it with
    :func:`load_model`, which executes no code from the file.

    Parameters
    ----------
    estimator : AutoencoderTransformer
        A fitted estimator.
    path : path-like
        File to write (conventionally ``.pt``).

    Notes
    -----
    A ``random_state`` that is a ``RandomState`` instance is saved as None:
    it seeds only a new ``fit``, and its state is not JSON. ``callbacks``
    are code and are saved as None. ``partial_fit``'s optimiser state is not
    saved: a ``partial_fit`` after :func:`load_model` continues the weights
    with a fresh optimiser (a pickle keeps that state).
    """
    from ._estimator import AutoencoderTransformer

    if not isinstance(estimator, AutoencoderTransformer):
        raise TypeError(
            f"save_model saves an AutoencoderTransformer, got {type(estimator)}."
        )
    check_is_fitted(estimator)
    custom = [n for n in ("encoder", "decoder") if getattr(estimator, n) is not None]
    if custom:
        raise ValueError(
            f"save_model cannot store a user-supplied {' and '.join(custom)}: a "
            "model file holds weights and parameters, and your module's class is "
            "code. Pickle the estimator (joblib.dump), or export the fitted "
            "encoder for serving with skae.export_encoder."
        )
    params = estimator.get_params(deep=False)
    if not (
        params["random_state"] is None or isinstance(params["random_state"], Integral)
    ):
        params["random_state"] = None
    params["callbacks"] = None
    fitted = {name: getattr(estimator, name) for name in _FITTED}
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        fitted["feature_names_in_"] = names.tolist()
    import skae

    torch.save(
        {
            "format": _FORMAT,
            "version": _VERSION,
            "skae_version": skae.__version__,
            "params": json.dumps(_plain(params)),
            "fitted": json.dumps(_plain(fitted)),
            "encoder": {k: v.cpu() for k, v in estimator.encoder_.state_dict().items()},
            "decoder": {k: v.cpu() for k, v in estimator.decoder_.state_dict().items()},
        },
        path,
    )


def load_model(path: str | os.PathLike):
    """Load a model written by :func:`save_model`, on the CPU.

    Parameters
    ----------
    path : path-like
        File written by :func:`save_model`.

    Returns
    -------
    AutoencoderTransformer
        The fitted estimator; move it to a GPU with
        ``ae.encoder_.to("cuda")`` and ``ae.decoder_.to("cuda")``.

    Raises
    ------
    ValueError
        If the file is not a skae model file of a known version, or its
        weights do not fit the network its parameters describe.
    """
    from ._estimator import AutoencoderTransformer

    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, zip errors, ...
        raise ValueError(
            f"{os.fspath(path)} is not a skae model file readable without "
            f"running code ({type(exc).__name__}: {exc})."
        ) from None
    if not isinstance(content, dict) or content.get("format") != _FORMAT:
        raise ValueError(f"{os.fspath(path)} is not a skae model file.")
    if content.get("version") != _VERSION:
        raise ValueError(
            f"{os.fspath(path)} is a skae model file of version "
            f"{content.get('version')!r}; this skae reads version {_VERSION}."
        )
    params = json.loads(content["params"])
    for name in _TUPLE_PARAMS:
        if isinstance(params.get(name), list):
            params[name] = tuple(params[name])
    fitted = json.loads(content["fitted"])
    estimator = AutoencoderTransformer(**params)
    net, _ = estimator._build_network(
        fitted["n_features_in_"], 0, fitted["reconstruction_loss_"]
    )
    try:
        net.encoder.load_state_dict(content["encoder"])
        net.decoder.load_state_dict(content["decoder"])
    except RuntimeError as exc:
        raise ValueError(
            f"{os.fspath(path)}: the weights do not fit the network its "
            f"parameters describe ({exc})."
        ) from None
    net.eval()
    estimator.encoder_, estimator.decoder_ = net.encoder, net.decoder
    if "feature_names_in_" in fitted:
        estimator.feature_names_in_ = np.asarray(
            fitted.pop("feature_names_in_"), dtype=object
        )
    if isinstance(fitted.get("image_shape_"), list):
        fitted["image_shape_"] = tuple(fitted["image_shape_"])
    for name, value in fitted.items():
        setattr(estimator, name, value)
    return estimator
