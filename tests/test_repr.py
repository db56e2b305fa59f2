"""The fitted HTML repr: compact attribute summaries and the documentation link."""

from __future__ import annotations

import email.message
import re

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

import skae._repr as repr_module
from skae import AutoencoderTransformer

pytestmark = [
    pytest.mark.skipif(
        not hasattr(BaseEstimator, "_get_fitted_attr_html"),
        reason="scikit-learn < 1.8 shows no fitted attributes in the HTML repr",
    ),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


def _fitted(**params) -> AutoencoderTransformer:
    X = np.random.default_rng(0).random((120, 6))
    settings = dict(n_components=2, hidden_layer_sizes=(8,), max_iter=40)
    return AutoencoderTransformer(**settings, random_state=0, **params).fit(X)


def _attribute_rows(html: str) -> dict[str, str]:
    """Fitted-attribute table of a repr as {name: value text}."""
    table = html[html.index("Fitted attributes") :]
    rows = re.findall(
        r'<td class="param">.*?>\s*([a-z_]+_)\s*</a>.*?</td>\s*'
        r"<td[^>]*>(.*?)</td>\s*<td>(.*?)</td>",
        table,
        flags=re.S,
    )
    return {name: value.strip() for name, _type, value in rows}


def test_long_attributes_are_summarised_in_one_line():
    ae = _fitted(early_stopping=True)
    rows = _attribute_rows(ae._repr_html_())
    epochs = ae.n_iter_
    assert rows["history_"] == f"{epochs} epochs x {len(ae.history_)} series"
    assert rows["loss_curve_"] == f"{epochs} epochs, last {ae.loss_curve_[-1]:.4g}"
    best = max(ae.validation_scores_)
    assert rows["validation_scores_"] == f"{epochs} epochs, best {best:.4g}"
    n_weights = sum(p.numel() for p in ae.encoder_.parameters())
    assert rows["encoder_"] == f"{n_weights:,} weights"
    # scikit-learn cuts strings at 9 characters ("co...ed"); ours is whole.
    assert rows["stop_reason_"] == ae.stop_reason_
    # The estimator itself is untouched by rendering its repr.
    assert isinstance(ae.history_, dict) and len(ae.loss_curve_) == epochs


def test_repr_inside_a_pipeline_is_compact_too():
    X = np.random.default_rng(1).random((80, 5))
    pipe = make_pipeline(
        MinMaxScaler(), AutoencoderTransformer(2, max_iter=3, random_state=0)
    ).fit(X)
    rows = _attribute_rows(pipe._repr_html_())
    assert rows["history_"] == "3 epochs x 3 series"
    assert rows["loss_curve_"].startswith("3 epochs, last ")


def test_no_documentation_link_while_none_is_declared(monkeypatch):
    monkeypatch.setattr(repr_module, "documentation_url", lambda: "")
    ae = _fitted()
    assert ae._get_doc_link() == ""
    assert "generated/skae.AutoencoderTransformer" not in ae._repr_html_()


def test_documentation_link_follows_the_declared_url(monkeypatch):
    monkeypatch.setattr(
        repr_module, "documentation_url", lambda: "https://docs.example/skae"
    )
    ae = _fitted()
    url = "https://docs.example/skae/generated/skae.AutoencoderTransformer.html"
    assert ae._get_doc_link() == url
    html = ae._repr_html_()
    assert f'href="{url}"' in html
    # Parameters link to their entry on that page.
    assert f"{url}#:~:text=n_components" in html


def test_documentation_url_is_read_from_the_package_metadata(monkeypatch):
    message = email.message.Message()
    message["Project-URL"] = "Source, https://code.example/skae"
    message["Project-URL"] = "Documentation, https://docs.example/skae/"
    monkeypatch.setattr(repr_module.metadata, "metadata", lambda name: message)
    assert repr_module.documentation_url() == "https://docs.example/skae"

    del message["Project-URL"]
    assert repr_module.documentation_url() == ""

    def missing(name):
        raise repr_module.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(repr_module.metadata, "metadata", missing)
    assert repr_module.documentation_url() == ""
