"""A local webhook receiver for tests: records requests, dedups by Idempotency-Key, can hang."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    requests: list[dict[str, Any]] = field(default_factory=list)
    effects: dict[str, Any] = field(default_factory=dict)  # by Idempotency-Key
    hang: threading.Event | None = None
    url: str = ""


@contextmanager
def webhook_receiver(*, hang: bool = False) -> Iterator[Receiver]:
    receiver = Receiver(hang=threading.Event() if hang else None)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.hang is not None:
                receiver.hang.wait(10)  # a target that never answers in time
            key = self.headers.get("Idempotency-Key", "")
            receiver.requests.append({"headers": dict(self.headers), "body": body})
            receiver.effects.setdefault(key, json.loads(body or b"null"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.hang is not None:
            receiver.hang.set()
        server.shutdown()
        server.server_close()
