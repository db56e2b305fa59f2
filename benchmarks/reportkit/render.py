"""Turning finished cells into results files, tables, figures and a reading."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from skae.plotting import (
    KNNAccuracyDisplay,
    LatentSpaceDisplay,
    LossCurveDisplay,
    ReconstructionDisplay,
)

from .methods import SKAE_VARIANTS

# metric -> (title, higher is better, format)
METRICS = {
    "knn_accuracy": ("5-NN test accuracy", True, "{:.4f}"),
    "trustworthiness": (
        "Trustworthiness (5 neighbours, test subsample)",
        True,
        "{:.4f}",
    ),
    "recon_mse": ("Test reconstruction MSE", False, "{:.5f}"),
    "fit_s": ("Fit time (s)", False, "{:.2f}"),
    "transform_s": ("Transform time of the test split (s)", False, "{:.3f}"),
}
CSV_FIELDS = [
    "dataset", "method", "dim", "knn_accuracy", "trustworthiness", "recon_mse",
    "fit_s", "transform_s", "transductive", "n_train", "n_test", "epochs",
    "stop_reason", "threads", "seed",
]  # fmt: skip


def method_label(method: str, rows: list[dict]) -> str:
    transductive = any(r["transductive"] for r in rows if r["method"] == method)
    return f"{method} (transductive)" if transductive else method


def write_results(out: Path, rows: list[dict], meta: dict) -> None:
    """``results.json`` (everything) and ``results.csv`` (one line per cell)."""
    (out / "results.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def metric_table(rows: list[dict], metric: str) -> str:
    """Markdown table: methods x dimensions, best per column in bold."""
    title, higher, fmt = METRICS[metric]
    dims = sorted({r["dim"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    value = {(r["method"], r["dim"]): r.get(metric) for r in rows}
    best = {}
    for d in dims:
        candidates = [
            value[m, d]
            for m in methods
            if value.get((m, d)) is not None and m != "raw pixels"
        ]
        if len(candidates) > 1:
            best[d] = max(candidates) if higher else min(candidates)
    lines = [
        f"**{title}** ({'higher' if higher else 'lower'} is better; best per dimension in bold)",
        "",
        "| method | " + " | ".join(_dim_header(rows, d) for d in dims) + " |",
        "|---|" + "---:|" * len(dims),
    ]
    for m in methods:
        cells = []
        for d in dims:
            v = value.get((m, d))
            if v is None:
                cells.append("" if (m, d) not in value else "n/a")
                continue
            text = fmt.format(v)
            cells.append(
                f"**{text}**"
                if best.get(d) is not None and math.isclose(v, best[d])
                else text
            )
        lines.append(f"| {method_label(m, rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _dim_header(rows: list[dict], dim: int) -> str:
    only_raw = all(r["method"] == "raw pixels" for r in rows if r["dim"] == dim)
    return f"{dim} (input)" if only_raw else str(dim)


def _grid(n: int, ncols: int, size: tuple[float, float]):
    import matplotlib.pyplot as plt

    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def figures(
    out: Path, dataset: str, rows, artifacts, data, target_names
) -> dict[str, str]:
    """Write the dataset's figures; return {caption: file name}."""
    import matplotlib.pyplot as plt

    written = {}
    ds_rows = [r for r in rows if r["dataset"] == dataset]

    # 1. k-NN accuracy against latent dimension, raw pixels as a reference line.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    curve_rows = [r for r in ds_rows if r["method"] != "raw pixels"]
    KNNAccuracyDisplay.from_results(
        curve_rows, ax=ax, title=f"{dataset}: 5-NN accuracy"
    )
    for r in ds_rows:
        if r["method"] == "raw pixels":
            ax.axhline(r["knn_accuracy"], color="grey", ls=":", label="raw pixels")
            ax.legend(fontsize="small")
    written["5-NN accuracy against latent dimension"] = _save(
        fig, out, f"knn_{dataset}.png"
    )

    # 1b. Trustworthiness against latent dimension (how many of each test
    # image's neighbours in its code are neighbours in pixel space too).
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in dict.fromkeys(r["method"] for r in curve_rows):
        pts = sorted((r["dim"], r["trustworthiness"]) for r in curve_rows
                     if r["method"] == method)  # fmt: skip
        ax.plot(*zip(*pts, strict=True), "o-", label=method_label(method, ds_rows))
    dims = sorted({r["dim"] for r in curve_rows})
    if dims and dims[-1] / dims[0] > 4:
        ax.set_xscale("log", base=2)
    ax.set_xticks(dims, labels=[str(d) for d in dims])
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("trustworthiness (5 neighbours)")
    ax.set_title(f"{dataset}: trustworthiness")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    written["Trustworthiness against latent dimension"] = _save(
        fig, out, f"trust_{dataset}.png"
    )

    # 2. 2-D embeddings of the test split, one panel per method.
    twod = [
        r for r in ds_rows if r["dim"] == 2 and "test_embedding" in artifacts[_key(r)]
    ]
    if twod:
        fig, axes = _grid(len(twod), 3, (4.2, 4))
        y = data["y_test"]
        show = np.random.default_rng(0).permutation(len(y))[:3000]
        for ax, r in zip(axes, twod, strict=False):
            Z = artifacts[_key(r)]["test_embedding"]
            LatentSpaceDisplay.from_embedding(
                Z[show], y[show], label_names=target_names, ax=ax, legend=False,
                title=method_label(r["method"], ds_rows), s=2,
            )  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
        # One legend for all panels, beside them rather than over any data.
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(
            handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5),
            markerscale=4, fontsize="small", title="class",
        )  # fmt: skip
        written["2-D embeddings of the test split"] = _save(
            fig, out, f"embeddings_{dataset}.png"
        )

    # 3. Reconstructions and 4. loss curves of each skae variant (largest dim).
    recon = _largest_dim_rows(
        ds_rows, with_artifact="reconstructions", artifacts=artifacts
    )
    if recon:
        fig, axes = _grid(len(recon), 1, (8, 2.2))
        originals = data["X_test"][: len(artifacts[_key(recon[0])]["reconstructions"])]
        for ax, r in zip(axes, recon, strict=False):
            ReconstructionDisplay.from_predictions(
                originals, artifacts[_key(r)]["reconstructions"], ax=ax,
                title=f"{r['method']} (dim {r['dim']}, test MSE {r['recon_mse']:.4f})",
            )  # fmt: skip
        written["Test images (top) and reconstructions (bottom)"] = _save(
            fig, out, f"reconstructions_{dataset}.png"
        )
    curves = [r for r in _largest_dim_rows(ds_rows) if r.get("history")]
    if curves:
        fig, axes = _grid(len(curves), 3, (4.5, 3.5))
        for ax, r in zip(axes, curves, strict=False):
            LossCurveDisplay(r["history"]).plot(
                ax=ax, title=f"{r['method']} (dim {r['dim']})"
            )
        written["skae training curves"] = _save(fig, out, f"loss_{dataset}.png")

    # 5. Time per method, at each method's largest dimension.
    timed = [
        r
        for r in _largest_dim_rows(ds_rows, decoders_only=False)
        if r["method"] != "raw pixels"
    ]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(timed) + 1.2))
    names = [f"{method_label(r['method'], ds_rows)} (dim {r['dim']})" for r in timed]
    pos = np.arange(len(timed))
    ax.barh(pos - 0.2, [r["fit_s"] for r in timed], height=0.4, label="fit")
    ax.barh(
        pos + 0.2,
        [r["transform_s"] or 0 for r in timed],
        height=0.4,
        label="transform test",
    )
    ax.set_yticks(pos, labels=names)
    ax.set_xscale("log")
    # A method that cannot embed new rows has no transform bar: say so, at
    # the left edge, instead of leaving an empty slot.
    left = ax.get_xlim()[0]
    for p, r in zip(pos, timed, strict=True):
        if r["transform_s"] is None:
            why = " n/a (transductive)" if r.get("transductive") else " n/a"
            ax.text(left, p + 0.2, why, va="center", fontsize="small")
    ax.set_xlabel("seconds (log scale)")
    ax.legend(fontsize="small", loc="lower right")
    written["Fit and transform time per method"] = _save(
        fig, out, f"times_{dataset}.png"
    )
    return written


