"""Per-epoch callbacks for :class:`~skae.AutoencoderTransformer`.

The protocol, declared by :class:`Callback`: a callback is any callable
``callback(estimator, epoch, record)`` passed in the estimator's
``callbacks`` list. :meth:`~skae.AutoencoderTransformer.fit` calls it after
each epoch (``partial_fit`` after each call) with the epoch number, counted
from 1 (``n_iter_`` for ``partial_fit``), and the epoch's ``record``: the
terms of ``history_`` for that epoch (``"loss"``, ``"reconstruction"``,
``"penalty"``, and ``"neighbor"`` or ``"val_mse"`` when present), plus
``"time"`` (the epoch's seconds) and ``"max_iter"`` (the run's budget of
epochs). Any true return value (``True``, 1, a non-empty string...) stops
training; the estimator then ends as on convergence (no warning, the best
epoch's weights kept with early stopping), with ``stop_reason_ ==
"callback"``. Every callback sees every epoch, even after one asked to stop.

A callback may also define ``on_fit_end(estimator)``, called once per
``fit`` or ``partial_fit`` call whichever way it ended: after the fitted
attributes are set, or after a failed call has restored the estimator. It is
the place to close a progress bar or a file.

An exception raised by a callback, ``on_fit_end`` included, fails the call
and leaves the estimator exactly as it was before it (a previously fitted
model keeps working). A callback may read the estimator; what it changes
(``set_params``) applies to the next call only: the fitted attributes
always describe the model that was trained.

``verbose=True`` is :class:`PrintEpochs` run before the callbacks.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["Callback", "PrintEpochs", "ProgressBar"]


class Callback:
    """Base class of skae's callbacks, declaring the protocol.

    Subclass it and override :meth:`__call__` (and :meth:`on_fit_end` where
    something must be closed). Plain functions ``f(estimator, epoch,
    record)`` are callbacks too; subclassing only documents the intent and
    gives the no-op ``on_fit_end``.
    """

    def __call__(self, estimator, epoch: int, record: dict[str, Any]) -> bool | None:
        """After each epoch; return a true value to stop training."""
        return None

    def on_fit_end(self, estimator) -> None:
        """Once the ``fit`` or ``partial_fit`` call has ended."""
        return None


class PrintEpochs(Callback):
    """Print one line per epoch: the losses and the epoch's time.

    Parameters
    ----------
    file : file-like, default=None
        Where to print; None means the current ``sys.stdout``.
    """

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file

    def __call__(self, estimator, epoch: int, record: dict[str, Any]) -> None:
        parts = [f"Epoch {epoch}/{record['max_iter']}", f"loss={record['loss']:.6f}"]
        # The terms are worth printing only when there is more than one.
        extra = [t for t in ("penalty", "neighbor") if record.get(t)]
        if extra:
            parts += [f"{t}={record[t]:.6f}" for t in ("reconstruction", *extra)]
        if "val_mse" in record:
            parts.append(f"val_mse={record['val_mse']:.6f}")
        print(
            f"{', '.join(parts)} ({record['time']:.2f} s)",
            file=self.file or sys.stdout,
            flush=True,
        )


class ProgressBar(Callback):
    """A `tqdm <https://tqdm.github.io>`_ progress bar over the epochs.

    Shows the loss (and ``val_mse`` with early stopping) as the bar's
    postfix. Needs tqdm (``pip install skae[progress]``).

    Parameters
    ----------
    **tqdm_kwargs
        Passed to :class:`tqdm.auto.tqdm` (``desc``, ``leave``, ``file``...).
    """

    def __init__(self, **tqdm_kwargs) -> None:
        self.tqdm_kwargs = tqdm_kwargs
        self._bar = None

    def __call__(self, estimator, epoch: int, record: dict[str, Any]) -> None:
        if self._bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # pragma: no cover - depends on the install
                raise ImportError(
                    "ProgressBar needs tqdm: pip install tqdm (or skae[progress])."
                ) from None
            kwargs = {"unit": "epoch", **self.tqdm_kwargs}
            self._bar = tqdm(total=record["max_iter"], initial=epoch - 1, **kwargs)
        shown = {"loss": f"{record['loss']:.4g}"}
        if "val_mse" in record:
            shown["val_mse"] = f"{record['val_mse']:.4g}"
        self._bar.set_postfix(shown, refresh=False)
        self._bar.update(1)

    def on_fit_end(self, estimator) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __getstate__(self):
        # A live bar holds a stream; a pickled or cloned estimator gets a
        # callback that opens its own.
        return {**self.__dict__, "_bar": None}
