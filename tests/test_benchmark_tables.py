"""The benchmarks' shared tables and renderers (``benchmarks/reportkit``).

The scripts share one variant table and one set of peer runners, and render
their results from the JSON files alone; these tests hold the committed
results files to what the renderers make of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from skae import AutoencoderTransformer

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RESULTS = BENCHMARKS / "results"


@pytest.fixture(autouse=True)
def benchmarks_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))


def test_every_script_takes_its_variants_from_the_one_table():
    import convergence
    import variants
    from reportkit.methods import SKAE_VARIANTS
    from reportkit.variants import VARIANTS

    table = list(VARIANTS.values())
    assert all(settings in table for settings in SKAE_VARIANTS.values())
    assert variants.VARIANTS is VARIANTS
    shared = [convergence.SETTINGS[name] for name in convergence._SHARED]
    assert all(settings in table for settings in shared)
    # "skae default" is the estimator's defaults, nothing added.
    assert convergence.SETTINGS["skae default"] == {} == VARIANTS["deep"]
    assert SKAE_VARIANTS["skae sparse"] == {"sparsity": "kl"}


def test_named_copies_settings_and_rejects_unknown_variants():
    from reportkit.variants import VARIANTS, named

    mine = named({"mine": "vanilla"})
    mine["mine"]["alpha"] = 1.0
    assert "alpha" not in VARIANTS["vanilla"]
    with pytest.raises(KeyError, match="unknown variants"):
        named({"x": "resnet"})


def test_cell_keys_cover_the_defaults_a_variant_relies_on(monkeypatch):
    from reportkit import cells

    config = cells.Config(300, 100, 1, 0, 50)
    deep = cells.Cell("mnist", "skae deep", 2)
    key = cells.cell_key(deep, config)
    assert key == cells.cell_key(deep, config)
    assert key != cells.cell_key(cells.Cell("mnist", "skae vanilla", 2), config)
    # "deep" is the defaults; the one-change variants pin the large-data ones.
    assert cells._resolved_params("skae deep")["hidden_layer_sizes"] == "auto"
    assert cells._resolved_params("skae vanilla")["batch_size"] == 256
    assert cells._resolved_params("PCA") is None

    # A changed default gives the cell a new key rather than a stale result.
    class Wider(AutoencoderTransformer):
        def get_params(self, deep=True):
            return {**super().get_params(deep), "hidden_layer_sizes": (512, 256)}

    monkeypatch.setattr(cells.skae, "AutoencoderTransformer", Wider)
    assert cells.cell_key(deep, config) != key
    monkeypatch.undo()

    # So does changed code behind an unchanged parameter ("auto" rules).
    pca = cells.Cell("mnist", "PCA", 2)
    pca_key = cells.cell_key(pca, config)
    monkeypatch.setattr(cells, "source_digest", lambda: "edited")
    assert cells.cell_key(deep, config) != key
    assert cells.cell_key(pca, config) == pca_key  # other libraries' cells stay


def test_committed_performance_and_scale_out_files_render_as_committed():
    from reportkit.render import performance_markdown, scale_out_rst

    perf = json.loads((RESULTS / "performance.json").read_text())
    assert performance_markdown(perf) + "\n" == (RESULTS / "performance.md").read_text()
    scale = json.loads((RESULTS / "scale_out.json").read_text())
    assert scale_out_rst(scale) == (RESULTS / "scale_out.rst").read_text()


def test_variants_markdown_has_one_table_per_dataset_and_dimension():
    from reportkit.render import variants_markdown

    lines = (RESULTS / "variants.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    text = variants_markdown(rows)
    cells = {(r["dataset"], r["dim"]) for r in rows}
    assert text.count("| variant | 5-NN | vs deep |") == len(cells)
    deep = next(r for r in rows if r["variant"] == "deep")
    assert f"| deep | {deep['knn5_accuracy']:.4f} | +0.0000 |" in text


def test_performance_script_renders_without_running(tmp_path, monkeypatch):
    import performance

    out = tmp_path / "perf.json"
    out.write_text((RESULTS / "performance.json").read_text())
    monkeypatch.setattr(
        sys, "argv", ["performance.py", "--render-only", "--out", str(out)]
    )
    performance.main()
    assert (tmp_path / "perf.md").read_text() == (
        RESULTS / "performance.md"
    ).read_text()


def test_small_data_arguments_take_empty_settings_for_pca_rows_alone():
    import small_data

    def parse(*argv):
        return small_data.arguments(
            "d", sizes=[2000], settings=[("defaults", {})], out="o.jsonl", argv=argv
        )

    assert parse().settings == [("defaults", {})]
    assert parse("--settings").settings == []
    assert parse("--settings", 'wide={"hidden_layer_sizes": [512]}').settings == [
        ("wide", {"hidden_layer_sizes": [512]})
    ]
    with pytest.raises(SystemExit):
        parse("--settings", "--no-pca")
