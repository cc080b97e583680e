"""Tests for gler.data.registry: verified downloads from a local server, copies, clear errors."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import threading
from pathlib import Path

import pooch
import pytest

from gler.data import registry

MIRROR = Path(os.environ.get("GLER_DATA_DIR") or
              Path(__file__).resolve().parents[2].parent / "shared" / "data")
MENYUAN_FILES = list(registry.dataset_info("menyuan")["files"])
needs_mirror = pytest.mark.skipif(
    not all((MIRROR / "menyuan" / f).is_file() for f in MENYUAN_FILES),
    reason=f"no offline data mirror with the Menyuan files at {MIRROR} (set GLER_DATA_DIR)",
)


@pytest.fixture
def serve():
    """Serve a directory over HTTP on 127.0.0.1 and give its base URL."""
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the test output stays readable
        pass


@pytest.fixture(autouse=True)
def _no_data_dir(monkeypatch):
    """The tests choose the mirror and the cache themselves, whatever the caller's settings."""
    monkeypatch.delenv(registry.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(registry.CACHE_DIR_ENV, raising=False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_manifest_entries_are_complete():
    """Every Menyuan file has a URL pinned to a commit, a SHA-256 and a size."""
    info = registry.dataset_info("menyuan")
    assert info["licence"] == "MIT"
    assert "citation" in info
    for meta in info["files"].values():
        assert info["commit"] in meta["url"]
        assert len(meta["sha256"]) == 64
        assert meta["size"] > 0


@needs_mirror
def test_download_from_local_server_verifies_hashes(serve, tmp_path):
    """pooch downloads the Menyuan files from a local server into the cache, hashes checked."""
    pup = registry.create_pooch(path=tmp_path / "cache", base_url=serve(MIRROR), retries=0)
    paths = registry.fetch("menyuan", pup=pup)
    assert [p.name for p in paths] == MENYUAN_FILES
    for path, meta in zip(paths, registry.dataset_info("menyuan")["files"].values(), strict=True):
        assert path.parent == tmp_path / "cache" / "menyuan"
        assert pooch.file_hash(str(path)) == meta["sha256"]
        assert path.stat().st_size == meta["size"]


@needs_mirror
def test_tampered_download_gives_hash_error(serve, tmp_path):
    """A served file with one byte changed is refused with both hashes and a fix."""
    tampered = tmp_path / "served"
    shutil.copytree(MIRROR / "menyuan", tampered / "menyuan")
    target = tampered / "menyuan" / MENYUAN_FILES[0]
    data = bytearray(target.read_bytes())
    data[100] ^= 1
    target.write_bytes(bytes(data))
    pup = registry.create_pooch(path=tmp_path / "cache", base_url=serve(tampered), retries=0)
    expected = registry.dataset_info("menyuan")["files"][MENYUAN_FILES[0]]["sha256"]
    with pytest.raises(ValueError, match=rf"{MENYUAN_FILES[0]}.*expected sha256:{expected} but got "
                       rf"{pooch.file_hash(str(target))}.*GLER_DATA_DIR"):
        registry.fetch("menyuan", pup=pup)
    assert not (tmp_path / "cache" / "menyuan" / MENYUAN_FILES[0]).exists()


@needs_mirror
def test_data_dir_copies_are_used_in_place(monkeypatch, tmp_path):
    """With GLER_DATA_DIR the verified copies are returned and nothing is downloaded."""
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(MIRROR))
    pup = registry.create_pooch(path=tmp_path / "cache",
                                base_url=f"http://127.0.0.1:{_closed_port()}/", retries=0)
    paths = registry.fetch("menyuan", pup=pup)
    assert paths == [MIRROR / "menyuan" / f for f in MENYUAN_FILES]
    assert not (tmp_path / "cache").exists()


@needs_mirror
def test_tampered_data_dir_copy_gives_hash_error(tmp_path):
    """A corrupted local copy names the file, both hashes and the fix."""
    shutil.copytree(MIRROR / "menyuan", tmp_path / "menyuan")
    target = tmp_path / "menyuan" / MENYUAN_FILES[1]
    target.write_bytes(target.read_bytes()[:-1])
    actual = pooch.file_hash(str(target))
    with pytest.raises(ValueError, match=rf"{target}.*but got {actual}.*Replace it with the file "
                       "from https://raw.githubusercontent.com/"):
        registry.fetch("menyuan", data_dir=tmp_path)


def test_offline_without_copy_names_url_and_env_var(tmp_path):
    """No server and no local copy: the error names the URL and GLER_DATA_DIR."""
    url = f"http://127.0.0.1:{_closed_port()}/"
    pup = registry.create_pooch(path=tmp_path / "cache", base_url=url, retries=0)
    with pytest.raises(ConnectionError, match=rf"from {url}menyuan/.*GLER_DATA_DIR is not set"):
        registry.fetch("menyuan", pup=pup)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConnectionError, match=r"GLER_DATA_DIR=.*empty has no menyuan/"):
        registry.fetch("menyuan", pup=pup, data_dir=tmp_path / "empty")


def test_unknown_dataset_lists_valid_names():
    """An unknown name lists the datasets of the manifest."""
    with pytest.raises(ValueError, match=r"Unknown dataset 'menyun'\. Available: menyuan"):
        registry.fetch("menyun")


def test_bad_manifest_is_refused(tmp_path):
    """A manifest file without a hash is refused with the entry named."""
    path = tmp_path / "manifest.yaml"
    path.write_text("datasets:\n  demo:\n    files:\n      a.csv: {url: 'http://x/a.csv'}\n")
    with pytest.raises(ValueError, match=r"demo/a\.csv .* lacks sha256, size"):
        registry.load_manifest(path)


def test_import_touches_nothing(tmp_path):
    """Creating the pooch creates no directory (nothing happens before a fetch)."""
    registry.create_pooch(path=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("name", ["../evil.csv", "sub/../../evil.csv", "/etc/passwd", "..",
                                  "a\\..\\b.csv"])
def test_manifest_names_stay_in_their_folder(tmp_path, name):
    """A file name that would leave the dataset's cache folder is refused, named."""
    path = tmp_path / "manifest.yaml"
    path.write_text("datasets:\n  demo:\n    files:\n"
                    f"      {name!r}: {{url: 'http://x/a.csv', sha256: abc, size: 1}}\n")
    with pytest.raises(ValueError, match="not a plain file name"):
        registry.load_manifest(path)
