"""Performance of skae: wrapper overhead, hardware efficiency, inference, full-data fits.

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
``dense``
    Fit and transform time of the deep dense model for a fixed 20 epochs on
    all 60,000 training images, its test reconstruction error and the 5-NN
    accuracy of its codes (``--device`` picks the device).
``conv``
    Seconds per epoch of the default convolutional model (CPU, and CUDA when
    available).

Comparisons with PCA, UMAP and t-SNE are ``convergence.py``'s, which runs
them as the report does (``reportkit.methods``). Run::

    SKAE_DATA=../shared/data python benchmarks/performance.py --out benchmarks/results/performance.json

``--render-only`` rewrites ``performance.md`` from the JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from itertools import pairwise

import numpy as np
import torch
from reportkit import environment
from reportkit.data import load_split
from reportkit.memory import PeakRSS, rss_bytes
from reportkit.methods import jsonable_params
from reportkit.render import performance_markdown
from reportkit.scoring import knn_accuracy
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from skae import AutoencoderTransformer

warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budgets throughout

# The deep dense model every section times; the hand-written loop builds the
# same layers from it.
DENSE = dict(n_components=32, hidden_layer_sizes=(256, 128))
SECTIONS = ["overhead", "efficiency", "inference", "dense", "conv"]


def hand_written_fit(
    X: np.ndarray, epochs: int, batch_size: int, seed: int
) -> nn.Module:
    """The loop a PyTorch user would write for the same deep dense model."""
    torch.manual_seed(seed)
    sizes = [X.shape[1], *DENSE["hidden_layer_sizes"], DENSE["n_components"]]
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


def section_dense(X, y, X_test, y_test, args) -> dict:
    """The deep dense model for a fixed budget on the training rows: fit and
    transform time, test reconstruction and 5-NN accuracy of the codes."""
    ae = AutoencoderTransformer(
        **DENSE, max_iter=args.dense_epochs, random_state=args.seed, device=args.device
    )
    tic = time.perf_counter()
    ae.fit(X)
    fit_s = time.perf_counter() - tic
    tic = time.perf_counter()
    Z_train = ae.transform(X)
    transform_s = time.perf_counter() - tic
    return {
        "n_train": len(X),
        "epochs": ae.n_iter_,
        "fit_s": round(fit_s, 2),
        "transform_train_s": round(transform_s, 3),
        "test_mse": round(-ae.score(X_test), 5),
        "knn5_test_accuracy": round(
            knn_accuracy(Z_train, y, ae.transform(X_test), y_test), 4
        ),
        "torch_threads": torch.get_num_threads(),
        "device": str(next(ae.encoder_.parameters()).device),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "params": jsonable_params(ae.get_params()),
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


def run_section(name: str, data, args) -> dict:
    X, y, X_test, y_test = data
    if name == "overhead":
        return section_overhead(X, args)
    if name == "efficiency":
        return section_efficiency(X, args)
    if name == "inference":
        return section_inference(X, args)
    if name == "dense":
        return section_dense(X, y, X_test, y_test, args)
    return section_conv(X, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=SECTIONS)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dense-epochs", type=int, default=20)
    parser.add_argument("--conv-epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--inference-rows", type=int, default=1_000_000)
    parser.add_argument("--device", default="auto", help="of the dense section")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the Markdown beside --out from the existing file, running nothing",
    )
    args = parser.parse_args()
    if args.render_only and not args.out:
        parser.error("--render-only needs --out")

    # Sections may be run in separate invocations: merge into an existing file.
    results = {}
    if args.out and os.path.exists(args.out):
        with open(args.out) as fh:
            results = json.load(fh)
    if args.render_only:
        write_markdown(args.out, results)
        return
    X, y, X_test, y_test = load_split("mnist")
    data = X[: args.n_train], y[: args.n_train], X_test, y_test
    results.update(torch=torch.__version__, threads=torch.get_num_threads())
    command = " ".join(["python", *sys.argv])
    for section in args.sections:
        tic = time.perf_counter()
        results[section] = run_section(section, data, args)
        results[section]["command"] = command
        results[section]["skae_revision"] = environment.code_revision()
        print(
            f"[{section}] {time.perf_counter() - tic:.0f}s",
            json.dumps(results[section], indent=1, default=str),
            flush=True,
        )
        if args.out:  # write after every section so partial runs keep results
            with open(args.out, "w") as fh:
                json.dump(results, fh, indent=1, default=str)
            write_markdown(args.out, results)


def write_markdown(out: str, results: dict) -> None:
    with open(os.path.splitext(out)[0] + ".md", "w") as fh:
        fh.write(performance_markdown(results) + "\n")


if __name__ == "__main__":
    main()
