"""The training engine on its own: best weights, divergence, interrupts,
resuming, the schedule."""

from __future__ import annotations

import itertools
import math
import re

import pytest
import torch

from skae._data import RowSource
from skae._networks import build_dense
from skae._objectives import Objective
from skae._training import (
    Trainer,
    TrainerState,
    TrainingConfig,
    _annealed,
    _Plateau,
    scheduled_rate,
    validation_mse,
)

CPU = torch.device("cpu")


def make_problem(seed=0, n=120, d=10):
    g = torch.Generator().manual_seed(seed)
    X = (torch.randn(n, 2, generator=g) @ torch.randn(2, d, generator=g)).numpy()
    torch.manual_seed(seed)
    net = build_dense(d, 2, (8,), "tanh")
    return net, RowSource(X[:100], CPU), RowSource(X[100:], CPU)


class Hooks:
    """``on_epoch_end(epoch, record)`` as the trainer's hooks."""

    def __init__(self, on_epoch_end):
        self.on_epoch_end = on_epoch_end

    def begin_epoch(self, epoch):
        pass

    def end_epoch(self, epoch, record):
        return self.on_epoch_end(epoch, record)


def train(net, source, objective, config, seed=0, val_source=None, on_epoch_end=None):
    """A fresh trainer's run of ``config.max_iter`` epochs (what fit does)."""
    trainer = Trainer(net, objective, config, TrainerState(seed))
    hooks = None if on_epoch_end is None else Hooks(on_epoch_end)
    return trainer.run(source, config.max_iter, val_source=val_source, hooks=hooks)


def states_equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_plateau_follows_mlp_semantics():
    plateau = _Plateau(tol=0.1, patience=2)
    assert plateau.update(1.0) and plateau.count == 0
    assert plateau.update(0.95) and plateau.count == 1  # better, but by < tol
    assert not plateau.update(0.99) and plateau.count == 2
    assert not plateau.exhausted
    assert not plateau.update(0.97) and plateau.exhausted
    assert plateau.update(0.5) and plateau.count == 0


def test_early_stopping_restores_best_validation_epoch():
    net, source, val = make_problem()
    snapshots = {}

    def remember(epoch, record):
        snapshots[epoch] = {k: v.clone() for k, v in net.state_dict().items()}

    config = TrainingConfig(
        batch_size=20, learning_rate_init=0.05, max_iter=60, n_iter_no_change=4, tol=0.0
    )
    result = train(
        net,
        source,
        Objective(),
        config,
        val_source=val,
        on_epoch_end=remember,
    )
    val_curve = result.history["val_mse"]
    best = min(range(len(val_curve)), key=val_curve.__getitem__) + 1
    assert result.best_epoch == best
    assert states_equal(net.state_dict(), snapshots[best])
    assert validation_mse(net, val, 20) == pytest.approx(val_curve[best - 1], rel=1e-6)


class FailingObjective(Objective):
    """Objective that misbehaves from a given call on."""

    def __init__(self, fail_at: int, failure: str) -> None:
        super().__init__()
        object.__setattr__(self, "calls", [0])
        object.__setattr__(self, "fail_at", fail_at)
        object.__setattr__(self, "failure", failure)

    def __call__(self, code, output, target, log_var=None):
        self.calls[0] += 1
        recon, penalty = super().__call__(code, output, target)
        if self.calls[0] >= self.fail_at:
            if self.failure == "interrupt":
                raise KeyboardInterrupt
            return recon * math.nan, penalty
        return recon, penalty


@pytest.mark.parametrize(
    "failure, reason", [("nan", "diverged"), ("interrupt", "interrupted")]
)
def test_failure_mid_training_keeps_best_finite_weights(failure, reason):
    net, source, _ = make_problem()
    snapshots = {}

    def remember(epoch, record):
        snapshots[epoch] = {k: v.clone() for k, v in net.state_dict().items()}

    # 5 batches per epoch: the 13th call falls in epoch 3.
    objective = FailingObjective(fail_at=13, failure=failure)
    config = TrainingConfig(batch_size=20, max_iter=10)
    result = train(
        net,
        source,
        objective,
        config,
        on_epoch_end=remember,
    )
    # The loop reports; the estimator warns (tests/test_estimator.py).
    assert "keeping the weights of epoch 2" in result.note
    assert result.stop_reason == reason and result.n_iter == 2
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert states_equal(net.state_dict(), snapshots[result.best_epoch])


