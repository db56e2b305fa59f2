"""A fit's plan: everything decided before training, frozen.

:func:`plan_fit` turns the estimator's parameters and one scan of the data
into a :class:`FitPlan`: the validated settings, the network's spec, the
resolved loss, epoch budget and sparsity weight, the objective, the
optimisation settings, the corruption, the neighbour term's settings, the
seed and the device. ``fit`` and every ``partial_fit`` call build one and
hand it to the trainer; the fitted attributes are derived from it
(``skae._fitted``), never from the live parameters, so ``set_params`` (or a
callback that changes the estimator) between or during calls cannot make
the attributes disagree with the model.

:func:`start_network` builds (or continues) the network a plan describes.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import torch
from sklearn.utils import check_random_state

from ._auto import is_auto, resolve_auto
from ._corruption import Corruption
from ._data import Summary, resolve_device
from ._neighbors import start_steps
from ._networks import (
    Autoencoder,
    NetworkSpec,
    build_network,
    check_network,
    check_user_module,
    init_output_bias,
    resolve_image_shape,
)
from ._objectives import Objective
from ._training import TrainingConfig, steps_per_epoch
from ._validation import (
    check_code_size,
    check_integer_params,
    check_noise_level,
    check_variational,
    require_unit_range,
)

# max_iter="auto": enough epochs for about this many optimiser steps, within
# bounds. 2,500 steps (11 epochs of 60,000 rows) fit a 32-D model in about
# half of UMAP's time on 2 CPU cores; at the default learning rate and
# activation they gave better codes than 5,000 steps did at the old ones
# (benchmarks/defaults_sweep.py). The neighbour-graph term gets the same
# budget: its encoder starts from umap-learn's layout, so the steps refine a
# map rather than unfold one (in a prototype on full MNIST at 2-D, 11 epochs
# gave test 5-NN 0.945 and 3 epochs 0.939).
AUTO_STEPS = 2500
AUTO_MIN_EPOCHS = 10
AUTO_MAX_EPOCHS = 1000
# sparsity_weight="auto", per penalty. The two penalties have different
# scales: the scale-free L1 ratio moves by O(1) as codes sparsify, so a small
# weight already sparsifies strongly. L1, measured with GELU hidden layers on
# 2,000 MNIST digits at 32-D (tests/test_variants.py's short budget), 5-NN on
# 1,000 test digits: plain model Hoyer sparsity 0.24, 5-NN 0.881; 0.0015
# barely sparsified (0.26); 0.002 gave 0.42 at 0.881 (seed 1: 0.52 at 0.853
# against 0.891); 0.0025 gave 0.66 at 0.853. KL, with its warm-up (see
# _objectives.KL_WARMUP), on all of MNIST at 32-D (benchmarks/kl_weight.py):
# 0.1 brings the mean code activation within twice sparsity_target (0.05)
# with 5-NN within 0.01 of the unpenalised model's, and so does 0.2; 0.05
# stays above twice the target (0.109), so 0.1 is not balanced on an edge.
AUTO_SPARSITY_WEIGHT = {"l1": 0.002, "kl": 0.1}
# Gaussian noise whose standard deviation exceeds the data's value range this
# many times leaves no signal in the corrupted rows: such a noise_level is a
# mistake (a percentage for a fraction, or unscaled data), not a setting.
MAX_NOISE_TO_RANGE = 100.0
# Parameters that are code (modules, callables) or live objects, not part of
# a plan's JSON record of what the model was fitted with.
_NOT_RECORDED = ("encoder", "decoder", "callbacks")


@dataclass(frozen=True)
class NeighborSettings:
    """The neighbour-graph term's settings (``neighbor_weight > 0``)."""

    weight: float
    n_components: int
    n_neighbors: int
    parallel: bool  # umap-learn's parallel layout, for unseeded fits
    start_steps: int  # the encoder's warm start onto the layout
    learning_rate: float
    # noise="shift" also moves the start's rows (before its masking): the
    # layout then teaches the encoder that a shifted image belongs where the
    # original does. Other noise acts in the main epochs only.
    start_augment: Corruption | None = None


