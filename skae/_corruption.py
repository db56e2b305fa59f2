"""Input corruption for denoising autoencoders.

Corruption is applied to training batches only; the loss always compares the
reconstruction with the clean batch. Randomness comes from an explicit
``torch.Generator`` so a seeded estimator corrupts identically run after run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NOISE_KINDS = ("gaussian", "masking", "salt_pepper", "shift")


def corrupt(
    batch: torch.Tensor,
    noise: str | None,
    level: float,
    generator: torch.Generator,
    clip: tuple[float, float] | None = None,
    image_shape: tuple[int, int, int] | None = None,
) -> torch.Tensor:
    """Return a corrupted copy of ``batch`` (or ``batch`` itself if no noise).

    Parameters
    ----------
    batch : Tensor of shape (n_samples, n_features)
        Clean inputs; never modified in place.
    noise : {"gaussian", "masking", "salt_pepper", "shift"} or None
        ``"gaussian"`` adds N(0, level**2) noise; ``"masking"`` sets each entry
        to 0 with probability ``level``; ``"salt_pepper"`` sets each entry with
        probability ``level`` to the low or the high end of ``clip`` (0 or 1
        when ``clip`` is None), with equal odds; ``"shift"`` translates each
        row, read as an image of ``image_shape``, by a whole number of pixels
        drawn uniformly from ``-level`` to ``level`` along each axis, filling
        the vacated pixels with 0.
    level : float
        Standard deviation (gaussian), corruption probability, or the largest
        shift in pixels (a whole number).
    generator : torch.Generator
        On the same device as ``batch``.
    clip : (low, high) or None
        Range to clip gaussian noise into (used for BCE, whose targets must
        stay in [0, 1]).
    image_shape : (channels, height, width) or None
        The rows' image shape, for ``"shift"`` only.

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
    if noise == "shift":
        return shift_images(batch, int(level), image_shape, generator)
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


def shift_images(
    batch: torch.Tensor,
    max_shift: int,
    image_shape: tuple[int, int, int],
    generator: torch.Generator,
) -> torch.Tensor:
    """Each row of ``batch``, an image of ``image_shape``, translated by its
    own (dy, dx), both uniform in ``[-max_shift, max_shift]``; pixels moved
    in from outside the image are 0.

    One gather from a zero-padded copy: a per-row ``torch.roll`` would wrap
    the far edge around instead of leaving it blank, and a loop over rows
    costs a kernel launch per image.
    """
    n, (channels, height, width) = len(batch), image_shape
    s = max_shift
    padded = torch.nn.functional.pad(
        batch.reshape(n, channels, height, width), (s, s, s, s)
    )
    offsets = torch.randint(
        0, 2 * s + 1, (2, n, 1), generator=generator, device=batch.device
    )
    rows = torch.arange(height, device=batch.device) + offsets[0]  # (n, height)
    cols = torch.arange(width, device=batch.device) + offsets[1]  # (n, width)
    picked = padded[
        torch.arange(n, device=batch.device)[:, None, None, None],
        torch.arange(channels, device=batch.device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    return picked.reshape(n, -1)


@dataclass(frozen=True)
class Corruption:
    """A fit's corruption settings: ``corruption(batch, generator)`` is
    :func:`corrupt` with them (the batch itself when ``noise`` is None)."""

    noise: str | None = None
    level: float = 0.0
    clip: tuple[float, float] | None = None
    image_shape: tuple[int, int, int] | None = None  # for "shift"

    def __call__(self, batch: torch.Tensor, generator: torch.Generator):
        return corrupt(
            batch, self.noise, self.level, generator, self.clip, self.image_shape
        )
