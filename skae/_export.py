"""A fitted encoder as a standalone file for serving, without skae or pickle."""

from __future__ import annotations

import copy
import logging
import os
import warnings

import torch
from sklearn.utils.validation import check_is_fitted

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
        The path written.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}.")
    check_is_fitted(estimator)
    path = os.fspath(path)
    encoder = copy.deepcopy(estimator.encoder_).cpu().eval()
    example = torch.zeros(2, estimator.n_features_in_)
    try:
        if format == "torchscript":
            with torch.no_grad():
                torch.jit.trace(encoder, example).save(path)
        elif format == "torch.export":
            batch = torch.export.Dim("batch", min=1)
            program = torch.export.export(
                encoder, (example,), dynamic_shapes=({0: batch},)
            )
            torch.export.save(program, path)
        else:
            _export_onnx(encoder, example, path)
    except ImportError:
        raise
    except Exception as exc:  # the exporters' own errors name torch internals
        raise ValueError(
            f"Could not export the encoder ({type(estimator.encoder_).__name__}) "
            f"as {format!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return path


def _export_onnx(encoder: torch.nn.Module, example: torch.Tensor, path: str) -> None:
    """ONNX through torch's ``torch.export``-based exporter (its default
    since torch 2.9; the TorchScript-based one is deprecated)."""
    try:
        import onnx  # noqa: F401 - the exporter needs both
        import onnxscript  # noqa: F401
    except ImportError:
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
                verbose=False,
            )
    finally:
        registry.setLevel(level)
