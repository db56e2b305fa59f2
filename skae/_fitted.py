"""The fitted attributes: the one list of them, and how a run sets them.

Every reader of the list is here or imports it: ``fit``'s reset and
``__sklearn_is_fitted__`` (the estimator), :func:`~skae.save_model` and
:func:`~skae.load_model` (``skae._persistence``), pickling (``TORCH``). The
values come from the :class:`~skae._fit_plan.FitPlan` a model was trained
with and the trainer's result, never from the live parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# The fitted modules.
MODULES = ("encoder_", "decoder_")
# The other public fitted attributes, all JSON values (what a model file holds).
RECORDED = (
    "n_features_in_",
    "n_components_",
    "image_shape_",
    "reconstruction_loss_",
    "max_iter_",
    "history_",
    "loss_curve_",
    "n_iter_",
    "stop_reason_",
    "validation_scores_",
    "best_validation_score_",
    "best_loss_",
    "best_epoch_",
)
# Set only when X had string column names.
OPTIONAL = ("feature_names_in_",)
# Private: the parameters the model was fitted with (a JSON dict), and what
# the next partial_fit call resumes (a TrainerState: seed, schedule, Adam).
PRIVATE = ("_fit_params_", "_trainer_state_")
ALL = MODULES + RECORDED + OPTIONAL + PRIVATE
# Attributes holding tensors: pickled through torch.save so that they load on
# the CPU (with the user's modules given as parameters).
TORCH = ("encoder_", "decoder_", "_trainer_state_", "encoder", "decoder")


# What makes a model usable (a scikit-learn callback's per-epoch
# ``fitted_estimator`` holds these, before the history exists).
REQUIRED = (*MODULES, "n_features_in_", "n_components_", "reconstruction_loss_")


def is_fitted(estimator) -> bool:
    return all(hasattr(estimator, name) for name in REQUIRED)


def clear(estimator, keep: tuple[str, ...] = ()) -> None:
    """Remove every fitted attribute but ``keep``."""
    for name in ALL:
        if name not in keep:
            estimator.__dict__.pop(name, None)


def network_attributes(plan, net, image_shape) -> dict[str, Any]:
    """The attributes that describe the network ``plan`` trained."""
    return {
        "encoder_": net.encoder,
        "decoder_": net.decoder,
        "n_components_": plan.n_components,
        "image_shape_": image_shape,
        "reconstruction_loss_": plan.loss,
        "max_iter_": plan.max_iter,
        "_fit_params_": plan.params,
    }


def history_attributes(
    history: dict[str, list[float]], early_stopping: bool, old: dict | None = None
) -> dict[str, Any]:
    """``history_`` (extending ``old`` when given: warm start, partial_fit)
    and the attributes derived from it.

    A term that one run recorded and the other did not (early stopping
    switched on for a warm start) is NaN for the epochs it lacks.
    """
    old = old or {}
    n_old = len(old.get("loss", []))
    n_new = len(history.get("loss", []))
    merged = {
        key: list(old.get(key, [math.nan] * n_old))
        + list(history.get(key, [math.nan] * n_new))
        for key in {"loss": None, **old, **history}
    }
    curve = list(merged["loss"])
    val = merged.get("val_mse")
    monitored = val if early_stopping and val else curve
    attributes = {
        "history_": merged,
        "loss_curve_": curve,
        "best_epoch_": int(np.nanargmin(monitored)) + 1 if monitored else 0,
        "validation_scores_": None,
        "best_validation_score_": None,
        "best_loss_": min(curve) if curve else None,
    }
    if early_stopping and val:
        scores = [-v for v in val]
        attributes["validation_scores_"] = scores
        attributes["best_validation_score_"] = float(np.nanmax(scores))
        attributes["best_loss_"] = None
    return attributes
