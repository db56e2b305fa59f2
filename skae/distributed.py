"""Data-parallel training with ``torch.distributed`` (DistributedDataParallel).

Each process holds a replica of the network and trains on its own shard of
the rows; :class:`~torch.nn.parallel.DistributedDataParallel` averages the
gradients after every backward pass (Gloo on CPUs, NCCL on GPUs). Launch the
processes with ``torchrun``, which sets ``RANK``, ``WORLD_SIZE`` and the
rendezvous address, and either

- run the command line, one shard per process from one ``.npy`` file::

      torchrun --nproc-per-node 2 -m skae.distributed --data X.npy \\
          --params '{"n_components": 8, "random_state": 0}' --out model.pt

- or call :func:`fit_distributed` in your own script, after
  ``torch.distributed.init_process_group``, with each process's shard (an
  array, a memory map or a Dask array of its blocks).

``batch_size`` stays the *global* batch: each of the ``world_size`` processes
takes ``batch_size // world_size`` rows per step, so a run on 2 processes
takes the steps, the schedule and the learning rate of a single-process fit
(``max_iter="auto"`` counts the rows of all shards). Every process ends with
the same fitted, ordinary estimator; the command line saves rank 0's with
:func:`~skae.save_model`. The same seed, shards and world size give the same
model.

Before training, the processes check that they agree (the same parameters,
features and number of rows, and a ``batch_size`` the world size divides)
and every process raises the same clear error if they do not. Callbacks and
``verbose`` run on rank 0, whose stop requests every process follows. The
neighbour term, early stopping, warm starts and ``partial_fit`` are not
data-parallel and are refused. A process that dies or stops answering makes
the others fail with an error within the process group's timeout (the
command line's ``--timeout``), and no model is saved.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist

from ._data import Summary

__all__ = ["fit_distributed", "main"]

# Parameters that may differ between processes (they act on rank 0 only).
_LOCAL_PARAMS = {"callbacks", "verbose"}
_NOT_PARALLEL = {
    "neighbor_weight": "the neighbour graph spans every row, across shards",
    "early_stopping": "the held-out rows would need a split across shards",
    "warm_start": "continuing a fitted model is single-process",
}


class DistributedFitError(RuntimeError):
    """A data-parallel fit failed on this process or lost another one."""


def fit_distributed(estimator, X, y=None):
    """Fit ``estimator`` on this process's shard ``X`` of a data-parallel run.

    Call it in every process of an initialised default process group
    (``torch.distributed.init_process_group``), each with its own rows.

    Parameters
    ----------
    estimator : AutoencoderTransformer
        The same parameters in every process (``callbacks`` and ``verbose``
        may differ; they act on rank 0).
    X : {array-like, sparse matrix, dask array} of shape (n_shard, n_features)
        This process's rows: the same number and features in every process.
    y : None
        Ignored.

    Returns
    -------
    estimator : AutoencoderTransformer
        Fitted, with the same weights in every process.

    Raises
    ------
    ValueError
        On every process, when the processes disagree or an option is not
        data-parallel.
    DistributedFitError
        When the fit fails on this process or another process is lost.
    """
    from ._estimator import AutoencoderTransformer

    if not isinstance(estimator, AutoencoderTransformer):
        raise TypeError(
            "fit_distributed fits an AutoencoderTransformer, got "
            f"{type(estimator).__name__}."
        )
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "fit_distributed needs an initialised process group: launch with "
            "torchrun and call torch.distributed.init_process_group() first (or "
            "use the command line, python -m skae.distributed). For one process, "
            "use fit."
        )
    collective = _Processes()
    collective.preflight(estimator, X)
    try:
        estimator._transaction(
            lambda X, y, hooks: estimator._fit(X, y, hooks, collective), X, y
        )
    except (ValueError, TypeError):
        raise  # the processes' agreed errors, or bad input, as they are
    except RuntimeError as exc:
        raise DistributedFitError(
            f"The data-parallel fit failed on rank {collective.rank} of "
            f"{collective.world_size}: {type(exc).__name__}: {exc}. If another "
            "process died, its own error says why; nothing was saved."
        ) from exc
    return estimator


class _Processes:
    """The default process group as the trainer's collective
    (:class:`skae._training.Collective`)."""

    def __init__(self) -> None:
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.backend = dist.get_backend()

    # -------------------------------------------------- before training
    def preflight(self, estimator, X) -> None:
        """Check the parameters and this shard in every process, and raise
        the first problem found anywhere on every process, so that none is
        left waiting for a process that has already failed. (The shard is
        scanned once more by the fit itself.)"""
        from sklearn.base import clone

        problem = None
        try:
            estimator._validate_params()
            clone(estimator)._training_input(X, reset=True)
        except (ValueError, TypeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        problems = [None] * self.world_size
        dist.all_gather_object(problems, problem)
        failed = [(r, p) for r, p in enumerate(problems) if p is not None]
        if failed:
            rank, text = failed[0]
            raise ValueError(
                f"The data-parallel fit cannot start: on rank {rank}, {text}"
                + (f" ({len(failed)} ranks failed)" if len(failed) > 1 else "")
            )

    def agree(self, estimator, X, summary: Summary, seed: int, hooks):
        """Check that the processes agree and combine what they found:
        the global summary, the rows of all shards and rank 0's seed. Callbacks
        stay on rank 0, whose stop decisions every process follows."""
        params = {
            k: v
            for k, v in estimator.get_params(deep=False).items()
            if k not in _LOCAL_PARAMS
        }
        mine = {
            "rows": int(X.shape[0]),
            "features": int(X.shape[1]),
            "params": repr(sorted(params.items())),
        }
        everyone = [None] * self.world_size
        dist.all_gather_object(everyone, mine)
        self._check(everyone, params)
        summary = self._combine(summary, X.shape[0])
        seed = self._broadcast(seed)
        if self.rank != 0:
            hooks.callbacks = []
        hooks.decide = self.decide
        return summary, X.shape[0] * self.world_size, seed

    def _check(self, everyone: list[dict], params: dict) -> None:
        """The same error on every process when they disagree."""
        for key, what in (("features", "features"), ("rows", "rows")):
            values = [e[key] for e in everyone]
            if len(set(values)) > 1:
                advice = (
                    " (a world size that divides the data: each process needs the "
                    "same number of rows)"
                    if key == "rows"
                    else ""
                )
                raise ValueError(
                    f"The processes' shards differ in {what}: {values} by rank{advice}."
                )
        if len({e["params"] for e in everyone}) > 1:
            differ = [
                r
                for r, e in enumerate(everyone)
                if e["params"] != everyone[0]["params"]
            ]
            raise ValueError(
                f"The processes' estimators have different parameters (ranks "
                f"{differ} differ from rank 0); give every process the same."
            )
        for name, why in _NOT_PARALLEL.items():
            if params[name]:
                raise ValueError(
                    f"{name}={params[name]!r} is not supported by a data-parallel "
                    f"fit: {why}. Set it to its default, or fit in one process."
                )

    def _combine(self, summary: Summary, n: int) -> Summary:
        """The summary of all shards: their range and column means."""
        extremes = torch.tensor([-summary.low, summary.high], dtype=torch.float64)
        dist.all_reduce(extremes, op=dist.ReduceOp.MAX)
        sums = torch.as_tensor(summary.means * n, dtype=torch.float64)
        dist.all_reduce(sums)
        total = n * self.world_size
        return Summary(-float(extremes[0]), float(extremes[1]), sums.numpy() / total)

    def _broadcast(self, seed: int) -> int:
        value = torch.tensor([seed], dtype=torch.int64)
        dist.broadcast(value, src=0)
        return int(value)

    def local_plan(self, plan):
        """This process's part of the plan: its share of the global batch,
        its own shuffling and noise, its device (NCCL: ``LOCAL_RANK``'s GPU).
        Rank 0 keeps the plan's seed, so one process trains as ``fit``."""
        seed = plan.seed
        if self.rank:
            seed = int(
                np.random.SeedSequence([plan.seed, self.rank]).generate_state(1)[0]
            )
        device = plan.device
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        batch_size = plan.training.batch_size
        if batch_size % self.world_size:
            # Every process plans alike (same parameters, global row count),
            # so every one raises this.
            raise ValueError(
                f"batch_size={batch_size} is the global batch and must be a "
                f"multiple of the world size ({self.world_size}); "
                "batch_size='auto' is 32 or 256 rows (user guide)."
            )
        training = dataclasses.replace(
            plan.training, batch_size=batch_size // self.world_size
        )
        return dataclasses.replace(plan, training=training, seed=seed, device=device)

    # ----------------------------------------------------- while training
    def wrap(self, net: torch.nn.Module) -> torch.nn.Module:
        device_ids = None
        parameter = next(net.parameters())
        if parameter.device.type == "cuda":
            device_ids = [parameter.device.index]
        # Broadcasts rank 0's weights, so every replica starts the same.
        return torch.nn.parallel.DistributedDataParallel(net, device_ids=device_ids)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor)
        return tensor

    def max(self, value: float) -> float:
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return float(tensor)

    def mean(self, value: float) -> float:
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor) / self.world_size

    def rows(self, n: int) -> int:
        return n * self.world_size

    def decide(self, stop: bool) -> bool:
        """Rank 0's stop decision, for every process."""
        flag = torch.tensor([int(stop)], dtype=torch.int64)
        dist.broadcast(flag, src=0)
        return bool(flag)


