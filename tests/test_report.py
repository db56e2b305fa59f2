"""The benchmark report, end to end on a tiny configuration (CI smoke run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"
TINY = ["--n-train", "300", "--n-test", "100", "--dims", "2", "3", "--epochs", "1",
        "--trust-n", "50", "--no-progress"]  # fmt: skip
METHODS = ["raw pixels", "PCA", "t-SNE", "UMAP", "skae vanilla", "skae deep",
           "skae conv", "skae sparse", "skae denoising", "skae variational",
           "skae neighbors",
           "skae shift", "skae neighbors shift"]  # fmt: skip

pytestmark = pytest.mark.slow


# The timeouts only guard against a hang: a cold numba cache makes the first
# UMAP cell compile for minutes, and on a slow shared 2-core machine that took
# over 10 minutes (2026-11-23), past the 900 s this used to allow.
def run_report(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, str(REPORT), "--out", str(out), *TINY, *extra],
        capture_output=True, text=True, env=env, timeout=2400,
    )  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory, data_home):
    out = tmp_path_factory.mktemp("report")
    proc = run_report(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_every_requested_cell_is_present_with_sane_values(report):
    out, _ = report
    results = json.loads((out / "results.json").read_text())
    rows = results["rows"]
    cells = {(r["dataset"], r["method"], r["dim"]) for r in rows}
    for ds in ("mnist", "fashion-mnist"):
        assert (ds, "raw pixels", 784) in cells
        assert (ds, "t-SNE", 2) in cells and (ds, "t-SNE", 3) not in cells
        for method in METHODS[1:]:
            for dim in (2, 3):
                if method != "t-SNE":
                    assert (ds, method, dim) in cells, (ds, method, dim)
    assert len(rows) == 2 * (1 + 1 + (len(METHODS) - 2) * 2)
    for r in rows:
        assert 0 <= r["knn_accuracy"] <= 1 and 0 <= r["trustworthiness"] <= 1
        assert r["fit_s"] >= 0
        assert not r["transductive"]  # openTSNE embeds the test split too
        assert (r["transform_s"] is not None) and r["transform_s"] >= 0
        decodes = r["method"] == "PCA" or r["method"].startswith("skae")
        assert (r["recon_mse"] is not None) == decodes
        if decodes:
            assert 0 < r["recon_mse"] < 1
        if r["method"] != "raw pixels":
            assert r["params"] and r["estimator"] and r["threads"] >= 1
            assert r["params"]["n_components"] == r["dim"]
        assert (r["seed"] is None) == (r["method"] == "UMAP")  # unseeded: parallel
    env = results["environment"]
    assert (
        env["torch"]
        and env["scikit-learn"]
        and env["umap-learn"]
        and "report.py" in env["command"]
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("method", ["PCA", "skae vanilla"])  # skae: one epoch
def test_a_cell_is_recomputed_from_results_json_alone(report, data_home, method):
    """The row's estimator, params, seed and sizes are all a rerun needs."""
    import importlib

    from sklearn.neighbors import KNeighborsClassifier

    from skae.datasets import fetch_mnist

    out, _ = report
    rows = json.loads((out / "results.json").read_text())["rows"]
    row = next(
        r for r in rows if (r["dataset"], r["method"], r["dim"]) == ("mnist", method, 2)
    )
    module, name = row["estimator"].rsplit(".", 1)
    params = {
        k: tuple(v) if isinstance(v, list) else v for k, v in row["params"].items()
    }
    model = getattr(importlib.import_module(module), name)(**params)
    X, y = fetch_mnist(data_home=data_home, subset="train", return_X_y=True)
    X_test, y_test = fetch_mnist(data_home=data_home, subset="test", return_X_y=True)
    X, y = X[: row["n_train"]], y[: row["n_train"]]
    X_test, y_test = X_test[: row["n_test"]], y_test[: row["n_test"]]
    model.fit(X)
    knn = KNeighborsClassifier(5).fit(model.transform(X), y)
    assert knn.score(model.transform(X_test), y_test) == pytest.approx(
        row["knn_accuracy"], abs=1e-12
    )


