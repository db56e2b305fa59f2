"""The variational autoencoder (``variational=True``): its objective, the
posterior-mean codes, the ELBO, sampling from the prior, the settings it
composes with and the errors it gives."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from skae import AutoencoderTransformer, export_encoder, load_model, save_model
from skae._networks import Autoencoder, VariationalEncoder
from skae._objectives import Objective, elbo, gaussian_kl, log_likelihood

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(n_components=2, hidden_layer_sizes=(32,), max_iter=60, random_state=0)


@pytest.fixture(scope="module")
def digits():
    """sklearn's 8x8 digits scaled to [0, 1]: 600 training, 200 held-out rows."""
    X = load_digits().data[:800].astype(np.float32) / 16
    return X[:600], X[600:]


@pytest.fixture(scope="module")
def vae(digits):
    return AutoencoderTransformer(variational=True, **FAST).fit(digits[0])


# ------------------------------------------------------------ the objective
def test_gaussian_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(7, 3, generator=gen)
    log_var = torch.randn(7, 3, generator=gen)
    q = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(q, p).sum(dim=1)
    torch.testing.assert_close(gaussian_kl(mean, log_var), expected)


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_log_likelihood_is_the_decoders_density(loss):
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 2, (5, 4), generator=gen).float()
    out = torch.randn(5, 4, generator=gen)
    if loss == "bce":
        dist = torch.distributions.Bernoulli(logits=out)
    else:  # variance 1/2: minus the log-density is the squared error + const
        dist = torch.distributions.Normal(out, math.sqrt(0.5))
    expected = dist.log_prob(x).sum(dim=1)
    torch.testing.assert_close(log_likelihood(out, x, loss), expected)


def test_objective_adds_beta_times_kl_per_feature():
    gen = torch.Generator().manual_seed(2)
    code, log_var = torch.randn(6, 3, generator=gen), torch.randn(6, 3, generator=gen)
    target = torch.rand(6, 10, generator=gen)
    output = torch.randn(6, 10, generator=gen)
    recon, penalty = Objective("mse", beta=4.0)(code, output, target, log_var)
    torch.testing.assert_close(recon, ((output - target) ** 2).mean())
    torch.testing.assert_close(penalty, 4.0 * gaussian_kl(code, log_var).mean() / 10)


def test_kl_warm_up_ramps_the_optimised_weight_only():
    vae, plain = Objective("bce", beta=2.0), Objective("bce", sparsity="l1")
    assert [vae.penalty_scale(p) for p in (0.0, 0.2, 0.4, 0.9)] == [0.0, 0.5, 1.0, 1.0]
    assert plain.penalty_scale(0.0) == 1.0


def test_warm_up_keeps_more_units_active_and_history_records_full_weight(
    digits, monkeypatch
):
    import skae._objectives

    # beta=3 on 600 small digits: without the warm-up every unit collapses
    # to the prior (seeds 0-2: 0 active units; with it 6 to 10).
    params = dict(n_components=16, beta=3.0, hidden_layer_sizes=(64,), max_iter=40)

    def active_units():
        model = AutoencoderTransformer(variational=True, random_state=0, **params)
        model.fit(digits[0])
        return (model.transform(digits[1]).std(axis=0) > 0.1).sum(), model

    warm, model = active_units()
    # The first epochs optimised a fraction of the KL term; the record is
    # the term at full weight, and the loss curve the negative ELBO per feature.
    assert model.history_["penalty"][0] > 0
    np.testing.assert_allclose(
        model.loss_curve_,
        np.add(model.history_["reconstruction"], model.history_["penalty"]),
    )
    monkeypatch.setattr(skae._objectives, "KL_WARMUP", 1e-9)  # no warm-up
    cold, _ = active_units()
    assert cold == 0 and warm >= 5


# ------------------------------------------------------ the fitted model
def test_encoder_has_mean_and_log_variance_heads_and_transform_is_the_mean(vae, digits):
    assert isinstance(vae.encoder_, VariationalEncoder)
    x = torch.from_numpy(digits[1])
    with torch.no_grad():
        mean, log_var = vae.encoder_.posterior(x)
    np.testing.assert_allclose(vae.transform(digits[1]), mean.numpy(), atol=1e-6)
    # A posterior narrower than the prior: the codes carry information.
    assert log_var.mean() < -1
    assert set(vae.history_) == {"loss", "reconstruction", "penalty"}
    assert all(p > 0 for p in vae.history_["penalty"])


