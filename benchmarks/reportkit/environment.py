"""What the report records about the machine and the software."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_revision() -> str | None:
    """The git commit of the skae sources that ran, ``+dirty`` if edited.

    Rows of results files accumulate over runs and code changes; this says
    which code produced a row. None outside a git checkout.
    """
    import skae

    root = Path(skae.__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--", "skae")
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def describe() -> dict:
    """Versions, hardware and the exact command line of this run."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "command": " ".join(
            shlex.quote(a) for a in [os.path.basename(sys.executable), *sys.argv]
        ),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "scikit-learn": _version("scikit-learn"),
        "umap-learn": _version("umap-learn"),
        "openTSNE": _version("openTSNE"),
        "numpy": _version("numpy"),
        "skae": _version("skae"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "skae_revision": code_revision(),
    }
