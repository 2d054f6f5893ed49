"""A provider API on loopback for tests: every GET is answered by a function of its path and query,
so a test serves the documented shapes (and the readings a page leaves open) without our simulator.

The function returns a JSON body (answered 200 ``application/json``) or a ``Reply`` for anything
else the HTTP level allows: another status, headers, raw bytes (HTML, a BOM, gzip), or ``None`` to
drop the connection without an answer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Reply:
    """An answer other than a plain 200 JSON page."""

    status: int = 200
    body: Any = b""  # bytes as they are; anything else is encoded as JSON
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


DROP = None  # returned by an answer: close the connection without a response


class Listing:
    """An API on loopback: ``answer(path, query)`` gives the answer to every GET; ``requests``
    keeps each request's path, query and headers, ``queries`` the queries alone, ``arrived`` the
    monotonic time each arrived."""

    def __init__(self, answer: Callable[[str, dict[str, str]], Any]):
        self.queries: list[dict[str, str]] = []
        self.arrived: list[float] = []
        # Headers as received, read case-insensitively (``.get("Authorization")``), as HTTP defines
        # them: a client may send any case.
        self.requests: list[tuple[str, dict[str, str], Message]] = []
        queries, requests, arrived = self.queries, self.requests, self.arrived

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                arrived.append(time.monotonic())
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query))
                queries.append(query)
                requests.append((url.path, query, self.headers))
                reply = answer(url.path, query)
                if reply is DROP:
                    self.close_connection = True
                    return
                if not isinstance(reply, Reply):
                    reply = Reply(body=reply, headers={"Content-Type": "application/json"})
                body = reply.content()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Listing:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
