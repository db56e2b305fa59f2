"""The callbacks of one training run, as the trainer's hooks.

``verbose`` (:class:`~skae.callbacks.PrintEpochs`), the ``callbacks``
parameter and scikit-learn's own callbacks (``set_callbacks``, through
:class:`~skae._sklearn_callbacks.FitTasks`) are gathered here, in the one
place that knows the callback protocol (:class:`skae.callbacks.Callback`):
the trainer only calls :meth:`EpochHooks.begin_epoch` and
:meth:`EpochHooks.end_epoch`, and the estimator :meth:`EpochHooks.end_fit`.
"""

from __future__ import annotations

from typing import Any

from .callbacks import PrintEpochs


def checked_callbacks(callbacks, verbose) -> list:
    """``verbose``'s printer followed by ``callbacks``, each checked callable."""
    callbacks = [] if callbacks is None else list(callbacks)
    bad = [c for c in callbacks if not callable(c)]
    if bad:
        raise TypeError(
            "callbacks must be a list of callables "
            f"callback(estimator, epoch, record), got {bad[0]!r} in {callbacks!r}."
        )
    classes = [c for c in callbacks if isinstance(c, type)]
    if classes:
        name = classes[0].__name__
        raise TypeError(
            f"callbacks holds the class {name}, not an instance: pass {name}()."
        )
    return ([PrintEpochs()] if verbose else []) + callbacks


class EpochHooks:
    """The callbacks of one ``fit`` or ``partial_fit`` call.

    Parameters
    ----------
    estimator : AutoencoderTransformer
        Passed to every callback.
    callbacks : list of callable
        From :func:`checked_callbacks`.
    tasks : FitTasks or None
        scikit-learn's task tree for this call (set once the call knows it).

    Attributes
    ----------
    offset : int
        Added to the run's epoch for the number the callbacks see (a
        ``partial_fit`` call is epoch ``n_iter_``).
    """

    def __init__(self, estimator, callbacks: list, tasks=None):
        self.estimator, self.callbacks, self.tasks = estimator, callbacks, tasks
        self.offset = 0
        # A data-parallel run replaces this with the lead process's decision.
        self.decide = bool

    def begin_epoch(self, epoch: int) -> None:
        if self.tasks is not None:
            self.tasks.begin_epoch()

    def end_epoch(self, epoch: int, record: dict[str, Any]) -> bool:
        """Every callback sees every epoch, even after one asked to stop;
        any true answer (``True``, 1, a non-empty string...) stops."""
        label = epoch + self.offset
        answers = [(c, c(self.estimator, label, record)) for c in self.callbacks]
        stop = self.tasks is not None and self.tasks.end_epoch()
        return self.decide(bool(stop) or any([_truth(c, a) for c, a in answers]))

    def end_fit(self) -> None:
        """``on_fit_end`` of every callback that has one, then scikit-learn's
        root task; each runs even if an earlier one raised, and the first
        error is raised afterwards."""
        error = None
        for callback in self.callbacks:
            on_fit_end = getattr(callback, "on_fit_end", None)
            if on_fit_end is None:
                continue
            try:
                on_fit_end(self.estimator)
            except Exception as exc:
                error = error or exc
        if self.tasks is not None:
            self.tasks.finish()
        if error is not None:
            raise error


def _truth(callback, answer) -> bool:
    """Whether ``answer`` asks to stop; an answer with no truth value (a
    NumPy array of several values) is the callback's error, named."""
    try:
        return bool(answer)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"The callback {callback!r} returned {type(answer).__name__}, whose "
            f"truth value is ambiguous ({exc}); return True to stop, or "
            "False/None to go on."
        ) from None
