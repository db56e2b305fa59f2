"""The neighbour-graph term: graph, edge sampling, loss, and the estimator."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.neighbors import NearestNeighbors

from skae import AutoencoderTransformer
from skae._data import RowSource
from skae._neighbors import (
    _DIST_EPS,
    EdgeSampler,
    NeighborTerm,
    edge_curve,
    fuzzy_graph,
    spectral_start,
    start_steps,
    umap_layout,
)
from skae._training import warm_start

# The estimator tests stop after a few epochs on purpose (speed).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _clusters(n_per=40, n_features=6, seed=0):
    """Three well-separated Gaussian clusters and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, n_features))
    X = np.concatenate([c + rng.normal(size=(n_per, n_features)) for c in centres])
    return X.astype(np.float32), np.repeat(np.arange(3), n_per)


def _separates(codes, labels) -> bool:
    """Whether every code lies nearer its own cluster's centre than any other's."""
    centres = np.stack([codes[labels == k].mean(axis=0) for k in np.unique(labels)])
    nearest = np.linalg.norm(codes[:, None] - centres, axis=2).argmin(axis=1)
    return bool(np.all(nearest == labels))


def test_fuzzy_graph_links_each_row_to_its_own_cluster():
    X, labels = _clusters()
    graph = fuzzy_graph(X, n_neighbors=10, seed=0)
    assert graph.shape == (len(X), len(X))
    dense = graph.toarray()
    np.testing.assert_allclose(dense, dense.T)  # fuzzy union is symmetric
    assert graph.data.min() > 0 and graph.data.max() <= 1
    assert np.all(np.diag(dense) == 0)  # no self-loops
    assert np.all((dense > 0).sum(axis=1) >= 9)  # 10 neighbours, self excluded
    assert np.all(labels[graph.row] == labels[graph.col])


def test_fuzzy_graph_accepts_sparse_rows():
    X, _ = _clusters()
    dense = fuzzy_graph(X, 10, seed=0).toarray()
    from_sparse = fuzzy_graph(sp.csr_matrix(X), 10, seed=0).toarray()
    np.testing.assert_allclose(from_sparse, dense, rtol=1e-4)


def test_fuzzy_graph_clips_n_neighbors_and_needs_two_rows():
    X, _ = _clusters(n_per=2)
    with pytest.warns(UserWarning, match="using n_neighbors=6"):
        graph = fuzzy_graph(X, 15, seed=0)
    assert np.all((graph.toarray() > 0).sum(axis=1) == 5)  # every other row
    with pytest.raises(ValueError, match="n_samples=1"):
        fuzzy_graph(X[:1], 15, seed=0)


def test_spectral_start_separates_clusters_at_umaps_scale():
    X, labels = _clusters()
    graph = fuzzy_graph(X, n_neighbors=10, seed=0)
    start = spectral_start(X, graph, n_components=2, seed=0)
    assert start.shape == (len(X), 2) and start.dtype == np.float32
    assert np.isclose(np.abs(start).max(), 10.0)
    assert _separates(start, labels)
    # Too few rows for two non-trivial eigenvectors: no start.
    tiny = fuzzy_graph(X[:4], n_neighbors=3, seed=0)
    assert spectral_start(X[:4], tiny, n_components=2, seed=0) is None


def test_umap_layout_is_seeded_centred_and_keeps_clusters_apart():
    X, labels = _clusters()
    graph = fuzzy_graph(X, n_neighbors=10, seed=0)
    start = spectral_start(X, graph, n_components=2, seed=0)
    before = graph.copy()
    layout = umap_layout(X, graph, start, seed=0)
    assert layout.shape == (len(X), 2) and layout.dtype == np.float32
    np.testing.assert_allclose(layout.mean(axis=0), 0, atol=1e-4)
    assert _separates(layout, labels)
    # Seeded, hence serial and repeatable; the caller's graph is untouched.
    np.testing.assert_array_equal(umap_layout(X, graph, start, seed=0), layout)
    assert (graph != before).nnz == 0

    # The optimiser moved the rows: clusters tighter relative to their spread.
    def spread_ratio(Z):
        within = np.mean([Z[labels == k].std(axis=0).sum() for k in range(3)])
        return within / Z.std(axis=0).sum()

    assert spread_ratio(layout) < spread_ratio(start)


