"""A fitted encoder as a standalone file for serving, without skae or pickle."""

from __future__ import annotations

import copy
import logging
import os
import warnings

import torch
from sklearn.utils.validation import check_is_fitted

from ._persistence import replaced_atomically, writable_path

FORMATS = ("torch.export", "torchscript", "onnx")


def export_encoder(
    estimator, path: str | os.PathLike, format: str = "torch.export"
) -> str:
    """Write a fitted estimator's encoder to ``path`` for serving.

    The file maps float32 batches of shape ``(n, n_features_in_)``, any
    ``n``, to codes of shape ``(n, n_components_)``, on the CPU, and needs
    neither skae nor a Python pickle to load:

    - ``"torch.export"`` (a ``.pt2`` program): ``torch.export.load(path)``,
      then ``.module()(x)``;
    - ``"torchscript"``: ``torch.jit.load(path)(x)``, also from C++ with
      libtorch (torch 2.10 and later deprecate TorchScript and warn);
    - ``"onnx"``: ``onnxruntime.InferenceSession(path).run(None, {"x": x})``;
      needs the ``onnx`` and ``onnxscript`` packages (``skae[export]``).
      GELU, tanh, sigmoid and ELU are exported in float32, where
      ``transform`` evaluates them in float64 (see
      ``skae._networks._RowOrderInvariant``).

    Column names, DataFrames, sparse matrices and the input checks of
    :meth:`~skae.AutoencoderTransformer.transform` stay on the Python side:
    pass a dense float32 array. On the CPU the torch formats give the codes
    of ``transform`` to within 1e-5, and ONNX Runtime to within 1e-4
    (``tests/test_export.py``).

    Parameters
    ----------
    estimator : AutoencoderTransformer
        A fitted estimator (its encoder may be a user-supplied module).
    path : path-like
        The file to write.
    format : {"torch.export", "torchscript", "onnx"}, default="torch.export"
        The file format.

    Returns
    -------
    path : str
        The path written: the one file, whatever the format (ONNX weights
        are stored inside it, not beside it).

    Raises
    ------
    TypeError
        If ``estimator`` is not an :class:`~skae.AutoencoderTransformer`.
    ValueError
        If the format is unknown, or the encoder cannot be exported
        faithfully: ``"torchscript"`` records one pass of the encoder, so
        an encoder whose control flow depends on the values of its input
        would be silently wrong for other inputs and is refused (use
        ``"torch.export"``, which captures or rejects such branches).
    """
    from ._estimator import AutoencoderTransformer

    if not isinstance(estimator, AutoencoderTransformer):
        raise TypeError(
            "export_encoder exports the encoder of an AutoencoderTransformer, "
            f"got {type(estimator).__name__}."
        )
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}.")
    check_is_fitted(estimator)
    path = writable_path(path, "export_encoder")
    encoder = copy.deepcopy(estimator.encoder_).cpu().eval()
    example = torch.zeros(2, estimator.n_features_in_)
    try:
        with replaced_atomically(path) as tmp:
            _write(encoder, example, tmp, format)
    except (ImportError, UnfaithfulExportError):
        raise
    except Exception as exc:  # the exporters' own errors name torch internals
        raise ValueError(
            f"Could not export the encoder ({type(estimator.encoder_).__name__}) "
            f"as {format!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return path


def _write(encoder: torch.nn.Module, example: torch.Tensor, path: str, format: str):
    if format == "torchscript":
        _trace(encoder, example).save(path)
    elif format == "torch.export":
        batch = torch.export.Dim("batch", min=1)
        program = torch.export.export(encoder, (example,), dynamic_shapes=({0: batch},))
        torch.export.save(program, path)
    else:
        _export_onnx(encoder, example, path)


class UnfaithfulExportError(ValueError):
    """An export that would run, and be wrong."""


def _trace(encoder: torch.nn.Module, example: torch.Tensor):
    """``torch.jit.trace`` of ``encoder``, refused when the tracer warns that
    the trace may not generalise (a Python branch on a tensor's value, a
    tensor turned into a number): the file would replay one path for every
    input."""
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always", torch.jit.TracerWarning)
        traced = torch.jit.trace(encoder, example, check_trace=False)
    risky = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    for w in caught:  # pass on whatever else was said
        if w not in risky:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if risky:
        first = str(risky[0].message).splitlines()[0]
        raise UnfaithfulExportError(
            f"Refusing to export the encoder ({type(encoder).__name__}) as "
            "'torchscript': tracing records a single pass, and this encoder's "
            f"computation depends on its input's values ({first}), so the file "
            "would be wrong for other inputs. Use format='torch.export' (which "
            "captures or rejects such branches) or 'onnx'."
        )
    return traced


def _export_onnx(encoder: torch.nn.Module, example: torch.Tensor, path: str) -> None:
    """ONNX through torch's ``torch.export``-based exporter (its default
    since torch 2.9; the TorchScript-based one is deprecated)."""
    try:
        import onnx  # noqa: F401 - the exporter needs both
        import onnxscript  # noqa: F401
    except (ImportError, UnfaithfulExportError):
        raise ImportError(
            "format='onnx' needs the onnx and onnxscript packages: pip install "
            "'skae[export]' (onnx, onnxscript, and onnxruntime to run the file)."
        ) from None
    # ONNX Runtime implements Erf (GELU) in float32 only: export the float32
    # activations (they differ from transform's by float32 rounding).
    for module in encoder.modules():
        if hasattr(module, "float64_inference"):
            module.float64_inference = False
    batch = torch.export.Dim("batch", min=1)
    # The exporter logs what it skips (torchvision's operators) and warns
    # about its own internals; none of it concerns the caller.
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry.level
    registry.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                encoder,
                (example,),
                path,
                input_names=["x"],
                output_names=["code"],
                dynamic_shapes=({0: batch},),
                dynamo=True,
                external_data=False,  # one self-contained file
                verbose=False,
            )
    finally:
        registry.setLevel(level)
