"""The training loop: batching, Adam, early stopping, best weights, history.

This is the only module that steps an optimizer. It knows nothing about
scikit-learn or about which architecture it trains: it receives a network
returning ``(code, output)``, an objective returning ``(reconstruction,
penalty)``, and a corruption function for the inputs.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from ._data import RowSource
from ._neighbors import NeighborTerm


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings, named as in :class:`~sklearn.neural_network.MLPRegressor`.

    Early stopping is not a setting here: :func:`train` does it exactly when it
    is given a validation source.
    """

    batch_size: int = 256
    learning_rate_init: float = 1e-3
    learning_rate: str = "constant"
    alpha: float = 0.0
    max_iter: int = 200
    shuffle: bool = True
    n_iter_no_change: int = 10
    tol: float = 1e-4
    autocast_dtype: torch.dtype | None = None


SCHEDULES = ("cosine", "constant")
# The terms of the objective, each recorded per epoch in the history.
TERMS = ("reconstruction", "penalty", "neighbor")
# A scheduled run whose last epoch gained less than this fraction of the
# run's total gain has settled. On all 60,000 MNIST or Fashion-MNIST images
# at 32-D the default 11 epochs end at 0.3-0.5% (settled), 6 epochs of the
# wide model at 1.6-1.8%, and the neighbour-graph term's 11 epochs at 3.5-5.5%
# (its loss still falls about 1% per epoch) (benchmarks/results/fit_budget.json,
# neighbors.json).
SETTLED_FRACTION = 0.01


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Optimiser steps in one pass over ``n_samples`` rows (batches clipped to n)."""
    return math.ceil(n_samples / min(batch_size, n_samples))


def cosine_factor(progress: float) -> float:
    """The cosine schedule's multiplier on the peak rate, ``progress`` in [0, 1]."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def make_schedule(
    optimizer: torch.optim.Optimizer,
    config: TrainingConfig,
    steps_per_epoch: int,
    start_epoch: float = 0.0,
) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step learning-rate schedule over the whole run of ``max_iter`` epochs.

    ``"cosine"`` anneals from ``learning_rate_init`` to zero along half a
    cosine, stepped every batch so that a run of few epochs anneals as smoothly
    as a long one; ``"constant"`` keeps the rate fixed. Annealing is what lets a
    fixed budget end at a minimum rather than wherever the last noisy step of
    a constant rate landed. ``start_epoch`` places the schedule's first step
    later in the run (``partial_fit``: the calls already made).
    """
    if config.learning_rate == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if config.learning_rate != "cosine":
        raise ValueError(
            f"Unknown learning_rate schedule {config.learning_rate!r}; "
            f"expected one of {SCHEDULES}."
        )
    steps = max(1, steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: cosine_factor((start_epoch + step / steps) / config.max_iter),
    )


@dataclass
class TrainingResult:
    """What a run of :func:`train` produced.

    ``history`` has one entry per completed epoch under ``"loss"`` (the
    optimised objective), ``"reconstruction"``, ``"penalty"`` and, with early
    stopping, ``"val_mse"``. ``stop_reason`` is one of ``"converged"``,
    ``"max_iter"``, ``"callback"`` (``on_epoch_end`` asked to stop),
    ``"interrupted"`` or ``"diverged"``; for the last two, ``note`` says
    what happened and which weights were kept. The estimator turns notes
    into warnings: the loop does not speak to the user.
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    n_iter: int = 0
    best_epoch: int = 0
    stop_reason: str = "max_iter"
    note: str = ""


class _Plateau:
    """No-improvement counter with :class:`MLPRegressor`'s semantics.

    An epoch counts as "no improvement" when the monitored value is not lower
    than the best so far by more than ``tol``; training stops once that has
    happened more than ``patience`` times in a row.
    """

    def __init__(self, tol: float, patience: int) -> None:
        self.tol, self.patience = tol, patience
        self.best = math.inf
        self.count = 0

    def update(self, value: float) -> bool:
        """Record ``value``; return True if it is a new best."""
        self.count = self.count + 1 if value > self.best - self.tol else 0
        if value < self.best:
            self.best = value
            return True
        return False

    @property
    def exhausted(self) -> bool:
        return self.count > self.patience


def make_adam(params: list[torch.nn.Parameter], config: TrainingConfig):
    """Adam, fused into one kernel per parameter where torch supports it.

    Unfused Adam runs half a dozen elementwise passes per parameter tensor;
    on a 2-core CPU that was ~30% of a dense model's epoch, and the fused
    kernel made epochs ~27% faster (benchmarks/performance.py). Fused CPU
    Adam needs torch >= 2.4, so older versions fall back to the default.
    """
    kwargs = dict(lr=config.learning_rate_init, weight_decay=config.alpha)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, **kwargs)