@dataclass(frozen=True)
class FitPlan:
    """Everything one training run was decided to be."""

    params: dict[str, Any]  # the parameters fitted with (JSON values)
    architecture: str
    spec: NetworkSpec
    encoder: torch.nn.Module | None
    decoder: torch.nn.Module | None
    loss: str  # "mse" or "bce"
    objective: Objective
    training: TrainingConfig
    seed: int
    device: torch.device
    corruption: Corruption
    neighbor: NeighborSettings | None
    validation_fraction: float | None  # None: no early stopping

    @property
    def n_components(self) -> int:
        return self.spec.n_components

    @property
    def max_iter(self) -> int:
        return self.training.max_iter


def draw_seed(random_state) -> int:
    """The model's seed: one draw from ``random_state`` per new model."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def plan_fit(
    params: dict[str, Any],
    summary: Summary,
    n_samples: int,
    n_features: int,
    *,
    seed: int,
    loss: str | None = None,
    max_iter: int | None = None,
    hold_out: bool = True,
    fitted_params: dict[str, Any] | None = None,
) -> FitPlan:
    """The plan of a training run on data ``summary`` describes.

    Parameters
    ----------
    params : dict
        The estimator's ``get_params(deep=False)``, already checked against
        its ``_parameter_constraints``.
    summary : Summary
        One scan of the training rows (range, column means).
    n_samples, n_features : int
        The training data's shape (before any validation split).
    seed : int
        The model's seed (:func:`draw_seed` for a new model).
    loss, max_iter : optional
        Fixed by the model being continued (later ``partial_fit`` calls).
    hold_out : bool, default=True
        Whether ``early_stopping`` holds rows out. False for ``partial_fit``,
        whose calls never hold rows out and whose ``"auto"`` values take the
        large-data settings (``skae._auto``).
    fitted_params : dict, optional
        The plan's params of the model being continued, whose network an
        ``"auto"`` ``hidden_layer_sizes`` keeps.
    """
    early = bool(params["early_stopping"]) and hold_out
    n_train = n_samples
    if early:
        n_train -= _validation_size(params["validation_fraction"], n_samples)
    # An overcomplete code needs noise the user asked for: one that "auto"
    # gives on small data only would make the same call fail on more rows.
    noise = None if is_auto(params["noise"]) else params["noise"]
    check_code_size(params["n_components"], n_features, params["sparsity"], noise)
    params = resolve_auto(params, n_train, stream=not hold_out, fitted=fitted_params)
    _check_params(params, summary, n_features)
    loss = _resolve_loss(params["loss"], summary.value_range, continued=loss)
    if max_iter is None:
        max_iter = resolve_max_iter(params["max_iter"], n_train, params["batch_size"])
    sparsity = params["sparsity"]
    corruption = Corruption(
        params["noise"],
        params["noise_level"],
        _noise_clip(params["noise"], summary.value_range, loss),
        _shift_shape(params, n_features),
    )
    return FitPlan(
        params=_recorded(params),
        architecture=params["architecture"],
        spec=network_spec(params, n_features, loss),
        encoder=params["encoder"],
        decoder=params["decoder"],
        loss=loss,
        objective=Objective(
            loss,
            sparsity,
            _sparsity_weight(sparsity, params["sparsity_weight"]),
            params["sparsity_target"],
            beta=params["beta"] if params["variational"] else 0.0,
        ),
        training=TrainingConfig(
            batch_size=params["batch_size"],
            learning_rate_init=params["learning_rate_init"],
            learning_rate=params["learning_rate"],
            alpha=params["alpha"],
            max_iter=max_iter,
            shuffle=params["shuffle"],
            n_iter_no_change=params["n_iter_no_change"],
            tol=params["tol"],
            autocast_dtype=(
                torch.bfloat16 if params["precision"] == "bfloat16" else None
            ),
        ),
        seed=seed,
        device=resolve_device(params["device"]),
        corruption=corruption,
        neighbor=_neighbor_settings(params, n_train, corruption),
        validation_fraction=params["validation_fraction"] if early else None,
    )


def network_spec(params: dict, n_features: int, loss: str) -> NetworkSpec:
    """What the parameters say about the network, for data of ``n_features``
    columns and a resolved ``loss``."""
    return NetworkSpec(
        n_features=n_features,
        n_components=params["n_components"],
        hidden_layer_sizes=params["hidden_layer_sizes"],
        conv_channels=params["conv_channels"],
        image_shape=params["image_shape"],
        activation=params["activation"],
        code_activation="logistic" if params["sparsity"] == "kl" else None,
        output_activation="logistic" if loss == "bce" else None,
        variational=bool(params["variational"]),
    )


def _check_params(params: dict, summary: Summary, n_features: int) -> None:
    """Checks that ``_parameter_constraints`` cannot express, some against
    the data."""
    check_integer_params(params)
    check_variational(params)
    check_noise_level(
        params["noise"], params["noise_level"], _shift_shape(params, n_features)
    )
    for name in ("encoder", "decoder"):
        if params[name] is not None:
            check_user_module(params[name], name)
    if params["noise"] == "gaussian":
        low, high = summary.value_range
        spread = max(high - low, abs(high), abs(low), np.finfo(np.float32).tiny)
        if params["noise_level"] > MAX_NOISE_TO_RANGE * spread:
            raise ValueError(
                f"noise_level={params['noise_level']:g} is the standard deviation "
                f"of the gaussian noise, over {MAX_NOISE_TO_RANGE:g} times the "
                f"spread of X (values in [{low:g}, {high:g}]): the corrupted rows "
                "would hold no signal. Use a level on the scale of X (e.g. 0.1 to "
                "0.5 for data in [0, 1]), or scale X first."
            )


def _shift_shape(params: dict, n_features: int) -> tuple[int, int, int] | None:
    """The image shape ``noise="shift"`` moves rows in; None for other noise."""
    if params["noise"] != "shift":
        return None
    return resolve_image_shape(params["image_shape"], n_features, "noise='shift'")


def _recorded(params: dict) -> dict:
    """The parameters as a plan records them: JSON values, no code."""
    recorded = {k: v for k, v in params.items() if k not in _NOT_RECORDED}
    state = recorded["random_state"]
    if not (state is None or isinstance(state, Integral)):
        recorded["random_state"] = None  # a RandomState's state is not JSON
    for name in _NOT_RECORDED:
        recorded[name] = None
    return recorded


def _validation_size(fraction: float, n_samples: int) -> int:
    """Rows early stopping holds out; both parts must keep a row."""
    n_val = round(fraction * n_samples)
    if n_val < 1 or n_val >= n_samples:
        raise ValueError(
            f"early_stopping with validation_fraction={fraction} "
            f"leaves {n_val} validation and {n_samples - n_val} training samples "
            f"out of n_samples={n_samples}; both need at least one. Use more "
            "samples or another fraction."
        )
    return n_val


def split_validation(source, plan: FitPlan):
    """``source`` split into training and held-out rows (early stopping),
    with the training rows' positions; ``(source, None, None)`` without."""
    if plan.validation_fraction is None:
        return source, None, None
    n = source.n_samples
    n_val = _validation_size(plan.validation_fraction, n)
    generator = torch.Generator().manual_seed(plan.seed)
    order = torch.randperm(n, generator=generator)
    train_rows = order[n_val:]
    return source.subset(train_rows), source.subset(order[:n_val]), train_rows


