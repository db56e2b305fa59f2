"""Beyond one process: out-of-core fit, Dask inference, chunked partial_fit.

Sections (pick with ``--sections``):

``out_of_core``
    ``fit`` on a 1,000,000 x 784 float32 :class:`numpy.memmap` (3.1 GB on
    disk, MNIST digits tiled with a little noise), in a fresh child process
    so that its high-water mark (VmHWM) belongs to this fit alone. Reports
    the peak resident memory (file pages included) and the peak anonymous
    memory, each above the process before ``fit``, and the model's size
    (weights plus Adam's two moments).
``dask_transform``
    ``transform`` of 4,000,000 x 784 rows generated blockwise by Dask
    (80 blocks of 50,000 rows): on a ``distributed.LocalCluster`` of 2
    worker processes x 1 thread, against one process (Dask's synchronous
    scheduler, torch on all cores). Both time generation plus encoding plus
    a column mean of the codes (so no 4,000,000-row result is gathered).
    Reports rows/s and each worker's peak resident memory.
``partial_fit``
    All 60,000 MNIST digits at 32-D: ``fit`` for 11 epochs (what
    ``max_iter="auto"`` gives) against a loop of ``partial_fit`` over 10
    chunks of 6,000 rows for 11 epochs (110 calls, ``max_iter=110``), and
    the same loop at a constant learning rate. Fit time and 5-NN accuracy
    of the codes on the 10,000 test digits.
``data_parallel``
    All 60,000 MNIST digits at 32-D for 3 epochs, launched by torchrun
    (``python -m torch.distributed.run --standalone``) on 1 and on 2 Gloo
    processes of ``python -m skae.distributed``, which split the machine's
    threads evenly (2 processes x 1 thread on 2 cores). Reports each
    process's fit seconds per epoch, its peak resident memory and the final
    loss. A section run on its own is merged into the existing ``--out``
    file, with its own environment.

Run::

    SKAE_DATA=../shared/data python benchmarks/scale_out.py --out benchmarks/results/scale_out.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from reportkit import environment
from reportkit.data import load_split
from reportkit.memory import PeakRSS, anon_rss_bytes, peak_rss_bytes, rss_bytes
from reportkit.render import scale_out_rst
from reportkit.scoring import knn_accuracy
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer

DENSE = dict(n_components=32)  # the defaults otherwise: (256, 128), GELU
MEMMAP_ROWS = 1_000_000
DASK_ROWS, DASK_BLOCK = 4_000_000, 50_000


def model_bytes(ae: AutoencoderTransformer) -> int:
    """Weights plus Adam's two moment estimates (what training holds)."""
    params = [*ae.encoder_.parameters(), *ae.decoder_.parameters()]
    return 3 * sum(p.numel() * p.element_size() for p in params)


# -------------------------------------------------------------- out of core
def write_memmap(path: str, X: np.ndarray, n_rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(n_rows, X.shape[1])
    )
    for start in range(0, n_rows, len(X)):
        stop = min(start + len(X), n_rows)
        block = X[: stop - start] + rng.normal(0, 0.02, (stop - start, X.shape[1]))
        out[start:stop] = np.clip(block, 0, 1)
    out.flush()
    del out


def out_of_core_child(path: str, epochs: int, seed: int) -> dict:
    """Runs in a fresh process: fit on the memmap, report memory."""
    X = np.load(path, mmap_mode="r")
    ae = AutoencoderTransformer(**DENSE, max_iter=epochs, random_state=seed)
    before, before_anon = rss_bytes(), anon_rss_bytes()
    with PeakRSS() as mem, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tic = time.perf_counter()
        ae.fit(X)
        seconds = time.perf_counter() - tic
    return {
        "rows": X.shape[0],
        "file_gb": os.path.getsize(path) / 1e9,
        "epochs": epochs,
        "fit_s": seconds,
        "rss_before_fit_mb": before / 1e6,
        "peak_rss_above_before_mb": (max(mem.peak, peak_rss_bytes()) - before) / 1e6,
        "peak_anon_above_before_mb": (mem.peak_anon - before_anon) / 1e6,
        "model_mb": model_bytes(ae) / 1e6,
        "final_loss": ae.loss_curve_[-1],
    }


