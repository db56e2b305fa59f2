"""Benchmark report: skae latent spaces against PCA, t-SNE and UMAP.

Fits every method on the training split of MNIST and Fashion-MNIST, embeds
the test split, and scores each (dataset, method, dimension) cell by 5-NN
accuracy, trustworthiness, time and reconstruction error. Writes
``results.json``, ``results.csv``, ``report.md`` and figures to ``--out``.

    python benchmarks/report.py --quick        # both datasets, ~10 min on 2 cores
    python benchmarks/report.py                # the full protocol, ~1 h on 2 cores

On this project's 2-core machine the skae cells of the full run (60,000 /
10,000 images, dims 2-32, every variant) took 51 minutes and the baselines
about 10 more; the quick preset (5,000 / 1,000 images, dims 2 and 32, every
method but the convolutional model) about 10 minutes.

Finished cells are cached under ``<out>/cells``: an interrupted run resumes
where it stopped; ``--force`` recomputes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from reportkit import environment, render
from reportkit.cells import Cell, CellCache, Config, EpochProgress, cell_key, run_cell
from reportkit.data import FETCHERS, load_data
from reportkit.figures import dataset_figures
from reportkit.methods import ALL_METHODS, dims_for

from skae.datasets import DownloadError

QUICK_METHODS = tuple(m for m in ALL_METHODS if m != "skae conv")
# The committed full-protocol run that other runs compare their winners with.
REFERENCE = Path(__file__).resolve().parent / "results" / "report" / "results.json"
PRESETS = {
    "full": dict(
        n_train=60000, n_test=10000, dims=[2, 4, 8, 16, 32], methods=list(ALL_METHODS)
    ),
    # skae's default budget is in optimiser steps, so a skae fit costs about
    # as much on 5,000 rows as on 60,000: the quick preset leaves out the
    # convolutional model (about 60 s a fit, as long as the rest together).
    "quick": dict(n_train=5000, n_test=1000, dims=[2, 32], methods=list(QUICK_METHODS)),
}
PROTOCOL = """\
- **Data**: {datasets}; pixels scaled to [0, 1]. Each method is fitted on the
  first {n_train:,} training images and evaluated on the first {n_test:,} test images.
- **Methods**: raw pixels (baseline), PCA, t-SNE (openTSNE, FFT-accelerated),
  UMAP (umap-learn) and skae's variants (vanilla dense, deep = the defaults:
  dense 256-128, or below 10,000 training rows one hidden layer of 256
  trained with 30% masking in batches of 32; convolutional 16-32 channels, sparse = deep + KL penalty, denoising = deep +
  30% masking, variational = deep as a VAE, `variational=True` at `beta=1`
  (codes are posterior means), neighbors = deep + UMAP's graph term,
  `neighbor_weight=1.0`;
  shift = deep trained on images shifted by up to one pixel,
  `noise="shift", noise_level=1`, and neighbors shift the same for the map).
  Every method runs at its own default settings and stopping rule: {budget}
  UMAP and openTSNE their default epoch schedules.
