"""A real HTTP server on 127.0.0.1 (ThreadingHTTPServer in a thread) serving a folder, with fault switches.

Faults apply to files whose path ends with ``faults.target`` (the weights by default): drop the connection
after some bytes, corrupt the bytes, answer a fixed status, ignore Range, or send slowly.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHUNK = 16 * 1024


@dataclass
class Faults:
    target: str = "model.safetensors"
    drop_after: int | None = None  # send this many body bytes, then close the socket
    corrupt: bool = False  # flip bytes in the middle (same length)
    status: int | None = None  # answer with this HTTP status instead
    honour_range: bool = True  # False: answer a Range request with 200 and the whole file
    chunk_delay: float = 0.0  # seconds between 16 KiB chunks, to keep a transfer open


@dataclass
class Record:
    method: str
    path: str
    range: str | None
    body: bytes = b""


@dataclass
class HubServer:
    root: Path
    faults: Faults = field(default_factory=Faults)
    requests: list[Record] = field(default_factory=list)
    full_bodies: Counter = field(default_factory=Counter)  # path -> complete 200 bodies sent
    api_status: int = 401  # what POST /api/... (the Hugging Face API) answers

    def __enter__(self) -> HubServer:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, record: Record) -> None:
        with self._lock:
            self.requests.append(record)

    def count_body(self, path: str) -> None:
        with self._lock:
            self.full_bodies[path] += 1

    def ranges(self, suffix: str) -> list[str | None]:
        return [r.range for r in self.requests if r.path.endswith(suffix)]


def _handler(server: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            server.record(Record("POST", urlsplit(self.path).path, None, self.rfile.read(length)))
            body = json.dumps({"error": "Invalid credentials in Authorization header"}).encode()
            self.send_response(server.api_status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            rel = unquote(urlsplit(self.path).path).lstrip("/")
            requested = self.headers.get("Range")
            server.record(Record("GET", rel, requested))
            file = (server.root / rel).resolve()
            faults = server.faults
            target = rel.endswith(faults.target)
            if not file.is_relative_to(server.root.resolve()) or not file.is_file():
                self.send_error(404)
                return
            if target and faults.status is not None:
                self.send_error(faults.status)
                return
            data = file.read_bytes()
            if target and faults.corrupt:
                middle = len(data) // 2
                data = data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", requested or "")
            if match and faults.honour_range:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if target and faults.drop_after is not None:
                self.wfile.write(body[: faults.drop_after])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # the client sees the body end early
                self.close_connection = True
                return
            for offset in range(0, len(body), CHUNK):
                if faults.chunk_delay and offset:
                    time.sleep(faults.chunk_delay)
                self.wfile.write(body[offset : offset + CHUNK])
            self.wfile.flush()
            if start == 0:
                server.count_body(rel)

    return Handler
