"""Verified data files, fetched with pooch from the datasets in ``data_manifest.yaml``.

This follows pooch's "sample data" recipe: one module-level :class:`pooch.Pooch`, built on
first use (nothing touches the disk or the network at import), whose registry is the manifest
(one entry per file, keyed ``<dataset>/<file>``, with its SHA-256 and a URL pinned to a commit).

Where the files come from, in order:

1. ``GLER_DATA_DIR``: a directory of copies laid out ``<dataset>/<file>`` (CI points it at an
   offline mirror). A copy found there is used in place, after its SHA-256 is checked.
2. The cache, ``pooch.os_cache("gler")`` (override with ``GLER_CACHE_DIR``): pooch downloads a
   missing or outdated file there, with retries, and keeps it only when its hash matches.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

import pooch
import yaml

logger = logging.getLogger(__name__)

MANIFEST = Path(__file__).with_name("data_manifest.yaml")
DATA_DIR_ENV = "GLER_DATA_DIR"
CACHE_DIR_ENV = "GLER_CACHE_DIR"
RETRIES = 3
_FILE_KEYS = ("url", "sha256", "size")


@functools.cache
def load_manifest(path: str | Path = MANIFEST) -> dict[str, dict[str, Any]]:
    """The datasets of a manifest file, checked for the keys each file needs.

    Parameters
    ----------
    path
        A ``data_manifest.yaml`` (default: the one shipped with gler).

    Returns
    -------
    dict
        ``{dataset: entry}`` with ``entry["files"] = {file name: {url, sha256, size, ...}}``.

    Raises
    ------
    ValueError
        If an entry lacks ``files`` or a file lacks ``url``, ``sha256`` or ``size``, or a
        dataset or file name would leave its folder of the cache (``..``, ``/``, ``\\``, an
        absolute path).
    """
    with open(path, encoding="utf-8") as stream:
        datasets = (yaml.safe_load(stream) or {}).get("datasets") or {}
    for name, entry in datasets.items():
        files = (entry or {}).get("files") or {}
        if not files:
            msg = f"Dataset {name!r} in {path} lists no files; add a 'files:' mapping."
            raise ValueError(msg)
        for fname, meta in files.items():
            _check_name(str(name), path, "dataset")
            _check_name(str(fname), path, f"file of dataset {name!r}")
            missing = [key for key in _FILE_KEYS if key not in (meta or {})]
            if missing:
                msg = (f"File {name}/{fname} in {path} lacks {', '.join(missing)}; every file "
                       f"needs {', '.join(_FILE_KEYS)}.")
                raise ValueError(msg)
    return datasets


def _check_name(name: str, path: str | Path, what: str) -> None:
    """Refuse a manifest name that is not one plain path component (it could escape the cache)."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
            or Path(name).is_absolute() or ":" in name):
        msg = (f"The {what} name {name!r} in {path} is not a plain file name: names may not "
               "contain '/', '\\', ':' or be '..' (they would leave the dataset's folder of the "
               "cache). Fix the manifest.")
        raise ValueError(msg)


def list_datasets() -> list[str]:
    """Names of the datasets that :func:`fetch` knows, sorted.

    Example
    -------
    >>> "menyuan" in list_datasets()
    True
    """
    return sorted(load_manifest())


def dataset_info(name: str) -> dict[str, Any]:
    """The manifest entry of dataset ``name`` (description, licence, citation, files, ...).

    Raises
    ------
    ValueError
        If ``name`` is not in the manifest (the valid names are listed).
    """
    datasets = load_manifest()
    if name not in datasets:
        msg = f"Unknown dataset {name!r}. Available: {', '.join(sorted(datasets))}."
        raise ValueError(msg)
    return datasets[name]


def create_pooch(
    *,
    path: str | Path | None = None,
    base_url: str | None = None,
    retries: int = RETRIES,
) -> pooch.Pooch:
    """A :class:`pooch.Pooch` for every file of the manifest (touches neither disk nor network).

    Parameters
    ----------
    path
        Cache directory (default ``pooch.os_cache("gler")``, or ``GLER_CACHE_DIR`` when set).
    base_url
        A mirror laid out ``<dataset>/<file>`` to download from instead of the manifest's URLs.
    retries
        How many times a failed download (network error or hash mismatch) is retried.

    Returns
    -------
    pooch.Pooch
        Registry keys are ``<dataset>/<file>``.
    """
    registry, urls = {}, {}
    for name, entry in load_manifest().items():
        for fname, meta in entry["files"].items():
            key = f"{name}/{fname}"
            registry[key] = f"sha256:{meta['sha256']}"
            urls[key] = f"{base_url.rstrip('/')}/{key}" if base_url else meta["url"]
    return pooch.create(
        path=pooch.os_cache("gler") if path is None else path,
        base_url="",
        registry=registry,
        urls=urls,
        env=CACHE_DIR_ENV,
        retry_if_failed=retries,
    )


