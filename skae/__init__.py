"""skae: PyTorch autoencoders as scikit-learn dimensionality reducers."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "AutoencoderTransformer",
    "__version__",
    "callbacks",
    "datasets",
    "distributed",
    "export_encoder",
    "load_model",
    "model_selection",
    "neighbors",
    "plotting",
    "save_model",
]

# Public names and the modules that define them. They are imported on first
# access so that `import skae.datasets` does not pay for importing torch, and
# `import skae` never imports matplotlib.
_LAZY = {
    "AutoencoderTransformer": "skae._estimator",
    "callbacks": "skae.callbacks",
    "datasets": "skae.datasets",
    "distributed": "skae.distributed",
    "export_encoder": "skae._export",
    "load_model": "skae._persistence",
    "model_selection": "skae.model_selection",
    "neighbors": "skae.neighbors",
    "plotting": "skae.plotting",
    "save_model": "skae._persistence",
}

if TYPE_CHECKING:  # pragma: no cover
    from . import callbacks, datasets, distributed, model_selection, neighbors, plotting
    from ._estimator import AutoencoderTransformer
    from ._export import export_encoder
    from ._persistence import load_model, save_model


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'skae' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if module.__name__ == f"skae.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
