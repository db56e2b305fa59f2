"""scikit-learn's own callback API (``sklearn.callback``, 1.9+) on skae's loop.

scikit-learn 1.9 describes a fit as a tree of tasks: callbacks registered
with ``estimator.set_callbacks(...)`` get ``on_fit_task_begin`` and
``on_fit_task_end`` for each task, and an end hook returning True stops the
current level of iterations. Meta-estimators (``Pipeline``, ``GridSearchCV``)
graft the trees of the estimators they fit onto theirs and pass on
auto-propagated callbacks such as ``sklearn.callback.ProgressBar``.

In skae a ``fit`` call is a root task ``"fit"`` whose subtasks are its
epochs (leaves, ``"epoch"``), and a ``partial_fit`` call is a single leaf
task ``"partial_fit"``. A stop request from an epoch's end hook ends training as skae's own
``callbacks`` do (``stop_reason_ == "callback"``). ``fitted_estimator`` is
built only for the callbacks that ask for it: a copy of the estimator
holding copies of the network as it stands.

With scikit-learn < 1.9 (skae supports 1.6 and later) there is no such API:
the estimator then has no ``set_callbacks`` and :class:`FitTasks` does
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """scikit-learn < 1.9 has no callback API: nothing to add."""

    SKLEARN_CALLBACKS = False
else:
    SKLEARN_CALLBACKS = True

# Attributes the callback machinery keeps on the estimator for the length of
# one fit; scikit-learn's fit wrapper tears the callbacks down from them
# after the method returns or raises, so a rolled-back fit must keep them.
RUNTIME_ATTRIBUTES = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")

Attributes = Callable[[], dict[str, Any]]


class FitTasks:
    """The task tree of one ``fit`` (epochs as subtasks) or ``partial_fit``
    call (one leaf), for the callbacks set with ``set_callbacks``.

    Parameters
    ----------
    estimator : AutoencoderTransformer
        The estimator being fitted.
    X : array-like
        The training data, passed to the hooks.
    y : array-like or None
        What ``fit`` was given as ``y`` (skae ignores it), passed to the hooks:
        scikit-learn's ``ScoringMonitor`` scores only when it is not None.
    max_epochs : int
        Subtasks of the root: the run's budget of epochs; 0 makes the call a
        leaf task.
    task_name : str
        The root task's name: the method called.
    attributes : callable or None
        Returns the fitted attributes of the network as it stands, from which
        an epoch's ``fitted_estimator`` is built (called only if a callback
        asks for one); needed when ``max_epochs > 0``.
    """

    def __init__(
        self,
        estimator,
        X,
        y,
        max_epochs: int,
        task_name: str = "fit",
        attributes: Attributes | None = None,
    ) -> None:
        self.estimator, self.X, self.y = estimator, X, y
        self.attributes = attributes
        self.leaf = max_epochs == 0
        self.root = self.epoch = None
        # A context is opened even without callbacks of its own: inside a
        # meta-estimator the task tree must still be linked to the parent's.
        if SKLEARN_CALLBACKS:
            self.root = estimator._init_callback_context(
                task_name=task_name, max_subtasks=max_epochs
            )
            self.root.call_on_fit_task_begin(estimator=estimator, X=X, y=y)

    def begin_epoch(self) -> None:
        """Open the next epoch's task (none in a leaf task: partial_fit)."""
        if self.root is None or self.leaf:
            return
        self.epoch = self.root.subcontext(task_name="epoch")
        self.epoch.call_on_fit_task_begin(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            reconstruction_attributes=self.attributes,
        )

    def end_epoch(self) -> bool:
        """Close the open epoch's task; True if a callback asks to stop."""
        if self.epoch is None:
            return False
        epoch, self.epoch = self.epoch, None
        return bool(
            epoch.call_on_fit_task_end(
                estimator=self.estimator,
                X=self.X,
                y=self.y,
                reconstruction_attributes=self.attributes,
            )
        )

    def finish(self) -> None:
        """Close the root task, the fitted attributes being set; an epoch
        that did not finish (interrupted, diverged) is closed as empty."""
        if self.epoch is not None:
            self.epoch.call_on_fit_task_end(estimator=self.estimator)
            self.epoch = None
        if self.root is not None:
            self.root.call_on_fit_task_end(
                estimator=self.estimator,
                X=self.X,
                y=self.y,
                reconstruction_attributes={},
            )