def _resolve_loss(
    loss: str, value_range: tuple[float, float], continued: str | None
) -> str:
    """``loss``, with ``"auto"`` made concrete for data spanning ``value_range``
    (or fixed by the model being continued)."""
    if continued is not None:
        if continued == "bce":
            chosen = " (chosen by loss='auto' from the first call's X)"
            require_unit_range(
                value_range, "loss='bce'" + (chosen if loss == "auto" else "")
            )
        return continued
    if loss == "auto":
        low, high = value_range
        return "bce" if low >= 0 and high <= 1 else "mse"
    if loss == "bce":
        require_unit_range(value_range, "loss='bce'")
    return loss


def auto_epochs(n_samples: int, batch_size: int) -> int:
    """``max_iter="auto"``: the epochs that give about ``AUTO_STEPS`` steps."""
    epochs = math.ceil(AUTO_STEPS / steps_per_epoch(n_samples, batch_size))
    return min(max(epochs, AUTO_MIN_EPOCHS), AUTO_MAX_EPOCHS)


def resolve_max_iter(max_iter, n_samples: int, batch_size: int) -> int:
    """``max_iter``, with ``"auto"`` sized from an optimiser-step budget."""
    if max_iter == "auto":
        return auto_epochs(n_samples, batch_size)
    return int(max_iter)


def _sparsity_weight(sparsity: str | None, weight) -> float:
    if weight != "auto":
        return float(weight)
    return AUTO_SPARSITY_WEIGHT.get(sparsity, 0.0)


