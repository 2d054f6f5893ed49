"""One redaction policy for every shape a credential arrives in (issue 8).

Each case is a record as a provider might send it, the secret in it, and what must survive. Both
entry points are checked: ``redact_value`` (walks a decoded value) and ``redact_json`` (the fast path the
raw layer and the normalized JSON columns use), and they must agree.
"""

import json
import logging
import re

import orjson
import pytest

from calllog_pipeline import redact as redaction
from calllog_pipeline.redact import (
    REDACTED,
    RedactingFilter,
    redact_json,
    redact_serialized,
    redact_serialized_many,
    redact_text,
    redact_value,
)

API_KEY = "live-key-9f8e7d6c5b4a"

# (id, record, secret that must be gone, {json path: value that must be intact})
CASES = [
    ("api_secret", {"id": "c1", "api_secret": "s3cr3t-value-1"}, "s3cr3t-value-1", {"id": "c1"}),
    (
        "password in a recording url",
        {"recording_url": "https://rec:pw-in-url-0030@media.example.com/r.mp3", "duration": 61},
        "pw-in-url-0030",
        {"duration": 61},
    ),
    ("auth_token", {"id": "c2", "auth_token": "tok-abcdef-2"}, "tok-abcdef-2", {"id": "c2"}),
    (
        "webhook_secret",
        {"webhook_secret": "whsec_abcdef3", "url": "https://h.example/x"},
        "whsec_abcdef3",
        {"url": "https://h.example/x"},
    ),
    (
        "client_secret camel",
        {"clientSecret": "cs-value-0004", "clientId": "app-1"},
        "cs-value-0004",
        {"clientId": "app-1"},
    ),
    ("password", {"user": "bob", "password": "hunter2hunter"}, "hunter2hunter", {"user": "bob"}),
    ("passwd", {"login": "bob", "passwd": "pw-value-0006"}, "pw-value-0006", {"login": "bob"}),
    ("pwd", {"db": "calls", "pwd": "pw-value-0007"}, "pw-value-0007", {"db": "calls"}),
    (
        "credentials.pass",
        {"type": "sip", "credentials": {"user": "sipuser", "pass": "sip-pass-0008"}},
        "sip-pass-0008",
        {"type": "sip"},
    ),
    ("apiKey camel", {"apiKey": "ak-value-0009", "region": "eu"}, "ak-value-0009", {"region": "eu"}),
    ("API Key spaced", {"API Key": "ak-value-0010", "name": "crm"}, "ak-value-0010", {"name": "crm"}),
    (
        "private_key",
        {"private_key": "-----BEGIN KEY-----abc", "kid": "k1"},
        "-----BEGIN KEY-----abc",
        {"kid": "k1"},
    ),
    ("cookie", {"cookie": "sid=abcdef0012; path=/", "path": "/"}, "abcdef0012", {"path": "/"}),
    ("session", {"session_token": "sess-value-0013", "agent": "a1"}, "sess-value-0013", {"agent": "a1"}),
    ("signature", {"signature": "sig-value-0014", "alg": "hs256"}, "sig-value-0014", {"alg": "hs256"}),
    ("numeric pin under a credential key", {"password": 991122, "n": 5}, "991122", {"n": 5}),
    (
        "authorization header entry",
        {
            "headers": [
                {"key": "Authorization", "value": "Bearer abc0016def"},
                {"key": "Accept", "value": "json"},
            ]
        },
        "abc0016def",
        {"headers.1.value": "json", "headers.0.key": "Authorization"},
    ),
    (
        "X-Auth-Token header entry",
        {
            "headers": [
                {"key": "X-Auth-Token", "value": "xat-value-0017"},
                {"key": "Content-Type", "value": "application/json"},
            ]
        },
        "xat-value-0017",
        {"headers.1.value": "application/json", "headers.0.key": "X-Auth-Token"},
    ),
    (
        "name/value header entry",
        {"headers": [{"name": "Cookie", "value": "sid-value-0018"}]},
        "sid-value-0018",
        {"headers.0.name": "Cookie"},
    ),
    (
        "bearer in free text",
        {"note": "retried with bearer eyJhbGciOi.0019 after a 401"},
        "eyJhbGciOi.0019",
        {"id": None},
    ),
    (
        "BASIC in free text",
        {"note": "sent BASIC dXNlcjpwYXNz0020== upstream"},
        "dXNlcjpwYXNz0020==",
        {"id": None},
    ),
    ("Token scheme", {"note": "Authorization Token 9a8b7c6d5e0021"}, "9a8b7c6d5e0021", {"id": None}),
    (
        "Basic credential assigned to Authorization in free text",
        {"note": "sent Authorization: Basic dXNlcjpwYXNz upstream"},  # short, no digit: only the name says
        "dXNlcjpwYXNz",
        {"id": None},
    ),
    (
        "presigned recording url",
        {
            "recording_url": "https://b.s3.amazonaws.com/r.mp3?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA0022"
            "&X-Amz-Security-Token=FQoG0022&X-Amz-Signature=abc0022def&X-Amz-Expires=3600"
        },
        "abc0022def",
        {"id": None},
    ),
    (
        "url token/sig/key/access_token",
        {"url": "https://api.example.com/o?id=5&token=t0023&sig=s0023&key=k0023&access_token=a0023"},
        "t0023",
        {"id": None},
    ),
    (
        "credential inside embedded JSON",
        {"payload": json.dumps({"event": "call_ended", "api_secret": "emb-value-0024", "n": 1}), "id": "c24"},
        "emb-value-0024",
        {"id": "c24"},
    ),
    (
        "embedded JSON twice over",
        {"payload": json.dumps({"inner": json.dumps({"password": "deep-value-0025", "ok": True})})},
        "deep-value-0025",
        {"id": None},
    ),
    (
        "omnidimension webhook call_sid",
        {"payload": json.dumps({"call_sid": "secret_key_0026abc_def", "to": "x"})},
        "secret_key_0026abc_def",
        {"id": None},
    ),
    (
        "known API key in a plain field",
        {"note": f"called with {API_KEY}", "status": "completed"},
        API_KEY,
        {"status": "completed"},
    ),
    (
        "assignment in a message",
        {"error_message": "login failed: password=pw-value-0028 user=bob"},
        "pw-value-0028",
        {"id": None},
    ),
    (
        "leadconnector custom action",
        {
            "actionParameters": {
                "authenticationRequired": True,
                "authenticationValue": "sk_live_0029",
                "apiDetails": {"url": "https://crm.example/x", "method": "GET"},
            }
        },
        "sk_live_0029",
        {
            "actionParameters.authenticationRequired": True,
            "actionParameters.apiDetails.url": "https://crm.example/x",
        },
    ),
    (
        "quoted assignment inside text",
        {"id": "c34", "note": 'login with password="pw-quoted-0034" worked'},
        "pw-quoted-0034",
        {"id": "c34"},
    ),
    (
        "bearer on the next line",
        {"id": "c35", "note": "Authorization: Bearer\nbr-next-line-0035"},
        "br-next-line-0035",
        {"id": "c35"},
    ),
    (
        "url-encoded token in a redirect",
        {
            "id": "c32",
            "redirect": "https://crm.example/cb?next=https%3A%2F%2Fapp.example%2Fok%3Faccess_token%3Denc-tok-0032%26lang%3Den",
        },
        "enc-tok-0032",
        {"id": "c32"},
    ),
    (
        "bare basic credential",
        {"id": "c33", "note": "sent Basic dXNlcjpwYXNz to the CRM"},
        "dXNlcjpwYXNz",
        {"id": "c33"},
    ),
]
# Values that only look like secrets and must be kept exactly.
KEPT = {
    "total_tokens": 6512,
    "prompt_tokens": 6000,
    "completion_tokens": 512,
    "authenticationRequired": False,
    "authenticated": True,
    "session_id": None,
    "status": "completed",
    "summary": "The caller asked about the basic plan and a token of appreciation.",
    "transcript": "bot: Please pass the message on.\nuser: Sure, the password reset worked.",
    "page_url": "https://example.com/page?id=7&lang=en",
}