- **Latent dimensions**: {dims}; t-SNE at 2 only (openTSNE's FFT gradients
  are for 1-D and 2-D maps); skae neighbors (and neighbors shift) at 8 and below (a model for maps:
  at 32-D its graph term lowered full MNIST's 5-NN from 0.978 to 0.963).
- **Out of sample**: every method is fitted on the training images alone and
  embeds the test images with `transform` (openTSNE's places them in the
  fitted map, which stays fixed).
- **Metrics**: 5-NN accuracy (KNeighborsClassifier fitted on the training codes
  and labels, scored on the test codes); trustworthiness (5 neighbours) on a
  fixed random subsample of {trust_n:,} test images; fit time; transform time of
  the test split; test reconstruction MSE for methods that decode (skae, PCA).
  Each row of `results.json` gives the threads its method ran on.
- **Seeds**: every method is seeded with {seed}, except UMAP: a seed makes
  umap-learn single-threaded, so it runs unseeded and in parallel, as users
  run it, and its numbers move slightly from run to run.
"""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", action="store_true", help="small preset: ~10 min on 2 cores"
    )
    p.add_argument(
        "--datasets", nargs="+", choices=list(FETCHERS), default=list(FETCHERS)
    )
    p.add_argument(
        "--methods", nargs="+", choices=ALL_METHODS, help="default: the preset's"
    )
    p.add_argument("--dims", nargs="+", type=int, help="latent dimensions")
    p.add_argument("--n-train", type=int, help="training images per dataset")
    p.add_argument("--n-test", type=int, help="test images per dataset")
    p.add_argument(
        "--epochs",
        type=int,
        help="fixed skae training epochs (default: each model's own max_iter='auto')",
    )
    p.add_argument(
        "--trust-n", type=int, default=1000, help="test subsample for trustworthiness"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/report"))
    p.add_argument("--data-home", default=None, help="defaults to $SKAE_DATA")
    p.add_argument("--no-download", action="store_true", help="fail if data is missing")
    p.add_argument("--force", action="store_true", help="recompute cached cells")
    p.add_argument(
        "--no-progress", action="store_true", help="plain log lines, no bars"
    )
    p.add_argument(
        "--update-readme", type=Path, help="splice the results summary into this README"
    )
    p.add_argument(
        "--reference",
        type=Path,
        default=REFERENCE,
        help="a full run's results.json to compare winners with (skipped when "
        "this run writes it)",
    )
    args = p.parse_args(argv)
    preset = PRESETS["quick" if args.quick else "full"]
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.dims) < 1 or args.n_train < 10 or args.n_test < 10:
        p.error("dims must be positive; n-train and n-test at least 10")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm.auto import tqdm

    args.out.mkdir(parents=True, exist_ok=True)
    config = Config(args.n_train, args.n_test, args.epochs, args.seed, args.trust_n)
    cache = CellCache(args.out / "cells")
    try:
        data = {
            ds: load_data(
                ds,
                args.n_train,
                args.n_test,
                data_home=args.data_home,
                download_if_missing=not args.no_download,
            )
            for ds in args.datasets
        }
    except (DownloadError, FileNotFoundError) as exc:
        print(f"error: the datasets could not be loaded.\n{exc}", file=sys.stderr)
        return 2
    cells = [
        Cell(ds, method, dim)
        for ds in args.datasets
        for method in args.methods
        for dim in dims_for(method, args.dims, data[ds]["X_train"].shape[1])
    ]
    rows, artifacts = [], {}
    bar = tqdm(cells, desc="cells", disable=args.no_progress, position=0)
    epoch_bar = tqdm(desc="epochs", disable=args.no_progress, position=1, leave=False)
    for cell in bar:
        bar.set_postfix_str(f"{cell.dataset} / {cell.method} / dim {cell.dim}")
        key = cell_key(cell, config)
        cached = None if args.force else cache.load(key)
        if cached is None:
            d = data[cell.dataset]
            n_trust = min(args.trust_n, len(d["X_test"]))
            trust_index = np.random.default_rng(args.seed).permutation(
                len(d["X_test"])
            )[:n_trust]
            epoch_bar.reset()
            progress = None if args.no_progress else EpochProgress(epoch_bar)
            tic = time.perf_counter()
            row, arts = run_cell(cell, d, config, trust_index, progress)
            row["key"] = key
            cache.save(key, row, arts)
            if args.no_progress:
                print(
                    f"{cell}: {row['knn_accuracy']:.4f} ({time.perf_counter() - tic:.1f}s)"
                )
            cached = (row, arts)
        rows.append(cached[0])
        artifacts[key] = cached[1]
    epoch_bar.close()
    write_report(args, config, rows, artifacts, data)
    print(f"report written to {args.out / 'report.md'}")
    return 0


def write_report(args, config, rows, artifacts, data) -> None:
    import matplotlib

    matplotlib.use("Agg")
    env = environment.describe()
    meta = {"config": {**asdict(config), "dims": args.dims}, "environment": env}
    render.write_results(args.out, rows, meta)
    budget = (
        'skae `max_iter="auto"` (about 2,500 optimiser steps, learning rate '
        "annealed to zero),"
        if config.epochs is None
        else f"skae trained for a fixed {config.epochs} epochs (`--epochs`),"
    )
    protocol = PROTOCOL.format(
        datasets=", ".join(args.datasets),
        dims=", ".join(map(str, args.dims)),
        budget=budget,
        **asdict(config),
    )
    figures = {
        ds: dataset_figures(
            args.out, ds, rows, artifacts, data[ds], data[ds]["target_names"]
        )
        for ds in args.datasets
    }
    (args.out / "report.md").write_text(
        render.report_markdown(
            protocol, env, rows, figures, _reference_rows(args.reference, args.out)
        )
    )
    block = render.summary(rows, meta["config"], env["command"])
    (args.out / "summary.md").write_text(block)
    # The same reading for the FAQ, which includes it (its lines are valid
    # reStructuredText as well as Markdown).
    when = [f"- {line}" for line in render.which_method_when(rows)]
    (args.out / "which_method_when.rst").write_text("\n".join(when) + "\n")
    if args.update_readme:
        render.splice_readme(args.update_readme, block)


def _reference_rows(reference: Path | None, out: Path) -> list[dict] | None:
    """The reference run's rows, unless there is none or this run is it."""
    if reference is None or not reference.is_file():
        return None
    if reference.resolve() == (out / "results.json").resolve():
        return None
    return json.loads(reference.read_text())["rows"]


if __name__ == "__main__":
    sys.exit(main())