# ---------------------------------------------------------------- the CLI
def _shard(X: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous block of rows (a view: a memory map stays one)."""
    n = X.shape[0]
    if n % world_size:
        raise ValueError(
            f"{n} rows do not split evenly over {world_size} processes; use a world "
            "size that divides the data, or drop the last "
            f"{n % world_size} row(s)."
        )
    size = n // world_size
    return X[rank * size : (rank + 1) * size]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m skae.distributed``: one data-parallel fit (see the module)."""
    p = argparse.ArgumentParser(
        prog="python -m skae.distributed",
        description="Data-parallel fit of an AutoencoderTransformer; launch "
        "with torchrun.",
    )
    p.add_argument("--data", required=True, help="a .npy file of all rows "
                   "(memory-mapped; each process reads its block), or one per "
                   "rank with {rank} in the name")  # fmt: skip
    p.add_argument("--params", default="{}", help="the estimator's parameters, JSON")
    p.add_argument("--out", help="rank 0 saves the fitted model here (save_model)")
    p.add_argument("--report", help="each rank writes {rank}-formatted JSON: "
                   "fit seconds, epochs, peak memory")  # fmt: skip
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds a process waits for the others before failing")  # fmt: skip
    args = p.parse_args(argv)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=args.timeout))
    try:
        code = _run(args)
        # Tear down together, not while a peer still works (rank 0 saving
        # the model); see _exit for the other half of a clean ending.
        dist.barrier()
        return code
    finally:
        dist.destroy_process_group()


