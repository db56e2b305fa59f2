"""The skae variants every benchmark compares: one table of settings.

Each variant is the one estimator, ``AutoencoderTransformer``, with only
these parameters changed from its defaults; the rest (the ``(16, 32)``
channels of "conv", the budget ``max_iter="auto"``, the learning rate) are
the defaults, so a change of default reaches every script at once. "deep"
is the defaults themselves: ``(256, 128)`` hidden layers from 10,000
training rows, and below that (the quick preset's 5,000) the small-data
settings of ``skae._auto``, one hidden layer of 256 with masking 0.3 in
batches of 32. The variants defined by one change to a plain dense model
(vanilla, denoising, shift) pin the large-data settings, so that on small
data each still differs from the deep model in that one change. Scripts
that wrote results under other names before this table existed look the
variants up through :func:`named`, so the names stored in committed results
files stay valid.
"""

from __future__ import annotations

from types import MappingProxyType

# What "auto" gives a plain dense model from 10,000 rows.
from skae._auto import LARGE_DATA

VARIANTS = MappingProxyType(
    {
        "vanilla": {**LARGE_DATA, "hidden_layer_sizes": ()},
        "deep": {},
        "conv": {"architecture": "conv"},
        "sparse (l1)": {"sparsity": "l1"},
        "sparse (kl)": {"sparsity": "kl"},
        "denoising (masking 0.3)": {
            **LARGE_DATA,
            "noise": "masking",
            "noise_level": 0.3,
        },
        # The variational autoencoder at beta=1 (the ELBO itself).
        "variational": {"variational": True},
        # The neighbour-preserving model, at its recommended 2-D weight.
        "neighbors": {"neighbor_weight": 1.0},
        # Augmentation for images: random shifts of up to one pixel, in the
        # training epochs and, for the map, in the encoder's start. On full
        # data at 2-D (seed 0) the map's test 5-NN rose from 0.946 to 0.957
        # on MNIST (seed 1: 0.947 to 0.955) and fell from 0.725 to 0.707 on
        # Fashion-MNIST (convergence.py, neighbors.json): not a default.
        "shift": {**LARGE_DATA, "noise": "shift", "noise_level": 1},
        "neighbors shift": {"neighbor_weight": 1.0, "noise": "shift", "noise_level": 1},
    }
)


def named(labels: dict[str, str]) -> dict[str, dict]:
    """The variants under a script's own labels: ``{label: settings}``.

    ``labels`` maps each label to a key of :data:`VARIANTS`; the settings are
    fresh copies, so a script that adds to them changes nothing elsewhere.
    """
    unknown = sorted(set(labels.values()) - set(VARIANTS))
    if unknown:
        raise KeyError(f"unknown variants {unknown}; known: {sorted(VARIANTS)}")
    return {label: dict(VARIANTS[key]) for label, key in labels.items()}
