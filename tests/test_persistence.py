"""Model files without pickle: save_model / load_model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from skae import AutoencoderTransformer, export_encoder, load_model, save_model

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X = np.random.default_rng(0).random((80, 16)).astype(np.float32)
SETTINGS = [
    dict(hidden_layer_sizes=(8,)),
    dict(hidden_layer_sizes=(8,), sparsity="kl", noise="masking", loss="mse"),
    dict(architecture="conv", conv_channels=(2, 3), hidden_layer_sizes=(5,)),
    dict(hidden_layer_sizes=(8,), early_stopping=True, activation="gelu"),
]


@pytest.mark.parametrize("params", SETTINGS)
def test_round_trip_gives_the_same_model(tmp_path, params):
    ae = AutoencoderTransformer(
        n_components=3, max_iter=3, random_state=0, **params
    ).fit(X)
    save_model(ae, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    # The data-dependent "auto" values are saved as the fit resolved them.
    resolved = ("hidden_layer_sizes", "noise", "noise_level", "batch_size")
    params, saved = ae.get_params(), loaded.get_params()
    assert {k: v for k, v in saved.items() if k not in resolved} == {
        k: v for k, v in params.items() if k not in resolved
    }
    for name in resolved:
        assert saved[name] != "auto"
        assert params[name] == "auto" or saved[name] == params[name]
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))
    np.testing.assert_array_equal(
        loaded.inverse_transform(ae.transform(X)), ae.inverse_transform(ae.transform(X))
    )
    for name in ("n_features_in_", "image_shape_", "reconstruction_loss_", "n_iter_"):
        assert getattr(loaded, name) == getattr(ae, name)
    assert loaded.history_ == ae.history_
    assert loaded.validation_scores_ == ae.validation_scores_
    # Still a scikit-learn estimator: it clones and refits.
    clone(loaded).fit(X)


def test_feature_names_survive(tmp_path):
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(16)])
    ae = AutoencoderTransformer(n_components=2, max_iter=2, random_state=0).fit(frame)
    save_model(ae, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    np.testing.assert_array_equal(loaded.feature_names_in_, ae.feature_names_in_)
    with pytest.raises(ValueError, match="feature names"):
        loaded.transform(frame.rename(columns={"f0": "other"}))


def test_file_holds_only_tensors_and_text(tmp_path):
    ae = AutoencoderTransformer(n_components=2, max_iter=2, random_state=0).fit(X)
    save_model(ae, tmp_path / "m.pt")
    content = torch.load(tmp_path / "m.pt", weights_only=True)  # no code runs
    assert content["format"] == "skae-model"
    assert isinstance(content["params"], str) and isinstance(content["fitted"], str)


def test_random_state_instance_is_saved_as_none(tmp_path):
    ae = AutoencoderTransformer(
        n_components=2, max_iter=2, random_state=np.random.RandomState(0)
    ).fit(X)
    save_model(ae, tmp_path / "m.pt")
    assert load_model(tmp_path / "m.pt").random_state is None


def test_refuses_what_it_cannot_read_safely(tmp_path):
    # A pickled module would need code execution to load.
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    with pytest.raises(ValueError, match="readable without running code"):
        load_model(tmp_path / "module.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a skae model file"):
        load_model(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a skae model file"):
        load_model(tmp_path / "junk.pt")


def test_refuses_unknown_versions_and_mismatched_weights(tmp_path):
    ae = AutoencoderTransformer(n_components=2, max_iter=2, random_state=0).fit(X)
    save_model(ae, tmp_path / "m.pt")
    content = torch.load(tmp_path / "m.pt", weights_only=True)
    torch.save({**content, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="version 99"):
        load_model(tmp_path / "future.pt")
    params = {**json.loads(content["params"]), "hidden_layer_sizes": [32]}
    bad = {**content, "params": json.dumps(params)}
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="weights do not fit"):
        load_model(tmp_path / "bad.pt")


def test_save_needs_a_fitted_estimator(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save_model(AutoencoderTransformer(), tmp_path / "m.pt")
    with pytest.raises(TypeError, match="saves an AutoencoderTransformer"):
        save_model(object(), tmp_path / "m.pt")


# --------------------------------------------------- the file is untrusted
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "m.pt"
    ae = AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(8,), max_iter=2, random_state=0
    ).fit(X)
    save_model(ae, path)
    return torch.load(path, weights_only=True)


def _edit_json(content, key, **changes):
    import json

    value = json.loads(content[key])
    for name, new in changes.items():
        if new is ...:
            del value[name]
        else:
            value[name] = new
    return {**content, key: json.dumps(value)}


def _deep(n):
    return "[" * n + "]" * n


HOSTILE = {
    "missing field": lambda c: {k: v for k, v in c.items() if k != "decoder"},
    "extra field": lambda c: {**c, "code": "print(1)"},
    "params not text": lambda c: {**c, "params": 42},
    "params not JSON": lambda c: {**c, "params": "{not json"},
    "params deeply nested": lambda c: {**c, "params": _deep(100_000)},
    "fitted deeply nested": lambda c: {
        **c,
        "fitted": c["fitted"][:-1] + ', "x": ' + _deep(100_000) + "}",
    },
    "unknown parameter": lambda c: _edit_json(c, "params", evil=1),
    "parameter of the wrong type": lambda c: _edit_json(c, "params", n_components="2"),
    "code in a parameter": lambda c: _edit_json(c, "params", callbacks=["x"]),
    "missing attribute": lambda c: _edit_json(c, "fitted", n_iter_=...),
    "unknown attribute": lambda c: _edit_json(c, "fitted", __class__="os.system"),
    "attribute of the wrong type": lambda c: _edit_json(c, "fitted", n_iter_="3"),
    "unknown loss": lambda c: _edit_json(c, "fitted", reconstruction_loss_="evil"),
    "history of strings": lambda c: _edit_json(c, "fitted", history_={"loss": ["a"]}),
    "names of the wrong length": lambda c: _edit_json(
        c, "fitted", feature_names_in_=["a"]
    ),
    "code size disagrees": lambda c: _edit_json(c, "fitted", n_components_=3),
    "gigabytes from a few bytes": lambda c: _edit_json(
        c, "fitted", n_features_in_=10**9
    ),
    "huge layers": lambda c: _edit_json(c, "params", hidden_layer_sizes=[10**9]),
    "weights not a dict": lambda c: {**c, "encoder": [1, 2]},
    "weight of the wrong shape": lambda c: {
        **c,
        "encoder": {**c["encoder"], "0.weight": torch.zeros(3, 3)},
    },
    "non-finite weights": lambda c: {
        **c,
        "decoder": {
            **c["decoder"],
            "0.bias": torch.full_like(c["decoder"]["0.bias"], np.nan),
        },
    },
    "float64 weights": lambda c: {
        **c,
        "encoder": {k: v.double() for k, v in c["encoder"].items()},
    },
}


@pytest.mark.parametrize("edit", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_corrupted_or_edited_file_is_one_clear_value_error(tmp_path, saved, edit):
    torch.save(edit(saved), tmp_path / "edited.pt")
    with pytest.raises(ValueError, match=r"edited\.pt"):
        load_model(tmp_path / "edited.pt")


def test_a_truncated_file_is_a_clear_value_error(tmp_path, saved):
    torch.save(saved, tmp_path / "whole.pt")
    data = (tmp_path / "whole.pt").read_bytes()
    for cut in (10, len(data) // 2, len(data) - 10):
        (tmp_path / "cut.pt").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="not a skae model file readable"):
            load_model(tmp_path / "cut.pt")


@pytest.mark.parametrize("write", [save_model, export_encoder])
def test_bad_paths_are_clear_errors(tmp_path, write):
    ae = AutoencoderTransformer(n_components=2, max_iter=1, random_state=0)
    with pytest.warns(Warning):
        ae.fit(X)
    with pytest.raises(FileNotFoundError, match=r"folder .* does not exist"):
        write(ae, tmp_path / "missing" / "m.pt2")
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        write(ae, tmp_path)
    with pytest.raises(TypeError, match="path must be a str"):
        write(ae, 42)
    with pytest.raises(FileNotFoundError, match="there is no file"):
        load_model(tmp_path / "absent.pt")
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind
