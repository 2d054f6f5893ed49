"""Real alert destinations on loopback: an HTTP receiver (Slack or JSON webhook) and an SMTP server.

Also used by the webserver/daemon end-to-end test: point ``CALLLOG_ALERT_WEBHOOK_URL`` /
``CALLLOG_SLACK_WEBHOOK_URL`` at ``HttpReceiver.url`` and ``CALLLOG_SMTP_*`` at ``SmtpReceiver.env()``.
"""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class HttpReceiver:
    """Records every JSON body POSTed to it; answers 500 to the first ``fail_first`` requests."""

    def __init__(self, fail_first: int = 0):
        self.received: list[dict] = []
        self.refused = 0
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.refused < receiver.fail_first:
                    receiver.refused += 1
                    self.send_response(500)
                else:
                    receiver.received.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def __enter__(self) -> HttpReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """An SMTP server (aiosmtpd) on loopback that requires AUTH LOGIN/PLAIN and keeps the messages."""

    USER, PASSWORD = "alerts", "smtp-test-password"

    def __init__(self):
        self.messages: list[Message] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
                receiver.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login.decode(),
                auth_data.password.decode(),
            ) == (self.USER, self.PASSWORD)
            return AuthResult(success=ok)

        with socket.socket() as probe:  # aiosmtpd needs a concrete port to check it is serving
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,  # loopback only; TLS is the client's smtp_security setting
        )

    def env(self, to: str = "oncall@example.com") -> dict[str, str]:
        return {
            "CALLLOG_SMTP_HOST": "127.0.0.1",
            "CALLLOG_SMTP_PORT": str(self.port),
            "CALLLOG_SMTP_SECURITY": "none",
            "CALLLOG_SMTP_USER": self.USER,
            "CALLLOG_SMTP_PASSWORD": self.PASSWORD,
            "CALLLOG_ALERT_EMAIL_TO": to,
            "CALLLOG_ALERT_EMAIL_FROM": "pipeline@example.com",
        }

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
