"""Choosing the bottleneck with scikit-learn's search tools.

Reconstruction improves with every unit of code, so the best held-out
``score`` always belongs to the largest ``n_components`` in the grid. The
useful question is the smallest code that is nearly as good: the rule of
scikit-learn's "balance model complexity and cross-validated score"
example, offered here as a ``refit`` callable for
:class:`~sklearn.model_selection.GridSearchCV`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real

import numpy as np

__all__ = ["smallest_within"]


def _param_key(cv_results: Mapping, param: str) -> str:
    """The ``param_*`` key of ``param``, also as a pipeline step's suffix."""
    if f"param_{param}" in cv_results:
        return f"param_{param}"
    matches = [
        k for k in cv_results if k.startswith("param_") and k.endswith(f"__{param}")
    ]
    if len(matches) != 1:
        searched = sorted(k[6:] for k in cv_results if k.startswith("param_"))
        raise ValueError(
            f"smallest_within: the search has {'several' if matches else 'no'} "
            f"parameter(s) named {param!r}; its parameters are {searched}. Pass "
            "the full name, e.g. 'autoencodertransformer__n_components'."
        )
    return matches[0]


def _check_margin(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number >= 0, got {value!r}.")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")


def _column(cv_results: Mapping, stat: str, scoring: str):
    """``cv_results[f"{stat}_test_{scoring}"]``, or an error naming the
    scorers the search has."""
    key = f"{stat}_test_{scoring}"
    if key not in cv_results:
        scorers = sorted(
            k[len("mean_test_") :] for k in cv_results if k.startswith("mean_test_")
        )
        raise ValueError(
            f"smallest_within: the search results have no {key!r} column; its "
            f"scorers are {scorers}. Pass scoring= one of them."
        )
    return cv_results[key]


def smallest_within(
    param: str = "n_components",
    *,
    tolerance: float | None = None,
    n_std: float = 1.0,
    scoring: str = "score",
) -> Callable[[Mapping], int]:
    """A ``refit`` rule: the smallest ``param`` scoring nearly as well as the best.

    Candidates whose mean test score is at least the best mean minus a
    margin are acceptable; among them the one with the smallest ``param``
    wins (ties go to the higher score). The margin is ``tolerance`` when
    given, else ``n_std`` standard deviations of the best candidate's
    scores across the folds.

    Parameters
    ----------
    param : str, default="n_components"
        The searched parameter whose smallest value is preferred. Inside a
        pipeline the bare name is found as a suffix
        (``autoencodertransformer__n_components``) when unambiguous.
    tolerance : float or None, default=None
        Absolute margin below the best mean score. With
        :meth:`AutoencoderTransformer.score` it is in units of mean squared
        error.
    n_std : float, default=1.0
        Margin in standard deviations of the best candidate's fold scores,
        used when ``tolerance`` is None.
    scoring : str, default="score"
        Which ``mean_test_<scoring>`` column to read; the name of a metric
        when the search uses several.

    Returns
    -------
    callable
        ``refit(cv_results) -> int``, the index of the chosen candidate; pass
        it as ``GridSearchCV(..., refit=smallest_within())``.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skae import AutoencoderTransformer
    >>> from skae.model_selection import smallest_within
    >>> search = GridSearchCV(
    ...     AutoencoderTransformer(random_state=0),
    ...     {"n_components": [2, 4, 8, 16, 32]},
    ...     refit=smallest_within(tolerance=0.002),
    ... )
    """
    if not isinstance(param, str):
        raise TypeError(f"param must be a parameter name (str), got {param!r}.")
    if not isinstance(scoring, str):
        raise TypeError(f"scoring must be a metric name (str), got {scoring!r}.")
    if tolerance is not None:
        _check_margin(tolerance, "tolerance")
    _check_margin(n_std, "n_std")

    def refit(cv_results: Mapping) -> int:
        means = np.asarray(_column(cv_results, "mean", scoring), dtype=float)
        if np.all(np.isnan(means)):
            raise ValueError("smallest_within: every candidate failed to score.")
        best = int(np.nanargmax(means))
        if tolerance is not None:
            margin = tolerance
        else:
            margin = n_std * float(_column(cv_results, "std", scoring)[best])
            if not np.isfinite(margin):
                raise ValueError(
                    "smallest_within: the best candidate's scores have no finite "
                    f"spread across folds (std_test_{scoring} is "
                    f"{cv_results[f'std_test_{scoring}'][best]!r}); pass an "
                    "absolute tolerance instead."
                )
        values = np.asarray(cv_results[_param_key(cv_results, param)], dtype=object)
        ok = np.flatnonzero(means >= means[best] - margin)  # NaN compares False
        try:
            smallest = min(values[i] for i in ok)
        except TypeError:
            raise ValueError(
                f"smallest_within: the values of {param!r} in the search "
                f"({sorted(map(repr, set(values.tolist())))}) cannot be ordered; "
                "search one kind of value (e.g. only integers)."
            ) from None
        tied = [i for i in ok if values[i] == smallest]
        return int(max(tied, key=lambda i: means[i]))

    return refit