def test_report_markdown_and_figures(report):
    out, _ = report
    md = (out / "report.md").read_text()
    assert "## Protocol" in md and "openTSNE" in md
    for ds in ("mnist", "fashion-mnist"):
        assert f"## {ds}" in md
        for fig in ("knn", "trust", "embeddings", "reconstructions", "loss", "times"):
            name = f"{fig}_{ds}.png"
            assert (out / name).stat().st_size > 5000
            assert f"]({name})" in md
    assert md.count("**5-NN test accuracy**") == 2
    assert "| t-SNE |" in md
    assert "Reading (generated from the numbers above)" in md
    # Compared with the committed full run at the one dimension both have.
    against = md.split("## Against the full protocol (generated)\n\n")[1]
    assert against.startswith("- **mnist, 2-D**: ") and "3-D" not in against
    faq = (out / "which_method_when.rst").read_text()  # included by docs/faq.rst
    assert faq.startswith("- **mnist**: at 2-D the best 5-NN is") and "fashion" in faq
    lines = (out / "results.csv").read_text().splitlines()
    assert lines[0].startswith("dataset,method,dim,knn_accuracy")
    assert len(lines) == 1 + 2 * (2 + (len(METHODS) - 2) * 2)  # header, cells


def test_rerun_resumes_from_cache_updates_readme_and_force_recomputes(report, tmp_path):
    # One resume run checks both the cache and the README splice: each run
    # of the report re-imports torch and re-renders every figure (about a
    # minute on CI), so the two share it.
    out, _ = report
    cells = sorted((out / "cells").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in cells}
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- report-summary:start -->\nSTALE-BLOCK\n<!-- report-summary:end -->\nrest\n"
    )
    again = run_report(out, "--methods", "PCA", "UMAP", "--update-readme", str(readme))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "): " not in again.stdout  # no cell was recomputed
    assert all(p.stat().st_mtime_ns == stamps[p] for p in cells)
    text = readme.read_text()
    assert (
        "STALE-BLOCK" not in text
        and text.startswith("intro\n")
        and text.endswith("rest\n")
    )
    assert (
        "| UMAP |" in text and "| PCA |" in text and "300 training / 100 test" in text
    )
    assert text.count("**5-NN test accuracy**") == 2
    assert (out / "summary.md").read_text() in text
    forced = run_report(out, "--methods", "PCA", "--datasets", "mnist", "--force")
    assert forced.returncode == 0
    assert forced.stdout.count("method='PCA'") == 2  # dims 2 and 3 recomputed


def test_missing_data_gives_a_clear_message(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPORT), "--out", str(tmp_path / "r"), "--data-home",
         str(tmp_path / "empty"), "--no-download", *TINY],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "the datasets could not be loaded" in proc.stderr
    assert "download_if_missing=False" in proc.stderr and "SKAE_DATA" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_reading_never_prints_a_signed_zero_difference(monkeypatch):
    monkeypatch.syspath_prepend(str(REPORT.parent))
    from reportkit.render import reading

    def row(method, acc):
        return dict(dataset="mnist", method=method, dim=32, knn_accuracy=acc,
                    transductive=False, recon_mse=None, transform_s=None)  # fmt: skip

    rows = [row("PCA", 0.9654), row("UMAP", 0.9454), row("skae vanilla", 0.9651)]
    (line,) = reading(rows, "mnist")
    assert "skae vanilla 0.965 (-0.0003 vs PCA) (+0.020 vs UMAP)" in line


