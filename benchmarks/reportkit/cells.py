"""Benchmark cells: evaluation, and a cache keyed by configuration.

A cell is one (dataset, method, latent dimension). Its row of metrics and
its small artifacts (2-D test embedding, a few reconstructions, the loss
history) are written to ``<out>/cells/<key>.{json,npz}`` as soon as it
finishes, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.manifold import trustworthiness

import skae

from .methods import (
    METHOD_ESTIMATORS,
    METHODS,
    SKAE_VARIANTS,
    Embedding,
    jsonable_params,
)
from .scoring import knn_accuracy

# Bump when the measurement itself changes, so old cached cells are not reused.
# 2: cosine schedule and loss="auto" by default; 3: every method at its own
# stopping rule (skae max_iter="auto"), UMAP unseeded and parallel, openTSNE.
PROTOCOL_VERSION = 3


@dataclass(frozen=True)
class Config:
    n_train: int
    n_test: int
    epochs: int | None  # None: skae's own stopping rule (max_iter="auto")
    seed: int
    trust_n: int
    n_neighbors: int = 5


@dataclass(frozen=True)
class Cell:
    dataset: str
    method: str
    dim: int


def cell_key(cell: Cell, config: Config) -> str:
    """Stable hash of everything that determines the cell's result."""
    spec = {
        "protocol": PROTOCOL_VERSION,
        "skae": skae.__version__,  # a new release never reuses old cells
        "cell": asdict(cell),
        "config": asdict(config),
        "params": _resolved_params(cell.method),
    }
    if cell.method not in SKAE_VARIANTS:  # epochs only matter to skae
        spec["config"] = {**spec["config"], "epochs": None}
    else:
        spec["sources"] = source_digest()
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


@functools.cache
def source_digest() -> str:
    """A hash of the installed skae package's Python sources.

    Part of a skae cell's key: a rule behind an ``"auto"`` parameter or a
    training change alters results without altering ``get_params()``, and
    such a cell must be recomputed, not reused from the cache. Read once per
    process, before the first fit: the cells it computes run the code it
    imported then, even if the files are edited during a long run.
    """
    root = Path(skae.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _resolved_params(method: str) -> dict | None:
    """All of a skae variant's parameters, defaults included, so that a
    changed default gives its cells new keys instead of reusing old ones."""
    if method not in SKAE_VARIANTS:
        return None
    return jsonable_params(
        skae.AutoencoderTransformer(**SKAE_VARIANTS[method]).get_params()
    )


def evaluate(
    emb: Embedding, data: dict, config: Config, trust_index: np.ndarray
) -> dict:
    """k-NN accuracy and trustworthiness of an embedding."""
    accuracy = knn_accuracy(
        emb.train, data["y_train"], emb.test, data["y_test"], config.n_neighbors
    )
    trust = trustworthiness(
        data["X_test"][trust_index],
        emb.test[trust_index],
        n_neighbors=config.n_neighbors,
    )
    return {"knn_accuracy": accuracy, "trustworthiness": float(trust)}


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class CellCache:
    """Rows and artifacts of finished cells under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def load(self, key: str) -> tuple[dict, dict] | None:
        row_path, art_path = self.folder / f"{key}.json", self.folder / f"{key}.npz"
        if not (row_path.exists() and art_path.exists()):
            return None
        with np.load(art_path) as npz:
            artifacts = {k: npz[k] for k in npz.files}
        return json.loads(row_path.read_text()), artifacts

    def save(self, key: str, row: dict, artifacts: dict) -> None:
        # Artifacts first: a row is only trusted once its artifacts exist.
        _atomic_write(self.folder / f"{key}.npz", lambda fh: np.savez(fh, **artifacts))
        payload = json.dumps(row, indent=1).encode()
        _atomic_write(self.folder / f"{key}.json", lambda fh: fh.write(payload))


def run_cell(
    cell: Cell, data: dict, config: Config, trust_index, progress
) -> tuple[dict, dict]:
    """Embed, evaluate and package one cell."""
    emb = METHODS[cell.method](
        data["X_train"], data["X_test"], cell.dim, config.seed, config.epochs, progress
    )
    row = {
        **asdict(cell),
        **evaluate(emb, data, config, trust_index),
        "fit_s": emb.fit_s,
        "transform_s": emb.transform_s,
        "recon_mse": emb.recon_mse,
        "transductive": emb.transductive,
        "n_train": len(data["X_train"]),
        "n_test": len(data["X_test"]),
        "epochs": emb.extra.get("n_iter"),
        "stop_reason": emb.extra.get("stop_reason"),
        "convergence_warning": emb.extra.get("convergence_warning"),
        "estimator": METHOD_ESTIMATORS.get(cell.method),
        "params": emb.params,
        "threads": emb.threads,
        "history": emb.history,
        # UMAP runs unseeded (parallel): its row says so rather than claim a seed.
        "seed": config.seed if emb.seeded else None,
    }
    artifacts = {}
    if cell.dim == 2:
        artifacts["test_embedding"] = emb.test.astype(np.float32)
    if emb.reconstructions is not None:
        artifacts["reconstructions"] = emb.reconstructions
    return row, artifacts


class EpochProgress:
    """A skae callback that moves a tqdm bar one epoch at a time and shows
    the loss (the estimator's ``callbacks``; one bar reused across cells)."""

    def __init__(self, bar) -> None:
        self.bar = bar

    def __call__(self, estimator, epoch: int, record: dict) -> None:
        self.bar.total = record["max_iter"]
        self.bar.n = epoch
        self.bar.set_postfix(loss=record["loss"], refresh=True)
