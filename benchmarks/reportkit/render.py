"""Results as text: the report's files, tables and reading, and the Markdown
or reST of the other benchmark scripts (figures are in ``figures.py``)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

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


def report_markdown(
    protocol: str,
    env: dict,
    rows: list[dict],
    figures: dict[str, dict[str, str]],
    reference: list[dict] | None = None,
) -> str:
    """``report.md``: protocol, environment, then per dataset its tables,
    figures (``{dataset: {caption: file name}}``) and reading; with
    ``reference`` rows (the committed full run), whether this run agrees
    with it on which family wins."""
    md = ["# skae benchmark report", "", "## Protocol", "", protocol]
    md += ["## Environment", ""]
    md += [f"- {k}: `{v}`" for k, v in env.items()]
    for ds, figs in figures.items():
        ds_rows = [r for r in rows if r["dataset"] == ds]
        md += ["", f"## {ds}", ""]
        for metric in METRICS:
            if any(r.get(metric) is not None for r in ds_rows):
                md += [metric_table(ds_rows, metric), ""]
        for caption, name in figs.items():
            md += [f"**{caption}**", "", f"![{caption}]({name})", ""]
        md += ["### Reading (generated from the numbers above)", ""]
        md += [f"- {line}" for line in reading(rows, ds)]
    when = [f"- {line}" for line in which_method_when(rows)]
    md += ["", "## Which method when (generated from the numbers above)", "", *when]
    if reference:
        lines = [f"- {line}" for line in against_reference(rows, reference)]
        if lines:
            md += ["", "## Against the full protocol (generated)", "", *lines]
    return "\n".join(md) + "\n"


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


# Methods grouped by family for "which family wins": skae's variants are one.
_FAMILIES = {"PCA": "PCA", "UMAP": "UMAP", "t-SNE": "t-SNE"}
# Leaders closer than this in 5-NN accuracy are a near tie, which a change of
# data size or seed can reorder.
NEAR_TIE = 0.005


def family(method: str) -> str | None:
    """``"skae"``, ``"PCA"``, ``"UMAP"`` or ``"t-SNE"``; None for raw pixels."""
    return "skae" if method in SKAE_VARIANTS else _FAMILIES.get(method)


def _family_bests(rows: list[dict], dataset: str, dim: int) -> dict[str, dict]:
    """Each family's most accurate row in one (dataset, dim) cell."""
    best: dict[str, dict] = {}
    for r in rows:
        fam = family(r["method"])
        if r["dataset"] != dataset or r["dim"] != dim or fam is None:
            continue
        if fam not in best or r["knn_accuracy"] > best[fam]["knn_accuracy"]:
            best[fam] = r
    return best


def against_reference(rows: list[dict], reference: list[dict]) -> list[str]:
    """Whether this run and a reference run (the full protocol) agree on the
    family with the best 5-NN at each dimension both ran, and if not, the
    reasons the numbers show: the reference's winner was not run here, a
    near tie in either run, or fewer training rows."""
    lines = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        dims = sorted({r["dim"] for r in rows if r["dataset"] == ds})
        for dim in dims:
            here = _family_bests(rows, ds, dim)
            there = _family_bests(reference, ds, dim)
            if not here or not there:
                continue
            win_here = max(here.values(), key=lambda r: r["knn_accuracy"])
            win_there = max(there.values(), key=lambda r: r["knn_accuracy"])
            fam_here, fam_there = (
                family(win_here["method"]),
                family(win_there["method"]),
            )
            head = f"**{ds}, {dim}-D**: "
            if fam_here == fam_there:
                lines.append(
                    f"{head}both runs pick {fam_here} ({win_here['method']} "
                    f"{win_here['knn_accuracy']:.3f} here, {win_there['method']} "
                    f"{win_there['knn_accuracy']:.3f} in the reference run)."
                )
                continue
            reasons = _disagreement(win_here, win_there, here, there, rows)
            lines.append(
                f"{head}this run picks {fam_here} ({win_here['method']} "
                f"{win_here['knn_accuracy']:.3f}), the reference run {fam_there} "
                f"({win_there['method']} {win_there['knn_accuracy']:.3f}); "
                + "; ".join(reasons)
                + "."
            )
    return lines


