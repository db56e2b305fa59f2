"""Bring your own network: user encoder/decoder modules, and export."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from torch import nn

from skae import AutoencoderTransformer, export_encoder, save_model


@pytest.fixture(scope="module")
def digits():
    X = load_digits().data.astype(np.float32) / 16.0  # 8x8 images in [0, 1]
    return X[:600]


class ConvEncoder(nn.Module):
    """8x8 images -> codes, with its own reshape."""

    def __init__(self, n_components: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)),
            nn.Conv2d(1, 8, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(8 * 4 * 4, n_components),
        )

    def forward(self, x):
        return self.body(x)


def fit_quietly(ae, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ae.fit(X)


def states(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_user_conv_encoder_with_the_built_dense_decoder(digits):
    encoder = ConvEncoder(8)
    before = states(encoder)
    ae = fit_quietly(
        AutoencoderTransformer(
            8,
            encoder=encoder,
            hidden_layer_sizes=(64,),
            batch_size=32,
            max_iter=30,
            random_state=0,
        ),
        digits,
    )
    # A trained copy: the caller's module is untouched.
    assert all(torch.equal(v, encoder.state_dict()[k]) for k, v in before.items())
    assert isinstance(ae.encoder_[0], ConvEncoder) and ae.encoder_[0] is not encoder
    assert ae.transform(digits).shape == (600, 8)
    assert isinstance(ae.decoder_[0], nn.Linear)  # built: 8 -> 64 -> 64
    # As good as PCA's 8 components, which keep about 75% of the variance.
    pca = PCA(8).fit(digits)
    pca_mse = ((pca.inverse_transform(pca.transform(digits)) - digits) ** 2).mean()
    assert -ae.score(digits) < pca_mse


class SignalEncoder(nn.Module):
    def __init__(self, length: int, n_components: int) -> None:
        super().__init__()
        self.length = length
        self.conv = nn.Conv1d(1, 8, 5, stride=2, padding=2)
        self.out = nn.Linear(8 * (length // 2), n_components)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.conv(x[:, None, :]))
        return self.out(h.flatten(1))


class SignalDecoder(nn.Module):
    def __init__(self, length: int, n_components: int) -> None:
        super().__init__()
        self.length = length
        self.inp = nn.Linear(n_components, 8 * (length // 2))
        self.deconv = nn.ConvTranspose1d(8, 1, 4, stride=2, padding=1)

    def forward(self, z):
        h = torch.nn.functional.gelu(self.inp(z)).view(-1, 8, self.length // 2)
        return self.deconv(h)[:, 0, :]


def test_a_one_dimensional_signal_model_learns_phase_and_frequency():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 32)
    freq, phase = rng.uniform(1, 3, (500, 1)), rng.uniform(0, 2 * np.pi, (500, 1))
    X = np.sin(2 * np.pi * freq * t + phase).astype(np.float32)
    ae = fit_quietly(
        AutoencoderTransformer(
            4,
            encoder=SignalEncoder(32, 4),
            decoder=SignalDecoder(32, 4),
            loss="mse",
            batch_size=32,
            max_iter=60,
            random_state=0,
        ),
        X,
    )
    assert ae.transform(X).shape == (500, 4)
    assert -ae.score(X) < 0.1 * X.var()  # the variance is 0.5


def test_seeded_fits_with_user_modules_repeat_and_pickle(digits):
    ae = AutoencoderTransformer(
        8, encoder=ConvEncoder(8), hidden_layer_sizes=(32,), max_iter=3, random_state=0
    )
    first = fit_quietly(clone(ae), digits).transform(digits)
    again = fit_quietly(clone(ae), digits)
    np.testing.assert_array_equal(again.transform(digits), first)
    restored = pickle.loads(pickle.dumps(again))
    np.testing.assert_array_equal(restored.transform(digits), first)
    assert clone(ae).encoder is not ae.encoder  # clone copies parameters


def test_lazy_modules_take_the_feature_count_of_x(digits):
    encoder = nn.Sequential(nn.LazyLinear(16), nn.GELU(), nn.Linear(16, 2))
    ae = fit_quietly(
        AutoencoderTransformer(2, encoder=encoder, max_iter=2, random_state=0), digits
    )
    assert ae.encoder_[0][0].in_features == 64
    assert isinstance(encoder[0], nn.LazyLinear)  # the caller's stays lazy


def test_user_modules_work_with_every_objective(digits):
    encoder = nn.Sequential(nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 2))
    decoder = nn.Sequential(nn.Linear(2, 32), nn.GELU(), nn.Linear(32, 64))
    ae = fit_quietly(
        AutoencoderTransformer(
            2,
            encoder=encoder,
            decoder=decoder,
            sparsity="kl",
            noise="masking",
            neighbor_weight=1.0,
            max_iter=2,
            random_state=0,
        ),
        digits,
    )
    codes = ae.transform(digits)
    assert ((codes > 0) & (codes < 1)).all()  # KL: a sigmoid on the user's codes
    assert isinstance(ae.decoder_[-1], nn.Sigmoid)  # BCE on [0, 1] pixels
    assert "neighbor" in ae.history_ and np.isfinite(ae.loss_curve_).all()


def test_an_encoder_of_the_wrong_width_is_named_with_the_shapes(digits):
    ae = AutoencoderTransformer(3, encoder=ConvEncoder(5), max_iter=1)
    with pytest.raises(
        ValueError,
        match=r"The encoder \(ConvEncoder\) maps a batch of shape \(2, 64\) to "
        r"\(2, 5\); expected \(2, 3\) \(n_samples, n_components=3\)",
    ):
        ae.fit(digits)
    assert not hasattr(ae, "encoder_")


def test_a_decoder_that_fails_is_a_clear_error(digits):
    ae = AutoencoderTransformer(3, decoder=nn.Linear(4, 64), max_iter=1)
    with pytest.raises(
        ValueError, match=r"The decoder \(Linear\) failed on a batch of shape \(2, 3\)"
    ):
        ae.fit(digits)


def test_a_module_that_is_not_a_module_is_refused(digits):
    with pytest.raises(ValueError, match="'encoder' parameter"):
        AutoencoderTransformer(encoder=lambda x: x).fit(digits)


def test_save_model_refuses_user_modules(digits, tmp_path):
    ae = fit_quietly(
        AutoencoderTransformer(8, encoder=ConvEncoder(8), max_iter=1), digits
    )
    with pytest.raises(ValueError, match="cannot store a user-supplied encoder"):
        save_model(ae, tmp_path / "m.pt")


# ------------------------------------------------------------------ export
@pytest.fixture(scope="module")
def fitted(digits):
    return fit_quietly(
        AutoencoderTransformer(4, hidden_layer_sizes=(32,), max_iter=3, random_state=0),
        digits,
    )


def test_torch_export_matches_transform(fitted, digits, tmp_path):
    path = export_encoder(fitted, tmp_path / "encoder.pt2")
    program = torch.export.load(path).module()
    codes = program(torch.from_numpy(digits[:37])).detach().numpy()  # any batch
    np.testing.assert_allclose(codes, fitted.transform(digits[:37]), atol=1e-5)


def test_torchscript_matches_transform_for_a_user_encoder(digits, tmp_path):
    ae = fit_quietly(
        AutoencoderTransformer(8, encoder=ConvEncoder(8), max_iter=2, random_state=0),
        digits,
    )
    path = export_encoder(ae, tmp_path / "encoder.ts", format="torchscript")
    scripted = torch.jit.load(path)
    codes = scripted(torch.from_numpy(digits)).detach().numpy()
    np.testing.assert_allclose(codes, ae.transform(digits), atol=1e-5)


def test_onnx_matches_transform(fitted, digits, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = export_encoder(fitted, tmp_path / "encoder.onnx", format="onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    codes = session.run(None, {"x": digits[:123]})[0]
    np.testing.assert_allclose(codes, fitted.transform(digits[:123]), atol=1e-4)


def test_export_needs_a_fitted_model_and_a_known_format(fitted, tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        export_encoder(AutoencoderTransformer(), tmp_path / "e.pt2")
    with pytest.raises(ValueError, match="format must be one of"):
        export_encoder(fitted, tmp_path / "e", format="pickle")


# ------------------------------------------------- user modules, the edges
def test_modules_without_parameters_are_refused_clearly(digits):
    ae = AutoencoderTransformer(2, encoder=nn.Identity(), decoder=nn.Identity())
    with pytest.raises(ValueError, match="no trainable parameters"):
        ae.fit(digits[:, :2])
    # A fixed encoder with a built decoder still trains the decoder.
    fixed = fit_quietly(
        AutoencoderTransformer(2, encoder=nn.Linear(64, 2).requires_grad_(False),
                               max_iter=1),
        digits,
    )  # fmt: skip
    assert fixed.transform(digits).shape == (600, 2)


def test_modules_on_the_meta_device_and_scripted_modules_are_refused(digits):
    with pytest.raises(ValueError, match=r"\(Linear\) has parameters on the meta"):
        AutoencoderTransformer(2, encoder=nn.Linear(64, 2, device="meta")).fit(digits)
    scripted = torch.jit.script(nn.Linear(64, 2))
    with pytest.raises(TypeError, match="is a TorchScript module"):
        AutoencoderTransformer(2, encoder=scripted).fit(digits)


def test_batch_norm_with_a_last_batch_of_one_row(digits):
    encoder = nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.Linear(16, 2))
    # 65 rows at batch 32: the last row joins the second batch.
    ae = fit_quietly(
        AutoencoderTransformer(2, encoder=encoder, batch_size=32, max_iter=2),
        digits[:65],
    )
    assert np.isfinite(ae.transform(digits)).all()


def _local_module():
    class Local(nn.Module):  # defined in a function: pickle cannot find it
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(64, 2)

        def forward(self, x):
            return self.linear(x)

    return Local()


def test_modules_defined_in_a_function_copy_clone_and_fail_to_pickle_at_the_call(
    digits,
):
    import copy

    ae = fit_quietly(
        AutoencoderTransformer(2, encoder=_local_module(), max_iter=1), digits
    )
    np.testing.assert_array_equal(
        copy.deepcopy(ae).transform(digits), ae.transform(digits)
    )
    assert clone(ae).encoder is not ae.encoder
    with pytest.raises((AttributeError, pickle.PicklingError), match="Local"):
        pickle.dumps(ae)


# ------------------------------------------------------------ export edges
class Branchy(nn.Module):
    """An encoder whose result depends on a Python branch on its input."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 2)

    def forward(self, x):
        if x.sum() > 0:
            return self.linear(x)
        return -self.linear(x)


