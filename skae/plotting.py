"""Figures for autoencoders, following scikit-learn's Display convention.

Each ``...Display`` is built with a ``from_*`` class method, draws with
``plot(ax=None)`` and keeps ``figure_`` and ``ax_`` plus its own artists, so
tests and users can inspect what was drawn. matplotlib is imported only when
something is plotted: ``import skae`` never imports it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "KNNAccuracyDisplay",
    "LatentSpaceDisplay",
    "LossCurveDisplay",
    "ReconstructionDisplay",
]


def _class_names(classes: np.ndarray, label_names) -> list[str]:
    """Legend names of ``classes``: ``label_names[c]``, or ``c`` itself.

    A sequence is indexed by class value, so a class must be an integer
    within it (a negative label would silently take a name from the end).
    """
    values = classes.tolist()  # Python scalars: clear messages, dict lookups
    if label_names is None:
        return [str(c) for c in values]
    for c in values:
        if isinstance(label_names, Mapping):
            ok = c in label_names
        else:
            ok = isinstance(c, int) and 0 <= c < len(label_names)
        if not ok:
            raise ValueError(
                f"label_names has no entry for class {c!r}: it has "
                f"{len(label_names)} entries for classes {values}."
            )
    return [str(label_names[c]) for c in values]


def _axes(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


def _project_2d(codes: np.ndarray, projection: str) -> tuple[np.ndarray, list[str]]:
    """Reduce codes to two columns for a scatter plot."""
    if codes.shape[1] == 1:
        return np.column_stack([codes[:, 0], np.zeros(len(codes))]), ["code 0", ""]
    if codes.shape[1] == 2 or projection == "first":
        return codes[:, :2], ["code 0", "code 1"]
    if projection == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2).fit_transform(codes), [
            "PC 1 of codes",
            "PC 2 of codes",
        ]
    raise ValueError(f"projection must be 'pca' or 'first', got {projection!r}.")


class LatentSpaceDisplay:
    """Scatter plot of 2-D codes coloured by label.

    Codes with more than two columns are projected to two: by default onto
    their first two principal components (``projection="pca"``), or by
    keeping the first two columns (``projection="first"``).

    Parameters
    ----------
    embedding : ndarray of shape (n_samples, 2)
        Points to draw (already projected).
    labels : array-like of shape (n_samples,) or None
        Class of each point; one colour and legend entry per class.
    axis_labels : list of str
        Axis titles.
    label_names : sequence of str or None
        Display names of the classes, indexed by label value.

    Attributes
    ----------
    scatters_ : list of PathCollection
        One collection per class (or one in all without labels).
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import LatentSpaceDisplay
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.random((200, 16)), rng.integers(0, 3, 200)
    >>> ae = AutoencoderTransformer(n_components=2, max_iter=5, random_state=0)
    >>> display = LatentSpaceDisplay.from_estimator(ae.fit(X), X, y, title="codes")
    >>> len(display.scatters_)  # one per class
    3
    """

    def __init__(self, embedding, labels=None, axis_labels=("", ""), label_names=None):
        self.embedding = np.asarray(embedding)
        self.labels = None if labels is None else np.asarray(labels)
        self.axis_labels = list(axis_labels)
        self.label_names = label_names

    @classmethod
    def from_embedding(
        cls,
        codes,
        labels=None,
        *,
        projection="pca",
        label_names=None,
        ax=None,
        **kwargs,
    ):
        """Plot codes computed elsewhere, coloured by label.

        Parameters
        ----------
        codes : array-like of shape (n_samples, n_codes)
            Codes of any width: one column is drawn against zero, two are
            drawn as they are, more are reduced to two by ``projection``.
        labels : array-like of shape (n_samples,), default=None
            Class of each point; one colour and legend entry per class.
        projection : {"pca", "first"}, default="pca"
            How codes wider than two are reduced: onto their first two
            principal components, or by keeping the first two columns.
        label_names : sequence or mapping of str, default=None
            Legend names, indexed (or keyed) by label value.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs
            Passed to :meth:`plot` (``s``, ``alpha``, ``legend``, ``title``).

        Returns
        -------
        display : LatentSpaceDisplay
            The display, with its artists, ``ax_`` and ``figure_`` set.
        """
        codes = np.asarray(codes, dtype=np.float64)
        if codes.ndim != 2 or len(codes) == 0:
            raise ValueError(
                f"codes must be a non-empty 2-D array, got shape {codes.shape}."
            )
        points, axis_labels = _project_2d(codes, projection)
        return cls(points, labels, axis_labels, label_names).plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, X, labels=None, **kwargs):
        """Encode ``X`` with a fitted transformer and plot the codes.

        Parameters
        ----------
        estimator : fitted transformer
            Any fitted object with ``transform``, such as
            :class:`~skae.AutoencoderTransformer` or
            :class:`~sklearn.decomposition.PCA`.
        X : array-like of shape (n_samples, n_features)
            Data to encode.
        labels : array-like of shape (n_samples,), default=None
            Class of each row.
        **kwargs
            Passed to :meth:`from_embedding` (``projection``,
            ``label_names``, ``ax``) and on to :meth:`plot`.

        Returns
        -------
        display : LatentSpaceDisplay
            The display, with its artists, ``ax_`` and ``figure_`` set.
        """
        return cls.from_embedding(estimator.transform(X), labels, **kwargs)

    def plot(self, ax=None, *, s=4, alpha=0.7, legend=True, title=None):
        """Draw the scatter, one colour per class.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        s : float, default=4
            Marker size.
        alpha : float, default=0.7
            Marker opacity.
        legend : bool, default=True
            Whether to add a legend of the classes (when there are labels).
        title : str, default=None
            Axes title.

        Returns
        -------
        display : LatentSpaceDisplay
            The display, with its artists, ``ax_`` and ``figure_`` set.
        """
        ax = _axes(ax)
        self.scatters_ = []
        if self.labels is None:
            self.scatters_.append(ax.scatter(*self.embedding.T, s=s, alpha=alpha))
        else:
            import matplotlib.pyplot as plt

            if len(self.labels) != len(self.embedding):
                raise ValueError(
                    f"labels has {len(self.labels)} entries for "
                    f"{len(self.embedding)} points; give one label per point."
                )
            classes = np.unique(self.labels)
            names = _class_names(classes, self.label_names)
            cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
            for i, (cls_, name) in enumerate(zip(classes, names, strict=True)):
                mask = self.labels == cls_
                self.scatters_.append(
                    ax.scatter(
                        *self.embedding[mask].T,
                        s=s,
                        alpha=alpha,
                        color=cmap(i % cmap.N),
                        label=str(name),
                    )
                )
            if legend:
                ax.legend(markerscale=3, fontsize="small", loc="best", framealpha=0.8)
        ax.set_xlabel(self.axis_labels[0])
        ax.set_ylabel(self.axis_labels[1])
        if title:
            ax.set_title(title)
        self.ax_, self.figure_ = ax, ax.figure
        return self


def _as_display_image(
    flat: np.ndarray, image_shape: Sequence[int]
) -> tuple[np.ndarray, str | None]:
    """One flat row as an array imshow can draw, plus the colour map to use."""
    shape = tuple(image_shape)
    image = flat.reshape(shape)
    if len(shape) == 2:
        return image, "gray"
    if shape[0] == 1:
        return image[0], "gray"
    if shape[0] == 3:
        return np.clip(np.moveaxis(image, 0, -1), 0, 1), None
    # Neither grey nor RGB: show the mean over channels.
    return image.mean(axis=0), "gray"


class ReconstructionDisplay:
    """Originals (top row) above their reconstructions (bottom row).

    Parameters
    ----------
    originals, reconstructions : ndarray of shape (n_images, n_features)
        Flattened images.
    image_shape : tuple of int
        ``(height, width)`` or ``(channels, height, width)``; 1-channel images
        are drawn in grey, 3-channel ones as RGB (clipped to [0, 1]), others
        as the mean over channels.

    Attributes
    ----------
    images_ : list of AxesImage
        ``2 * n_images`` images, originals first.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skae.plotting import ReconstructionDisplay
    >>> images = np.random.default_rng(0).random((50, 64))  # 8x8 images
    >>> pca = PCA(n_components=5).fit(images)
    >>> display = ReconstructionDisplay.from_estimator(pca, images, n_images=6)
    >>> len(display.images_)  # 6 originals and 6 reconstructions
    12
    """

    def __init__(self, originals, reconstructions, image_shape):
        self.originals = np.asarray(originals)
        self.reconstructions = np.asarray(reconstructions)
        self.image_shape = tuple(image_shape)
        if self.originals.shape != self.reconstructions.shape:
            raise ValueError(
                "originals and reconstructions differ in shape: "
                f"{self.originals.shape} vs {self.reconstructions.shape}."
            )
        if math.prod(self.image_shape) != self.originals.shape[1]:
            raise ValueError(
                f"image_shape={self.image_shape} does not match rows of "
                f"{self.originals.shape[1]} values."
            )

    @classmethod
    def from_predictions(
        cls, originals, reconstructions, *, image_shape=None, ax=None, **kw
    ):
        """Plot originals above reconstructions computed elsewhere.

        Parameters
        ----------
        originals, reconstructions : array-like of shape (n_images, n_features)
            Flattened images, one per column of the figure.
        image_shape : tuple of int, default=None
            ``(height, width)`` or ``(channels, height, width)``; square
            one-channel images when None.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kw
            Passed to :meth:`plot` (``title``, ``gap``).

        Returns
        -------
        display : ReconstructionDisplay
            The display, with its artists, ``ax_`` and ``figure_`` set.
        """
        originals = np.asarray(originals)
        if image_shape is None:
            side = math.isqrt(originals.shape[1])
            if side * side != originals.shape[1]:
                raise ValueError("image_shape is required for non-square images.")
            image_shape = (side, side)
        return cls(originals, reconstructions, image_shape).plot(ax=ax, **kw)

    @classmethod
    def from_estimator(cls, estimator, X, *, n_images=8, image_shape=None, **kwargs):
        """Reconstruct the first ``n_images`` rows of ``X`` and plot them.

        Parameters
        ----------
        estimator : fitted transformer
            An object with ``transform`` and ``inverse_transform``, such as
            :class:`~skae.AutoencoderTransformer` or
            :class:`~sklearn.decomposition.PCA`.
        X : array-like of shape (n_samples, n_features)
            Images, flattened; only the first ``n_images`` rows are used.
        n_images : int, default=8
            Number of images (columns of the figure).
        image_shape : tuple of int, default=None
            The estimator's ``image_shape_`` when it has one, else square
            one-channel images.
        **kwargs
            Passed to :meth:`from_predictions` (``ax``) and on to :meth:`plot`.

        Returns
        -------
        display : ReconstructionDisplay
            The display, with its artists, ``ax_`` and ``figure_`` set.
        """
        X = np.asarray(X)[:n_images]
        if image_shape is None:
            image_shape = getattr(estimator, "image_shape_", None)
        recon = estimator.inverse_transform(estimator.transform(X))
        return cls.from_predictions(X, recon, image_shape=image_shape, **kwargs)

    def plot(self, ax=None, *, title=None, gap=0.1):
        """Draw the originals in the top row and their reconstructions below.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        title : str, default=None
            Axes title.
        gap : float, default=0.1
            Space between images, as a fraction of an image's width.

        Returns
        -------
        display : ReconstructionDisplay
            The display, with its artists, ``ax_`` and ``figure_`` set.
        """
        ax = _axes(ax)
        self.images_ = []
        for row, block in enumerate((self.originals, self.reconstructions)):
            for col, flat in enumerate(block):
                image, cmap = _as_display_image(flat, self.image_shape)
                # Each image in its own unit cell: (col, -row) in data space.
                extent = (
                    col + gap / 2,
                    col + 1 - gap / 2,
                    -row - 1 + gap / 2,
                    -row - gap / 2,
                )
                self.images_.append(
                    ax.imshow(
                        image,
                        cmap=cmap,
                        extent=extent,
                        vmin=0,
                        vmax=1,
                        interpolation="nearest",
                    )
                )
        ax.set_xlim(0, len(self.originals))
        ax.set_ylim(-2, 0)
        ax.set_xticks([])
        ax.set_yticks([-0.5, -1.5], labels=["original", "decoded"])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if title:
            ax.set_title(title)
        self.ax_, self.figure_ = ax, ax.figure
        return self


class LossCurveDisplay:
    """Per-epoch training curves of a fitted :class:`~skae.AutoencoderTransformer`.

    Draws the training objective, and when present its reconstruction and
    sparsity-penalty terms and the validation MSE (early stopping).

    Parameters
    ----------
    history : mapping of str to list of float
        As in the estimator's ``history_``.

    Attributes
    ----------
    lines_ : dict of str to Line2D
        One line per plotted series, keyed as in ``history``.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import LossCurveDisplay
    >>> X = np.random.default_rng(0).random((200, 16))
    >>> ae = AutoencoderTransformer(max_iter=8, early_stopping=True, random_state=0)
    >>> display = LossCurveDisplay.from_estimator(ae.fit(X))
    >>> sorted(display.lines_)
    ['loss', 'val_mse']
    """

    LABELS = {
        "loss": "training objective",
        "reconstruction": "reconstruction term",
        "penalty": "sparsity penalty",
        "val_mse": "validation MSE",
    }

    def __init__(self, history: Mapping[str, Sequence[float]]):
        self.history = {k: list(v) for k, v in history.items()}

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, **kwargs):
        """Plot the ``history_`` of a fitted estimator.

        Parameters
        ----------
        estimator : AutoencoderTransformer
            A fitted estimator.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs
            Passed to :meth:`plot` (``log_scale``, ``title``).

        Returns
        -------
        display : LossCurveDisplay
            The display, with its artists, ``ax_`` and ``figure_`` set.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If ``estimator`` has not been fitted.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator, "history_")
        return cls(estimator.history_).plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, log_scale=True, title=None):
        """Draw one line per recorded series against the epoch.

        The reconstruction and penalty terms are drawn only when a penalty
        was trained (otherwise the reconstruction term is the objective).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        log_scale : bool, default=True
            Whether the loss axis is logarithmic.
        title : str, default=None
            Axes title.

        Returns
        -------
        display : LossCurveDisplay
            The display, with its artists, ``ax_`` and ``figure_`` set.
        """
        ax = _axes(ax)
        self.lines_ = {}
        has_penalty = any(self.history.get("penalty", []))
        for key, label in self.LABELS.items():
            values = self.history.get(key)
            if not values or (key in ("reconstruction", "penalty") and not has_penalty):
                continue
            epochs = np.arange(1, len(values) + 1)
            style = "--" if key == "val_mse" else "-"
            (self.lines_[key],) = ax.plot(epochs, values, style, label=label)
        if log_scale:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize="small")
        if title:
            ax.set_title(title)
        self.ax_, self.figure_ = ax, ax.figure
        return self


