"""skae.datasets: loading, IDX validation, and the real download path
against local HTTP servers (127.0.0.1, random ports; never the internet)."""

from __future__ import annotations

import gzip
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from skae.datasets import (
    ChecksumError,
    DownloadError,
    IDXFormatError,
    fetch_fashion_mnist,
    fetch_mnist,
    get_data_home,
    read_idx,
)
from skae.datasets._mnist import FASHION_MNIST, MNIST

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


# ----------------------------------------------------------------- loading
@pytest.mark.parametrize("fetch", [fetch_mnist, fetch_fashion_mnist])
def test_known_shapes_dtypes_ranges_and_label_counts(fetch, data_home):
    train = fetch(data_home=data_home, subset="train")
    assert train.data.shape == (60000, 784) and train.data.dtype == np.float32
    assert train.images.shape == (60000, 28, 28)
    assert train.data.min() == 0.0 and train.data.max() == 1.0
    assert train.target.dtype == np.int64 and len(train.target_names) == 10
    counts = np.bincount(train.target, minlength=10)
    if fetch is fetch_fashion_mnist:
        assert (counts == 6000).all()  # balanced by construction
    else:
        assert counts.tolist() == [
            5923,
            6742,
            5958,
            6131,
            5842,
            5421,
            5918,
            6265,
            5851,
            5949,
        ]
    X, y = fetch(data_home=data_home, subset="test", return_X_y=True, normalize=False)
    assert X.shape == (10000, 784) and X.dtype == np.uint8 and X.max() == 255
    assert np.bincount(y).sum() == 10000


def test_subset_all_concatenates_train_then_test(data_home):
    X, y = fetch_mnist(data_home=data_home, subset="all", return_X_y=True)
    X_test, y_test = fetch_mnist(data_home=data_home, subset="test", return_X_y=True)
    assert X.shape == (70000, 784)
    np.testing.assert_array_equal(y[60000:], y_test)
    np.testing.assert_array_equal(X[60000:], X_test)


def test_as_frame_and_bunch_metadata(data_home):
    pd = pytest.importorskip("pandas")
    bunch = fetch_fashion_mnist(data_home=data_home, subset="test", as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame) and bunch.data.shape == (10000, 784)
    assert isinstance(bunch.target, pd.Series)
    assert bunch.target_names[0] == "T-shirt/top" and "Zalando" in bunch.DESCR
    assert list(bunch.data.columns[:2]) == ["pixel_0", "pixel_1"]


def test_data_home_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SKAE_DATA", str(tmp_path))
    assert get_data_home() == tmp_path
    monkeypatch.delenv("SKAE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert get_data_home() == tmp_path / "cache" / "skae"


def test_empty_data_home_is_an_error_not_the_current_directory(monkeypatch):
    with pytest.raises(ValueError, match="data_home is empty"):
        get_data_home("")
    monkeypatch.setenv("SKAE_DATA", "")
    with pytest.raises(ValueError, match="SKAE_DATA is empty"):
        get_data_home()
    with pytest.raises(ValueError, match="SKAE_DATA is empty"):
        fetch_mnist(subset="test")


def test_importing_datasets_does_not_import_torch():
    code = "import sys, skae.datasets; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_missing_files_without_download(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"download_if_missing=False.*SKAE_DATA"
    ):
        fetch_mnist(data_home=tmp_path, download_if_missing=False)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="subset must be"):
        fetch_mnist(data_home=tmp_path, subset="validation")
    with pytest.raises(TypeError, match="mirrors must be a sequence"):
        fetch_mnist(data_home=tmp_path, mirrors="http://127.0.0.1/")


# -------------------------------------------------------------------- IDX
def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def test_idx_round_trip_plain_and_gzipped(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(array))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), array)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b[:-5], "truncated: header says shape"),
        (lambda b: b + b"xx", "has trailing bytes"),
        (lambda b: b"\x01\x02" + b[2:], "bad magic number"),
        (lambda b: b[:6], "truncated inside the header"),
        (lambda b: b[:2], "too short for an IDX header"),
    ],
)
def test_corrupt_idx_files_name_file_and_problem(tmp_path, mutate, match):
    path = tmp_path / "bad.idx"
    path.write_bytes(mutate(idx_bytes(np.zeros((3, 2, 2), dtype=np.uint8))))
    with pytest.raises(IDXFormatError, match=match) as info:
        read_idx(path)
    assert "bad.idx" in str(info.value)