def test_fit_is_deterministic_and_equals_partial_fit_calls(digits):
    params = dict(variational=True, n_components=2, hidden_layer_sizes=(16,))
    fitted = AutoencoderTransformer(**params, max_iter=3, random_state=5).fit(digits[0])
    again = AutoencoderTransformer(**params, max_iter=3, random_state=5).fit(digits[0])
    stream = AutoencoderTransformer(**params, max_iter=3, random_state=5)
    for _ in range(3):
        stream.partial_fit(digits[0])
    codes = fitted.transform(digits[1])
    np.testing.assert_array_equal(codes, again.transform(digits[1]))
    np.testing.assert_array_equal(codes, stream.transform(digits[1]))
    assert fitted.loss_curve_ == stream.loss_curve_


def test_beta_trades_reconstruction_for_closeness_to_the_prior(digits):
    def fit(beta):
        return AutoencoderTransformer(variational=True, beta=beta, **FAST).fit(
            digits[0]
        )

    low, high = fit(0.25), fit(4.0)
    kl = {m.beta: m.history_["penalty"][-1] / m.beta for m in (low, high)}
    assert kl[4.0] < kl[0.25]
    # score is the ELBO for these models: compare reconstruction errors directly.
    errors = {
        m.beta: np.mean((m.inverse_transform(m.transform(digits[1])) - digits[1]) ** 2)
        for m in (low, high)
    }
    assert errors[0.25] < errors[4.0]