class KNNAccuracyDisplay:
    """k-NN accuracy against latent dimension, one line per method.

    Parameters
    ----------
    results : sequence of mapping
        Rows with at least ``method``, ``dim`` and ``knn_accuracy`` (as in the
        benchmark report's ``results.json``); rows without an accuracy are
        skipped.

    Attributes
    ----------
    lines_ : dict of str to Line2D
        One line per method.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from skae.plotting import KNNAccuracyDisplay
    >>> rows = [
    ...     {"method": "PCA", "dim": 2, "knn_accuracy": 0.43},
    ...     {"method": "PCA", "dim": 32, "knn_accuracy": 0.97},
    ...     {"method": "skae", "dim": 2, "knn_accuracy": 0.69},
    ...     {"method": "skae", "dim": 32, "knn_accuracy": 0.97},
    ... ]
    >>> display = KNNAccuracyDisplay.from_results(rows, title="MNIST")
    >>> list(display.lines_)
    ['PCA', 'skae']
    """

    def __init__(self, results: Sequence[Mapping]):
        self.results = [r for r in results if r.get("knn_accuracy") is not None]

    @classmethod
    def from_results(cls, results, *, dataset=None, ax=None, **kwargs):
        """Plot rows of a benchmark's ``results.json``.

        Parameters
        ----------
        results : sequence of mapping
            Rows with ``method``, ``dim`` and ``knn_accuracy``, and
            ``dataset`` when filtering by it.
        dataset : str, default=None
            Keep only the rows of this dataset; all rows when None.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs
            Passed to :meth:`plot` (``title``).

        Returns
        -------
        display : KNNAccuracyDisplay
            The display, with its artists, ``ax_`` and ``figure_`` set.
        """
        rows = [r for r in results if dataset is None or r.get("dataset") == dataset]
        return cls(rows).plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, title=None):
        """Draw one line per method; a log-2 axis when dimensions span > 4x.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        title : str, default=None
            Axes title.

        Returns
        -------
        display : KNNAccuracyDisplay
            The display, with its artists, ``ax_`` and ``figure_`` set.
        """
        ax = _axes(ax)
        self.lines_ = {}
        methods = list(dict.fromkeys(r["method"] for r in self.results))
        for method in methods:
            rows = sorted(
                (r for r in self.results if r["method"] == method),
                key=lambda r: r["dim"],
            )
            dims = [r["dim"] for r in rows]
            accs = [r["knn_accuracy"] for r in rows]
            (self.lines_[method],) = ax.plot(dims, accs, "o-", label=method)
        dims = sorted({r["dim"] for r in self.results})
        if dims and dims[-1] / max(dims[0], 1) > 4:
            ax.set_xscale("log", base=2)
        ax.set_xticks(dims, labels=[str(d) for d in dims])
        ax.set_xlabel("latent dimension")
        ax.set_ylabel("5-NN test accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        if title:
            ax.set_title(title)
        self.ax_, self.figure_ = ax, ax.figure
        return self
