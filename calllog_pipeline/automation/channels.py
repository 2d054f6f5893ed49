"""Where alerts go: Slack, a generic JSON webhook and e-mail, each on when its variables are set.

Delivery is retried a few times with backoff inside one sensor tick; a channel that still fails
raises ``DeliveryError`` so the sensor keeps the alert and tries again on its next tick (see
``sensors``). Every outgoing text is redacted first: no provider key, webhook token or password
can leave in an alert.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Literal

import dagster as dg
import httpx

from calllog_pipeline.automation.alerts import Alert
from calllog_pipeline.redact import known_secrets, redact_text, redact_value

SEND_ATTEMPTS = 3
SEND_BACKOFF_S = 0.5  # 0.5 s, then 1 s: rides out a blip without stalling the sensor tick

ENV = {
    "ui_url": "CALLLOG_UI_URL",
    "slack_webhook_url": "CALLLOG_SLACK_WEBHOOK_URL",
    "webhook_url": "CALLLOG_ALERT_WEBHOOK_URL",
    "smtp_host": "CALLLOG_SMTP_HOST",
    "smtp_port": "CALLLOG_SMTP_PORT",
    "smtp_security": "CALLLOG_SMTP_SECURITY",
    "smtp_user": "CALLLOG_SMTP_USER",
    "smtp_password": "CALLLOG_SMTP_PASSWORD",
    "smtp_ca_file": "CALLLOG_SMTP_CA_FILE",
    "email_from": "CALLLOG_ALERT_EMAIL_FROM",
    "email_to": "CALLLOG_ALERT_EMAIL_TO",
}
SECRET_FIELDS = ("slack_webhook_url", "webhook_url", "smtp_password")  # URLs of webhooks embed tokens


class DeliveryError(Exception):
    """A channel refused or could not be reached after every attempt."""


class AlertChannels(dg.ConfigurableResource):
    """Alert destinations. Each channel is off until its variables are set; alerts also go to the
    sensor's log in the Dagster UI."""

    ui_url: str = "http://localhost:3000"
    slack_webhook_url: str = ""
    webhook_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 0  # 0: 587 for starttls, 465 for ssl, 25 for none
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_ca_file: str = ""  # PEM bundle to trust instead of the system's (a relay with a private CA)
    email_from: str = "calllog-pipeline@localhost"
    email_to: str = ""  # comma-separated recipients
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AlertChannels:
        values: dict[str, object] = {}
        for name, var in ENV.items():
            if env.get(var):
                values[name] = dg.EnvVar(var) if name in SECRET_FIELDS else env[var]
        return cls(**values)

    def enabled(self) -> dict[str, Callable[[Alert], None]]:
        """Channel name -> sender, for the channels that are configured."""
        channels: dict[str, Callable[[Alert], None]] = {}
        if self.slack_webhook_url:
            channels["slack"] = self._send_slack
        if self.webhook_url:
            channels["webhook"] = self._send_webhook
        if self.smtp_host and self.email_to:
            channels["email"] = self._send_email
        return channels

    def send(self, channel: str, alert: Alert) -> None:
        """Deliver to one channel, retrying with backoff; raises ``DeliveryError`` naming the channel."""
        sender = self.enabled()[channel]
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                sender(alert)
                return
            except (httpx.HTTPError, smtplib.SMTPException, OSError) as exc:
                if attempt == SEND_ATTEMPTS:
                    raise DeliveryError(
                        self.redact(f"{channel}: {type(exc).__name__}: {exc} (after {attempt} attempts)")
                    ) from None
                time.sleep(SEND_BACKOFF_S * 2 ** (attempt - 1))

    # -- redaction ------------------------------------------------------------------------------

    def secrets(self) -> list[str]:
        """Provider keys and other credential-named variables, and this resource's own secrets
        (webhook URLs carry their token in the path)."""
        own = [getattr(self, name) for name in SECRET_FIELDS]
        return [s for s in [*own, *known_secrets()] if s]

    def redact(self, text: str) -> str:
        return redact_text(text, self.secrets())

    def _payload(self, alert: Alert) -> dict:
        return redact_value(alert.as_json(), self.secrets())

    # -- channels -------------------------------------------------------------------------------

    def _post(self, url: str, body: dict) -> None:
        httpx.post(url, json=body, timeout=self.timeout_s).raise_for_status()

    def _send_webhook(self, alert: Alert) -> None:
        self._post(self.webhook_url, self._payload(alert))

    def _send_slack(self, alert: Alert) -> None:
        self._post(self.slack_webhook_url, self._slack_body(alert))

    def _slack_body(self, alert: Alert) -> dict:
        a = self._payload(alert)
        icon = ":warning:" if a["severity"] == "warning" else ":rotating_light:"
        fields = [
            f"*Job*\n{a['job']}",
            f"*Provider*\n{', '.join(a['providers']) or 'n/a'}",
            f"*Partitions*\n{a['partitions'] or 'n/a'}",
            f"*Assets*\n{', '.join(a['assets']) or 'n/a'}",
        ]
        return {
            "text": a["summary"],  # the notification's fallback text
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": f"{a['kind']}".capitalize()[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {a['summary']}"}},
                {"type": "section", "fields": [{"type": "mrkdwn", "text": f[:2000]} for f in fields]},
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"*Reason*\n```{a['reason'][:2900]}```"},
                },
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Open in Dagster"},
                            "url": a["link"],
                        }
                    ],
                },
            ],
        }

    def _send_email(self, alert: Alert) -> None:
        a = self._payload(alert)
        message = EmailMessage()
        message["Subject"] = (
            f"[calllog_pipeline] {a['kind']}: {a['summary'].removeprefix('calllog_pipeline: ')}"
        )
        message["From"] = self.email_from
        message["To"] = ", ".join(self.recipients())
        message.set_content(a["text"] + "\n")
        security = self.smtp_security
        port = self.smtp_port or {"starttls": 587, "ssl": 465, "none": 25}[security]
        context = ssl.create_default_context(cafile=self.smtp_ca_file or None)
        if security == "ssl":
            server = smtplib.SMTP_SSL(self.smtp_host, port, timeout=self.timeout_s, context=context)
        else:
            server = smtplib.SMTP(self.smtp_host, port, timeout=self.timeout_s)
        with server:
            if security == "starttls":
                server.starttls(context=context)
            if self.smtp_user:
                server.login(self.smtp_user, self.smtp_password)
            server.send_message(message)

    def recipients(self) -> list[str]:
        return [r.strip() for r in self.email_to.split(",") if r.strip()]