def _disagreement(win_here, win_there, here, there, rows) -> list[str]:
    fam_here, fam_there = family(win_here["method"]), family(win_there["method"])
    reasons = []
    if win_there["method"] not in {r["method"] for r in rows}:
        reasons.append(
            f"the reference run's best model, {win_there['method']}, is not "
            "among this run's methods"
        )
    if fam_here in there:
        gap = win_there["knn_accuracy"] - there[fam_here]["knn_accuracy"]
        if gap < NEAR_TIE:
            reasons.append(f"in the reference run {fam_here} is only {gap:.3f} behind")
    if fam_there in here:
        gap = win_here["knn_accuracy"] - here[fam_there]["knn_accuracy"]
        if gap < NEAR_TIE:
            reasons.append(f"here {fam_there} is only {gap:.3f} behind")
    n_here, n_there = win_here["n_train"], win_there["n_train"]
    if n_here < n_there:
        text = f"this run trains on {n_here:,} rows, the reference run on {n_there:,}"
        if fam_here == "PCA" and fam_there == "skae":
            text += (
                " (on a few thousand rows PCA can beat skae's models at 16-D and "
                "above: the FAQ on small data)"
            )
        reasons.append(text)
    return reasons or ["the numbers give no reason: treat it as seed noise"]


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


def performance_markdown(results: dict) -> str:
    """``performance.md``: whichever sections of ``performance.py`` were run."""
    md = [
        "# skae performance",
        "",
        f"torch {results['torch']}, {results['threads']} threads. The commands "
        "that produced each section are listed at the end.",
        "",
    ]
    if "overhead" in results:
        r = results["overhead"]
        md += [
            "## Wrapper overhead",
            "",
            f"Deep dense model (784-256-128-32, mirrored), {r['n_train']:,} MNIST images, "
            f"{r['epochs']} epochs, batch 256, fused Adam in both; interleaved runs, medians:",
            "",
            "| loop | median fit (s) | runs (s) |",
            "|---|---:|---|",
        ]
        for name in ("skae", "hand_written"):
            runs = ", ".join(f"{t:.2f}" for t in r["times_s"][name])
            md.append(f"| {name} | {r['median_s'][name]:.2f} | {runs} |")
        md += [
            "",
            f"Ratio skae / hand-written: **{r['ratio_skae_over_hand']:.3f}**",
            "",
        ]
    if "efficiency" in results:
        r = results["efficiency"]
        md += [
            "## Hardware efficiency",
            "",
            f"Achieved training rate {r['achieved_gflops']:.1f} GFLOP/s (matmul FLOPs of "
            f"forward and backward) against a measured float32 GEMM rate of "
            f"{r['matmul_gflops']:.1f} GFLOP/s at {r['threads']} threads: "
            f"**{r['fraction_of_matmul_rate']:.0%}**.",
            "",
            "Where one epoch's CPU time goes (torch.profiler, self time):",
            "",
            "| operator | self CPU (ms) | share | calls |",
            "|---|---:|---:|---:|",
        ]
        md += [
            f"| `{o['op']}` | {o['self_cpu_ms']} | {o['share']:.1%} | {o['calls']} |"
            for o in r["profile_top_ops"]
        ]
        md.append("")
    if "inference" in results:
        r = results["inference"]
        md += [
            "## Inference",
            "",
            f"`transform` of {r['rows']:,} x 784 float32 rows ({r['input_mb']:.0f} MB in, "
            f"{r['output_mb']:.0f} MB out): {r['seconds']:.2f} s, "
            f"**{r['rows_per_s']:,.0f} rows/s**; peak memory above the input: "
            f"**{r['peak_extra_mb']:.0f} MB**.",
            "",
        ]
    if "dense" in results:
        r = results["dense"]
        md += [
            "## The deep dense model for a fixed number of epochs",
            "",
            f"`AutoencoderTransformer(n_components=32, hidden_layer_sizes=(256, 128))`, "
            f"{r['epochs']} epochs on {r['n_train']:,} images ({r['device']}, "
            f"{r['torch_threads']} threads): fit **{r['fit_s']:.1f} s**, `transform` of "
            f"the training split {r['transform_train_s']:.2f} s; test MSE "
            f"{r['test_mse']:.5f}, 5-NN test accuracy of the codes "
            f"**{r['knn5_test_accuracy']:.4f}**.",
            "",
        ]
    if "conv" in results:
        md += [
            "## Convolutional model",
            "",
            "| device | seconds per epoch | images |",
            "|---|---:|---:|",
        ]
        for r in results["conv"]["devices"].values():
            md.append(
                f"| {r['device_name']} | {r['seconds_per_epoch']:.1f} | {r['n_train']:,} |"
            )
        if "cuda" not in results["conv"]["devices"]:
            md += [
                "",
                "No GPU was available to this run, so no CUDA timing is reported.",
            ]
        md.append("")
    md += ["## Commands", ""]
    # One line per command, naming the sections it produced (one run
    # usually writes several).
    sections_of: dict[str, list[str]] = {}
    for name in ("overhead", "efficiency", "inference", "dense", "conv"):
        if name in results and "command" in results[name]:
            sections_of.setdefault(results[name]["command"], []).append(name)
    md += [f"- `{cmd}`: {', '.join(names)}" for cmd, names in sections_of.items()]
    return "\n".join(md)


