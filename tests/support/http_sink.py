"""A real HTTP server on loopback that records JSON POSTs and fails the first ``fail_first`` of them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


class RecordingServer(ThreadingHTTPServer):
    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.attempts = 0
        self.received: list[dict] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"


class _Handler(BaseHTTPRequestHandler):
    server: RecordingServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.server.lock:
            self.server.attempts += 1
            failing = self.server.attempts <= self.server.fail_first
            if not failing:
                self.server.received.append(orjson.loads(body))
        self.send_response(503 if failing else 204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def recording_server(fail_first: int = 0) -> Iterator[RecordingServer]:
    server = RecordingServer(fail_first)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