def test_umap_layout_repulsion_spreads_rows_apart():
    X, labels = _clusters()
    graph = fuzzy_graph(X, n_neighbors=10, seed=0)
    start = spectral_start(X, graph, n_components=2, seed=0)

    def nearest_distance(Z):
        return NearestNeighbors(n_neighbors=2).fit(Z).kneighbors(Z)[0][:, 1].mean()

    plain = umap_layout(X, graph, start, seed=0)
    # repulsion_strength=1 is what fit uses: the default, exactly.
    np.testing.assert_array_equal(
        umap_layout(X, graph, start, seed=0, repulsion_strength=1.0), plain
    )
    repelled = umap_layout(X, graph, start, seed=0, repulsion_strength=4.0)
    assert nearest_distance(repelled) > 1.5 * nearest_distance(plain)
    assert _separates(repelled, labels)
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="repulsion_strength must be positive"):
            umap_layout(X, graph, start, seed=0, repulsion_strength=bad)
    with pytest.raises(TypeError, match="repulsion_strength must be a real number"):
        umap_layout(X, graph, start, seed=0, repulsion_strength="4")


def test_warm_start_minimises_the_batch_loss_it_is_given():
    X, _ = _clusters()
    targets = torch.as_tensor(X[:, :2] - 2 * X[:, 2:4])  # a linear map of X
    torch.manual_seed(0)
    encoder = torch.nn.Linear(X.shape[1], 2)
    source = RowSource(X, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)

    def error(rows):
        return ((encoder(source.take(rows)) - targets[rows]) ** 2).mean()

    def batch_loss():
        return error(torch.randint(len(X), (32,), generator=generator))

    with torch.no_grad():
        before = error(torch.arange(len(X)))
    warm_start(encoder, 300, 0.05, batch_loss)
    with torch.no_grad():
        assert error(torch.arange(len(X))) < 0.01 * before


def test_the_public_steps_reproduce_what_fit_starts_from():
    """skae.neighbors exposes the steps fit runs; training the encoder onto
    the layout with them places the clusters apart, and a bad layout or
    graph is refused."""
    from skae.neighbors import fit_encoder_to_layout

    X, labels = _clusters()
    graph = fuzzy_graph(X, n_neighbors=10, seed=0)
    layout = umap_layout(X, graph, spectral_start(X, graph, 2, seed=0), seed=0)
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], 16), torch.nn.GELU(), torch.nn.Linear(16, 2)
    )
    fit_encoder_to_layout(encoder, X, layout, graph, steps=300, batch_size=32)
    with torch.no_grad():
        assert _separates(encoder(torch.from_numpy(X)).numpy(), labels)
    with pytest.raises(ValueError, match="one row per row of X"):
        fit_encoder_to_layout(encoder, X, layout[:5], graph)
    with pytest.raises(ValueError, match=r"graph must be a sparse \(120, 120\)"):
        fit_encoder_to_layout(encoder, X, layout, graph.toarray())
    with pytest.raises(ValueError, match="masking must be in"):
        fit_encoder_to_layout(encoder, X, layout, graph, masking=1.0)
    with pytest.raises(ValueError, match=r"shift=0.5 is the largest shift"):
        fit_encoder_to_layout(encoder, X, layout, graph, shift=0.5, image_shape=(2, 3))
    with pytest.raises(ValueError, match="shift needs image_shape"):
        fit_encoder_to_layout(encoder, X, layout, graph, shift=1)


