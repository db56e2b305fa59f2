"""Reconstruction losses and sparsity penalties on the code.

Every function here maps tensors to a scalar tensor; none knows about the
training loop or the estimator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_EPS = 1e-6


def reconstruction_loss(
    name: str,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Return ``loss(output, target)`` averaged over every element.

    For ``"bce"`` the network output is taken as logits: the sigmoid and the
    log are fused by :func:`torch.nn.functional.binary_cross_entropy_with_logits`,
    which stays finite where a separate sigmoid would saturate.
    """
    if name == "mse":
        return F.mse_loss
    if name == "bce":
        return F.binary_cross_entropy_with_logits
    raise ValueError(f"Unknown loss {name!r}; expected 'mse' or 'bce'.")


def l1_penalty(code: torch.Tensor) -> torch.Tensor:
    """Scale-free L1: each code's L1 norm over its L2 norm, averaged.

    Divided by ``sqrt(n_components)`` so it lies in
    ``[1 / sqrt(n_components), 1]``: 1 when every unit is equally active, the
    lower end when one unit carries the code (0 for an all-zero code). A
    plain mean ``|code|`` can be driven down by shrinking every code and
    letting the decoder's weights grow to compensate; that shrinks
    the codes without making them sparse and, on MNIST, cost far more
    neighbour accuracy and reconstruction for the same sparsity (Hoyer's
    measure) than this ratio, which only fewer active units can lower.
    """
    l1 = code.abs().sum(dim=1)
    l2 = code.norm(dim=1)
    return (l1 / (l2 + _EPS)).mean() / math.sqrt(code.shape[1])


def kl_penalty(code: torch.Tensor, target: float) -> torch.Tensor:
    """KL divergence between ``target`` and each unit's mean activation.

    ``code`` must lie in (0, 1) (sigmoid codes). Returns the divergence
    averaged over code units, so its scale does not grow with
    ``n_components``.
    """
    rho_hat = code.mean(dim=0).clamp(_EPS, 1 - _EPS)
    rho = torch.as_tensor(target, dtype=code.dtype, device=code.device)
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log(
        (1 - rho) / (1 - rho_hat)
    )
    return kl.mean()


@dataclass(frozen=True)
class Objective:
    """Reconstruction loss plus an optional weighted sparsity penalty.

    Calling it returns ``(reconstruction, penalty)`` as scalar tensors; the
    training loop optimises their sum and records both.
    """

    loss: str = "mse"
    sparsity: str | None = None
    sparsity_weight: float = 0.0
    sparsity_target: float = 0.05

    def __call__(
        self, code: torch.Tensor, output: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        recon = reconstruction_loss(self.loss)(output, target)
        if self.sparsity is None or self.sparsity_weight == 0:
            return recon, torch.zeros((), dtype=recon.dtype, device=recon.device)
        if self.sparsity == "l1":
            penalty = l1_penalty(code)
        elif self.sparsity == "kl":
            penalty = kl_penalty(code, self.sparsity_target)
        else:
            raise ValueError(f"Unknown sparsity {self.sparsity!r}.")
        return recon, self.sparsity_weight * penalty