def _finite(net: torch.nn.Module) -> bool:
    """Whether every weight of ``net`` is finite (one device sync)."""
    return bool(
        torch.stack([p.detach().isfinite().all() for p in net.parameters()]).all()
    )


def _epoch_record(means: dict[str, float], terms) -> dict[str, float]:
    """The epoch's objective (the sum of all its terms) and the ``terms``
    this run records."""
    return {"loss": sum(means.values()), **{t: means[t] for t in terms}}


def _diverged(record: dict[str, float], net: torch.nn.Module) -> bool:
    # The epoch's losses are taken before each step, so the last step can
    # leave non-finite weights behind finite losses: check the weights too.
    return not all(math.isfinite(v) for v in record.values()) or not _finite(net)


def _divergence_cause(record: dict[str, float], config: TrainingConfig) -> str:
    """Which term went non-finite, and the parameter to change for it."""
    if not math.isfinite(record.get("penalty", 0.0)):
        return (
            f"the sparsity penalty became {record['penalty']}; lower sparsity_weight."
        )
    if not math.isfinite(record.get("neighbor", 0.0)):
        return (
            f"the neighbour term became {record['neighbor']}; lower neighbor_weight "
            f"or learning_rate_init (now {config.learning_rate_init})."
        )
    what = (
        f"the loss became {record['loss']}"
        if not math.isfinite(record["loss"])
        else "the weights became non-finite"
    )
    return (
        f"{what}. Lower learning_rate_init (now {config.learning_rate_init}), "
        "scale the inputs (e.g. with MinMaxScaler or StandardScaler), or lower "
        "noise_level if gaussian noise is on."
    )


