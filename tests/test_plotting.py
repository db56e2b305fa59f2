"""skae.plotting: Displays draw what they say (checked on the artists)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skae import AutoencoderTransformer  # noqa: E402
from skae.plotting import (  # noqa: E402
    KNNAccuracyDisplay,
    LatentSpaceDisplay,
    LossCurveDisplay,
    ReconstructionDisplay,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted_digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X[:200] / 16).astype(np.float32)
    ae = AutoencoderTransformer(
        n_components=5,
        hidden_layer_sizes=(16,),
        sparsity="l1",
        early_stopping=True,
        max_iter=4,
        random_state=0,
    ).fit(X)
    return ae, X, y[:200]


def test_importing_skae_does_not_import_matplotlib():
    code = "import sys, skae; skae.AutoencoderTransformer; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_latent_space_one_collection_per_class_with_legend(fitted_digits):
    ae, X, y = fitted_digits
    display = LatentSpaceDisplay.from_estimator(ae, X, y)
    assert len(display.scatters_) == 10
    assert sum(len(c.get_offsets()) for c in display.scatters_) == 200
    assert len(display.ax_.get_legend().get_texts()) == 10
    assert display.ax_.get_xlabel() == "PC 1 of codes"  # 5-D codes -> PCA
    assert display.figure_ is display.ax_.figure


def test_latent_space_projections_and_names():
    codes = np.arange(12.0).reshape(4, 3)
    d = LatentSpaceDisplay.from_embedding(
        codes, [0, 1, 0, 1], projection="first", label_names=["zero", "one"]
    )
    np.testing.assert_array_equal(d.scatters_[0].get_offsets(), [[0, 1], [6, 7]])
    assert [t.get_text() for t in d.ax_.get_legend().get_texts()] == ["zero", "one"]
    unlabeled = LatentSpaceDisplay.from_embedding(codes[:, :2])
    assert len(unlabeled.scatters_) == 1 and unlabeled.ax_.get_legend() is None
    with pytest.raises(ValueError, match="projection must be"):
        LatentSpaceDisplay.from_embedding(codes, projection="tsne")


def test_latent_space_draws_on_given_axes():
    _, (left, right) = plt.subplots(1, 2)
    d = LatentSpaceDisplay.from_embedding(np.zeros((3, 2)), ax=right)
    assert d.ax_ is right and len(right.collections) == 1 and not left.collections


def test_reconstruction_grid_has_originals_and_reconstructions(fitted_digits):
    ae, X, _ = fitted_digits
    display = ReconstructionDisplay.from_estimator(
        ae, X, n_images=6, image_shape=(8, 8)
    )
    assert len(display.images_) == 12 == len(display.ax_.images)
    np.testing.assert_array_equal(display.images_[0].get_array(), X[0].reshape(8, 8))
    expected = ae.inverse_transform(ae.transform(X[:1]))[0].reshape(8, 8)
    np.testing.assert_allclose(display.images_[6].get_array(), expected, atol=1e-6)
    labels = [t.get_text() for t in display.ax_.get_yticklabels()]
    assert labels == ["original", "decoded"]


@pytest.mark.parametrize(
    "shape, drawn", [((1, 4, 5), (4, 5)), ((3, 4, 5), (4, 5, 3)), ((2, 4, 5), (4, 5))]
)
def test_reconstruction_grid_handles_channels(shape, drawn):
    rng = np.random.default_rng(0)
    flat = rng.random((3, int(np.prod(shape))))
    d = ReconstructionDisplay.from_predictions(flat, flat * 0.5, image_shape=shape)
    assert len(d.images_) == 6
    assert d.images_[0].get_array().shape == drawn


def test_reconstruction_grid_errors():
    with pytest.raises(ValueError, match="image_shape is required"):
        ReconstructionDisplay.from_predictions(np.zeros((2, 10)), np.zeros((2, 10)))
    with pytest.raises(ValueError, match="differ in shape"):
        ReconstructionDisplay.from_predictions(np.zeros((2, 4)), np.zeros((3, 4)))


def test_latent_space_label_errors_name_the_problem():
    points = np.zeros((10, 2))
    with pytest.raises(ValueError, match="labels has 5 entries for 10 points"):
        LatentSpaceDisplay.from_embedding(points, np.zeros(5))
    labels = np.arange(10) % 3
    with pytest.raises(ValueError, match=r"no entry for class 1: it has 1 entries"):
        LatentSpaceDisplay.from_embedding(points, labels, label_names=["a"])
    # A negative label would otherwise take a name from the end of the list.
    with pytest.raises(ValueError, match="no entry for class -1"):
        LatentSpaceDisplay.from_embedding(points, labels - 1, label_names="abc")
    with pytest.raises(ValueError, match="no entry for class 2"):
        LatentSpaceDisplay.from_embedding(points, labels, label_names={0: "a", 1: "b"})
    names = LatentSpaceDisplay.from_embedding(
        points, labels, label_names={0: "a", 1: "b", 2: "c"}
    ).ax_.get_legend_handles_labels()[1]
    assert names == ["a", "b", "c"]


def test_loss_curve_of_unfitted_estimator_is_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(AutoencoderTransformer())


def test_loss_curve_shows_terms_and_validation(fitted_digits):
    ae, _, _ = fitted_digits
    display = LossCurveDisplay.from_estimator(ae)
    assert set(display.lines_) == {"loss", "reconstruction", "penalty", "val_mse"}
    np.testing.assert_allclose(display.lines_["loss"].get_ydata(), ae.loss_curve_)
    assert len(display.lines_["val_mse"].get_xdata()) == ae.n_iter_
    plain = LossCurveDisplay(
        {"loss": [3, 2, 1], "reconstruction": [3, 2, 1], "penalty": [0, 0, 0]}
    ).plot()
    assert set(plain.lines_) == {"loss"}


def test_knn_accuracy_one_line_per_method():
    rows = [
        {"dataset": "mnist", "method": m, "dim": d, "knn_accuracy": acc}
        for m, base in [("pca", 0.5), ("skae", 0.6)]
        for d, acc in [(2, base), (8, base + 0.2), (32, base + 0.3)]
    ]
    rows.append({"dataset": "mnist", "method": "tsne", "dim": 2, "knn_accuracy": 0.9})
    rows.append({"dataset": "fashion", "method": "pca", "dim": 2, "knn_accuracy": 0.1})
    rows.append(
        {"dataset": "mnist", "method": "broken", "dim": 2, "knn_accuracy": None}
    )
    display = KNNAccuracyDisplay.from_results(rows, dataset="mnist")
    assert list(display.lines_) == ["pca", "skae", "tsne"]
    np.testing.assert_array_equal(display.lines_["skae"].get_xdata(), [2, 8, 32])
    np.testing.assert_allclose(display.lines_["pca"].get_ydata(), [0.5, 0.7, 0.8])
    assert display.ax_.get_xscale() == "log"


def test_docstring_examples_run_as_written():
    import doctest

    import skae.plotting

    failures, tried = doctest.testmod(skae.plotting, verbose=False)
    plt.close("all")
    assert failures == 0
    assert tried >= 25  # the four class examples ran