def _key(row: dict) -> str:
    return row["key"]


def _largest_dim_rows(rows, with_artifact=None, artifacts=None, decoders_only=True):
    """For each method, its row at the largest dimension it was run at."""
    chosen = {}
    for r in rows:
        if decoders_only and r["method"] not in SKAE_VARIANTS and r["method"] != "PCA":
            continue
        if with_artifact and with_artifact not in artifacts[_key(r)]:
            continue
        if r["method"] not in chosen or r["dim"] > chosen[r["method"]]["dim"]:
            chosen[r["method"]] = r
    return list(chosen.values())


def _save(fig, out: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    # "tight" keeps what lies outside the axes (the embeddings' legend, the
    # reconstructions' row labels) inside the image.
    fig.savefig(out / name, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return name


SUMMARY_START = "<!-- report-summary:start -->"
SUMMARY_END = "<!-- report-summary:end -->"


def summary(rows: list[dict], config: dict, command: str) -> str:
    """The README's results block: 5-NN accuracy tables and where they came from."""
    budget = (
        "every method at its own stopping rule"
        if config["epochs"] is None
        else f"skae trained {config['epochs']} epochs"
    )
    lines = [
        f"Generated by `{command}` ({config['n_train']:,} training / "
        f"{config['n_test']:,} test images per dataset, {budget}; full tables "
        "and figures in the report).",
        "",
    ]
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        lines += [
            f"*{ds}*",
            "",
            metric_table([r for r in rows if r["dataset"] == ds], "knn_accuracy"),
            "",
        ]
    lines += ["Which method when (generated from these runs):", ""]
    lines += [f"- {line}" for line in which_method_when(rows)]
    return "\n".join(lines).rstrip() + "\n"


def which_method_when(rows: list[dict]) -> list[str]:
    """A short "which method when" reading, generated from the rows.

    For each dataset: the most accurate map at 2-D and at the largest
    dimension, the fastest method whose 5-NN accuracy is within 0.01 of that
    best, the fastest ``transform`` of new data, and the best decoder.
    """
    out = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        at = [r for r in rows if r["dataset"] == ds and r["method"] != "raw pixels"]
        if not at:
            continue
        parts = []
        for dim in sorted({min(r["dim"] for r in at), max(r["dim"] for r in at)}):
            cell = [r for r in at if r["dim"] == dim]
            best = max(cell, key=lambda r: r["knn_accuracy"])
            close = [
                r for r in cell if r["knn_accuracy"] >= best["knn_accuracy"] - 0.01
            ]
            quick = min(close, key=lambda r: r["fit_s"])
            text = (
                f"at {dim}-D the best 5-NN is {method_label(best['method'], at)} "
                f"({best['knn_accuracy']:.3f}, fit {best['fit_s']:.0f} s)"
            )
            if quick is not best:
                text += (
                    f"; {method_label(quick['method'], at)} is within 0.01 "
                    f"({quick['knn_accuracy']:.3f}) in {quick['fit_s']:.1f} s"
                )
            parts.append(text)
        # Embedding new data at 2-D, where the nonlinear methods all run:
        # the fastest skae variant against UMAP and t-SNE.
        twod = [r for r in at if r["dim"] == 2 and r["transform_s"] is not None]
        skae_2d = [r for r in twod if r["method"] in SKAE_VARIANTS]
        others = [r for r in twod if r["method"] in ("UMAP", "t-SNE")]
        if skae_2d and others:
            fastest = min(skae_2d, key=lambda r: r["transform_s"])
            times = ", ".join(f"{r['method']} {r['transform_s']:.2f} s" for r in others)
            parts.append(
                f"embedding the test split at 2-D takes {fastest['method']} "
                f"{fastest['transform_s']:.3f} s ({times})"
            )
        decoders = [r for r in at if r["recon_mse"] is not None]
        if decoders:
            top = max(r["dim"] for r in decoders)
            recon = min(
                (r for r in decoders if r["dim"] == top), key=lambda r: r["recon_mse"]
            )
            parts.append(
                f"only PCA and skae decode; at {top}-D {recon['method']} "
                f"reconstructs best (test MSE {recon['recon_mse']:.4f})"
            )
        out.append(f"**{ds}**: " + "; ".join(parts) + ".")
    return out


def splice_readme(readme: Path, block: str) -> None:
    """Replace the text between the summary markers in ``readme``."""
    text = readme.read_text()
    start, end = text.find(SUMMARY_START), text.find(SUMMARY_END)
    if start < 0 or end < start:
        raise ValueError(f"{readme} has no {SUMMARY_START} ... {SUMMARY_END} block.")
    new = text[: start + len(SUMMARY_START)] + "\n" + block + text[end:]
    readme.write_text(new)


def reading(rows: list[dict], dataset: str) -> list[str]:
    """Plain statements read off the numbers (no hand-typed results)."""
    ds = [r for r in rows if r["dataset"] == dataset]
    skae = [r for r in ds if r["method"] in SKAE_VARIANTS]
    out = []
    for d in sorted({r["dim"] for r in ds if r["method"] != "raw pixels"}):
        at = [r for r in ds if r["dim"] == d]
        best = max(at, key=lambda r: r["knn_accuracy"])
        skae_at = [r for r in skae if r["dim"] == d]
        line = f"dim {d}: best 5-NN accuracy {best['knn_accuracy']:.3f} by {method_label(best['method'], ds)}"
        if skae_at:
            top = max(skae_at, key=lambda r: r["knn_accuracy"])
            line += f"; best skae variant {top['method']} {top['knn_accuracy']:.3f}"
            for ref in ("PCA", "UMAP"):
                other = [r for r in at if r["method"] == ref]
                if other:
                    diff = top["knn_accuracy"] - other[0]["knn_accuracy"]
                    # Below half a unit of the third decimal, "+0.000" or
                    # "-0.000" would hide which side is ahead.
                    shown = f"{diff:+.3f}" if abs(diff) >= 5e-4 else f"{diff:+.4f}"
                    line += f" ({shown} vs {ref})"
        out.append(line + ".")
    pca = {r["dim"]: r for r in ds if r["method"] == "PCA"}
    for r in skae:
        if r["dim"] in pca and r["recon_mse"] is not None and r["dim"] == max(pca):
            ratio = r["recon_mse"] / pca[r["dim"]]["recon_mse"]
            out.append(
                f"{r['method']} at dim {r['dim']} reconstructs with {ratio:.2f}x PCA's test MSE "
                f"({r['recon_mse']:.4f} vs {pca[r['dim']]['recon_mse']:.4f})."
            )
    umap_rows = [r for r in ds if r["method"] == "UMAP" and r["transform_s"]]
    for u in umap_rows[:1]:
        fast = [r for r in skae if r["dim"] == u["dim"]]
        if fast:
            quickest = min(fast, key=lambda r: r["transform_s"])
            out.append(
                f"Embedding the test split at dim {u['dim']}: UMAP {u['transform_s']:.2f} s, "
                f"{quickest['method']} {quickest['transform_s']:.3f} s."
            )
    return out
