"""A plain HTTP server over a folder (http.server on 127.0.0.1) that can misbehave like a loaded server:
``drop_every=3`` cuts every third request (a shard's body half-sent, anything else closed before an answer)
and ``fail_every=5`` answers 503 to every fifth of the others. It counts what it did."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Misbehaviour:
    drop_every: int = 0  # 0: never
    fail_every: int = 0
    requests: int = 0
    dropped: int = 0
    failed: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def next(self) -> str:
        """``drop``, ``fail`` or ``serve`` for the next request."""
        with self.lock:
            self.requests += 1
            n = self.requests
            if self.drop_every and n % self.drop_every == 0:
                self.dropped += 1
                return "drop"
            if self.fail_every and n % self.fail_every == 0:
                self.failed += 1
                return "fail"
            return "serve"


class _Handler(SimpleHTTPRequestHandler):
    misbehaviour: Misbehaviour

    def log_message(self, format: str, *args) -> None:  # quiet: the test reads the counts instead
        pass

    def _misbehave(self) -> bool:
        action = self.misbehaviour.next()
        if action == "fail":
            self.send_error(503, "Service Unavailable")
            return True
        if action == "drop":
            path = Path(self.translate_path(self.path))
            if self.command == "GET" and path.is_file() and path.stat().st_size > 1024:
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])  # the connection dies mid-body
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        return False

    def do_GET(self) -> None:
        if not self._misbehave():
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self._misbehave():
            super().do_HEAD()


@contextlib.contextmanager
def http_server(folder: Path, misbehaviour: Misbehaviour | None = None) -> Iterator[tuple[str, Misbehaviour]]:
    """Serve ``folder``; yield (http://127.0.0.1:PORT, the misbehaviour counters)."""
    misbehaviour = misbehaviour or Misbehaviour()
    handler = type("Handler", (_Handler,), {"misbehaviour": misbehaviour})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", misbehaviour
    finally:
        server.shutdown()
        server.server_close()
