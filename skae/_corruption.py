"""Input corruption for denoising autoencoders.

Corruption is applied to training batches only; the loss always compares the
reconstruction with the clean batch. Randomness comes from an explicit
``torch.Generator`` so a seeded estimator corrupts identically run after run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NOISE_KINDS = ("gaussian", "masking", "salt_pepper")


def corrupt(
    batch: torch.Tensor,
    noise: str | None,
    level: float,
    generator: torch.Generator,
    clip: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Return a corrupted copy of ``batch`` (or ``batch`` itself if no noise).

    Parameters
    ----------
    batch : Tensor of shape (n_samples, n_features)
        Clean inputs; never modified in place.
    noise : {"gaussian", "masking", "salt_pepper"} or None
        ``"gaussian"`` adds N(0, level**2) noise; ``"masking"`` sets each entry
        to 0 with probability ``level``; ``"salt_pepper"`` sets each entry with
        probability ``level`` to the low or the high end of ``clip`` (0 or 1
        when ``clip`` is None), with equal odds.
    level : float
        Standard deviation (gaussian) or corruption probability.
    generator : torch.Generator
        On the same device as ``batch``.
    clip : (low, high) or None
        Range to clip gaussian noise into (used for BCE, whose targets must
        stay in [0, 1]).

    Returns
    -------
    Tensor of the same shape and dtype as ``batch``.
    """
    if noise is None or level == 0:
        return batch
    if noise == "gaussian":
        noisy = batch + level * torch.randn(
            batch.shape, generator=generator, device=batch.device, dtype=batch.dtype
        )
        return noisy.clamp(*clip) if clip is not None else noisy
    draw = torch.rand(batch.shape, generator=generator, device=batch.device)
    if noise == "masking":
        return batch.masked_fill(draw < level, 0.0)
    if noise == "salt_pepper":
        low, high = clip if clip is not None else (0.0, 1.0)
        # One uniform draw decides both whether and how to corrupt an entry:
        # [0, level/2) -> low, [level/2, level) -> high.
        out = batch.masked_fill(draw < level / 2, low)
        return out.masked_fill((draw >= level / 2) & (draw < level), high)
    raise ValueError(f"Unknown noise {noise!r}; expected one of {NOISE_KINDS}.")


@dataclass(frozen=True)
class Corruption:
    """A fit's corruption settings: ``corruption(batch, generator)`` is
    :func:`corrupt` with them (the batch itself when ``noise`` is None)."""

    noise: str | None = None
    level: float = 0.0
    clip: tuple[float, float] | None = None

    def __call__(self, batch: torch.Tensor, generator: torch.Generator):
        return corrupt(batch, self.noise, self.level, generator, self.clip)