def _snapshot(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _edge_batches(
    neighbors: NeighborTerm,
    source: RowSource,
    batch_size: int,
    generator: torch.Generator,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of edge batches (heads, tails): as many steps, and heads, as
    a row epoch."""
    n = source.n_samples
    for start in range(0, n, batch_size):
        heads, tails = neighbors.sampler.sample(min(batch_size, n - start), generator)
        yield source.take(heads), source.take(tails)


def _run_epoch(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    objective: Callable,
    corrupt: Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor | None]],
    schedule: torch.optim.lr_scheduler.LRScheduler,
    autocast_dtype: torch.dtype | None = None,
    neighbors: NeighborTerm | None = None,
) -> dict[str, float]:
    """One pass over ``batches``; the mean of each term of the objective.

    Each batch is ``(rows, tails)`` of input rows on ``device``: the rows
    are reconstructed; with a neighbour term they are the heads of sampled
    graph edges whose ``tails`` are encoded too. With ``autocast_dtype``, the forward pass runs under
    :func:`torch.autocast` and the objective is computed in float32 from its
    upcast outputs, so that means over thousands of pixels (and the KL
    penalty's unit means) are not rounded to bfloat16's 8-bit mantissa.
    """
    net.train()
    autocast = (
        torch.autocast(device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else nullcontext()
    )
    # Accumulate on the device and read back once per epoch: a .item() per
    # batch would synchronise a GPU on every step.
    sums = torch.zeros(len(TERMS), device=device)
    n_rows = 0
    for clean, tails in batches:
        with autocast:
            code, output = net(corrupt(clean))
            tail_code = None if tails is None else net.encoder(tails)
        recon, penalty = objective(code.float(), output.float(), clean)
        neighbor = (
            torch.zeros_like(recon)
            if neighbors is None
            else neighbors(code.float(), tail_code.float())
        )
        terms = torch.stack([recon, penalty, neighbor])
        optimizer.zero_grad(set_to_none=True)
        terms.sum().backward()
        optimizer.step()
        schedule.step()
        sums += terms.detach() * len(clean)
        n_rows += len(clean)
    return dict(zip(TERMS, (sums / max(n_rows, 1)).tolist(), strict=True))


def fit_codes(
    encoder: torch.nn.Module,
    source: RowSource,
    targets: torch.Tensor,
    steps: int,
    batch_size: int,
    learning_rate: float,
    generator: torch.Generator,
    corrupt: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
) -> None:
    """Regress ``encoder`` onto ``targets`` (one target code per source row).

    A warm start: ``steps`` Adam steps of mean squared error on random row
    batches, with the learning rate annealed along half a cosine (so the
    regression ends at a minimum, not at its last noisy step) and an
    optimiser of its own, so that the main run's Adam starts from fresh
    moment estimates. ``corrupt`` is applied to each batch of inputs: noise
    there makes the encoder a smoother function of its input, which places
    unseen rows better. ``targets`` lives on the source's device.
    """
    # One "epoch" of ``steps`` batches: the cosine spans the whole regression.
    config = TrainingConfig(
        learning_rate_init=learning_rate, learning_rate="cosine", max_iter=1
    )
    optimizer = make_adam(list(encoder.parameters()), config)
    schedule = make_schedule(optimizer, config, steps)
    n = source.n_samples
    encoder.train()
    for _ in range(steps):
        rows = torch.randint(n, (min(batch_size, n),), generator=generator)
        codes = encoder(corrupt(source.take(rows)))
        loss = ((codes - targets[rows.to(targets.device)]) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()


def train_pass(
    net: torch.nn.Module,
    source,
    objective: Callable,
    config: TrainingConfig,
    generator: torch.Generator,
    corrupt: Callable[[torch.Tensor], torch.Tensor],
    optimizer_state: dict | None,
    start_epoch: float,
) -> tuple[dict[str, float], dict]:
    """One epoch over ``source`` that resumes an earlier optimiser (``partial_fit``).

    Adam starts from ``optimizer_state`` (a copy: the caller's state is left
    as it was, so a failed pass changes nothing) and the schedule from
    ``start_epoch`` of ``config.max_iter``. Returns the epoch's record and
    the optimiser's new state.

    Raises
    ------
    ValueError
        If the pass diverged (the caller keeps its previous model).
    """
    optimizer = make_adam(list(net.parameters()), config)
    if optimizer_state is not None:
        optimizer.load_state_dict(copy.deepcopy(optimizer_state))
        for group in optimizer.param_groups:  # the schedule's base rate
            group["lr"] = group["initial_lr"] = config.learning_rate_init
    batch_size = min(config.batch_size, source.n_samples)
    steps = steps_per_epoch(source.n_samples, batch_size)
    schedule = make_schedule(optimizer, config, steps, start_epoch)
    means = _run_epoch(
        net,
        optimizer,
        source.device,
        objective,
        corrupt,
        source.epoch(batch_size, config.shuffle, generator),
        schedule,
        config.autocast_dtype,
    )
    record = _epoch_record(means, TERMS[:2])
    if _diverged(record, net):
        raise ValueError(
            f"Training diverged in this partial_fit call: "
            f"{_divergence_cause(record, config)}"
        )
    return record, optimizer.state_dict()


def validation_mse(net: torch.nn.Module, source: RowSource, batch_size: int) -> float:
    """Mean squared reconstruction error on clean rows (the estimator's score)."""
    net.eval()
    total = torch.zeros((), device=source.device)
    with torch.inference_mode():
        for start in range(0, source.n_samples, batch_size):
            rows = torch.arange(start, min(start + batch_size, source.n_samples))
            total += net.squared_error(source.take(rows)).sum()
    return (total / source.n_samples).item()


def _annealed(losses: list[float], config: TrainingConfig) -> bool:
    """Whether a scheduled run that used all its epochs ended at a minimum.

    The schedule has brought the learning rate to zero, so the run has
    converged when its last epoch improved the training objective by at
    most ``tol``, or by at most ``SETTLED_FRACTION`` of what the whole run
    gained. The second test is scale-free: an absolute ``tol``
    means different things for a per-pixel cross-entropy and for a loss
    summed over terms. A run cut short while the loss still falls fast
    (``max_iter`` too small for the data) is not converged. A constant rate
    keeps :class:`MLPRegressor`'s rule: reaching ``max_iter`` means not
    converged.
    """
    if config.learning_rate == "constant" or len(losses) < 2:
        return False
    last_gain = losses[-2] - losses[-1]
    return last_gain <= max(config.tol, SETTLED_FRACTION * (losses[0] - losses[-1]))


def train(
    net: torch.nn.Module,
    train_source: RowSource,
    objective: Callable,
    config: TrainingConfig,
    generator: torch.Generator,
    corrupt: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
    val_source: RowSource | None = None,
    on_epoch_end: Callable[[int, dict], bool | None] | None = None,
    neighbors: NeighborTerm | None = None,
    on_epoch_begin: Callable[[int], None] | None = None,
) -> TrainingResult:
    """Train ``net`` in place with Adam and return its history.

    Parameters
    ----------
    net : torch.nn.Module
        An :class:`~skae._networks.Autoencoder`: ``forward`` returns
        ``(code, output)``, ``encoder`` encodes the tails of edge batches and
        ``squared_error`` scores the clean validation rows.
    train_source : RowSource
        Training rows, already on the training device.
    objective : callable
        ``objective(code, output, clean) -> (reconstruction, penalty)``.
    config : TrainingConfig
        Optimisation settings.
    generator : torch.Generator
        CPU generator for the per-epoch shuffling and the edge sampling.
    corrupt : callable
        Applied to each training batch before the forward pass (denoising);
        the loss always compares with the clean batch.
    val_source : RowSource or None
        Held-out rows; when given, early stopping monitors their clean MSE.
    on_epoch_end : callable or None
        Called as ``on_epoch_end(epoch, record)`` after each epoch, with the
        epoch's history entries plus ``"time"`` (seconds) and
        ``"max_iter"``; a true return value stops training
        (``stop_reason="callback"``), which then ends as on convergence.
    neighbors : NeighborTerm or None
        When given, each step reconstructs the heads of ``batch_size``
        sampled graph edges and adds the neighbour term on their codes;
        an epoch has as many steps as a pass over the rows.
    on_epoch_begin : callable or None
        Called as ``on_epoch_begin(epoch)`` before each epoch.

    Returns
    -------
    TrainingResult
        ``net`` holds the best weights when training stopped early, was
        interrupted or diverged, and the last weights otherwise.

    Raises
    ------
    ValueError
        If the loss is not finite in the first epoch (nothing usable to keep).
    KeyboardInterrupt
        If interrupted before the first epoch completed.
    """
    optimizer = make_adam(list(net.parameters()), config)
    n = train_source.n_samples
    batch_size = min(config.batch_size, n)
    schedule = make_schedule(optimizer, config, steps_per_epoch(n, batch_size))
    # With a schedule, the run length is the budget and the loss flattens by
    # design only at its end, so the no-improvement rule watches the training
    # loss only at a constant rate (validation, when given, is always watched).
    watch_plateau = val_source is not None or config.learning_rate == "constant"
    terms = [t for t in TERMS if t != "neighbor" or neighbors is not None]
    keys = ["loss", *terms] + (["val_mse"] if val_source else [])
    result = TrainingResult(history={k: [] for k in keys})
    plateau = _Plateau(config.tol, config.n_iter_no_change)
    best_state = None
    for epoch in range(1, config.max_iter + 1):
        if on_epoch_begin is not None:
            on_epoch_begin(epoch)
        try:
            tic = time.perf_counter()
            batches = (
                train_source.epoch(batch_size, config.shuffle, generator)
                if neighbors is None
                else _edge_batches(neighbors, train_source, batch_size, generator)
            )
            means = _run_epoch(
                net,
                optimizer,
                train_source.device,
                objective,
                corrupt,
                batches,
                schedule,
                config.autocast_dtype,
                neighbors,
            )
            record = _epoch_record(means, terms)
            if val_source is not None:
                record["val_mse"] = validation_mse(net, val_source, batch_size)
        except KeyboardInterrupt:
            if best_state is None:
                raise
            result.stop_reason = "interrupted"
            result.note = (
                f"fit interrupted during epoch {epoch}; keeping the weights of "
                f"epoch {result.best_epoch}, the best so far."
            )
            break
        if _diverged(record, net):
            cause = _divergence_cause(record, config)
            if best_state is None:
                raise ValueError(f"Training diverged in the first epoch: {cause}")
            result.stop_reason = "diverged"
            result.note = (
                f"Training diverged in epoch {epoch}; stopping and keeping the "
                f"weights of epoch {result.best_epoch}. {cause}"
            )
            break
        for key in keys:
            result.history[key].append(record[key])
        result.n_iter = epoch
        if plateau.update(record["val_mse" if val_source else "loss"]):
            best_state, result.best_epoch = _snapshot(net), epoch
        if on_epoch_end is not None and on_epoch_end(
            epoch,
            {**record, "time": time.perf_counter() - tic, "max_iter": config.max_iter},
        ):
            result.stop_reason = "callback"
            break
        if watch_plateau and plateau.exhausted:
            result.stop_reason = "converged"
            break
    if result.stop_reason == "max_iter" and _annealed(result.history["loss"], config):
        result.stop_reason = "converged"
    # Early stopping always returns its best epoch (as MLPRegressor does); an
    # interrupted or diverged run returns its best epoch so far.
    if val_source is not None or result.stop_reason in ("interrupted", "diverged"):
        net.load_state_dict(best_state)
    return result