def test_a_trace_that_would_be_silently_wrong_is_refused(digits, tmp_path):
    ae = fit_quietly(AutoencoderTransformer(2, encoder=Branchy(), max_iter=1), digits)
    with pytest.raises(ValueError, match="depends on its input's values"):
        export_encoder(ae, tmp_path / "e.ts", format="torchscript")
    assert not (tmp_path / "e.ts").exists()


def test_exporting_something_else_is_a_type_error(digits, tmp_path):
    with pytest.raises(TypeError, match="got PCA"):
        export_encoder(PCA(2).fit(digits), tmp_path / "e.pt2")


def test_onnx_is_one_self_contained_file(fitted, digits, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = export_encoder(fitted, tmp_path / "encoder.onnx", format="onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["encoder.onnx"]
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (tmp_path / "encoder.onnx").rename(moved / "e.onnx")
    session = ort.InferenceSession(str(moved / "e.onnx"))
    codes = session.run(None, {"x": digits[:5]})[0]
    np.testing.assert_allclose(codes, fitted.transform(digits[:5]), atol=1e-4)
    assert path.endswith("encoder.onnx")


def test_a_failed_export_leaves_no_file(tmp_path):
    # Bad paths: tests/test_persistence.py, for both writers.
    ae = fit_quietly(AutoencoderTransformer(2, encoder=Branchy(), max_iter=1),
                     np.ones((20, 64), dtype=np.float32))  # fmt: skip
    with pytest.raises(ValueError):
        export_encoder(ae, tmp_path / "e.ts", format="torchscript")
    assert list(tmp_path.iterdir()) == []  # no partial or temporary file
