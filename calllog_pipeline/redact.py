"""Removes credentials from provider payloads before anything is written or logged.

Providers echo secrets back in their records: LeadConnector custom actions carry
``authenticationValue`` and ``Authorization`` headers, OmniDimension webhook payloads embed
``call_sid`` values starting ``secret_key_``, and URLs may carry tokens in their query string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

REDACTED = "[REDACTED]"

# Keys whose value is a credential, whatever it looks like (compared case-insensitively,
# ignoring "_" and "-").
_SECRET_KEYS = frozenset(
    {
        "authenticationvalue",
        "authorization",
        "apikey",
        "xapikey",
        "accesstoken",
        "refreshtoken",
        "token",
        "secret",
        "clientsecret",
        "password",
        "privatekey",
        "bearertoken",
    }
)
_SECRET_HEADER_NAMES = _SECRET_KEYS | {"cookie", "setcookie", "proxyauthorization"}
# In serialized JSON: a key whose value is a credential, or a header entry naming one. Only
# records where this matches need the structural walk; the rest are redacted as text.
_SECRET_KEY_IN_JSON = re.compile(  # matched against the lower-cased text (case-blind re is slow)
    r'"(?:authentication[_-]?value|authorization|x?[_-]?api[_-]?key|access[_-]?token|refresh[_-]?token'
    r"|token|secret|client[_-]?secret|password|private[_-]?key|bearer[_-]?token)\"\s*:"
    r'|"(?:key|name)"\s*:\s*"(?:authorization|cookie|set-cookie|proxy-authorization|x-api-key|api-key)"'
)
# (lower-case markers, one of which must be present; pattern): the marker test skips most regex
# runs, which matters because case-blind regexes are slow and most records hold no credential.
_INLINE_PATTERNS = [
    (("secret_key_",), re.compile(r"secret_key_[A-Za-z0-9_\-]+")),
    (("bearer",), re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{6,}")),
    # Query-string credentials: ?token=..., &api_key=..., &access_token=..., &sig=...
    (
        ("token=", "key=", "sig=", "signature=", "secret="),
        re.compile(
            r"(?i)([?&](?:token|api[_-]?key|apikey|access[_-]?token|key|sig|signature|secret)=)[^&#\s\"'\\\\]+"
        ),
    ),
]


def _normal_key(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def redact_text(text: str, known_secrets: Iterable[str] = ()) -> str:
    for secret in known_secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    lowered = text.lower()
    for markers, pattern in _INLINE_PATTERNS:
        if any(marker in lowered for marker in markers):
            text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + REDACTED, text)
    return text


def redact_value(value: Any, known_secrets: Iterable[str] = ()) -> Any:
    """A copy of a decoded JSON value with every credential replaced by ``[REDACTED]``."""
    secrets = tuple(known_secrets)
    if isinstance(value, dict):
        if _is_secret_header(value):
            return {**value, "value": REDACTED}
        return {
            k: REDACTED
            if _normal_key(k) in _SECRET_KEYS and v not in (None, "", False)
            else redact_value(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v, secrets) for v in value]
    if isinstance(value, str):
        return redact_text(value, secrets)
    return value


def _is_secret_header(entry: dict) -> bool:
    # Header lists look like [{"key": "Authorization", "value": "Bearer ..."}].
    name = entry.get("key", entry.get("name"))
    return isinstance(name, str) and "value" in entry and _normal_key(name) in _SECRET_HEADER_NAMES


def redacted_json(record: Any, known_secrets: Iterable[str] = ()) -> bytes:
    """The record serialized as JSON, redacted.

    Walking every value is slow, so it happens only when the record has a credential-named key.
    Otherwise the inline patterns run over the JSON text itself, which is safe: neither they nor
    what they match can contain a quote or a backslash, so the text stays valid JSON.
    """
    secrets = tuple(s for s in known_secrets if s)
    text = orjson.dumps(record).decode()
    if _SECRET_KEY_IN_JSON.search(text.lower()):
        return orjson.dumps(redact_value(record, secrets))
    json_secrets = [orjson.dumps(s).decode()[1:-1] for s in secrets]  # as they appear in JSON text
    return redact_text(text, json_secrets).encode()
