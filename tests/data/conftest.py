"""Fixtures for the data stages: a throwaway project root and data dir, a fixture mirror, and a
local HTTP server on 127.0.0.1 (threaded) that can also cut a transfer short."""

from __future__ import annotations

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.data import fixtures

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root (with the repository's params.yaml) whose data dir is ``<root>/data``."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    monkeypatch.setenv("DEEPGRADE_ROOT", str(root))
    monkeypatch.setenv("DEEPGRADE_DATA_DIR", str(root / "data"))
    monkeypatch.delenv("DEEPGRADE_DATA_MIRROR", raising=False)
    return root


@pytest.fixture
def mirror(tmp_path: Path, rng, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Any]]:
    """A declared fixture mirror, selected with DEEPGRADE_DATA_MIRROR; returns (root, arrays written)."""
    root = tmp_path / "mirror"
    arrays = fixtures.make_mirror(root, rng)
    monkeypatch.setenv("DEEPGRADE_DATA_MIRROR", str(root))
    return root, arrays


class _Handler(SimpleHTTPRequestHandler):
    """Serves a folder; paths under ``/short/`` announce their full size but send half, then close."""

    requests: list[str]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        pass

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        self.requests.append(self.path)
        if self.path.startswith("/short/"):
            payload = (Path(self.directory) / self.path[len("/short/"):]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def http_server(tmp_path: Path):
    """``(base_url, served_dir, requests)``: a threaded HTTP server on 127.0.0.1 serving ``served_dir``."""
    served = tmp_path / "served"
    served.mkdir()
    requests: list[str] = []
    handler = functools.partial(type("H", (_Handler,), {"requests": requests}), directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served, requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