def test_header_whose_size_overflows_int64_is_a_format_error(tmp_path):
    # 2**32-1 cubed does not fit in int64; np.prod would wrap around.
    header = bytes([0, 0, 0x08, 3]) + (2**32 - 1).to_bytes(4, "big") * 3
    path = tmp_path / "huge.idx"
    path.write_bytes(header + b"\0" * 16)
    with pytest.raises(IDXFormatError, match="truncated: header says shape"):
        read_idx(path)
    with pytest.raises(IDXFormatError, match=r"header declares .* more than the 1000"):
        read_idx(path, max_bytes=1000)


class CountingGzipFile(gzip.GzipFile):
    inflated = 0

    def read(self, size=-1):
        data = super().read(size)
        CountingGzipFile.inflated += len(data)
        return data


def test_gzip_bomb_is_not_inflated_past_its_header(tmp_path, monkeypatch):
    # 50 MB of zeros gzip to about 50 KB; the header declares a 2x2 image.
    bomb = idx_bytes(np.zeros((1, 2, 2), dtype=np.uint8)) + bytes(50_000_000)
    path = tmp_path / "bomb.idx.gz"
    path.write_bytes(gzip.compress(bomb, compresslevel=9))
    monkeypatch.setattr(gzip, "GzipFile", CountingGzipFile)
    with pytest.raises(IDXFormatError, match="has trailing bytes after the 20"):
        read_idx(path)
    assert CountingGzipFile.inflated <= 21


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((50, 4, 4))))[:-30])
    with pytest.raises(IDXFormatError, match=r"cut\.gz: the gzip stream is corrupt"):
        read_idx(path)


