"""This process's memory, read from /proc (Linux)."""

from __future__ import annotations

import threading


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_bytes() -> int:
    """Resident memory now (anonymous and file-backed pages alike)."""
    return _status_kb("VmRSS") * 1024


def peak_rss_bytes() -> int:
    """The process's resident-memory high-water mark since it started."""
    return _status_kb("VmHWM") * 1024


def anon_rss_bytes() -> int:
    """Resident anonymous memory now: what the process itself allocated,
    without the pages of files it maps."""
    return _status_kb("RssAnon") * 1024


class PeakRSS:
    """Sample resident memory every few milliseconds inside a ``with``.

    ``peak`` is the highest VmRSS seen, ``peak_anon`` the highest RssAnon.
    """

    def __enter__(self):
        self.peak, self.peak_anon = rss_bytes(), anon_rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        self.peak = max(self.peak, rss_bytes())
        self.peak_anon = max(self.peak_anon, anon_rss_bytes())

    def _run(self):
        while not self._stop.wait(0.005):
            self._sample()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
