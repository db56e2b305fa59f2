"""The estimator's HTML representation: a documentation link, compact attributes.

scikit-learn (>= 1.8) lists every fitted attribute in a notebook's HTML repr
and links parameters to the online API page through the ``_doc_link_*``
hooks of its ``ReprHTMLMixin``. This mixin points those hooks at skae's own
documentation and replaces the attributes that would print as long lists of
floats or whole torch modules with one-line summaries.
"""

from __future__ import annotations

from importlib import metadata

# Fitted attributes shown as a summary rather than their value.
_SUMMARISED = (
    "history_",
    "loss_curve_",
    "validation_scores_",
    "encoder_",
    "decoder_",
    "stop_reason_",
)


class _Summary:
    """A value whose repr is a short text (the repr's value column shows it)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def documentation_url(distribution: str = "skae") -> str:
    """The ``Documentation`` project URL declared in the package metadata, or "".

    The link is taken from the installed distribution rather than written
    here, so the repr links to the site the package says it documents itself
    at, and to nothing while no such site is declared.
    """
    try:
        urls = metadata.metadata(distribution).get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return ""
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation" and url.strip():
            return url.strip().rstrip("/")
    return ""


def _summarise(name: str, value) -> _Summary:
    if name in ("history_", "loss_curve_", "validation_scores_") and not value:
        return _Summary("empty")
    if name == "history_":
        epochs = len(next(iter(value.values()), []))
        return _Summary(f"{epochs} epochs x {len(value)} series")
    if name == "loss_curve_":
        return _Summary(f"{len(value)} epochs, last {value[-1]:.4g}")
    if name == "validation_scores_":
        return _Summary(f"{len(value)} epochs, best {max(value):.4g}")
    if name in ("encoder_", "decoder_"):
        n_weights = sum(p.numel() for p in value.parameters())
        return _Summary(f"{n_weights:,} weights")
    return _Summary(str(value))


class CompactReprMixin:
    """Documentation links and one-line summaries in the fitted HTML repr."""

    _doc_link_module = "skae"

    @property
    def _doc_link_template(self) -> str:
        base = documentation_url()
        if not base:
            return ""
        return base + "/generated/{estimator_module}.{estimator_name}.html"

    def _get_fitted_attr_html(self, doc_link=""):
        attrs = super()._get_fitted_attr_html(doc_link)
        for name in _SUMMARISED:
            info = attrs.get(name)
            if info is not None and info["value"] is not None:
                info["value"] = _summarise(name, info["value"])
        return attrs