def test_which_method_when_is_read_off_the_rows(monkeypatch):
    monkeypatch.syspath_prepend(str(REPORT.parent))
    from reportkit.render import which_method_when

    def row(method, dim, acc, fit, transform, mse=None):
        return dict(dataset="mnist", method=method, dim=dim, knn_accuracy=acc,
                    fit_s=fit, transform_s=transform, recon_mse=mse,
                    transductive=False)  # fmt: skip

    rows = [
        row("raw pixels", 784, 0.97, 0.0, 0.0),
        row("PCA", 2, 0.42, 0.5, 0.01, 0.056),
        row("UMAP", 2, 0.955, 21.0, 3.6),
        row("t-SNE", 2, 0.96, 120.0, 20.0),
        row("skae neighbors", 2, 0.945, 99.0, 0.062, 0.04),
        row("PCA", 32, 0.9756, 1.4, 0.02, 0.0168),
        row("skae deep", 32, 0.9781, 12.0, 0.05, 0.0056),
        row("UMAP", 32, 0.957, 54.0, 4.0),
    ]
    (line,) = which_method_when(rows)
    assert line.startswith(
        "**mnist**: at 2-D the best 5-NN is t-SNE (0.960, fit 120 s)"
    )
    assert "UMAP is within 0.01 (0.955) in 21.0 s" in line
    assert "at 32-D the best 5-NN is skae deep (0.978, fit 12 s)" in line
    assert "PCA is within 0.01 (0.976) in 1.4 s" in line
    assert "takes skae neighbors 0.062 s (UMAP 3.60 s, t-SNE 20.00 s)" in line
    assert "at 32-D skae deep reconstructs best (test MSE 0.0056)" in line
    assert "raw pixels" not in line


def test_a_run_is_compared_with_the_full_protocol_family_by_family(monkeypatch):
    monkeypatch.syspath_prepend(str(REPORT.parent))
    from reportkit.render import against_reference, report_markdown

    def row(dataset, method, dim, acc, n_train):
        return dict(dataset=dataset, method=method, dim=dim, knn_accuracy=acc,
                    n_train=n_train, fit_s=1.0, transform_s=None,
                    recon_mse=None, transductive=False)  # fmt: skip

    quick = [
        row("mnist", "raw pixels", 784, 0.99, 5000),
        row("mnist", "t-SNE", 2, 0.881, 5000),
        row("mnist", "UMAP", 2, 0.879, 5000),
        row("mnist", "PCA", 32, 0.934, 5000),
        row("mnist", "skae deep", 32, 0.928, 5000),
        row("fashion", "skae deep", 32, 0.80, 5000),
        row("fashion", "PCA", 32, 0.78, 5000),
    ]
    full = [
        row("mnist", "t-SNE", 2, 0.954, 60000),
        row("mnist", "UMAP", 2, 0.957, 60000),
        row("mnist", "PCA", 32, 0.9756, 60000),
        row("mnist", "skae deep", 32, 0.9784, 60000),
        row("fashion", "skae conv", 32, 0.864, 60000),
        row("fashion", "skae deep", 32, 0.862, 60000),
    ]
    two_d, thirty_two, fashion = against_reference(quick, full)
    assert two_d.startswith("**mnist, 2-D**: this run picks t-SNE (t-SNE 0.881)")
    assert "the reference run UMAP (UMAP 0.957)" in two_d
    assert "in the reference run t-SNE is only 0.003 behind" in two_d
    assert "here UMAP is only 0.002 behind" in two_d
    assert "this run trains on 5,000 rows, the reference run on 60,000" in two_d
    assert "this run picks PCA (PCA 0.934), the reference run skae" in thirty_two
    assert "the FAQ on small data" in thirty_two
    # Both pick skae, though the full run's best model (conv) was not run.
    assert fashion == (
        "**fashion, 32-D**: both runs pick skae (skae deep 0.800 here, "
        "skae conv 0.864 in the reference run)."
    )
    text = report_markdown("protocol", {}, quick, {}, reference=full)
    assert "## Against the full protocol (generated)\n\n- **mnist, 2-D**" in text
    assert "Against the full protocol" not in report_markdown("p", {}, quick, {})