def test_the_public_start_shifts_as_fit_does(monkeypatch):
    """fit_encoder_to_layout(shift=s) hands start_encoder the corruption a
    fit with noise="shift", noise_level=s plans for its start."""
    import skae.neighbors as public
    from skae._data import summarize
    from skae._fit_plan import plan_fit

    X = np.random.default_rng(0).random((40, 12), dtype=np.float32)
    graph = fuzzy_graph(X, n_neighbors=5, seed=0)
    layout = np.zeros((40, 2), dtype=np.float32)
    handed = {}
    monkeypatch.setattr(
        public, "start_encoder", lambda *args: handed.setdefault("augment", args[-1])
    )
    public.fit_encoder_to_layout(
        torch.nn.Linear(12, 2), X, layout, graph, shift=1, image_shape=(3, 4)
    )
    params = AutoencoderTransformer(
        neighbor_weight=1.0, noise="shift", noise_level=1, image_shape=(3, 4)
    ).get_params()
    plan = plan_fit(params, summarize(X), 40, 12, seed=0)
    planned = plan.neighbor.start_augment  # its clip does not matter to a shift
    augment = handed["augment"]
    assert (augment.noise, augment.level, augment.image_shape) == (
        planned.noise,
        planned.level,
        planned.image_shape,
    )


def test_shift_noise_augments_the_encoders_start():
    """noise="shift" reaches the start as its augmentation (other noise acts
    in the main epochs only), and start_encoder applies it to every batch,
    before the masking."""
    from skae._data import summarize
    from skae._fit_plan import plan_fit
    from skae._neighbors import start_encoder

    X = np.random.default_rng(0).random((50, 16), dtype=np.float32)
    params = AutoencoderTransformer(
        n_components=2, neighbor_weight=1.0, noise="shift", noise_level=1
    ).get_params()
    plan = plan_fit(params, summarize(X), 50, 16, seed=0)
    assert plan.neighbor.start_augment is plan.corruption
    assert (plan.corruption.noise, plan.corruption.image_shape) == ("shift", (1, 4, 4))
    masked = plan_fit({**params, "noise": "masking"}, summarize(X), 50, 16, seed=0)
    assert masked.neighbor.start_augment is None

    seen = []

    def augment(batch, generator):
        seen.append(batch.clone())
        return plan.neighbor.start_augment(batch, generator)

    encoder = torch.nn.Linear(16, 2)
    graph = fuzzy_graph(X, n_neighbors=5, seed=0)
    layout = np.random.default_rng(1).normal(size=(50, 2)).astype(np.float32)
    source = RowSource(X, torch.device("cpu"))
    start_encoder(
        encoder, source, layout, EdgeSampler(graph), 4, 0.01, 0, augment=augment
    )
    assert len(seen) == 4 and all(b.shape == (512, 16) for b in seen)


def test_edge_sampler_draws_edges_in_proportion_to_their_strength():
    graph = sp.coo_matrix(
        (np.array([0.1, 0.3, 0.6]), (np.array([0, 1, 2]), np.array([1, 2, 0]))),
        shape=(3, 3),
    )
    sampler = EdgeSampler(graph)
    heads, tails = sampler.sample(60_000, torch.Generator().manual_seed(0))
    freq = np.bincount(heads.numpy(), minlength=3) / 60_000
    np.testing.assert_allclose(freq, [0.1, 0.3, 0.6], atol=0.01)
    np.testing.assert_array_equal(tails.numpy(), (heads.numpy() + 1) % 3)
    again, _ = sampler.sample(60_000, torch.Generator().manual_seed(0))
    assert torch.equal(heads, again)


def test_edge_sampler_rejects_an_empty_graph():
    with pytest.raises(ValueError, match="no edges"):
        EdgeSampler(sp.coo_matrix((3, 3)))


def _term(weight=1.0):
    graph = sp.coo_matrix((np.ones(1), ([0], [1])), shape=(2, 2))
    return NeighborTerm(EdgeSampler(graph), weight, *edge_curve())


def test_neighbor_term_prefers_close_edges_and_far_negatives():
    term = _term()
    rng = torch.Generator().manual_seed(1)
    heads = torch.randn(64, 2, generator=rng) * 10
    near = heads + 0.01 * torch.randn(64, 2, generator=rng)
    far = torch.randn(64, 2, generator=rng) * 10
    assert term(heads, near) < term(heads, far)
    assert torch.isclose(_term(3.0)(heads, near), 3 * term(heads, near))


