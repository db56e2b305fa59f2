"""Performance of skae: wrapper overhead, hardware efficiency, inference, peers.

Sections (all on MNIST unless stated; pick with ``--sections``):

``overhead``
    ``AutoencoderTransformer.fit`` against a minimal hand-written PyTorch loop
    training the identical network (same layers, batch size,
    Adam, epochs, shuffled in-memory batches), interleaved in one process.
``efficiency``
    Achieved training FLOP/s of the dense model against this machine's
    float32 matrix-multiply rate (measured here, same thread count), and a
    torch.profiler breakdown of one epoch.
``inference``
    ``transform`` throughput and peak extra memory on 1,000,000 x 784 rows.
``peers``
    Fit time, 10,000-row transform time and 5-NN accuracy of skae's default
    dense model, PCA, UMAP and t-SNE on the same data.
``conv``
    Seconds per epoch of the default convolutional model (CPU, and CUDA when
    available).

Run::

    SKAE_DATA=../shared/data python benchmarks/performance.py --out benchmarks/results/performance.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from itertools import pairwise

import numpy as np
import torch
from reportkit.data import load_split
from reportkit.memory import PeakRSS, rss_bytes
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from skae import AutoencoderTransformer

warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budgets throughout

DENSE = dict(n_components=32, hidden_layer_sizes=(256, 128))


def hand_written_fit(
    X: np.ndarray, epochs: int, batch_size: int, seed: int
) -> nn.Module:
    """The loop a PyTorch user would write for the same deep dense model."""
    torch.manual_seed(seed)
    sizes = [X.shape[1], 256, 128, 32]
    enc, dec = [], []
    for a, b in pairwise(sizes):
        enc += [nn.Linear(a, b), nn.ReLU()]
    for a, b in pairwise(sizes[::-1]):
        dec += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*enc[:-1], *dec[:-1])
    data = torch.tensor(X)
    # The same optimizer as skae (fused Adam), so the ratio measures the
    # wrapper, not a choice of optimizer implementation.
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=gen)
        for start in range(0, len(data), batch_size):
            batch = data[order[start : start + batch_size]]
            loss = nn.functional.mse_loss(model(batch), batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model


def skae_fit(X, epochs, batch_size, seed):
    return AutoencoderTransformer(
        **DENSE, max_iter=epochs, batch_size=batch_size, random_state=seed, device="cpu"
    ).fit(X)


def section_overhead(X, args) -> dict:
    times = {"skae": [], "hand_written": []}
    for rep in range(args.repeats):
        # Alternate the order so drift in machine speed hits both equally.
        order = [("skae", skae_fit), ("hand_written", hand_written_fit)]
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            tic = time.perf_counter()
            fn(X, args.epochs, 256, args.seed)
            times[name].append(time.perf_counter() - tic)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "epochs": args.epochs,
        "n_train": len(X),
        "times_s": times,
        "median_s": med,
        "ratio_skae_over_hand": med["skae"] / med["hand_written"],
    }


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
    """Measured float32 GEMM rate (FLOP/s) at this process's thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    tic = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * n**3 * repeats / (time.perf_counter() - tic)


def training_flops_per_sample(layer_sizes: list[tuple[int, int]]) -> int:
    """Forward + backward matmul FLOPs of a dense net: 3 x (2 x weights)."""
    return 3 * 2 * sum(a * b for a, b in layer_sizes)


def section_efficiency(X, args) -> dict:
    ae = skae_fit(X[:256], 1, 256, args.seed)
    layers = [
        (m.in_features, m.out_features)
        for mod in (ae.encoder_, ae.decoder_)
        for m in mod
        if isinstance(m, nn.Linear)
    ]
    tic = time.perf_counter()
    ae = skae_fit(X, args.epochs, 256, args.seed)
    seconds = time.perf_counter() - tic
    achieved = training_flops_per_sample(layers) * len(X) * args.epochs / seconds
    peak = matmul_rate()
    profile = profile_epoch(X[:20000])
    return {
        "threads": torch.get_num_threads(),
        "layers": layers,
        "train_s": seconds,
        "achieved_gflops": achieved / 1e9,
        "matmul_gflops": peak / 1e9,
        "fraction_of_matmul_rate": achieved / peak,
        "profile_top_ops": profile,
    }