def section_out_of_core(args) -> dict:
    X = load_split("mnist")[0]
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        path = os.path.join(tmp, "X.npy")
        write_memmap(path, X, args.memmap_rows, args.seed)
        child = subprocess.run(
            [sys.executable, __file__, "--child", path, "--epochs", str(args.epochs)],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(child.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------- dask transform
def _blocks(n_rows: int, block: int, n_features: int):
    import dask.array as da

    # Seeded per block, generated where the block is computed.
    return da.random.default_rng(0).random(
        (n_rows, n_features), chunks=(block, n_features), dtype=np.float32
    )


def _worker_peak_mb() -> float:
    return peak_rss_bytes() / 1e6


def section_dask_transform(args) -> dict:
    import dask
    import distributed

    X = load_split("mnist")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae = AutoencoderTransformer(**DENSE, random_state=args.seed).fit(X)
    rows = args.dask_rows
    data = _blocks(rows, DASK_BLOCK, X.shape[1])
    result = {"rows": rows, "block_rows": DASK_BLOCK}

    with dask.config.set(scheduler="synchronous"):
        ae.transform(data[:DASK_BLOCK]).mean(axis=0).compute()  # warm-up
        tic = time.perf_counter()
        ae.transform(data).mean(axis=0).compute()
        single = time.perf_counter() - tic
    result["single_process"] = {"seconds": single, "rows_per_s": rows / single}

    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    with distributed.Client(cluster) as client:
        ae.transform(data[: 2 * DASK_BLOCK]).mean(axis=0).compute()  # warm-up
        tic = time.perf_counter()
        ae.transform(data).mean(axis=0).compute()
        seconds = time.perf_counter() - tic
        peaks = sorted(client.run(_worker_peak_mb).values())
    cluster.close()
    result["local_cluster"] = {
        "workers": 2,
        "threads_per_worker": 1,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "worker_peak_rss_mb": peaks,
        "speedup": single / seconds,
    }
    return result


# --------------------------------------------------------------- partial_fit
def _knn(ae, X, y, X_test, y_test) -> float:
    return knn_accuracy(ae.transform(X), y, ae.transform(X_test), y_test)


def section_partial_fit(args) -> dict:
    X, y, X_test, y_test = load_split("mnist")
    epochs, n_chunks = 11, 10
    out = {"epochs": epochs, "chunks": n_chunks, "rows": len(X)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tic = time.perf_counter()
        fitted = AutoencoderTransformer(
            **DENSE, max_iter=epochs, random_state=args.seed
        ).fit(X)
        out["fit"] = {"seconds": time.perf_counter() - tic}
        out["fit"]["knn5"] = _knn(fitted, X, y, X_test, y_test)
        out["fit"]["params"] = {**DENSE, "max_iter": epochs}
        for schedule in ("cosine", "constant"):
            ae = AutoencoderTransformer(
                **DENSE,
                max_iter=epochs * n_chunks,
                learning_rate=schedule,
                random_state=args.seed,
            )
            rng = np.random.default_rng(args.seed)
            tic = time.perf_counter()
            for _ in range(epochs):
                for rows in np.array_split(rng.permutation(len(X)), n_chunks):
                    ae.partial_fit(X[np.sort(rows)])
            out[f"partial_fit_{schedule}"] = {
                "seconds": time.perf_counter() - tic,
                "knn5": _knn(ae, X, y, X_test, y_test),
                "calls": ae.n_iter_,
                "params": {
                    **DENSE,
                    "max_iter": epochs * n_chunks,
                    "learning_rate": schedule,
                },
            }
    return out


# ------------------------------------------------------------ data_parallel
def section_data_parallel(args) -> dict:
    X, _, _, _ = load_split("mnist")
    epochs = 3
    params = {**DENSE, "max_iter": epochs, "random_state": args.seed}
    out = {"rows": len(X), "epochs": epochs, "params": params, "runs": []}
    with tempfile.TemporaryDirectory() as scratch:
        data = os.path.join(scratch, "X.npy")
        np.save(data, X)
        for world_size in (1, 2):
            report = os.path.join(scratch, f"w{world_size}-{{rank}}.json")
            cmd = [
                sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={world_size}", "-m", "skae.distributed",
                "--data", data, "--params", json.dumps(params), "--report", report,
            ]  # fmt: skip
            env = {**os.environ, "PYTHONWARNINGS": "ignore"}
            subprocess.run(cmd, check=True, env=env, capture_output=True)
            ranks = []
            for rank in range(world_size):
                with open(report.format(rank=rank)) as fh:
                    ranks.append(json.load(fh))
            out["runs"].append(
                {
                    "world_size": world_size,
                    "threads_per_process": ranks[0]["threads"],
                    "epoch_s": [r["fit_s"] / r["n_iter"] for r in ranks],
                    "peak_rss_mib": [r["peak_rss_mib"] for r in ranks],
                    "final_loss": ranks[0]["loss_curve"][-1],
                }
            )
    out["environment"] = environment.describe()
    return out


SECTIONS = {
    "out_of_core": section_out_of_core,
    "dask_transform": section_dask_transform,
    "partial_fit": section_partial_fit,
    "data_parallel": section_data_parallel,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS)
    )
    parser.add_argument("--out", default="benchmarks/results/scale_out.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2, help="out_of_core epochs")
    parser.add_argument("--memmap-rows", type=int, default=MEMMAP_ROWS)
    parser.add_argument("--dask-rows", type=int, default=DASK_ROWS)
    parser.add_argument("--scratch", default=None, help="folder for the memmap")
    parser.add_argument("--rst", default="benchmarks/results/scale_out.rst")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite --rst from the existing --out file, running nothing",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(out_of_core_child(args.child, args.epochs, args.seed)))
        return
    if args.render_only:
        with open(args.out) as fh:
            results = json.load(fh)
    else:
        results = {"environment": environment.describe(), "seed": args.seed}
        if set(args.sections) != set(SECTIONS) and os.path.exists(args.out):
            with open(args.out) as fh:  # keep the sections not rerun
                results = {**json.load(fh), "seed": args.seed}
        for name in args.sections:
            print(f"[{name}]", flush=True)
            results[name] = SECTIONS[name](args)
            print(json.dumps(results[name], indent=1), flush=True)
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)
        print(f"wrote {args.out}")
    with open(args.rst, "w") as fh:
        fh.write(scale_out_rst(results))
    print(f"wrote {args.rst}")


if __name__ == "__main__":
    main()