# --------------------------------------------------------------- download
class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, optionally corrupting or truncating every file."""

    mode = "good"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        if self.mode != "endless":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "corrupt":
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        elif self.mode == "truncated":
            body = body[: len(body) // 2]
        elif self.mode == "drip":  # a byte every 0.1 s: never a read timeout
            for byte in body[:100]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.1)
            return
        elif self.mode == "endless":  # the file, then 100 MB more, no length
            self.wfile.write(body)
            for _ in range(100):
                self.wfile.write(bytes(1 << 20))
            return
        self.wfile.write(body)


def start_server(directory: Path, mode: str):
    handler = type(f"{mode}Handler", (_Handler,), {"mode": mode})

    def factory(*args, **kwargs):
        return handler(*args, directory=str(directory), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/"


@pytest.fixture
def serve(data_home):
    """Start local servers over the data folder in a given mode."""
    servers = []

    def _serve(mode="good", folder="mnist"):
        server, url = start_server(data_home / folder, mode)
        servers.append(server)
        return url

    yield _serve
    for server in servers:
        server.shutdown()
        server.server_close()


def dead_mirror() -> str:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def cached_files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "fetch, folder", [(fetch_mnist, "mnist"), (fetch_fashion_mnist, "fashion-mnist")]
)
def test_download_end_to_end_into_empty_data_home(
    tmp_path, serve, data_home, fetch, folder
):
    home = tmp_path / "home"
    X, _ = fetch(
        data_home=home, subset="test", mirrors=[serve(folder=folder)], return_X_y=True
    )
    assert X.shape == (10000, 784)
    assert cached_files(home) == [f"{folder}/{name}" for name in sorted(TEST_FILES)]
    for name in TEST_FILES:
        assert (home / folder / name).read_bytes() == (
            data_home / folder / name
        ).read_bytes()
    # Later calls read the cache: no mirror is reachable now, and none is needed.
    X2, _ = fetch(
        data_home=home, subset="test", mirrors=[dead_mirror()], return_X_y=True
    )
    np.testing.assert_array_equal(X, X2)


@pytest.mark.parametrize("mode", ["corrupt", "truncated"])
def test_bad_download_leaves_nothing_and_good_mirror_then_works(tmp_path, serve, mode):
    home = tmp_path / "home"
    with pytest.raises(DownloadError) as info:
        fetch_mnist(data_home=home, subset="test", mirrors=[serve(mode)])
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "Place the original gzipped IDX files" in message and "SKAE_DATA" in message
    if mode == "corrupt":
        assert MNIST.sha256["t10k-images-idx3-ubyte.gz"] in message
        assert "failed verification: expected SHA-256" in message
    else:
        assert "truncated" in message or "IncompleteRead" in message
    assert cached_files(home) == []
    bunch = fetch_mnist(data_home=home, subset="test", mirrors=[serve("good")])
    assert bunch.data.shape == (10000, 784)


def test_down_and_corrupt_mirrors_fall_through_to_a_good_one(tmp_path, serve):
    home = tmp_path / "home"
    mirrors = [dead_mirror(), serve("corrupt"), serve("good")]
    X, _ = fetch_mnist(data_home=home, subset="test", mirrors=mirrors, return_X_y=True)
    assert X.shape == (10000, 784)
    assert len(cached_files(home)) == 2


def copy_test_files(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in TEST_FILES:
        (dest / name).write_bytes((src / name).read_bytes())


@pytest.mark.parametrize(
    "spoil",
    [
        lambda path, home: path.write_bytes(path.read_bytes()[:1000]),  # truncated
        # Fashion-MNIST's file under mnist/: same format, another dataset.
        lambda path, home: path.write_bytes(
            (home / "fashion-mnist" / path.name).read_bytes()
        ),
    ],
    ids=["truncated", "other-dataset"],
)
def test_bad_cached_file_is_never_served_and_heals_from_a_mirror(
    tmp_path, serve, data_home, spoil
):
    home = tmp_path / "home"
    copy_test_files(data_home / "mnist", home / "mnist")
    bad = home / "mnist" / "t10k-images-idx3-ubyte.gz"
    spoil(bad, data_home)
    with pytest.raises(ChecksumError, match="Delete it") as info:
        fetch_mnist(data_home=home, subset="test", download_if_missing=False)
    assert str(bad) in str(info.value)
    assert MNIST.sha256[bad.name] in str(info.value)
    # With downloads allowed, the bad copy is replaced by a verified one.
    X, _ = fetch_mnist(
        data_home=home, subset="test", mirrors=[serve()], return_X_y=True
    )
    expected, _ = fetch_mnist(data_home=data_home, subset="test", return_X_y=True)
    np.testing.assert_array_equal(X, expected)
    assert bad.read_bytes() == (data_home / "mnist" / bad.name).read_bytes()


def test_bad_cached_file_with_no_mirror_is_removed(tmp_path, data_home):
    home = tmp_path / "home"
    copy_test_files(data_home / "mnist", home / "mnist")
    bad = home / "mnist" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(b"not a gzip file")
    with pytest.raises(DownloadError, match="is not the file it should be") as info:
        fetch_mnist(data_home=home, subset="test", mirrors=[dead_mirror()])
    assert str(bad) in str(info.value) and "removed it" in str(info.value)
    assert not bad.exists()  # nothing corrupt stays in the cache


def test_dripping_mirror_is_abandoned_at_the_deadline(tmp_path, serve):
    home = tmp_path / "home"
    tic = time.monotonic()
    with pytest.raises(DownloadError, match=r"not finished after 1 s"):
        fetch_mnist(data_home=home, subset="test", mirrors=[serve("drip")], timeout=1)
    assert time.monotonic() - tic < 5  # the drip alone would last 10 s per file
    assert cached_files(home) == []


def test_oversized_reply_is_cut_off_not_read_to_the_end(tmp_path, serve):
    home = tmp_path / "home"
    with pytest.raises(DownloadError, match="sent more than the 1648877 bytes"):
        fetch_mnist(data_home=home, subset="test", mirrors=[serve("endless")])
    assert cached_files(home) == []


def test_stale_partial_files_from_killed_downloads_are_removed(tmp_path, serve):
    folder = tmp_path / "home" / "mnist"
    folder.mkdir(parents=True)
    stale = folder / ".t10k-labels-idx1-ubyte.gz.x1.part"
    live = folder / ".t10k-labels-idx1-ubyte.gz.x2.part"  # a download under way
    for part in (stale, live):
        part.write_bytes(b"partial")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fetch_mnist(data_home=tmp_path / "home", subset="test", mirrors=[serve()])
    assert not stale.exists() and live.exists()


@pytest.mark.parametrize(
    "timeout", [0, -1, True, "10", float("nan"), float("inf"), -float("inf")]
)
def test_bad_timeout(tmp_path, timeout):
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        fetch_mnist(data_home=tmp_path, subset="test", timeout=timeout)


def test_no_network_error_says_where_to_put_files(tmp_path):
    with pytest.raises(DownloadError, match="every mirror failed") as info:
        fetch_fashion_mnist(data_home=tmp_path, subset="test", mirrors=[dead_mirror()])
    assert str(tmp_path / "fashion-mnist") in str(info.value)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)


def test_progress_on_stderr_when_verbose(tmp_path, serve, capsys):
    fetch_mnist(data_home=tmp_path, subset="test", mirrors=[serve()], verbose=True)
    err = capsys.readouterr().err
    assert "Downloading t10k-images-idx3-ubyte.gz" in err and "100.0%" in err


def test_pinned_checksums_match_the_shared_copy(data_home):
    sums = dict(
        reversed(line.split())
        for line in (data_home / "SHA256SUMS").read_text().splitlines()
    )
    for spec in (MNIST, FASHION_MNIST):
        for name, digest in spec.sha256.items():
            assert sums[f"{spec.folder}/{name}"] == digest
