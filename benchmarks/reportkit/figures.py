"""The report's figures, written from finished cells with skae's displays."""

from __future__ import annotations

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
from .render import method_label


def _grid(n: int, ncols: int, size: tuple[float, float]):
    import matplotlib.pyplot as plt

    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def dataset_figures(
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