# -------------------------------------------------------------------- ELBO
def test_score_samples_is_a_deterministic_order_free_elbo(vae, digits):
    X = digits[1]
    scores = vae.score_samples(X)
    assert scores.shape == (len(X),) and scores.dtype == np.float32
    np.testing.assert_array_equal(scores, vae.score_samples(X))
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(vae.score_samples(X[order]), scores[order], rtol=1e-6)
    assert vae.score(X) == pytest.approx(scores.mean(), rel=1e-6)

    # The same bound estimated with many independent posterior draws.
    full = Autoencoder(vae.encoder_, vae.decoder_).eval()
    draws = torch.randn(4000, 2, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        reference = elbo(full, torch.from_numpy(X[:20]), draws).numpy()
    np.testing.assert_allclose(scores[:20], reference, rtol=0.03)


def test_elbo_ranks_digits_above_noise_and_improves_with_training(vae, digits):
    noise = np.random.default_rng(0).random((50, 64)).astype(np.float32)
    assert vae.score_samples(digits[1]).mean() > vae.score_samples(noise).mean() + 10
    short = AutoencoderTransformer(variational=True, **{**FAST, "max_iter": 1}).fit(
        digits[0]
    )
    assert vae.score(digits[1]) > short.score(digits[1])


# ------------------------------------------------------------------ sample
def test_sample_decodes_prior_draws(vae, digits):
    samples = vae.sample(40, random_state=0)
    assert samples.shape == (40, 64) and samples.dtype == np.float32
    assert samples.min() >= 0 and samples.max() <= 1  # Bernoulli means
    np.testing.assert_array_equal(samples, vae.sample(40, random_state=0))
    assert not np.array_equal(samples, vae.sample(40, random_state=1))
    z = np.random.RandomState(0).standard_normal((40, 2)).astype(np.float32)
    np.testing.assert_array_equal(samples, vae.inverse_transform(z))
    # Samples look like the data: their mean image is the digits' mean image.
    corr = np.corrcoef(samples.mean(axis=0), digits[0].mean(axis=0))[0, 1]
    assert corr > 0.9


def test_sample_errors(digits):
    with pytest.raises(NotFittedError):
        AutoencoderTransformer(variational=True).sample(3)
    plain = AutoencoderTransformer(max_iter=1, random_state=0)
    assert not hasattr(plain, "sample")
    with pytest.raises(AttributeError, match="has no attribute 'sample'") as info:
        plain.fit(digits[0]).sample(3)
    assert "variational=True" in str(info.value.__cause__)
    vae = AutoencoderTransformer(variational=True, max_iter=1, random_state=0)
    vae.fit(digits[0])
    for bad, error in [
        (0, ValueError),
        (-2, ValueError),
        (2.0, TypeError),
        (True, TypeError),
        ("3", TypeError),
    ]:
        with pytest.raises(error, match="n_samples"):
            vae.sample(bad)
    # The fitted model decides, not a parameter changed afterwards.
    vae.set_params(variational=False)
    assert vae.sample(2).shape == (2, 64)


# ------------------------------------------------------------- composition
@pytest.mark.parametrize(
    "params",
    [
        dict(architecture="conv", conv_channels=(4, 8), hidden_layer_sizes=(16,)),
        dict(noise="masking", noise_level=0.2),
        dict(neighbor_weight=1.0, n_neighbors=5),
        dict(loss="mse", early_stopping=True),
        dict(decoder=nn.Sequential(nn.Linear(2, 32), nn.GELU(), nn.Linear(32, 64))),
    ],
    ids=["conv", "denoising", "neighbors", "mse-early-stopping", "user-decoder"],
)
def test_composes_with_other_settings(digits, params):
    ae = AutoencoderTransformer(
        variational=True, n_components=2, max_iter=3, random_state=0, **params
    ).fit(digits[0])
    assert isinstance(ae.encoder_, VariationalEncoder)
    assert np.isfinite(ae.transform(digits[1])).all()
    assert np.isfinite(ae.score_samples(digits[1])).all()
    assert ae.sample(3, random_state=0).shape == (3, 64)


def test_grid_search_over_beta_scores_by_elbo(digits):
    search = GridSearchCV(
        AutoencoderTransformer(variational=True, **{**FAST, "max_iter": 3}),
        {"beta": [0.5, 2.0]},
        cv=2,
    ).fit(digits[0])
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.beta in (0.5, 2.0)


# ------------------------------------------------------ persistence, export
def test_pickle_clone_save_load_and_export(vae, digits, tmp_path):
    codes = vae.transform(digits[1])
    scores = vae.score_samples(digits[1])
    restored = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(restored.transform(digits[1]), codes)
    np.testing.assert_array_equal(
        restored.sample(4, random_state=0), vae.sample(4, random_state=0)
    )

    twin = clone(vae)
    assert twin.variational and not hasattr(twin, "encoder_")

    save_model(vae, tmp_path / "vae.skae")
    loaded = load_model(tmp_path / "vae.skae")
    assert isinstance(loaded.encoder_, VariationalEncoder)
    np.testing.assert_array_equal(loaded.transform(digits[1]), codes)
    np.testing.assert_array_equal(loaded.score_samples(digits[1]), scores)

    path = export_encoder(vae, tmp_path / "encoder.pt2")
    program = torch.export.load(path)
    exported = program.module()(torch.from_numpy(digits[1]))
    np.testing.assert_allclose(exported.detach().numpy(), codes, atol=1e-5)


def test_a_saved_plain_model_cannot_load_as_variational(digits, tmp_path):
    """The saved params decide the network: a file whose params were edited
    to variational=True no longer matches its tensors and is refused."""
    plain = AutoencoderTransformer(max_iter=1, random_state=0).fit(digits[0])
    save_model(plain, tmp_path / "plain.skae")
    content = torch.load(tmp_path / "plain.skae", weights_only=True)
    params = json.loads(content["params"])
    params["variational"] = True
    content["params"] = json.dumps(params)
    torch.save(content, tmp_path / "edited.skae")
    with pytest.raises(ValueError, match=r"edited\.skae"):
        load_model(tmp_path / "edited.skae")


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize("beta", [0, -1.0, float("nan"), "one", None])
def test_bad_beta_is_refused_at_fit(digits, beta):
    with pytest.raises(InvalidParameterError, match="'beta'"):
        AutoencoderTransformer(variational=True, beta=beta, max_iter=1).fit(digits[0])


def test_variational_refuses_sparsity_and_a_user_encoder(digits):
    with pytest.raises(ValueError, match="sparsity='kl'"):
        AutoencoderTransformer(variational=True, sparsity="kl").fit(digits[0])
    with pytest.raises(ValueError, match="user encoder"):
        AutoencoderTransformer(
            variational=True, n_components=2, encoder=nn.Linear(64, 2)
        ).fit(digits[0])


def test_a_failed_variational_fit_keeps_the_fitted_model(vae, digits):
    model = pickle.loads(pickle.dumps(vae))
    codes = model.transform(digits[1])
    model.set_params(sparsity="l1")
    with pytest.raises(ValueError, match="sparsity"):
        model.fit(digits[0])
    np.testing.assert_array_equal(model.transform(digits[1]), codes)
