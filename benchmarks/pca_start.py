"""A prototype for small data: an autoencoder that starts as PCA.

Issue 35 asks for defaults that never lose to PCA's 5-NN at 8, 16 and 32-D
from 2,000 rows up. This script tests one candidate through the public API
(user ``encoder`` and ``decoder`` modules), before anything is built in:

- the encoder is ``W (x - mean) + r(x)`` and the decoder
  ``W^T z + mean + s(z)``, where ``W`` starts as PCA's components fitted on
  the training rows and the residual networks ``r`` and ``s`` (the default
  ``(256, 128)`` widths) have zero-initialised last layers, so the model
  starts exactly as PCA does and training moves it only where that lowers
  the loss;
- trained with the squared error (``loss="mse"``: a BCE decoder would put a
  sigmoid after the PCA reconstruction, and the start would not be PCA);
- with the settings of ``--settings`` (e.g. masking noise, a shorter budget;
  ``"frozen_pca": true`` keeps the PCA path fixed and trains the residuals
  only).

PCA is fitted alongside. Each row stores the settings, sizes, seed and git
revision, appended to ``--out``. Run::

    SKAE_DATA=../shared/data python benchmarks/pca_start.py --sizes 2000

A quality sweep, not a timing benchmark.
"""

from __future__ import annotations

import torch
from reportkit.methods import pca_model
from sklearn.decomposition import PCA
from small_data import arguments, sweep
from torch import nn

from skae import AutoencoderTransformer

HIDDEN = (256, 128)


def _residual(sizes: list[int]) -> nn.Sequential:
    """GELU layers through ``sizes`` whose last layer starts at zero."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.GELU())
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


class PCAStartEncoder(nn.Module):
    """``W (x - mean) + r(x)``, with ``W`` PCA's components and ``r`` zero at
    the start."""

    def __init__(self, pca: PCA, frozen: bool = False) -> None:
        super().__init__()
        components = torch.as_tensor(pca.components_, dtype=torch.float32)
        k, d = components.shape
        self.register_buffer("mean", torch.as_tensor(pca.mean_, dtype=torch.float32))
        self.linear = nn.Linear(d, k, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(components)
        self.linear.requires_grad_(not frozen)
        self.residual = _residual([d, *HIDDEN, k])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x - self.mean) + self.residual(x)


class PCAStartDecoder(nn.Module):
    """``W^T z + mean + s(z)``, with ``s`` zero at the start."""

    def __init__(self, pca: PCA, frozen: bool = False) -> None:
        super().__init__()
        components = torch.as_tensor(pca.components_, dtype=torch.float32)
        k, d = components.shape
        self.linear = nn.Linear(k, d)
        with torch.no_grad():
            self.linear.weight.copy_(components.T)
            self.linear.bias.copy_(torch.as_tensor(pca.mean_, dtype=torch.float32))
        self.linear.requires_grad_(not frozen)
        self.residual = _residual([k, *HIDDEN[::-1], d])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z) + self.residual(z)


def pca_start_model(X, dim: int, params: dict, seed: int):
    """The estimator with PCA-start modules fitted to ``X`` (PCA's fit is not
    in the row's ``fit_s``: a fraction of a second). ``params`` may hold
    ``"frozen_pca": true``, which keeps the PCA path fixed so that only the
    residual networks train."""
    params = dict(params)
    frozen = bool(params.pop("frozen_pca", False))
    pca = pca_model(dim, seed).fit(X)
    torch.manual_seed(seed)  # the residual networks' first layers
    model = AutoencoderTransformer(
        n_components=dim,
        loss="mse",
        encoder=PCAStartEncoder(pca, frozen),
        decoder=PCAStartDecoder(pca, frozen),
        random_state=seed,
        **params,
    )
    extra = {"start": "pca-residual", "residual_hidden": list(HIDDEN)}
    return model, {**extra, "frozen_pca": frozen}


def main(argv=None) -> int:
    args = arguments(
        __doc__.splitlines()[0],
        sizes=[2000, 5000],
        settings=[
            ("pca start", {}),
            ("pca start, 80 epochs", {"max_iter": 80}),
            (
                "pca start, masking 0.2, 80 epochs",
                {"noise": "masking", "noise_level": 0.2, "max_iter": 80},
            ),
        ],
        out="benchmarks/results/pca_start.jsonl",
        argv=argv,
    )
    sweep(args, pca_start_model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
