"""Model files that load without running code.

A pickle (or joblib) file may run arbitrary code when loaded, and the torch
blobs nested in skae's pickles hide their imports from pickle scanners.
:func:`save_model` writes only tensors and JSON text, and :func:`load_model`
reads them back with ``torch.load(weights_only=True)``, which refuses
anything else. The file is treated as untrusted: every field is checked
before use, the network is rebuilt from the saved parameters on the meta
device (no memory) and compared with the saved weights' shapes before
anything is allocated, so a corrupted, truncated or hand-edited file gives
one ``ValueError`` naming the problem.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from . import _fitted as fitted

_FORMAT = "skae-model"
_VERSION = 1
_KEYS = {"format", "version", "skae_version", "params", "fitted", "encoder", "decoder"}
# Parameters that are tuples in the estimator and lists in JSON.
_TUPLE_PARAMS = ("hidden_layer_sizes", "conv_channels", "image_shape")
# Parameters that are code: never in a model file.
_CODE_PARAMS = ("encoder", "decoder", "callbacks")
_STOP_REASONS = {"converged", "max_iter", "callback", "interrupted", "diverged"}
_STOP_REASONS |= {"partial_fit"}


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
    the parameters the model was fitted with and its fitted attributes.
    Load it with :func:`load_model`, which executes no code from the file.
    The file is written whole or not at all (through a temporary file in
    the same folder).

    Parameters
    ----------
    estimator : AutoencoderTransformer
        A fitted estimator.
    path : path-like
        File to write (conventionally ``.pt``); its folder must exist.

    Raises
    ------
    TypeError
        If ``estimator`` is not an :class:`AutoencoderTransformer`.
    ValueError
        If the model holds user-supplied modules (their classes are code).
    FileNotFoundError, IsADirectoryError
        If ``path``'s folder does not exist, or ``path`` is a folder.

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
            "save_model saves an AutoencoderTransformer, got "
            f"{type(estimator).__name__}."
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
    path = writable_path(path, "save_model")
    names = getattr(estimator, "feature_names_in_", None)
    record = {name: getattr(estimator, name) for name in fitted.RECORDED}
    if names is not None:
        record["feature_names_in_"] = names.tolist()
    import skae

    content = {
        "format": _FORMAT,
        "version": _VERSION,
        "skae_version": skae.__version__,
        "params": json.dumps(_plain(estimator._fit_params_)),
        "fitted": json.dumps(_plain(record)),
        "encoder": {k: v.cpu() for k, v in estimator.encoder_.state_dict().items()},
        "decoder": {k: v.cpu() for k, v in estimator.decoder_.state_dict().items()},
    }
    with replaced_atomically(path) as tmp:
        torch.save(content, tmp)


def writable_path(path, what: str) -> str:
    """``path`` as an absolute str, after checking that a file can be written
    there (its folder exists, it is not a folder itself)."""
    try:
        path = os.path.abspath(os.fspath(path))
    except TypeError:
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__}."
        ) from None
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"{what} cannot write {path}: the folder {folder} does not exist."
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} cannot write {path}: it is a folder.")
    return path


@contextlib.contextmanager
def replaced_atomically(path: str):
    """A temporary path beside ``path`` (same suffix) that replaces it when
    the block succeeds and is removed when it fails, so a failed write never
    leaves a partial file behind."""
    folder, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(
        prefix=".skae-", suffix=os.path.splitext(name)[1], dir=folder
    )
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a skae model file of a known version, or any of
        its fields is missing, of the wrong type, out of range, unknown or
        inconsistent with the others (weights that do not fit the network
        the parameters describe, non-finite weights).
    """
    try:
        name = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__}."
        ) from None
    if not os.path.isfile(name):
        raise FileNotFoundError(f"load_model: there is no file {name}.")
    try:
        content = torch.load(name, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, zip errors, RecursionError...
        raise ValueError(
            f"{name} is not a skae model file readable without running code "
            f"({type(exc).__name__}: {_short(exc)})."
        ) from None
    try:
        return _restore(content)
    except _Invalid as exc:
        raise ValueError(f"{name}: {exc}") from None


class _Invalid(Exception):
    """A problem with the file's content, named for the user."""


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


def _restore(content):
    from ._estimator import AutoencoderTransformer

    if not isinstance(content, dict) or content.get("format") != _FORMAT:
        raise _Invalid("not a skae model file (no skae-model header).")
    if content.get("version") != _VERSION:
        raise _Invalid(
            f"a skae model file of version {content.get('version')!r}; this skae reads "
            f"version {_VERSION}."
        )
    if set(content) != _KEYS:
        raise _Invalid(
            f"not a skae model file: its fields are {sorted(map(str, content))}; expected {sorted(_KEYS)}."
        )
    params = _params(_json(content, "params"))
    record = _json(content, "fitted")
    estimator = AutoencoderTransformer(**params)
    try:
        estimator._validate_params()
    except ValueError as exc:  # InvalidParameterError
        raise _Invalid(f"invalid parameters: {exc}") from None
    params = estimator.get_params(deep=False)
    _check_record(record, params)
    net = _network(params, record, content)
    if "feature_names_in_" in record:
        estimator.feature_names_in_ = np.asarray(
            record.pop("feature_names_in_"), dtype=object
        )
    if record["image_shape_"] is not None:
        record["image_shape_"] = tuple(record["image_shape_"])
    estimator.__dict__.update(record)
    estimator.encoder_, estimator.decoder_ = net.encoder, net.decoder
    estimator._fit_params_ = dict(params)
    estimator._trainer_state_ = None
    return estimator


def _json(content: dict, key: str) -> dict:
    text = content[key]
    if not isinstance(text, str):
        raise _Invalid(f"the {key!r} field is {type(text).__name__}, not JSON text.")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _Invalid(
            f"the {key!r} field is not valid JSON ({_short(exc)})."
        ) from None
    if not isinstance(value, dict):
        raise _Invalid(f"the {key!r} field is not a JSON object.")
    return value


def _params(params: dict) -> dict:
    """The saved parameters, checked by name (their values are checked by the
    estimator's own constraints)."""
    from ._estimator import AutoencoderTransformer

    known = set(AutoencoderTransformer().get_params(deep=False))
    unknown = sorted(set(params) - known)
    if unknown:
        raise _Invalid(f"unknown parameters {unknown}.")
    code = [k for k in _CODE_PARAMS if params.get(k) is not None]
    if code:
        raise _Invalid(f"the parameters {code} are code and must be null.")
    params = dict(params)
    for name in _TUPLE_PARAMS:
        if isinstance(params.get(name), list):
            params[name] = tuple(params[name])
    return params


def _is_int(value, low: int = 0) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= low


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _numbers(value) -> bool:
    return isinstance(value, list) and all(_is_number(v) for v in value)


def _check_record(record: dict, params: dict) -> None:
    """Each fitted attribute present, of its type and consistent."""
    expected = set(fitted.RECORDED)
    missing = sorted(expected - set(record))
    unknown = sorted(set(record) - expected - set(fitted.OPTIONAL))
    if missing or unknown:
        raise _Invalid(
            f"the fitted attributes lack {missing} and add {unknown}."
            if missing and unknown
            else f"the fitted attributes lack {missing}."
            if missing
            else f"unknown fitted attributes {unknown}."
        )
    checks = {
        "n_features_in_": _is_int(record["n_features_in_"], 1),
        "n_components_": record["n_components_"] == params["n_components"]
        and _is_int(record["n_components_"], 1),
        "image_shape_": record["image_shape_"] is None
        or (
            isinstance(record["image_shape_"], list)
            and len(record["image_shape_"]) == 3
            and all(_is_int(s, 1) for s in record["image_shape_"])
        ),
        "reconstruction_loss_": record["reconstruction_loss_"] in ("mse", "bce"),
        "max_iter_": _is_int(record["max_iter_"], 1),
        "n_iter_": _is_int(record["n_iter_"]),
        "stop_reason_": record["stop_reason_"] in _STOP_REASONS,
        "loss_curve_": _numbers(record["loss_curve_"]),
        "history_": isinstance(record["history_"], dict)
        and all(_numbers(v) for v in record["history_"].values())
        and record["history_"].get("loss") == record["loss_curve_"],
        "validation_scores_": record["validation_scores_"] is None
        or _numbers(record["validation_scores_"]),
        "best_validation_score_": record["best_validation_score_"] is None
        or _is_number(record["best_validation_score_"]),
        "best_loss_": record["best_loss_"] is None or _is_number(record["best_loss_"]),
        "best_epoch_": _is_int(record["best_epoch_"]),
    }
    if "feature_names_in_" in record:
        names = record["feature_names_in_"]
        checks["feature_names_in_"] = (
            isinstance(names, list)
            and len(names) == record.get("n_features_in_")
            and all(isinstance(n, str) for n in names)
        )
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise _Invalid(
            f"the fitted attribute {bad[0]} is missing, of the wrong type or "
            f"inconsistent (got {_short(repr(record[bad[0]]), 80)})."
        )


def _network(params: dict, record: dict, content: dict):
    """The saved network: built from the parameters on the meta device,
    checked against the saved tensors' names, shapes and values, and only
    then allocated and loaded."""
    from ._fit_plan import build_for_loading

    try:
        net, _ = build_for_loading(
            params, record["n_features_in_"], record["reconstruction_loss_"]
        )
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"the parameters describe no network ({exc})") from None
    for part in ("encoder", "decoder"):
        saved = content[part]
        expected = getattr(net, part).state_dict()
        if not isinstance(saved, dict) or set(saved) != set(expected):
            names = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
            raise _Invalid(
                f"the {part} weights do not fit the network its parameters "
                f"describe: the file has {_short(str(names), 120)}, the network "
                f"{sorted(expected)}."
            )
        for key, tensor in saved.items():
            want = expected[key]
            if not isinstance(tensor, torch.Tensor) or tensor.shape != want.shape:
                got = getattr(tensor, "shape", type(tensor).__name__)
                raise _Invalid(
                    f"the {part} weights do not fit the network its parameters "
                    f"describe: {key!r} has shape {tuple(got)}, the network "
                    f"{tuple(want.shape)}."
                )
            if tensor.dtype != torch.float32:
                raise _Invalid(
                    f"the {part} weight {key!r} is {tensor.dtype}, not float32."
                )
            if not bool(torch.isfinite(tensor).all()):
                raise _Invalid(
                    f"the {part} weight {key!r} holds NaN or infinite values."
                )
    net.to_empty(device="cpu")
    net.encoder.load_state_dict(content["encoder"])
    net.decoder.load_state_dict(content["decoder"])
    return net.eval()