def _noise_clip(
    noise: str | None, value_range: tuple[float, float], loss: str
) -> tuple[float, float] | None:
    if noise == "salt_pepper":
        return value_range
    return (0.0, 1.0) if loss == "bce" else None


def _neighbor_settings(
    params: dict, n_train: int, corruption: Corruption
) -> NeighborSettings | None:
    if params["neighbor_weight"] == 0:
        return None
    auto = auto_epochs(n_train, params["batch_size"])
    return NeighborSettings(
        weight=params["neighbor_weight"],
        n_components=params["n_components"],
        n_neighbors=params["n_neighbors"],
        parallel=params["random_state"] is None,
        start_steps=start_steps(params["max_iter"], auto),
        learning_rate=params["learning_rate_init"],
        start_augment=corruption if corruption.noise == "shift" else None,
    )


# ---------------------------------------------------------------- the network
def start_network(
    plan: FitPlan, summary: Summary, fitted: Autoencoder | None = None
) -> tuple[Autoencoder, tuple[int, int, int] | None]:
    """The network to train, on the plan's device, and its image shape.

    A new network is initialised from the plan's seed, its built decoder
    starting at the column means; with ``fitted`` (a warm start, a later
    ``partial_fit`` call), a copy of it, after checking that the plan
    still describes it.
    """
    try:
        net, image_shape = _build(plan)
        if fitted is not None:
            check_same_network(net, fitted)
            net = copy.deepcopy(fitted)
        elif plan.decoder is None:  # a user decoder keeps its own start
            init_output_bias(net, torch.as_tensor(summary.means, dtype=torch.float32))
        net.to(plan.device)
    except RuntimeError as exc:  # includes torch.OutOfMemoryError
        if "alloc" not in str(exc).lower() and "memory" not in str(exc).lower():
            raise
        raise ValueError(
            f"The network could not be allocated on {plan.device}: "
            f"n_components={plan.n_components}, hidden_layer_sizes="
            f"{plan.spec.hidden_layer_sizes!r} and n_features="
            f"{plan.spec.n_features} ask for more memory than there is. Use "
            "smaller layers."
        ) from None
    if not any(p.requires_grad for p in net.parameters()):
        raise ValueError(
            "The encoder and decoder have no trainable parameters: there is "
            "nothing to fit. Give at least one of them parameters (or leave it "
            "to the estimator to build)."
        )
    return net, image_shape


def _build(plan: FitPlan, device: torch.device | None = None):
    """The plan's network on ``device`` (default: the plan's), seeded.

    User modules are checked with a first batch under the same seed, so
    that lazy modules (``nn.LazyLinear``) materialise reproducibly.
    """
    device = device or plan.device
    # Seed the initialisation without disturbing the caller's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.seed)
        net, image_shape = build_network(
            plan.architecture, plan.spec, plan.encoder, plan.decoder
        )
        net.to(device)
        if plan.encoder is not None or plan.decoder is not None:
            check_network(net, plan.spec.n_features, plan.n_components, device)
    return net, image_shape


def build_for_loading(params: dict, n_features: int, loss: str):
    """The network the parameters describe, with its tensors on the meta
    device (no memory), for a loader to check saved shapes against before
    allocating anything; ``(net, image_shape)``."""
    with torch.device("meta"):
        return build_network(
            params["architecture"], network_spec(params, n_features, loss)
        )


def check_same_network(net: Autoencoder, fitted: Autoencoder) -> None:
    """Refuse to continue ``fitted`` when the parameters now describe a
    different network (``net``, built from them)."""
    if _layout(net) != _layout(fitted):
        raise ValueError(
            "The parameters now describe a different network than the fitted "
            "one (layer types or shapes changed, e.g. n_components, "
            "hidden_layer_sizes, activation or sparsity); restore them, or fit "
            "a new model (warm_start=False; fit rather than partial_fit)."
        )


def _layout(net: torch.nn.Module) -> list[tuple[str, str, tuple[int, ...]]]:
    """Each parameter's module type, name and shape: what a continued model
    must find unchanged."""
    modules = dict(net.named_modules())
    return [
        (type(modules[name.rpartition(".")[0]]).__name__, name, tuple(p.shape))
        for name, p in net.named_parameters()
    ] + [(type(m).__name__, name, ()) for name, m in modules.items()]
