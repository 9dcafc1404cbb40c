"""Copy one file from a URL or a local path into place, hashing it on the way.

Downloads and mirror copies share this code so both get the same guarantees: bytes are streamed
into a temporary file next to the destination, every requested digest is computed in the same
pass, a short transfer (server closed early, fewer bytes than Content-Length) is an error, and
the destination only appears once the caller's check of the digests passed.
Progress is a tqdm bar when stderr is a terminal, plain log lines otherwise (CI logs, DVC).
"""

from __future__ import annotations

import hashlib
import http.client
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, BinaryIO

from pipelines.atomic import atomic_path
from pipelines.errors import DataError

__all__ = ["is_url", "open_source", "stream_verified", "copy_verified", "log", "SourceMissing"]

_CHUNK = 1 << 20
_LARGE = 32 << 20  # bytes: files this big also log 25/50/75% when stderr is not a terminal
TIMEOUT_S = 60


class SourceMissing(DataError):
    """The source file does not exist (HTTP 404 or no such local file)."""


def log(message: str) -> None:
    """One progress line on stderr (stdout stays clean for DVC and pipes)."""
    print(f"deepgrade data: {message}", file=sys.stderr, flush=True)


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def open_source(location: str) -> tuple[BinaryIO, int | None]:
    """Open a URL or a local path for reading; returns the stream and its announced size."""
    if is_url(location):
        try:
            request = urllib.request.Request(location, headers={"User-Agent": "deepgrade-data/0.1"})
            resp = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 (http(s) only, checked above)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise SourceMissing(f"{location}: not found (HTTP 404)") from exc
            raise DataError(f"{location}: HTTP {exc.code} {exc.reason}; check the URL or the mirror") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise DataError(f"{location}: cannot connect ({exc}); check the network or the mirror URL") from exc
        length = resp.headers.get("Content-Length")
        return resp, int(length) if length and length.isdigit() else None
    path = Path(location)
    if not path.is_file():
        raise SourceMissing(f"{path}: no such file")
    return open(path, "rb"), path.stat().st_size


class _Progress:
    """tqdm on a terminal; otherwise a log line per file, and per quarter for large files."""

    def __init__(self, label: str, total: int | None) -> None:
        self.total, self.done, self.next_mark = total, 0, 0.25
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=label, file=sys.stderr, leave=False)
        else:
            log(f"{label}: {_size(total)}")
        self.label = label

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.total and self.total >= _LARGE and self.done / self.total >= self.next_mark and self.next_mark < 1:
            log(f"{self.label}: {self.next_mark:.0%}")
            self.next_mark += 0.25

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _size(n: int | None) -> str:
    return "unknown size" if n is None else f"{n / 1e6:.1f} MB"


def stream_verified(
    stream: IO[bytes],
    origin: str,
    dest: Path,
    algorithms: Iterable[str],
    check: Callable[[dict[str, str]], object],
    total: int | None = None,
) -> dict[str, str]:
    """Write ``stream`` into ``dest`` atomically; returns the hex digests (sha256 always) of the bytes.

    ``check(digests)`` runs before the rename and raises ``DataError`` to reject the bytes, in
    which case ``dest`` is left untouched and no temporary file remains. ``total`` is the announced
    size: a stream that ends early or breaks raises ``DataError`` naming expected vs received bytes.
    ``origin`` names the source in messages.
    """
    hashers = {name: hashlib.new(name) for name in dict.fromkeys(["sha256", *algorithms])}
    progress = _Progress(Path(dest).name, total)
    received = 0
    try:
        with atomic_path(dest) as tmp, open(tmp, "wb") as out:
            try:
                while chunk := stream.read(_CHUNK):
                    received += len(chunk)
                    for h in hashers.values():
                        h.update(chunk)
                    out.write(chunk)
                    progress.update(len(chunk))
            except (http.client.HTTPException, OSError) as exc:
                raise DataError(
                    f"{origin}: transfer interrupted after {received} bytes"
                    f"{'' if total is None else f' of {total} expected'} ({type(exc).__name__}: {exc}). "
                    "Nothing was kept; run the fetch again."
                ) from exc
            if total is not None and received != total:
                raise DataError(
                    f"{origin}: incomplete transfer, expected {total} bytes, received {received}. "
                    "Nothing was kept; run the fetch again."
                )
            digests = {name: h.hexdigest() for name, h in hashers.items()}
            check(digests)
    finally:
        progress.close()
    return digests


def copy_verified(
    location: str, dest: Path, algorithms: Iterable[str], check: Callable[[dict[str, str]], object]
) -> dict[str, str]:
    """Open ``location`` (URL or path) and stream it into ``dest``; see ``stream_verified``."""
    stream, total = open_source(location)
    with stream:
        return stream_verified(stream, location, dest, algorithms, check, total)
