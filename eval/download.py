"""Fetch a benchmark's public question file (and its KB, if it has one) into a folder.

`download` streams each file to a temporary file beside the target and renames it into place,
so a folder never holds a half-written file. Datasets without a public single-file URL (MetaQA
is on Google Drive; the CWQ slice is built locally) raise `DatasetError` saying where to get them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from eval.datasets import DATASETS, DatasetError, DatasetSpec

__all__ = ["DownloadError", "Progress", "download"]

log = logging.getLogger(__name__)

Progress = Callable[[Path, int, int | None], None]
"""Called as ``progress(target, bytes_done, bytes_total_or_None)`` while a file streams."""

_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Identity encoding keeps Content-Length equal to the bytes on disk (the size check relies on it).
_HEADERS = {"Accept-Encoding": "identity"}


class DownloadError(ConnectionError):
    """A file could not be fetched (unreachable, HTTP error, truncated); the message has the URL."""


def download(
    name: str,
    dest_dir: str | Path,
    *,
    base_url: str | None = None,
    client: httpx.Client | None = None,
    progress: Progress | None = None,
    attempts: int = 3,
    backoff: float = 1.0,
) -> Path:
    """Download dataset ``name`` into ``dest_dir`` so `load_questions(name, dest_dir)` finds it.

    The questions go to ``dest_dir / spec.default_files[0]``; for MetaQA-style offline
    benchmarks the KB file (``spec.kb_file``) is fetched from the same remote folder. A file
    already present with the remote size (HEAD ``Content-Length``) is not fetched again.

    Args:
        name: A key of `eval.datasets.DATASETS`.
        dest_dir: The folder to write into (created if missing).
        base_url: Fetch ``<base_url>/<file name>`` instead of the registry URL (mirrors, tests).
        client: An `httpx.Client` to use (not closed); by default one is made and closed here.
        progress: Called with the target path, bytes written and the total (None if unknown).
        attempts: Tries per file for connection errors, timeouts, 408/429/5xx and short bodies.
        backoff: Seconds before the second try, doubled for each further one.

    Returns:
        The path of the questions file.

    Raises:
        DatasetError: Unknown name, or the dataset has no public single-file URL.
        DownloadError: A file could not be fetched after ``attempts`` tries, or got a 4xx.
    """
    spec = DATASETS.get(name)
    if spec is None:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    target = Path(dest_dir) / spec.default_files[0]
    jobs = [(_url(spec, base_url, kb=False), target)]
    if spec.kb_file is not None:
        jobs.append((_url(spec, base_url, kb=True), target.parent / spec.kb_file))
    http = client or httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0, connect=15.0))
    try:
        for url, path in jobs:
            _fetch(http, url, path, progress=progress, attempts=attempts, backoff=backoff)
    finally:
        if client is None:
            http.close()
    return target


def _url(spec: DatasetSpec, base_url: str | None, *, kb: bool) -> str:
    if spec.download_url is None:
        raise DatasetError(f"{spec.name} has no public single-file download. {spec.source}")
    folder, _, file = spec.download_url.rpartition("/")
    if base_url is not None:
        folder = base_url.rstrip("/")
    return f"{folder}/{spec.kb_file}" if kb else f"{folder}/{file}"


def _fetch(
    client: httpx.Client,
    url: str,
    path: Path,
    *,
    progress: Progress | None,
    attempts: int,
    backoff: float,
) -> None:
    """Fetch one file with bounded retries; skip it when the local size matches the remote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    failure = ""
    for attempt in range(attempts):
        if attempt:
            delay = backoff * 2 ** (attempt - 1)
            log.warning("retrying %s in %.1f s after: %s", url, delay, failure)
            time.sleep(delay)
        try:
            if path.is_file() and _remote_size(client, url) == path.stat().st_size:
                log.info("%s is already present with the remote size; not fetched", path)
                return
            _stream(client, url, path, progress)
            log.info("downloaded %s to %s", url, path)
            return
        except httpx.HTTPStatusError as error:
            status = error.response.status_code
            failure = f"HTTP {status}"
            if status not in _RETRY_STATUS:
                break
        except (httpx.TransportError, _Truncated) as error:
            failure = f"{type(error).__name__}: {error}"
    raise DownloadError(f"could not download {url} after {attempt + 1} tries: {failure}")


class _Truncated(Exception):
    """The body ended before Content-Length bytes arrived."""


def _remote_size(client: httpx.Client, url: str) -> int | None:
    """The remote size, or None when the server does not say (then the file is fetched again)."""
    response = client.head(url, headers=_HEADERS)
    if not response.is_success:
        return None
    length = response.headers.get("Content-Length")
    return int(length) if length is not None and length.isdigit() else None


def _stream(client: httpx.Client, url: str, path: Path, progress: Progress | None) -> None:
    """GET ``url`` into a temporary file beside ``path``, then rename it into place."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with (
            os.fdopen(handle, "wb") as out,
            client.stream("GET", url, headers=_HEADERS) as response,
        ):
            response.raise_for_status()
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None and length.isdigit() else None
            done = 0
            for chunk in response.iter_bytes():
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(path, done, total)
        if total is not None and done != total:
            raise _Truncated(f"got {done} of {total} bytes")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