def _at(value, path: str):
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value.get(part)
    return value


@pytest.mark.parametrize(("record", "secret", "intact"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_shape_is_redacted_and_the_rest_kept(record, secret, intact):
    record = {**record, **KEPT}
    walked = redact_value(record, known_secrets=[API_KEY])
    fast = orjson.loads(redact_json(record, known_secrets=[API_KEY]))
    assert secret not in orjson.dumps(walked).decode()
    assert secret not in orjson.dumps(fast).decode()
    assert REDACTED in orjson.dumps(fast).decode()
    assert fast == walked, "the fast path and the walk must agree"
    for path, value in intact.items():
        assert _at(fast, path) == value == _at(record, path)
    for key, value in KEPT.items():
        assert fast[key] == value, f"{key} only looks like a secret; it must be kept"


def test_a_page_is_redacted_exactly_as_each_record_alone():
    records = [{**case[1], **KEPT} for case in CASES] + [
        {"id": "c1", "note": "nothing to see"},
        {"id": "c2", "note": f"x {API_KEY} y"},
        {"id": "c3", "note": "Grüße, token=abc123456 ünd mehr"},  # not ASCII: offsets differ
        {},
    ]
    payloads = [orjson.dumps(record) for record in records]
    page = redact_serialized_many(records, payloads, [API_KEY])
    assert page == [redact_serialized(r, p, [API_KEY]) for r, p in zip(records, payloads, strict=True)]
    assert all(API_KEY.encode() not in payload for payload in page)


@pytest.mark.parametrize("mails", [0, 9], ids=["fewer e-mails than URLs", "more e-mails than URLs"])
def test_a_page_finds_what_only_an_equals_sign_or_an_at_sign_shows_beside_clean_records(mails):
    """A page is scanned joined: a record whose only sign is an "=" (a signed URL's ``sig=``) or
    a URL's "@" (its password) is still looked at, between records that come back untouched."""
    clean = {"id": "c", "total_tokens": 7, "recording_url": "https://rec.example/c.mp3"}
    records = [
        clean,
        {"id": "s", "url": "https://cdn.example/r.mp3?sig=abcdef123456"},
        clean,
        {"id": "p", "total_tokens": 7, "recording_url": "https://u:pw-0042@rec.example/p.mp3"},
        {"id": "m", "total_tokens": 7, "mail": "ops@example.com", "url": "https://rec.example/m.mp3"},
        {"id": "t", "note": "mail ops@example.com, see https://u:pw-0043@h.example/x"},
        {"id": "x", "mails": " ".join(f"m{n}@example.com" for n in range(mails))},
    ]
    payloads = [orjson.dumps(record) for record in records]
    page = redact_serialized_many(records, payloads, [API_KEY])
    assert [orjson.loads(out) for out in page] == [redact_value(record, [API_KEY]) for record in records]
    assert b"abcdef123456" not in page[1] and b"pw-0042" not in page[3] and b"pw-0043" not in page[5]
    assert (
        page[0] is payloads[0]
        and page[2] is payloads[2]
        and page[4] is payloads[4]
        and page[6] is payloads[6]
    )


def test_a_page_of_token_counters_and_urls_comes_back_as_the_walk_gives_it():
    """OmniDimension records count tokens six times and carry a recording URL: a record holding
    only those comes back as it came, read from its bytes; anything else in it, in any case and
    beside letters that are not ASCII, is still found."""
    usage = {"total_tokens": 12, "PROMPT_TOKENS": -1, "completion_tokens": None, "cached_tokens": True}
    records = [
        {"id": "o1", "usage": usage, "recording_url": "https://rec.example/r1.mp3"},
        {"id": "o2", "usage": usage, "recording_url": "https://user:pw-0031@rec.example/r2.mp3"},
        {"id": "o3", "usage": usage, "mail": "ops@example.com", "url": "https://rec.example/r3.mp3"},
        {"id": "o4", "usage": {**usage, "total_tokens": "sk-abc-123456"}},
        {"id": "o5", "usage": usage, "Öffnung": "ÄÖÜ İstanbul", "note": "TOKEN: Ab12Cd34Ef56"},
        {"id": "o6", "usage": usage, "note": f"ÜBER {API_KEY.upper()} {API_KEY}"},
    ]
    payloads = [orjson.dumps(record) for record in records]
    page = redact_serialized_many(records, payloads, [API_KEY])
    for record, out in zip(records, page, strict=True):
        assert orjson.loads(out) == redact_value(record, [API_KEY])
    assert page[0] is payloads[0] and page[2] is payloads[2]  # nothing to redact: the same bytes
    assert b"pw-0031" not in page[1] and b"sk-abc-123456" not in page[3]
    assert b"Ab12Cd34Ef56" not in page[4] and "ÄÖÜ İstanbul" in page[4].decode()
    assert API_KEY.encode() not in page[5]


def test_custom_actions_and_webhook_payloads_come_back_from_a_page_as_the_walk_gives_them():
    """LeadConnector custom actions hold markers in short values with nothing assigned ("external
    API", an API's URL) beside assignments, header entries and pairs that hold a credential;
    OmniDimension payloads hold ``secret_key_...`` beside URLs with no "@" in the record. Each is
    read as the walk reads it, in any case and beside letters that are not ASCII."""
    action = {
        "description": "Checks order status via external API",
        "apiDetails": {"url": "https://api.example.com/orders", "authenticationRequired": True},
    }
    records = [
        {"id": "a1", "action": action},
        {"id": "a2", "action": {**action, "authenticationValue": "sk_live_0123456789abcdef"}},
        {"id": "a3", "action": action, "note": "api_key=abc123456", "hint": "API Key: zz-998877"},
        {"id": "a4", "action": action, "headers": [{"key": "Authorization", "value": "Bearer tok-1234567"}]},
        {"id": "a5", "action": action, "pairs": [["X-Api-Key", "pair-7654321"], ["Accept", "text/plain"]]},
        {"id": "a6", "action": action, "text": "Session: s-42, sessions per api user"},
        {"id": "o1", "url": "https://rec.example/1.wav", "payload": '{"call_sid": "secret_key_ab12_CD-34"}'},
        {"id": "o2", "url": "https://u:pw-0051@rec.example/2.wav", "sid": "SECRET_KEY_zz99"},
        {"id": "o3", "sid": "Grüße secret_key_ab12\u212a and Secret_Key_x9 ünd"},
    ]
    payloads = [orjson.dumps(record) for record in records]
    page = redact_serialized_many(records, payloads, [API_KEY])
    for record, out in zip(records, page, strict=True):
        assert orjson.loads(out) == redact_value(record, [API_KEY])
    assert page[0] is payloads[0]  # nothing to redact: the same bytes
    text = b"".join(page).decode()
    for secret in ("0123456789abcdef", "abc123456", "zz-998877", "tok-1234567", "pair-7654321", "ab12_CD-34"):
        assert secret not in text
    assert "pw-0051" not in text and "zz99" not in text and "x9" not in text
    assert "\u212a" not in orjson.loads(page[8])["sid"]  # the Kelvin sign is a "k" to a case-blind match
    assert "external API" in text and "https://api.example.com/orders" in text


@pytest.mark.parametrize(
    "record",
    [
        {"authenticationValue": "sk_live_abc123", "url": "https://x.test/?token=t0k3n12345"},
        {"password": 'with \\"quotes\\" and \\\\ backslashes \\\\', "note": "Bearer abcdef123456"},
        {"password": "", "secret": "s3cr3t-value", "tokens": 4},
        {
            "headers": [
                {"key": "Authorization", "value": "Bearer abcdef123456"},
                {"key": "Accept", "value": "x"},
            ]
        },
        {"headers": [{"value": "Basic dXNlcjpwYXNz", "key": "Authorization"}]},  # value first
        {
            "headers": [
                {"name": "X-Api-Key", "value": "k-123456789"},
                {"key": "id", "name": "Cookie", "value": "c"},
            ]
        },
        {"headers": [{"key": "X-Auth-Token", "value": {"nested": "abc123456"}}]},
        {"api_key": 123456789, "session": ["a1b2c3d4", 7], "auth": {"user": "u", "pass": "p4ssw0rd!"}},
        {"payload": '{"client_secret": "cs-1234567", "note": "fine"}'},
    ],
    ids=[
        "string",
        "escapes",
        "empty",
        "header",
        "value first",
        "name",
        "object",
        "numbers and containers",
        "embedded",
    ],
)
def test_string_values_under_credential_names_are_redacted_in_the_text_as_the_walk_would(record):
    # Plain string values under a credential name or a credential header entry are replaced in
    # the JSON text; anything else is walked. Either way the result is the walk's, byte for byte.
    assert redact_json(record, [API_KEY]) == orjson.dumps(redact_value(record, [API_KEY]))


@pytest.mark.parametrize(
    ("secret", "text"),
    [
        ("sskey-123456", "see passkey-123456 here"),  # begins inside the marker "pass"
        ("apikey-987654", "id apikey-987654"),  # begins where the marker "api" begins
        ("AbCdEf-7654321", "plain AbCdEf-7654321 text"),  # no marker at all, mixed case
        ("Zz-token-0099", "x Zz-token-0099 y"),  # holds a marker
        ("/K9f2LmQ8pZw7Rt", "https://K9f2LmQ8pZw7Rt"),  # begins inside "://" (base64 may begin with "/")
    ],
)
def test_a_known_secret_is_found_wherever_it_meets_a_marker(secret, text):
    record = {"note": text, "total_tokens": 3, "url": "https://example.com/a"}
    out = redact_json(record, [secret])
    assert secret.encode() not in out
    assert out == orjson.dumps(redact_value(record, [secret]))


@pytest.mark.parametrize(
    "name", ["apiKey", "api_key", "x-api-key", "API Key", "api.key", "api__key", "OPENAI_API_KEY"]
)
def test_every_spelling_of_an_api_key_name_is_found_in_keys_texts_and_header_entries(name):
    """However "api key" is spelled, as a key, an assignment or a header's name, it is found."""
    record = {
        name: "ak-0051-value",
        "note": f"{name.replace(' ', '_')}=ak-0052-value",  # in a text, "API Key=" assigns to "Key"
        "headers": [{"key": name, "value": "ak-0053-value"}],
        "pairs": [[name, "ak-0054-value"]],
        "about": "apiDetails for an external API",
    }
    out = redact_json(record)
    assert out == orjson.dumps(redact_value(record))
    assert b"ak-005" not in out
    assert orjson.loads(out)["about"] == record["about"]


def test_there_are_at_least_25_shapes():
    assert len(CASES) >= 25


def test_records_without_credentials_come_back_byte_for_byte():
    record = {"id": "call_x9y3zp4mq7r1", "status": "completed", "duration_sec": 142, **KEPT}
    assert redact_json(record) == orjson.dumps(record)


def test_the_api_key_is_redacted_on_the_fast_text_path():
    # No marker word at all: the record takes the shortest path; the key must still go.
    record = {"id": "c1", "note": f"x {API_KEY} y"}
    assert API_KEY not in redact_json(record, known_secrets=[API_KEY]).decode()
    assert API_KEY not in redact_text(f"GET /calls failed with key {API_KEY}", [API_KEY])


def test_an_inline_bearer_credential_is_redacted_without_any_credential_named_key():
    record = {"id": "c1", "note": "bearer Zm9vYmFyYmF6cXV4"}  # no digit, no key name: only "bearer" says it
    out = redact_json(record).decode()
    assert "Zm9vYmFyYmF6cXV4" not in out and "bearer [REDACTED]" in out
    assert redact_text("BEARER Zm9vYmFyYmF6cXV4 was refused") == "BEARER [REDACTED] was refused"


def test_the_credential_after_an_assigned_scheme_is_redacted_and_the_scheme_kept():
    assert redact_text("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic [REDACTED]"
    assert redact_text("authorization=Token abcdefghij sent") == "authorization=Token [REDACTED] sent"
    assert redact_text("Authorization: Bearer abc123def456") == "Authorization: Bearer [REDACTED]"


def test_configured_api_keys_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", "env-key-123456")
    monkeypatch.setenv("XDG_SESSION_DESKTOP", "ubuntu-desktop")  # named like a session, not a secret
    monkeypatch.setattr(redaction, "_from_env", None)
    monkeypatch.setattr(redaction, "_cache", {})
    assert redact_text("request with env-key-123456 failed") == f"request with {REDACTED} failed"
    assert redact_text("on ubuntu-desktop") == "on ubuntu-desktop"
    # Explicit values add to the configured ones, they do not replace them.
    assert redact_text("env-key-123456 and other-key-99", ["other-key-99"]) == f"{REDACTED} and {REDACTED}"


def test_messages_with_quoted_assignments_are_redacted():
    text = "HTTP 400: {'api_secret': 'abc123', 'total_tokens': 5, 'authenticated': true}"
    out = redact_text(text)
    assert "abc123" not in out and "'total_tokens': 5" in out and "'authenticated': true" in out


def test_error_names_and_token_counts_are_not_taken_for_credentials():
    """The text around a credential-looking word stays readable: an alert must still name the
    provider, and a scorecard's token counts are numbers, not secrets."""
    message = "ProviderAuthError: DialNexa refused the credentials (HTTP 401): check DIALNEXA_API_KEY"
    assert redact_text(message) == message
    assert redact_text("tokens_per_call = 5120, api_key=abcdef123456") == (
        "tokens_per_call = 5120, api_key=[REDACTED]"
    )
    assert redact_value({"tokens_per_call": 5120, "token_count": 3, "auth_token": 12345678}) == {
        "tokens_per_call": 5120,
        "token_count": 3,
        "auth_token": "[REDACTED]",
    }


def test_a_token_counter_holding_text_or_an_object_is_still_redacted_on_the_fast_path():
    # The fast path keeps `"..._tokens":<number>` without a closer look; any other value under
    # such a name, or the same key pretty-printed inside a JSON string, gets the usual rules.
    record = {
        "total_tokens": 12,
        "max_tokens": -1,
        "output_tokens": None,
        "session_tokens": "tok_live_abc123",
        "api_tokens": {"main": "abc123xyz", "count": 2},
        "payload": '{"refresh_tokens": "rt_abc123def", "total_tokens": 7}',
    }
    fast = orjson.loads(redact_json(record))
    assert fast == redact_value(record), "the fast path and the walk must agree"
    assert fast["total_tokens"] == 12 and fast["max_tokens"] == -1 and fast["output_tokens"] is None
    assert fast["session_tokens"] == REDACTED and fast["api_tokens"] == {"main": REDACTED, "count": REDACTED}
    assert orjson.loads(fast["payload"]) == {"refresh_tokens": REDACTED, "total_tokens": 7}


def test_the_logging_filter_redacts_messages_and_arguments(caplog):
    logger = logging.getLogger("calllog_pipeline.test_redaction")
    logger.addFilter(RedactingFilter([API_KEY]))
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("page 3 via %s?token=%s", "https://api.example.com/calls", "tok123456")
        logger.info(f"key {API_KEY} refused")
    assert "tok123456" not in caplog.text and API_KEY not in caplog.text
    assert "page 3 via https://api.example.com/calls?token=[REDACTED]" in caplog.text


# --- every layer uses the policy ---------------------------------------------------------------------


def test_the_raw_layer_stores_every_shape_redacted(tmp_path):
    from datetime import UTC, datetime

    from calllog_pipeline.lake import RAW_SCHEMA, Lake
    from calllog_pipeline.providers import REGISTRY
    from calllog_pipeline.raw.assets import RawSink
    from calllog_pipeline.raw.fetch import Page

    provider = next(iter(REGISTRY.values()))
    endpoint = provider.endpoints[0]
    lake = Lake(root=str(tmp_path))
    records = [{"id": f"r{i}", **record} for i, (_, record, _, _) in enumerate(CASES)]
    path = lake.raw_path(provider.name, endpoint.name, "2026-01-01")
    with lake.writer(path, RAW_SCHEMA) as writer:
        sink = RawSink(writer, endpoint, (API_KEY,))
        sink(Page(1, records, len(records), datetime.now(UTC)), records)
        sink.flush()
    stored = [orjson.loads(p) for p in _payloads(lake, path)]
    for (name, _, secret, intact), row in zip(CASES, stored, strict=True):
        assert secret not in orjson.dumps(row).decode(), name
        for json_path, value in intact.items():
            if json_path != "id":
                assert _at(row, json_path) == value, name


def _payloads(lake, path):
    return [p for batch in lake.iter_batches(path, columns=["payload"]) for p in batch.column(0).to_pylist()]


def test_the_normalized_layer_redacts_json_columns_and_transcript_text():
    import re

    from calllog_pipeline.mapping import TableBuffers, dump_json

    for name, record, secret, _ in CASES:
        if secret == API_KEY:
            continue  # known keys come from the environment in a real run (see above)
        assert secret not in dump_json(record), name
    buffers = TableBuffers("dialnexa", {"user": "user", "agent": "agent"}, re.compile(r"\n"))
    turns = {
        "call_id": "c1",
        "turn_index": [0, 1],
        "speaker": ["user", "agent"],
        "text": ["my card is fine, the token is Bearer abc123def456", "Thanks"],
        "source": "turns",
    }
    buffers.add_transcript("c2", "user: call me, the token is Bearer abc123def456\nagent: Thanks")
    texts = [
        text
        for table, batch in [buffers.batch("interactions", 2, turns), *buffers.drain()]
        if table == "interactions"
        for text in batch["text"].to_pylist()
    ]
    assert texts == [
        "my card is fine, the token is Bearer [REDACTED]",
        "Thanks",
        "call me, the token is Bearer [REDACTED]",
        "Thanks",
    ]


def test_dagster_log_lines_are_redacted(tmp_path):
    import dagster as dg

    from calllog_pipeline.redact import LOG_FILTER

    @dg.asset
    def chatty(context: dg.AssetExecutionContext) -> None:
        context.log.addFilter(LOG_FILTER)
        context.log.info("fetched https://api.example.com/calls?page=2&access_token=tok-998877")
        context.log.warning("provider said: {'api_secret': 'as-665544'}")

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize([chatty], instance=instance)
        messages = [
            e.user_message
            for e in instance.all_logs(result.run_id)
            if e.user_message and "fetched" in e.user_message or "provider said" in (e.user_message or "")
        ]
    assert len(messages) == 2
    assert not any("tok-998877" in m or "as-665544" in m for m in messages)
    assert any("access_token=[REDACTED]" in m for m in messages)


def test_a_column_of_strings_is_redacted_exactly_as_each_string_alone():
    from calllog_pipeline.redact import redact_strings

    # Every string inside every case, in one column with ordinary text and non-ASCII around it.
    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)

    column = [s for _, record, _, _ in CASES for s in strings(record)]
    column += [None, "", "hello", "größe=7 Straße", "Bearer abc123def456 ünd", "no = sign", API_KEY]
    # "İ" is the one letter str.lower lengthens; it once sent the whole joined column to ASCII-only
    # lower-casing, so a name holding a Kelvin sign ("toKen") lost its match beside it.
    column += ["İstanbul İZMİR", "to\u212aen: abc123def456"]
    assert redact_strings(column, [API_KEY]) == [
        None if s is None else redact_value(s, [API_KEY]) for s in column
    ]
    assert redact_strings(["to\u212aen: abc123def456", "İstanbul"])[0] == "to\u212aen: [REDACTED]"


def test_encoded_urls_lose_only_their_credential_and_basic_words_stay():
    url = "https://crm.example/cb?next=https%3A%2F%2Fapp.example%3Fsig%3Dab12cd%26access_token%3Dxyz789%26lang%3Den"
    assert redact_text(url) == (
        "https://crm.example/cb?next=https%3A%2F%2Fapp.example%3Fsig%3D[REDACTED]"
        "%26access_token%3D[REDACTED]%26lang%3Den"
    )
    for words in ("the basic Questions were answered", "basic TypeScript help", "Basic plan renewal"):
        assert redact_text(words) == words
    assert redact_text("Basic YWxhZGRpbjpvcGVuc2VzYW1l") == "Basic [REDACTED]"


# --- normalize trusts JSON redacted at ingest under the same policy ---------------------------------


def _extracted(redacted_under: str | None) -> str:
    from fixtures.memory_raw import MemoryRawDay

    from calllog_pipeline.providers.leadconnector.mapping import normalize

    record = {
        "id": "c1",
        "createdAt": "2026-01-01T10:00:00Z",
        "extractedData": {"api_secret": "s3cr3t-value-1"},
    }
    raw = MemoryRawDay({"call_logs": [record]})
    raw.redacted_under = redacted_under
    (calls,) = [batch for table, batch in normalize(raw) if table == "calls"]
    return calls["extracted"][0].as_py()


def test_json_is_redacted_again_unless_the_raw_file_was_redacted_under_the_same_policy():
    # The in-memory records were never redacted: what normalize does with them shows whether it
    # trusted the raw file's fingerprint.
    assert "s3cr3t-value-1" not in _extracted(None)  # a file from before fingerprints
    assert "s3cr3t-value-1" not in _extracted("an older policy")
    assert "s3cr3t-value-1" not in _extracted(redaction.policy_fingerprint(["another-known-key-1"]))
    assert "s3cr3t-value-1" in _extracted(redaction.policy_fingerprint())  # trusted: not walked again


def test_the_fingerprint_changes_with_the_secrets_and_names_none_of_them():
    fingerprint = redaction.policy_fingerprint([API_KEY])
    assert fingerprint == redaction.policy_fingerprint([API_KEY])
    assert fingerprint != redaction.policy_fingerprint()
    assert API_KEY not in fingerprint


def test_ingest_fingerprints_its_files_and_no_credential_reaches_the_normalized_tables(monkeypatch, tmp_path):
    # The real path: the raw layer redacts and records its fingerprint, normalize trusts it.
    import dagster as dg
    import duckdb
    from test_ingest import DAY, partitions, point_at, raw_assets

    from calllog_pipeline.lake import Lake
    from calllog_pipeline.normalized import Privacy, build_normalized_assets
    from calllog_pipeline.providers import REGISTRY
    from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer

    part = partitions()
    with SimulatorServer(SimulatorConfig(seed=8, calls_per_day=60)) as sim:
        apis = point_at(sim, monkeypatch)
        # As in a deployment, the keys are in the environment from the process's start (a key
        # only remembered by one raw step makes the other steps' fingerprints differ: safe, but
        # then normalize redacts again and this would not test the trusted path).
        monkeypatch.setattr(redaction, "_from_env", None)
        monkeypatch.setattr(redaction, "_cache", {})
        keys = [v for k, v in sim.env().items() if k.endswith("_API_KEY")]
        lake = Lake(root=str(tmp_path / "lake"))
        assets = [*raw_assets(part), *build_normalized_assets(list(REGISTRY.values()), part)]
        dg.materialize(assets, resources={**apis, "lake": lake, "privacy": Privacy()}, partition_key=DAY)
    for provider in REGISTRY.values():
        raw = lake.raw_day(provider.name, DAY)
        assert {raw.redaction(e.name) for e in provider.endpoints} == {redaction.policy_fingerprint()}
    tables = tmp_path / "lake"
    text = "\n".join(
        str(row)
        for table in ("calls", "actions", "interactions", "quarantine")
        for row in duckdb.sql(f"SELECT * FROM read_parquet('{tables}/{table}/**/*.parquet')").fetchall()
    )
    assert "[REDACTED]" in text
    for key in keys:
        assert key not in text
    assert not re.search(r"secret_key_[0-9a-f]{8}", text)
    assert not re.search(r"'authenticationValue':\s*'(?!\[REDACTED\])", text)
    assert not re.search(r"(?i)bearer [A-Za-z0-9]{8}", text)


def test_an_object_sent_as_json_text_is_redacted_even_when_its_record_is_trusted():
    # Inside a JSON string the raw pass saw the object escaped (password=\\"...\\"); decoded, it
    # is read as the object and redacted as one, whatever the raw file's fingerprint says.
    from fixtures.memory_raw import MemoryRawDay

    from calllog_pipeline.providers.leadconnector.mapping import normalize

    note = orjson.dumps({"note": 'my password="hunter22x" ok'}).decode()
    record = {"id": "c1", "createdAt": "2026-01-01T10:00:00Z", "extractedData": note}
    raw = MemoryRawDay({"call_logs": [record]})
    raw.redacted_under = redaction.policy_fingerprint()
    (calls,) = [batch for table, batch in normalize(raw) if table == "calls"]
    assert "hunter22x" not in calls["extracted"][0].as_py()