@functools.cache
def get_pooch() -> pooch.Pooch:
    """The module's pooch, created on first use."""
    return create_pooch()


def _verified_copy(directory: Path, name: str, fname: str, meta: dict[str, Any]) -> Path | None:
    """The copy ``directory/name/fname`` if present (its hash checked), else None."""
    path = directory / name / fname
    if not path.is_file():
        return None
    actual = pooch.file_hash(str(path), alg="sha256")
    if actual != meta["sha256"]:
        msg = (f"SHA256 hash of {path} ({path.stat().st_size} bytes) does not match the "
               f"manifest entry {name}/{fname} ({meta['size']} bytes): expected {meta['sha256']} "
               f"but got {actual}. The copy in {DATA_DIR_ENV} is corrupted, truncated or another "
               f"version. Replace it with the file from {meta['url']}, or remove it (or unset "
               f"{DATA_DIR_ENV}) so that gler downloads a verified copy.")
        raise ValueError(msg)
    return path


def _download(pup: pooch.Pooch, name: str, fname: str,
              data_dir: Path | None, progressbar: bool) -> Path:
    # requests is pooch's own dependency; imported here to keep `import gler` light.
    import requests

    key = f"{name}/{fname}"
    url = pup.get_url(key)
    downloader = pooch.HTTPDownloader(progressbar=progressbar)
    try:
        return Path(pup.fetch(key, downloader=downloader))
    except requests.exceptions.RequestException as err:
        where = (f"{DATA_DIR_ENV}={data_dir} has no {name}/{fname}" if data_dir
                 else f"{DATA_DIR_ENV} is not set")
        # A connection error's text repeats the URL and the retry chain: its name is enough.
        detail = (type(err).__name__ if isinstance(err, requests.exceptions.ConnectionError)
                  else f"{type(err).__name__}: {err}")
        msg = (f"Could not download {key} from {url} ({detail}); {where}. "
               f"If this machine is offline, copy the file to <dir>/{key} and set "
               f"{DATA_DIR_ENV}=<dir>; otherwise retry later or check the URL.")
        raise ConnectionError(msg) from err
    except ValueError as err:
        if "hash" not in str(err):
            raise
        msg = (f"{err} The file served at {url} differs from the one "
               "data_manifest.yaml pins: check that the URL points at the pinned commit, or "
               f"provide a verified copy through {DATA_DIR_ENV}=<dir> laid out <dir>/{key}.")
        raise ValueError(msg) from err


def fetch(
    name: str,
    *,
    pup: pooch.Pooch | None = None,
    data_dir: str | Path | None = None,
    progressbar: bool = False,
) -> list[Path]:
    """Local paths of the verified files of dataset ``name``, downloading what is missing.

    Parameters
    ----------
    name
        A dataset of the manifest (see :func:`list_datasets`), e.g. ``"menyuan"``.
    pup
        The pooch to download with (default: :func:`get_pooch`, caching in
        ``pooch.os_cache("gler")``); see :func:`create_pooch`.
    data_dir
        Directory of verified copies laid out ``<dataset>/<file>``, used in place of
        downloading (default: the ``GLER_DATA_DIR`` environment variable).
    progressbar
        Show a download progress bar (needs tqdm).

    Returns
    -------
    list of pathlib.Path
        One path per file, in manifest order; every file's SHA-256 matches the manifest.

    Raises
    ------
    ValueError
        Unknown dataset (the valid names are listed), or a hash mismatch (file, expected and
        actual hash, and what to do).
    ConnectionError
        The download failed and there is no copy (the URL and ``GLER_DATA_DIR`` are named).

    Example
    -------
    >>> paths = fetch("menyuan")  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['W2017_2021_101.9_37.6_alldata2.csv', 'W2017_2021_37.6_101.9_alldata.csv']
    """
    entry = dataset_info(name)
    if data_dir is None and os.environ.get(DATA_DIR_ENV):
        data_dir = os.environ[DATA_DIR_ENV]
    data_dir = Path(data_dir).expanduser() if data_dir else None
    pup = get_pooch() if pup is None else pup
    paths = []
    for fname, meta in entry["files"].items():
        path = _verified_copy(data_dir, name, fname, meta) if data_dir else None
        if path is None:
            if data_dir:
                logger.info("%s has no %s/%s; downloading it", DATA_DIR_ENV, name, fname)
            path = _download(pup, name, fname, data_dir, progressbar)
        paths.append(path)
    return paths