class _InfiniteGradient(torch.autograd.Function):
    """Identity whose gradient is infinite: a finite loss, then NaN weights."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * math.inf


class LastStepBlowsUp(Objective):
    def __init__(self, at_call: int) -> None:
        super().__init__()
        object.__setattr__(self, "calls", [0])
        object.__setattr__(self, "at_call", at_call)

    def __call__(self, code, output, target, log_var=None):
        self.calls[0] += 1
        recon, penalty = super().__call__(code, output, target)
        if self.calls[0] == self.at_call:
            recon = _InfiniteGradient.apply(recon)
        return recon, penalty


def test_a_last_step_that_breaks_the_weights_is_caught():
    # Losses are taken before each step, so every recorded loss is finite;
    # only the weights show that the last step of the run broke the model.
    net, source, _ = make_problem()
    snapshots = {}

    def remember(epoch, record):
        snapshots[epoch] = {k: v.clone() for k, v in net.state_dict().items()}

    config = TrainingConfig(batch_size=20, max_iter=3)
    result = train(
        net,
        source,
        LastStepBlowsUp(at_call=15),  # 5 batches per epoch: the very last
        config,
        on_epoch_end=remember,
    )
    assert re.search("diverged in epoch 3.*weights of epoch 2", result.note)
    assert result.stop_reason == "diverged" and result.n_iter == 2
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert states_equal(net.state_dict(), snapshots[2])


def test_interrupt_before_first_epoch_propagates():
    net, source, _ = make_problem()
    with pytest.raises(KeyboardInterrupt):
        train(
            net,
            source,
            FailingObjective(1, "interrupt"),
            TrainingConfig(batch_size=20),
        )


def test_shuffling_is_driven_by_the_seed():
    results = []
    for seed in (0, 0, 1):
        net, source, _ = make_problem()
        config = TrainingConfig(batch_size=10, max_iter=3)
        train(net, source, Objective(), config, seed)
        results.append(net.encoder[0].weight.detach().clone())
    assert torch.equal(results[0], results[1])
    assert not torch.equal(results[0], results[2])


def test_adam_is_fused_when_available_and_falls_back_otherwise(monkeypatch):
    from skae import _training

    params = [torch.nn.Parameter(torch.zeros(3))]
    assert _training.make_adam(params, TrainingConfig()).defaults["fused"]

    real_adam = torch.optim.Adam

    def no_fused_adam(params, fused=None, **kwargs):
        if fused:
            raise RuntimeError(
                "`fused=True` requires all the params to be CUDA tensors"
            )
        return real_adam(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", no_fused_adam)
    optimizer = _training.make_adam(params, TrainingConfig(learning_rate_init=0.5))
    assert not optimizer.defaults.get("fused") and optimizer.defaults["lr"] == 0.5


def test_cosine_schedule_anneals_per_step_to_zero():
    config = TrainingConfig(learning_rate="cosine", learning_rate_init=0.1, max_iter=4)
    rates = [scheduled_rate(config, step / 5) for step in range(20)]  # 4 x 5 steps
    assert rates[0] == pytest.approx(0.1)
    assert rates[10] == pytest.approx(0.05)  # half-way: half the rate
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert scheduled_rate(config, 4) == pytest.approx(0.0, abs=1e-12)


def test_constant_schedule_keeps_the_rate_and_unknown_names_fail():
    config = TrainingConfig(learning_rate="constant", learning_rate_init=0.1)
    assert {scheduled_rate(config, e / 3) for e in range(7)} == {0.1}
    with pytest.raises(ValueError, match="Unknown learning_rate schedule 'step'"):
        scheduled_rate(TrainingConfig(learning_rate="step"), 0)


@pytest.mark.parametrize(
    "losses, settled",
    [
        # The default 11 epochs on all of MNIST at 32-D: the last epoch gained
        # 2.7e-4 (> tol) but 0.37% of the run's 0.072.
        (
            [
                0.150,
                0.105,
                0.094,
                0.089,
                0.085,
                0.083,
                0.081,
                0.0795,
                0.0786,
                0.0780,
                0.0777,
            ],
            True,
        ),
        # Six epochs of the wide model: the last gained 1.8% of the run.
        ([0.154, 0.1105, 0.097, 0.0907, 0.0876, 0.0864], False),
        ([0.5, 0.49995], True),  # within tol, however small the run's gain
        ([0.5, 0.4], False),
    ],
)
def test_cosine_run_has_settled_when_its_last_epoch_gains_little(losses, settled):
    assert _annealed(losses, TrainingConfig(learning_rate="cosine")) is settled
    assert not _annealed(losses, TrainingConfig(learning_rate="constant"))


def test_scheduled_run_uses_its_whole_budget_without_validation():
    # tol so large that a constant rate would stop after n_iter_no_change + 1
    # epochs; the cosine schedule runs every epoch of its budget.
    runs = {}
    for schedule in ("constant", "cosine"):
        net, source, _ = make_problem()
        config = TrainingConfig(
            batch_size=20,
            max_iter=12,
            n_iter_no_change=2,
            tol=10.0,
            learning_rate=schedule,
        )
        runs[schedule] = train(net, source, Objective(), config)
    assert runs["constant"].n_iter == 4 and runs["constant"].stop_reason == "converged"
    assert runs["cosine"].n_iter == 12 and runs["cosine"].stop_reason == "converged"


def test_epochs_run_in_one_call_or_resumed_one_by_one_are_identical():
    """The one engine: fit's run of 3 epochs equals 3 resumed one-epoch runs
    (partial_fit's calls), Adam's state and the schedule carried over."""
    config = TrainingConfig(batch_size=20, max_iter=3, learning_rate="cosine")
    net, source, _ = make_problem()
    Trainer(net, Objective(), config, TrainerState(7)).run(source, 3)
    resumed, _, _ = make_problem()
    state = TrainerState(7)
    for _ in range(3):
        trainer = Trainer(resumed, Objective(), config, state)
        trainer.run(source, 1)
        state = trainer.state()
    assert state.epochs_done == 3
    assert states_equal(net.state_dict(), resumed.state_dict())


class Exploding(Objective):
    """A finite loss that grows a thousandfold per call: it never overflows
    within the test, but it is plainly divergence."""

    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "calls", [0])

    def __call__(self, code, output, target, log_var=None):
        self.calls[0] += 1
        recon, penalty = super().__call__(code, output, target)
        return recon * 1e3 ** min(self.calls[0] - 1, 8), penalty


def test_an_exploding_but_finite_loss_is_divergence():
    net, source, _ = make_problem()
    with pytest.raises(ValueError, match=r"diverged in the first epoch.*exploded"):
        train(net, source, Exploding(), TrainingConfig(batch_size=20, max_iter=3))


class HugeCodes(torch.nn.Module):
    """An encoder whose codes overflow float32 from the second epoch on."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder, self.calls = encoder, 0

    def forward(self, x):
        self.calls += 1
        code = self.encoder(x)
        return code * 3e38 * 10 if self.calls > 5 else code


def test_codes_that_overflow_are_divergence_and_the_best_epoch_is_kept():
    net, source, _ = make_problem()
    net.encoder = HugeCodes(net.encoder)
    # The capped loss stays finite: only the codes show the divergence.
    objective = CappedLoss()
    result = train(net, source, objective, TrainingConfig(batch_size=20, max_iter=4))
    assert result.stop_reason == "diverged" and result.n_iter == 1
    assert "codes overflowed" in result.note


class CappedLoss(Objective):
    def __call__(self, code, output, target, log_var=None):
        recon, penalty = super().__call__(code, output, target)
        return torch.nan_to_num(recon, nan=1.0, posinf=1.0).clamp(max=1.0), penalty


def test_a_last_batch_of_one_row_joins_the_batch_before():
    from skae._data import batch_slices

    assert batch_slices(41, 20) == [slice(0, 20), slice(20, 41)]
    assert batch_slices(40, 20) == [slice(0, 20), slice(20, 40)]
    assert batch_slices(1, 20) == [slice(0, 1)]
    assert batch_slices(3, 2) == [slice(0, 3)]
    # batch_size=1 asks for single rows: nothing to join.
    assert batch_slices(3, 1) == [slice(0, 1), slice(1, 2), slice(2, 3)]