def test_neighbor_term_matches_its_formula():
    # One positive pair per row, every other tail a negative: check against
    # UMAP's cross-entropy written out with probabilities.
    a, b = edge_curve()
    heads = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    tails = heads + torch.tensor([[0.5, 0.0], [0.0, 1.0], [1.0, 1.0]])
    q = 1 / (1 + a * torch.cdist(heads, tails) ** (2 * b))
    positive = -torch.log(q.diagonal()).mean()
    off = ~torch.eye(3, dtype=torch.bool)
    negative = -torch.log1p(-q[off]).mean()
    expected = (positive + 5 * negative) / 6
    # _DIST_EPS shifts each squared distance by 1e-3 before the log.
    assert torch.isclose(_term()(heads, tails), expected, rtol=1e-2)


def test_neighbor_term_gradient_ignores_each_heads_own_tail_as_a_negative():
    # The term sums every pair and subtracts the diagonal rather than
    # selecting the off-diagonal pairs: the gradient must be exactly that
    # of the selection, in which a head's own tail is never a negative.
    a, b = edge_curve()
    rng = torch.Generator().manual_seed(0)
    heads = torch.randn(16, 2, generator=rng, dtype=torch.float64) * 3
    tails = torch.randn(16, 2, generator=rng, dtype=torch.float64) * 3

    def selected(h, t):
        log_odds = lambda d: np.log(a) + b * torch.log(d + _DIST_EPS)  # noqa: E731
        positive = torch.nn.functional.softplus(log_odds(((h - t) ** 2).sum(1)))
        squared = ((h[:, None] - t[None]) ** 2).sum(-1)
        off = ~torch.eye(len(h), dtype=torch.bool)
        negative = torch.nn.functional.softplus(-log_odds(squared[off]))
        return (positive.mean() + 5 * negative.mean()) / 6

    grads = []
    for loss in (_term(), selected):
        h = heads.clone().requires_grad_()
        loss(h, tails).backward()
        grads.append(h.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


def test_neighbor_term_is_finite_when_codes_coincide():
    code = torch.zeros(8, 2, requires_grad=True)
    loss = _term()(code, code)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(code.grad).all()
    single = _term()(code[:1], code[:1])  # a batch of one edge has no negatives
    assert torch.isfinite(single)


# ----------------------------------------------------------------- estimator
FAST = dict(hidden_layer_sizes=(32,), max_iter=10, batch_size=64, random_state=0)


def test_term_is_recorded_and_off_by_default():
    X, _ = _clusters()
    plain = AutoencoderTransformer(n_components=2, **FAST).fit(X)
    assert "neighbor" not in plain.history_
    ae = AutoencoderTransformer(n_components=2, neighbor_weight=1.0, **FAST).fit(X)
    assert len(ae.history_["neighbor"]) == ae.n_iter_
    total = np.add(ae.history_["reconstruction"], ae.history_["neighbor"])
    np.testing.assert_allclose(ae.loss_curve_, total, rtol=1e-5)
    assert ae.history_["neighbor"][-1] < ae.history_["neighbor"][0]


def test_term_is_reproducible_and_pickles():
    X, _ = _clusters()
    ae = AutoencoderTransformer(n_components=2, neighbor_weight=1.0, **FAST)
    first = ae.fit_transform(X)
    np.testing.assert_array_equal(clone(ae).fit_transform(X), first)
    restored = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(restored.transform(X), first)
    assert not any(isinstance(v, NeighborTerm) for v in vars(restored).values())


@pytest.mark.parametrize(
    "extra",
    [
        dict(architecture="conv", image_shape=(1, -1), conv_channels=(2, 3)),
        dict(sparsity="l1", noise="masking"),
        dict(early_stopping=True),
    ],
    ids=["conv", "sparse-denoising", "early-stopping"],
)
def test_term_combines_with_other_options(extra):
    X, _ = _clusters()
    ae = AutoencoderTransformer(
        n_components=2, neighbor_weight=1.0, **{**FAST, **extra}
    ).fit(X)
    assert np.isfinite(ae.transform(X)).all()
    assert ae.inverse_transform(ae.transform(X)).shape == X.shape


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_sparse_input_trains_with_the_term(fmt, early_stopping):
    X, labels = _clusters()
    dense = AutoencoderTransformer(
        n_components=2, neighbor_weight=1.0, early_stopping=early_stopping, **FAST
    )
    sparse = clone(dense)
    codes = sparse.fit_transform(sp.coo_matrix(X).asformat(fmt))
    # Sparse and dense distances round differently (graphs agree to 1e-4,
    # test_fuzzy_graph_accepts_sparse_rows), and umap-learn's layout, a
    # stochastic optimisation scheduled by the edge strengths, turns that into
    # a different but equally good map: compare what the maps show.
    assert np.isfinite(codes).all()
    assert _separates(codes, labels)
    assert _separates(dense.fit_transform(X), labels)


def test_too_few_rows_for_the_term_leave_a_fitted_model_intact():
    X, _ = _clusters()
    ae = AutoencoderTransformer(n_components=2, neighbor_weight=1.0, **FAST).fit(X)
    codes = ae.transform(X)
    with pytest.raises(ValueError, match="n_samples=1"):
        ae.fit(X[:1])
    np.testing.assert_array_equal(ae.transform(X), codes)


def test_duplicate_rows_and_constant_columns_give_a_finite_reproducible_map():
    # Duplicates coincide in the graph (zero distance) and in the layout, and
    # a constant column carries nothing: the start and the term must stay
    # finite, and a seeded fit must repeat itself exactly.
    X, labels = _clusters()
    X = np.concatenate([X, X[:30]])  # 30 exact duplicates
    X = np.hstack([X, np.full((len(X), 1), 3.0, dtype=np.float32)])
    ae = AutoencoderTransformer(n_components=2, neighbor_weight=1.0, **FAST)
    codes = ae.fit_transform(X)
    assert np.isfinite(codes).all()
    np.testing.assert_array_equal(codes[:30], codes[-30:])
    assert _separates(codes[: len(labels)], labels)
    again = AutoencoderTransformer(n_components=2, neighbor_weight=1.0, **FAST)
    np.testing.assert_array_equal(again.fit_transform(X), codes)


def test_term_keeps_digit_neighbourhoods_in_two_dimensions(mnist):
    # The term's purpose: at the same budget, a 2-D map of 3,000 digits whose
    # held-out neighbours share their label far more often than
    # reconstruction's.
    from sklearn.neighbors import KNeighborsClassifier

    X_train, y_train, X_test, y_test = mnist
    X_train, y_train, X_test, y_test = (
        X_train[:3000],
        y_train[:3000],
        X_test[:1000],
        y_test[:1000],
    )
    params = dict(
        n_components=2,
        hidden_layer_sizes=(64,),
        batch_size=64,
        max_iter=20,  # the term refines the layout's start: no need for thousands
        random_state=0,
    )

    def knn_accuracy(ae):
        codes = ae.fit_transform(X_train)
        knn = KNeighborsClassifier(5).fit(codes, y_train)
        return knn.score(ae.transform(X_test), y_test)

    plain = knn_accuracy(AutoencoderTransformer(**params))
    mapped = knn_accuracy(AutoencoderTransformer(neighbor_weight=1.0, **params))
    # Measured (2026-12-07): 0.524 without the term, 0.726 with it (0.708 when
    # the start regressed the encoder onto the layout).
    assert mapped > plain + 0.05, (plain, mapped)


def test_explicit_max_iter_shortens_the_warm_start_in_proportion():
    # 60,000 rows at batch 256: "auto" is 11 epochs (2,500 steps).
    from skae._fit_plan import auto_epochs

    steps = {m: start_steps(m, auto_epochs(60000, 256))
             for m in ("auto", 11, 22, 5, 1)}  # fmt: skip
    assert steps == {"auto": 3000, 11: 3000, 22: 3000, 5: 1364, 1: 273}
    # 300 rows: "auto" is 1,000 epochs, so a one-epoch smoke test starts in 3.
    assert start_steps(1, auto_epochs(300, 256)) == 3
