"""A provider API on loopback for tests: every GET is answered by a function of its path and query,
so a test serves the documented shapes (and the readings a page leaves open) without our simulator.

The function returns a JSON body (answered 200 ``application/json``) or a ``Reply`` for anything
else the HTTP level allows: another status, headers (a ``Content-Length`` of its own: a body cut
short), raw bytes (HTML, a BOM, gzip), or ``None`` to drop the connection without an answer.
``ForwardingProxy`` is a proxy to put in front of it."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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


class _Loopback:
    """A threaded HTTP server on 127.0.0.1 (``url``), stopped on leaving its ``with`` block."""

    def _serve(self, handler: type[BaseHTTPRequestHandler], tls: tuple[Path, Path] | None = None) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls is not None:  # (certificate, key) PEM files: an https:// API
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class Listing(_Loopback):
    """An API on loopback: ``answer(path, query)`` gives the answer to every GET; ``requests``
    keeps each request's path, query and headers, ``queries`` the queries alone, ``arrived`` the
    monotonic time each arrived. With ``tls`` (certificate and key files) it is served over https."""

    def __init__(self, answer: Callable[[str, dict[str, str]], Any], tls: tuple[Path, Path] | None = None):
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
                if "content-length" not in {name.lower() for name in reply.headers}:
                    self.send_header("Content-Length", str(len(body)))
                else:  # a length of the reply's own (a body cut short): nothing more on this connection
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._serve(Handler, tls)


class ForwardingProxy(_Loopback):
    """An HTTP forwarding proxy on loopback (what ``HTTP_PROXY`` points at): each request arrives
    in absolute form (``GET http://host:port/path?query``), is recorded in ``forwarded`` and passed
    on to its server directly. With ``credentials`` ("user:password") it answers 407 to a request
    without them in ``Proxy-Authorization`` (Basic). A ``CONNECT`` (an https API) is recorded in
    ``tunnels`` and answered 502: no tunnel is opened (there is no TLS server behind it)."""

    def __init__(self, credentials: str | None = None):
        self.forwarded: list[str] = []
        self.tunnels: list[str] = []
        self.refused = 0
        forwarded, tunnels, proxy = self.forwarded, self.tunnels, self
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy of its own
        expected = f"Basic {base64.b64encode(credentials.encode()).decode()}" if credentials else None

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                if expected and self.headers.get("Proxy-Authorization") != expected:
                    proxy.refused += 1
                    self._send(407, b"proxy authentication required", {"Proxy-Authenticate": "Basic"})
                    return
                forwarded.append(self.path)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                request = urllib.request.Request(self.path, headers=headers)
                try:
                    with direct.open(request, timeout=10) as answer:
                        self._send(answer.status, answer.read(), dict(answer.headers))
                except urllib.error.HTTPError as error:
                    self._send(error.code, error.read(), dict(error.headers))

            def do_CONNECT(self):  # noqa: N802 - http.server's naming
                if expected and self.headers.get("Proxy-Authorization") != expected:
                    proxy.refused += 1
                    self._send(407, b"", {"Proxy-Authenticate": "Basic"})
                    return
                tunnels.append(self.path)
                self._send(502, b"", {})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._serve(Handler)


HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