def _run(args) -> int:
    import time

    from ._estimator import AutoencoderTransformer
    from ._persistence import save_model

    rank, world_size = dist.get_rank(), dist.get_world_size()
    params = json.loads(args.params)
    for name in ("hidden_layer_sizes", "conv_channels", "image_shape"):
        if isinstance(params.get(name), list):
            params[name] = tuple(params[name])
    # Split the machine's threads evenly among the processes on it.
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    if "{rank}" in args.data:
        X = np.load(args.data.format(rank=rank), mmap_mode="r")
    else:
        X = _shard(np.load(args.data, mmap_mode="r"), rank, world_size)
    estimator = AutoencoderTransformer(**params)
    tic = time.perf_counter()
    fit_distributed(estimator, X)
    seconds = time.perf_counter() - tic
    if args.out and rank == 0:
        save_model(estimator, args.out)
    if args.report:
        _write_report(args.report.format(rank=rank), estimator, seconds, world_size)
    return 0


def _write_report(path: str, estimator, seconds: float, world_size: int) -> None:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with open(path, "w") as fh:
        json.dump(
            {
                "world_size": world_size,
                "rank": dist.get_rank(),
                "threads": torch.get_num_threads(),
                "fit_s": seconds,
                "n_iter": estimator.n_iter_,
                "loss_curve": estimator.loss_curve_,
                "peak_rss_mib": peak / 1024,
            },
            fh,
        )


def _exit(code: int) -> None:
    """End the process without the interpreter's finalisation.

    Its files are closed and its process group destroyed, yet a worker that
    had finished and saved (exit status 0 otherwise) was twice seen in CI to
    abort in C++ at interpreter shutdown ("terminate called without an
    active exception", status -6), a teardown of torch's native threads and
    objects that Python cannot order. ``os._exit`` skips that teardown and
    keeps the status the run earned.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    try:
        status = main()
    except (ValueError, TypeError, DistributedFitError) as exc:
        print(f"skae.distributed: error: {exc}", file=sys.stderr)
        status = 1
    _exit(status)
