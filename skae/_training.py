"""The training engine: one loop for ``fit``, ``partial_fit`` and warm starts.

Read top to bottom, this module is the whole path of a training run once the
estimator has planned it (``skae._fit_plan``):

1. :class:`Trainer` holds the network, Adam and the position in the
   learning-rate schedule. ``fit`` builds a fresh one and runs up to
   ``max_iter`` epochs; ``partial_fit`` rebuilds one from the state the last
   call left (:class:`TrainerState`) and runs a single epoch; a warm start is
   a fresh trainer on a copy of the fitted network.
2. Each epoch draws its shuffling and corruption from ``(seed, epoch)``, so
   one seed gives the same model whether the epochs come from one ``fit`` or
   from as many ``partial_fit`` calls.
3. :meth:`Trainer.run` steps through the epochs, records the terms of the
   objective, watches for divergence (non-finite or exploding losses,
   non-finite codes or weights), keeps the best weights, asks the callbacks
   whether to stop and applies the no-improvement rule.

It knows nothing about scikit-learn or which architecture it trains: it
receives a network returning ``(code, output, log_var)`` (``log_var`` for a
variational encoder only), an objective returning
``(reconstruction, penalty)``, a corruption, optionally a pair term (the
neighbour graph), and hooks that stand for the callbacks.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from ._corruption import Corruption
from ._data import batch_slices


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings, named as in :class:`~sklearn.neural_network.MLPRegressor`.

    Early stopping is not a setting here: :meth:`Trainer.run` does it exactly
    when it is given a validation source.
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
# An epoch whose objective exceeds this multiple of the run's first batch
# loss (or of 1, whichever is larger) has diverged even while finite: a
# healthy run ends far below where it started, and an exploding one passes
# 1e24 within a few steps, long before float32 overflows.
DIVERGENCE_FACTOR = 1e6


class PairTerm(Protocol):
    """A loss term on the codes of pairs of rows (the neighbour graph's).

    With one, each step encodes the ``heads`` and ``tails`` of ``batch_size``
    sampled pairs, reconstructs the heads, and adds ``term(head_codes,
    tail_codes)`` to the objective (recorded as ``"neighbor"``).
    """

    def sample(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` pairs as CPU int64 row indices ``(heads, tails)``."""

    def __call__(self, head_code: torch.Tensor, tail_code: torch.Tensor):
        """The weighted term, a scalar tensor."""


class EpochHooks(Protocol):
    """What the trainer tells the callbacks (see ``skae._hooks``)."""

    def begin_epoch(self, epoch: int) -> None:
        """Before epoch ``epoch`` (counted from 1 within the run)."""

    def end_epoch(self, epoch: int, record: dict[str, float]) -> bool:
        """After it, with its record; True asks the run to stop."""


class Collective(Protocol):
    """What the processes of a data-parallel run share (``skae.distributed``).

    Each process trains on its own rows; the wrapped network averages the
    gradients, and the epoch's sums and checks are combined so that every
    process takes the same decisions.
    """

    def wrap(self, net: torch.nn.Module) -> torch.nn.Module:
        """The network whose forward pass training calls."""

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Elementwise sum over the processes."""

    def max(self, value: float) -> float:
        """Largest ``value`` of the processes."""

    def mean(self, value: float) -> float:
        """Mean ``value`` of the processes."""

    def rows(self, n: int) -> int:
        """Rows of all the processes, from this one's ``n``."""


class OneProcess:
    """The :class:`Collective` of an ordinary, single-process run."""

    def wrap(self, net):
        return net

    def sum(self, tensor):
        return tensor

    def max(self, value):
        return value

    def mean(self, value):
        return value

    def rows(self, n):
        return n


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Optimiser steps in one pass over ``n_samples`` rows (see :func:`batch_slices`)."""
    return len(batch_slices(n_samples, batch_size))


def cosine_factor(progress: float) -> float:
    """The cosine schedule's multiplier on the peak rate, ``progress`` in [0, 1]."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def scheduled_rate(config: TrainingConfig, epochs: float) -> float:
    """The learning rate after ``epochs`` (fractional) of the run's schedule.

    ``"cosine"`` anneals from ``learning_rate_init`` to zero along half a
    cosine over ``max_iter`` epochs, and is evaluated every batch so that a
    run of few epochs anneals as smoothly as a long one; ``"constant"`` keeps
    the rate. Annealing is what lets a fixed budget end at a minimum rather
    than wherever the last noisy step of a constant rate landed.
    """
    if config.learning_rate == "constant":
        return config.learning_rate_init
    if config.learning_rate != "cosine":
        raise ValueError(
            f"Unknown learning_rate schedule {config.learning_rate!r}; "
            f"expected one of {SCHEDULES}."
        )
    return config.learning_rate_init * cosine_factor(epochs / config.max_iter)


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


def _set_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = rate


def epoch_seeds(seed: int, epoch: int) -> tuple[int, int]:
    """The shuffling and corruption seeds of epoch ``epoch`` (from 0) of a
    model seeded with ``seed``, independent of how the epochs are called."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2)
    return int(state[0]), int(state[1])


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


def _finite(net: torch.nn.Module) -> bool:
    """Whether every weight of ``net`` is finite (one device sync)."""
    return bool(
        torch.stack([p.detach().isfinite().all() for p in net.parameters()]).all()
    )


def _snapshot(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


@dataclass
class TrainerState:
    """What a :class:`Trainer` leaves for the next ``partial_fit`` call: the
    model's seed, the epochs run (its place in the schedule) and Adam's state."""

    seed: int
    epochs_done: int = 0
    optimizer: dict | None = None


@dataclass
class TrainingResult:
    """What one :meth:`Trainer.run` produced.

    ``history`` has one entry per completed epoch under ``"loss"`` (the
    optimised objective), each term and, with early stopping, ``"val_mse"``.
    ``stop_reason`` is one of ``"converged"``, ``"max_iter"``, ``"callback"``
    (a hook asked to stop), ``"interrupted"`` or ``"diverged"``; for the last
    two, ``note`` says what happened and which weights were kept. The
    estimator turns notes into warnings: the engine does not speak to the
    user.
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    n_iter: int = 0
    best_epoch: int = 0
    stop_reason: str = "max_iter"
    note: str = ""


class _Diverged(Exception):
    """Raised inside an epoch: the reason, for the run to report."""


class Trainer:
    """Trains one network with Adam, an epoch at a time.

    Parameters
    ----------
    net : torch.nn.Module
        An :class:`~skae._networks.Autoencoder`, already on its device;
        trained in place.
    objective : callable
        ``objective(code, output, clean, log_var) -> (reconstruction,
        penalty)``; ``log_var`` is the posterior's for a variational
        network, else None. Its ``penalty_scale(progress)`` weighs the
        penalty in the optimised loss (a variational model's KL warm-up).
    config : TrainingConfig
        Optimisation settings; ``max_iter`` is the schedule's length.
    state : TrainerState
        The seed, and where a resumed run starts: the schedule position and
        Adam's moments (a copy is loaded: the caller's state never changes).
    corruption : Corruption
        Applied to each training batch before the forward pass; the loss
        always compares with the clean batch.
    pair_term : PairTerm or None
        When given, each step reconstructs the heads of ``batch_size``
        sampled pairs and adds the term on their codes; an epoch has as many
        steps as a pass over the rows.
    collective : Collective or None
        For a data-parallel run: how the processes share gradients, losses
        and decisions (None: this process alone).
    """

    def __init__(
        self,
        net: torch.nn.Module,
        objective: Callable,
        config: TrainingConfig,
        state: TrainerState,
        corruption: Corruption | None = None,
        pair_term: PairTerm | None = None,
        collective: Collective | None = None,
    ) -> None:
        self.net, self.objective, self.config = net, objective, config
        self.corruption = corruption or Corruption()
        self.pair_term = pair_term
        self.collective = collective or OneProcess()
        self.forward = self.collective.wrap(net)
        self.seed, self.epochs_done = state.seed, state.epochs_done
        self.optimizer = make_adam(list(net.parameters()), config)
        if state.optimizer is not None:
            self.optimizer.load_state_dict(copy.deepcopy(state.optimizer))
        self.terms = [t for t in TERMS if t != "neighbor" or pair_term is not None]

    def state(self) -> TrainerState:
        """Where a later run resumes (a copy of Adam's state)."""
        return TrainerState(
            self.seed, self.epochs_done, copy.deepcopy(self.optimizer.state_dict())
        )

    # ------------------------------------------------------------ the run
    def run(
        self,
        source,
        max_epochs: int,
        *,
        val_source=None,
        hooks: EpochHooks | None = None,
        what: str = "fit",
    ) -> TrainingResult:
        """Run up to ``max_epochs`` epochs over ``source``.

        Parameters
        ----------
        source : RowSource or BlockSource
            Training rows on the network's device.
        max_epochs : int
            Epochs in this run.
        val_source : RowSource or None
            Held-out rows; when given, early stopping monitors their clean
            MSE and the run ends with the weights of its best epoch.
        hooks : EpochHooks or None
            The callbacks.
        what : str
            Names the run in errors (``"fit"``, ``"partial_fit call"``).

        Returns
        -------
        TrainingResult
            The network holds the best weights when the run stopped early,
            was interrupted or diverged, and the last weights otherwise.

        Raises
        ------
        ValueError
            If the run diverged in its first epoch (nothing of it to keep).
        KeyboardInterrupt
            If interrupted before its first epoch completed.
        """
        config = self.config
        batch_size = min(config.batch_size, source.n_samples)
        # With a schedule, the run length is the budget and the loss flattens
        # by design only at its end, so the no-improvement rule watches the
        # training loss only at a constant rate (validation is always watched).
        watch_plateau = val_source is not None or config.learning_rate == "constant"
        keys = ["loss", *self.terms] + (["val_mse"] if val_source else [])
        result = TrainingResult(history={k: [] for k in keys})
        plateau = _Plateau(config.tol, config.n_iter_no_change)
        best_state = None
        self._reference = None
        for epoch in range(1, max_epochs + 1):
            if hooks is not None:
                hooks.begin_epoch(epoch)
            try:
                tic = time.perf_counter()
                record, code_max = self._epoch(source, batch_size)
                if val_source is not None:
                    record["val_mse"] = validation_mse(self.net, val_source, batch_size)
                self._check(record, code_max)
            except KeyboardInterrupt:
                if best_state is None:
                    raise
                result.stop_reason = "interrupted"
                result.note = (
                    f"fit interrupted during epoch {epoch}; keeping the weights of "
                    f"epoch {result.best_epoch}, the best so far."
                )
                break
            except _Diverged as exc:
                if best_state is None:
                    raise ValueError(
                        f"Training diverged in the first epoch of this {what}: {exc}"
                    ) from None
                result.stop_reason = "diverged"
                result.note = (
                    f"Training diverged in epoch {epoch}; stopping and keeping the "
                    f"weights of epoch {result.best_epoch}. {exc}"
                )
                break
            for key in keys:
                result.history[key].append(record[key])
            result.n_iter = epoch
            if plateau.update(record["val_mse" if val_source else "loss"]):
                best_state, result.best_epoch = _snapshot(self.net), epoch
            if hooks is not None and hooks.end_epoch(
                epoch,
                {
                    **record,
                    "time": time.perf_counter() - tic,
                    "max_iter": config.max_iter,
                },
            ):
                result.stop_reason = "callback"
                break
            if watch_plateau and plateau.exhausted:
                result.stop_reason = "converged"
                break
        if result.stop_reason == "max_iter" and _annealed(
            result.history["loss"], config
        ):
            result.stop_reason = "converged"
        # Early stopping always returns its best epoch (as MLPRegressor does);
        # an interrupted or diverged run returns its best epoch so far.
        if val_source is not None or result.stop_reason in ("interrupted", "diverged"):
            self.net.load_state_dict(best_state)
        return result

    # ---------------------------------------------------------- an epoch
    def _epoch(self, source, batch_size: int) -> tuple[dict[str, float], float]:
        """One pass, its batches seeded from ``(seed, epochs_done)``: the
        epoch's record (the objective and each term, averaged over rows) and
        its largest absolute code."""
        shuffle_seed, noise_seed = epoch_seeds(self.seed, self.epochs_done)
        generator = torch.Generator().manual_seed(shuffle_seed)
        noise_gen = torch.Generator(device=source.device).manual_seed(noise_seed)
        if self.pair_term is None:
            batches = source.epoch(batch_size, self.config.shuffle, generator)
        else:
            batches = self._pair_batches(source, batch_size, generator)
        steps = steps_per_epoch(source.n_samples, batch_size)
        sums, code_max = self._steps(batches, steps, source.device, noise_gen)
        sums = self.collective.sum(sums)
        code_max = self.collective.max(code_max)
        means = (sums / self.collective.rows(source.n_samples)).tolist()
        record = dict(zip(TERMS, means, strict=True))
        self.epochs_done += 1
        return {"loss": sum(means), **{t: record[t] for t in self.terms}}, code_max

    def _pair_batches(
        self, source, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of pair batches (heads, tails): as many steps, and
        heads, as a pass over the rows."""
        for rows in batch_slices(source.n_samples, batch_size):
            heads, tails = self.pair_term.sample(rows.stop - rows.start, generator)
            yield source.take(heads), source.take(tails)

    def _steps(
        self,
        batches: Iterable[tuple[torch.Tensor, torch.Tensor | None]],
        steps: int,
        device: torch.device,
        noise_gen: torch.Generator,
    ) -> tuple[torch.Tensor, float]:
        """The optimiser steps of one epoch: each term summed over rows, and
        the largest absolute code.

        With ``autocast_dtype`` the forward pass runs under
        :func:`torch.autocast` and the objective is computed in float32 from
        its upcast outputs, so that means over thousands of pixels (and the
        KL penalty's unit means) are not rounded to bfloat16's mantissa.
        Sums stay on the device and are read back once per epoch: a
        ``.item()`` per batch would synchronise a GPU on every step.
        """
        net, config = self.net, self.config
        self.forward.train()  # the wrapper too, where there is one
        autocast = (
            torch.autocast(device.type, dtype=config.autocast_dtype)
            if config.autocast_dtype is not None
            else nullcontext()
        )
        sums = torch.zeros(len(TERMS), device=device)
        code_max = torch.zeros((), device=device)
        for step, (clean, tails) in enumerate(batches):
            epochs = self.epochs_done + step / steps
            _set_rate(self.optimizer, scheduled_rate(config, epochs))
            with autocast:
                corrupted = self.corruption(clean, noise_gen)
                code, output, log_var = self.forward(corrupted, noise_gen)
                tail_code = None if tails is None else net.encoder(tails)
            code = code.float()
            if log_var is not None:
                log_var = log_var.float()
            recon, penalty = self.objective(code, output.float(), clean, log_var)
            neighbor = (
                torch.zeros_like(recon)
                if self.pair_term is None
                else self.pair_term(code, tail_code.float())
            )
            terms = torch.stack([recon, penalty, neighbor])
            # The record keeps the terms at full weight (for a variational
            # model, the negative ELBO); the optimiser may see a warming one
            # (a scale of 1 multiplies exactly, so other models' losses are
            # unchanged).
            scale = self.objective.penalty_scale(epochs / config.max_iter)
            loss = torch.stack([recon, scale * penalty, neighbor]).sum()
            if self._reference is None:  # the run's first batch, before any step
                self._reference = max(abs(self.collective.mean(loss.item())), 1.0)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            sums += terms.detach() * len(clean)
            code_max = torch.maximum(code_max, code.detach().abs().amax())
        return sums, code_max.item()

    def _check(self, record: dict[str, float], code_max: float) -> None:
        """Raise ``_Diverged`` naming the cause if the epoch diverged: a
        non-finite or exploding loss, non-finite codes, or non-finite
        weights (the losses are taken before each step, so the last step
        can break the weights behind finite losses)."""
        cause = _divergence_cause(record, code_max, self._reference, self.config)
        if cause is None and not _finite(self.net):
            cause = _advice("the weights became non-finite", self.config)
        if cause is not None:
            raise _Diverged(cause)


def _divergence_cause(
    record: dict[str, float], code_max: float, reference, config: TrainingConfig
) -> str | None:
    """Which quantity diverged, and the parameter to change for it; None if
    nothing did."""
    for term, advice in (
        ("penalty", "lower sparsity_weight"),
        ("neighbor", "lower neighbor_weight or learning_rate_init"),
    ):
        if not math.isfinite(record.get(term, 0.0)):
            return f"the {_TERM_NAMES[term]} became {record[term]}; {advice}."
    for key, value in record.items():
        if not math.isfinite(value):
            return _advice(f"the {key.replace('_', ' ')} became {value}", config)
    if reference is not None and record["loss"] > DIVERGENCE_FACTOR * reference:
        return _advice(
            f"the loss exploded to {record['loss']:.3g} from {reference:.3g} at "
            "the start of the run",
            config,
        )
    if not math.isfinite(code_max):
        return _advice("the codes overflowed float32", config)
    return None


_TERM_NAMES = {"penalty": "sparsity penalty", "neighbor": "neighbour term"}


def _advice(what: str, config: TrainingConfig) -> str:
    return (
        f"{what}. Lower learning_rate_init (now {config.learning_rate_init}), "
        "scale the inputs (e.g. with MinMaxScaler or StandardScaler), or lower "
        "noise_level if gaussian noise is on."
    )


def validation_mse(net: torch.nn.Module, source, batch_size: int) -> float:
    """Mean squared reconstruction error on clean rows (the estimator's score)."""
    net.eval()
    total = torch.zeros((), device=source.device)
    with torch.inference_mode():
        for rows in batch_slices(source.n_samples, batch_size):
            index = torch.arange(rows.start, rows.stop)
            total += net.squared_error(source.take(index)).sum()
    return (total / source.n_samples).item()


def warm_start(
    encoder: torch.nn.Module,
    steps: int,
    learning_rate: float,
    batch_loss: Callable[[], torch.Tensor],
) -> None:
    """Train ``encoder`` in place for ``steps`` Adam steps of ``batch_loss()``.

    A warm start before the main run: ``batch_loss`` draws a fresh batch on
    each call and returns its scalar loss through ``encoder``. The learning
    rate is annealed along half a cosine (so the start ends at a minimum, not
    at its last noisy step), and the optimiser is its own, so that the main
    run's Adam starts from fresh moment estimates.
    """
    optimizer = make_adam(
        list(encoder.parameters()), TrainingConfig(learning_rate_init=learning_rate)
    )
    encoder.train()
    for step in range(steps):
        _set_rate(optimizer, learning_rate * cosine_factor(step / steps))
        loss = batch_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
