"""Real alert destinations on loopback: an HTTP receiver (Slack or JSON webhook) and an SMTP server.

Also used by the webserver/daemon end-to-end test: point ``CALLLOG_ALERT_WEBHOOK_URL`` /
``CALLLOG_SLACK_WEBHOOK_URL`` at ``HttpReceiver.url`` and ``CALLLOG_SMTP_*`` at ``SmtpReceiver.env()``.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class HttpReceiver:
    """Records every JSON body POSTed to it; answers 500 to the first ``fail_first`` requests, and to
    every request once it has accepted ``accept_only`` of them (until that is raised again)."""

    def __init__(self, fail_first: int = 0, accept_only: int | None = None):
        self.received: list[dict] = []
        self.refused = 0
        self.fail_first = fail_first
        self.accept_only = accept_only
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                full = receiver.accept_only is not None and len(receiver.received) >= receiver.accept_only
                if receiver.refused < receiver.fail_first or full:
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


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files: the server's and the client's CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class SmtpReceiver:
    """An SMTP server (aiosmtpd) on loopback that requires AUTH LOGIN/PLAIN and keeps the messages.

    ``security``: "none" (plain), "starttls" (STARTTLS required before login) or "ssl" (implicit
    TLS); TLS modes need ``folder`` for a self-signed certificate, which ``env()`` makes the client
    trust through ``CALLLOG_SMTP_CA_FILE``."""

    USER, PASSWORD = "alerts", "smtp-test-password"

    def __init__(self, security: str = "none", folder: Path | None = None):
        self.security = security
        self.ca_file: Path | None = None
        tls: dict = {"auth_require_tls": False}  # plain: loopback only
        if security != "none":
            cert, key = self_signed_certificate(folder)
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_context.load_cert_chain(cert, key)
            self.ca_file = cert
            tls = (
                {"tls_context": server_context, "require_starttls": True}
                if security == "starttls"
                # aiosmtpd does not count implicit TLS as TLS when deciding to offer AUTH
                else {"ssl_context": server_context, "auth_require_tls": False}
            )
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
            Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticate, **tls
        )

    def env(self, to: str = "oncall@example.com") -> dict[str, str]:
        return {
            "CALLLOG_SMTP_HOST": "127.0.0.1",
            "CALLLOG_SMTP_PORT": str(self.port),
            "CALLLOG_SMTP_SECURITY": self.security,
            **({"CALLLOG_SMTP_CA_FILE": str(self.ca_file)} if self.ca_file else {}),
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