def variants_markdown(rows: list[dict]) -> str:
    """``variants.py``'s rows as one table per (dataset, dim); 5-NN also as
    the gap to "deep"."""
    lines = []
    for dataset, dim in dict.fromkeys((r["dataset"], r["dim"]) for r in rows):
        cell = [r for r in rows if r["dataset"] == dataset and r["dim"] == dim]
        deep = next((r["knn5_accuracy"] for r in cell if r["variant"] == "deep"), None)
        lines += [
            f"\n{dataset}, {dim}-D ({cell[0]['n_train']:,} train / "
            f"{cell[0]['n_test']:,} test)\n",
            "| variant | 5-NN | vs deep | Hoyer | test MSE | masked MSE | fit (s) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in cell:
            gap = "" if deep is None else f"{r['knn5_accuracy'] - deep:+.4f}"
            lines.append(
                f"| {r['variant']} | {r['knn5_accuracy']:.4f} | {gap} | "
                f"{r['hoyer_sparsity']:.3f} | {r['test_mse']:.5f} | "
                f"{r['masked_test_mse']:.5f} | {r['fit_s']} |"
            )
    return "\n".join(lines)


def scale_out_rst(results: dict) -> str:
    """``scale_out.py``'s figures as the reST table docs/scaling.rst includes."""
    rows = []
    if "out_of_core" in results:
        r = results["out_of_core"]
        rows.append(
            (
                f"``fit`` on a {r['rows']:,} x 784 float32 memmap "
                f"({r['file_gb']:.1f} GB), {r['epochs']} epochs",
                f"peak resident memory {r['peak_rss_above_before_mb']:,.0f} MB above "
                f"the process before ``fit`` (anonymous "
                f"{r['peak_anon_above_before_mb']:,.0f} MB; model with Adam's state "
                f"{r['model_mb']:.1f} MB); {r['fit_s']:,.0f} s",
            )
        )
    if "dask_transform" in results:
        r = results["dask_transform"]
        one, two = r["single_process"], r["local_cluster"]
        peaks = ", ".join(f"{p:,.0f}" for p in two["worker_peak_rss_mb"])
        rows.append(
            (
                f"``transform`` of {r['rows']:,} x 784 rows made by Dask",
                f"one process {one['rows_per_s']:,.0f} rows/s; LocalCluster of 2 "
                f"workers x 1 thread {two['rows_per_s']:,.0f} rows/s "
                f"({two['speedup']:.2f}x), worker peak memory {peaks} MB",
            )
        )
    if "partial_fit" in results:
        r = results["partial_fit"]
        fit, cos, const = r["fit"], r["partial_fit_cosine"], r["partial_fit_constant"]
        rows.append(
            (
                f"All {r['rows']:,} MNIST digits at 32-D, {r['epochs']} epochs: "
                f"``fit`` against ``partial_fit`` over {r['chunks']} chunks",
                f"test 5-NN ``fit`` {fit['knn5']:.4f} ({fit['seconds']:.0f} s); "
                f"``partial_fit`` {cos['knn5']:.4f} ({cos['seconds']:.0f} s, "
                f"{cos['calls']} calls, cosine), constant rate {const['knn5']:.4f}",
            )
        )
    if "data_parallel" in results:
        r = results["data_parallel"]
        runs = {run["world_size"]: run for run in r["runs"]}

        def describe(run) -> str:
            epoch = max(run["epoch_s"])
            memory = ", ".join(f"{m:,.0f}" for m in run["peak_rss_mib"])
            return (
                f"{run['world_size']} x {run['threads_per_process']} thread(s): "
                f"{epoch:.1f} s per epoch, peak memory {memory} MiB per process, "
                f"final loss {run['final_loss']:.4f}"
            )

        rows.append(
            (
                f"Data-parallel ``fit`` (``python -m skae.distributed``, Gloo), "
                f"all {r['rows']:,} MNIST digits at 32-D, {r['epochs']} epochs",
                "; ".join(describe(runs[w]) for w in sorted(runs))
                + (
                    f" (2 processes: {max(runs[1]['epoch_s']) / max(runs[2]['epoch_s']):.2f}x "
                    "the speed of 1)"
                    if 1 in runs and 2 in runs
                    else ""
                ),
            )
        )
    lines = [
        ".. Generated by benchmarks/scale_out.py from",
        "   benchmarks/results/scale_out.json; do not edit.",
        "",
        ".. list-table:: Measured (``benchmarks/scale_out.py``)",
        "   :header-rows: 1",
        "   :widths: 40 60",
        "",
        "   * - Case",
        "     - Result",
    ]
    for case, result in rows:
        lines += [f"   * - {case}", f"     - {result}"]
    return "\n".join(lines) + "\n"
