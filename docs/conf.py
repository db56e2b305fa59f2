"""Sphinx configuration for the skae documentation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The checkout's skae first: an installed copy from another checkout would
# otherwise be the one documented.
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("MPLBACKEND", "Agg")

import skae  # noqa: E402

project = "skae"
author = "skae developers"
copyright = "2026, skae developers"
version = release = skae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

myst_heading_anchors = 3

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    # Back-references power the "Examples using ..." lists in the API pages.
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("skae",),
    "remove_config_comments": True,
    # A broken example must fail the build.
    "abort_on_example_error": True,
    "reset_modules": ("matplotlib", "seaborn"),
}

html_theme = "pydata_sphinx_theme"
html_title = f"skae {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []


def _unlink_scikit_learn_labels(app, env, node, contnode):
    """Show labels of scikit-learn's own docs as text in inherited docstrings.

    The API pages document the methods skae inherits from scikit-learn
    (``set_output``, ``get_metadata_routing``...), whose docstrings refer to
    sections of scikit-learn's site by label. Those labels only exist there,
    and the build has no network for an intersphinx inventory, so they are
    rendered as plain text rather than failing the ``-W`` build.
    """
    source = node.source or ""
    if node.get("reftype") == "ref" and "/sklearn/" in source.replace("\\", "/"):
        return contnode
    return None


def setup(app):
    app.connect("missing-reference", _unlink_scikit_learn_labels)