def profile_epoch(X) -> list[dict]:
    """Self CPU time of the top operators in one training epoch."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        skae_fit(X, 1, 256, 0)
    rows = []
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]:
        rows.append(
            {
                "op": e.key,
                "self_cpu_ms": round(e.self_cpu_time_total / 1e3, 1),
                "share": round(e.self_cpu_time_total / total, 3),
                "calls": e.count,
            }
        )
    return rows


def section_inference(X, args) -> dict:
    ae = skae_fit(X[:5000], 2, 256, args.seed)
    n = args.inference_rows
    big = np.empty((n, X.shape[1]), dtype=np.float32)
    for start in range(0, n, len(X)):  # tile real digits, not zeros
        stop = min(start + len(X), n)
        big[start:stop] = X[: stop - start]
    ae.transform(big[:10000])  # warm-up
    before = rss_bytes()
    with PeakRSS() as mem:
        tic = time.perf_counter()
        codes = ae.transform(big)
        seconds = time.perf_counter() - tic
    return {
        "rows": n,
        "input_mb": big.nbytes / 1e6,
        "output_mb": codes.nbytes / 1e6,
        "seconds": seconds,
        "rows_per_s": n / seconds,
        "peak_extra_mb": (mem.peak - before) / 1e6,
    }


def section_peers(X, y, X_test, y_test, args) -> dict:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    rows = []

    def record(name, Z_train, Z_test, fit_s, transform_s, note=""):
        acc = KNeighborsClassifier(5).fit(Z_train, y).score(Z_test, y_test)
        rows.append(
            {
                "method": name,
                "fit_s": round(fit_s, 2),
                "transform_10k_s": None
                if transform_s is None
                else round(transform_s, 3),
                "knn5_accuracy": round(float(acc), 4),
                "note": note,
            }
        )
        print(rows[-1], flush=True)

    for name, model in [
        (
            "skae default dense (dim 32)",
            AutoencoderTransformer(**DENSE, max_iter=args.epochs, random_state=0),
        ),
        ("PCA (dim 32)", PCA(32, random_state=0)),
    ]:
        tic = time.perf_counter()
        Z = model.fit_transform(X)
        fit_s = time.perf_counter() - tic
        tic = time.perf_counter()
        Zt = model.transform(X_test)
        record(name, Z, Zt, fit_s, time.perf_counter() - tic)
    if "umap" not in args.skip_peers:
        import umap

        umap.UMAP(n_epochs=5, random_state=0).fit(X[:300])  # numba JIT, untimed
        model = umap.UMAP(n_components=2, random_state=0)
        tic = time.perf_counter()
        Z = model.fit_transform(X)
        fit_s = time.perf_counter() - tic
        tic = time.perf_counter()
        Zt = model.transform(X_test)
        record("UMAP (dim 2)", Z, Zt, fit_s, time.perf_counter() - tic)
    if "tsne" not in args.skip_peers:
        both = np.vstack([X, X_test])
        tic = time.perf_counter()
        Z = TSNE(2, random_state=0, init="pca", n_jobs=-1).fit_transform(both)
        fit_s = time.perf_counter() - tic
        record(
            "t-SNE (dim 2)", Z[: len(X)], Z[len(X) :], fit_s, None,
            note="transductive: embeds train+test together; cannot transform new data",
        )  # fmt: skip
    return {
        "n_train": len(X),
        "n_test": len(X_test),
        "epochs": args.epochs,
        "rows": rows,
    }


def section_conv(X, args) -> dict:
    out = {}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        ae = AutoencoderTransformer(
            n_components=32,
            architecture="conv",
            max_iter=args.conv_epochs,
            random_state=0,
            device=device,
        )
        tic = time.perf_counter()
        ae.fit(X)
        seconds = time.perf_counter() - tic
        out[device] = {
            "seconds_per_epoch": seconds / args.conv_epochs,
            "n_train": len(X),
            "device_name": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        }
    return {"devices": out}


def to_markdown(results: dict) -> str:
    """A readable summary of whichever sections were run."""
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
    if "peers" in results:
        r = results["peers"]
        md += [
            "## Against peers",
            "",
            f"MNIST, {r['n_train']:,} training and {r['n_test']:,} test images; skae "
            f"trained {r['epochs']} epochs.",
            "",
            "| method | fit (s) | transform 10k (s) | 5-NN accuracy | note |",
            "|---|---:|---:|---:|---|",
        ]
        for row in r["rows"]:
            t = "n/a" if row["transform_10k_s"] is None else row["transform_10k_s"]
            md.append(
                f"| {row['method']} | {row['fit_s']} | {t} | {row['knn5_accuracy']} | {row['note']} |"
            )
        md.append("")
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
    for name in ("overhead", "efficiency", "inference", "peers", "conv"):
        if name in results and "command" in results[name]:
            sections_of.setdefault(results[name]["command"], []).append(name)
    md += [f"- `{cmd}`: {', '.join(names)}" for cmd, names in sections_of.items()]
    return "\n".join(md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["overhead", "efficiency", "inference", "peers", "conv"],
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--conv-epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--inference-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-peers", nargs="*", default=[], choices=["umap", "tsne"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    X, y, X_test, y_test = load_split("mnist")
    X, y = X[: args.n_train], y[: args.n_train]
    # Sections may be run in separate invocations: merge into an existing file.
    results = {}
    if args.out and os.path.exists(args.out):
        with open(args.out) as fh:
            results = json.load(fh)
    results.update(torch=torch.__version__, threads=torch.get_num_threads())
    command = " ".join(["python", *sys.argv])
    for section in args.sections:
        tic = time.perf_counter()
        if section == "overhead":
            results[section] = section_overhead(X, args)
        elif section == "efficiency":
            results[section] = section_efficiency(X, args)
        elif section == "inference":
            results[section] = section_inference(X, args)
        elif section == "peers":
            results[section] = section_peers(X, y, X_test, y_test, args)
        elif section == "conv":
            results[section] = section_conv(X, args)
        results[section]["command"] = command
        print(
            f"[{section}] {time.perf_counter() - tic:.0f}s",
            json.dumps(results[section], indent=1, default=str),
            flush=True,
        )
        if args.out:  # write after every section so partial runs keep results
            with open(args.out, "w") as fh:
                json.dump(results, fh, indent=1, default=str)
            with open(os.path.splitext(args.out)[0] + ".md", "w") as fh:
                fh.write(to_markdown(results) + "\n")


if __name__ == "__main__":
    main()
