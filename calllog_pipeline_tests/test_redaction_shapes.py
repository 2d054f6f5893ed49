"""Credentials in shapes a provider or a user really sends, which redaction once did not know.

Found by an adversarial review of ``redact.py`` (the fast paths against the full walk): JSON
escapes (``\\u0041``, ``\\/``) in a JSON document carried by a string or in plain text, header
lists as ``[name, value]`` pairs or ``{Name, Value}`` entries, URLs encoded once or twice, escaped
quotes seen through two levels of JSON, and the well-known shapes of API keys, JWTs and private
keys in free text (an LLM prompt, a tool call's arguments, an error body). Every shape goes through
each entry point: ``redact_value`` (the walk), ``redact_json`` and ``redact_serialized_many`` (the
fast paths over JSON text), ``redact_text`` and ``RedactingFilter``; the fast paths must give the
walk's result byte for byte, and at the end the shapes go through a loopback server, the raw
asset and normalization, to show they reach no Parquet file.
"""

from __future__ import annotations

import json
import logging

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calllog_pipeline.redact import (
    REDACTED,
    RedactingFilter,
    redact_json,
    redact_serialized_many,
    redact_strings,
    redact_text,
    redact_value,
)

API_KEY = "dnx_live_4f9a8b7c6d5e4f3a21"

# (id, record, secret that must be gone, {key: value that must stay})
SHAPES = [
    (
        "key name written with a \\u escape inside embedded JSON",
        {"id": "s1", "payload": '{"api\\u005fkey": "esc-key-value-0001", "event": "call_ended"}'},
        "esc-key-value-0001",
        {"id": "s1"},
    ),
    (
        "every letter of the key name escaped",
        {
            "id": "s2",
            "payload": '{"\\u0070\\u0061\\u0073\\u0073\\u0077\\u006f\\u0072\\u0064": "esc-pw-0002"}',
        },
        "esc-pw-0002",
        {"id": "s2"},
    ),
    (
        "escaped slashes in a URL with a password, inside embedded JSON",
        {"id": "s3", "payload": '{"url": "https:\\/\\/rec:esc-url-pw-0003@media.example\\/r.mp3"}'},
        "esc-url-pw-0003",
        {"id": "s3"},
    ),
    (
        "escaped slashes in a URL with a password, in plain text",
        {"id": "s4", "note": "webhook https:\\/\\/hook:esc-url-pw-0004@crm.example\\/in failed"},
        "esc-url-pw-0004",
        {"id": "s4"},
    ),
    (
        "the provider's API key with an escaped letter inside embedded JSON",
        {"id": "s5", "payload": '{"msg": "bad key ' + API_KEY.replace("f", "\\u0066") + '"}'},
        API_KEY,
        {"id": "s5"},
    ),
    (
        "bearer credential behind a \\u escape",
        {"id": "s6", "payload": '{"note": "Authorization: Bearer \\u0041esc-bearer-0006"}'},
        "esc-bearer-0006",
        {"id": "s6"},
    ),
    (
        "Authorization header as [name, value] pairs",
        {"id": "s7", "headers": [["Content-Type", "application/json"], ["Authorization", "pair-cred-0007"]]},
        "pair-cred-0007",
        {"id": "s7", "headers": [["Content-Type", "application/json"], ["Authorization", REDACTED]]},
    ),
    (
        "x-api-key as [name, value] pairs inside embedded JSON",
        {"id": "s8", "request": json.dumps({"headers": [["x-api-key", "pair-key-0008"], ["Accept", "*/*"]]})},
        "pair-key-0008",
        {"id": "s8"},
    ),
    (
        "header entries spelled Name/Value",
        {"id": "s9", "headers": [{"Name": "Authorization", "Value": "cap-entry-0009"}]},
        "cap-entry-0009",
        {"id": "s9"},
    ),
    (
        "header entries spelled header/value and field/value",
        {
            "id": "s10",
            "headers": [
                {"header": "X-Api-Key", "value": "hdr-entry-0010"},
                {"field": "Cookie", "value": "fld-entry-0010"},
                {"header": "Accept", "value": "text/plain"},
            ],
        },
        "entry-0010",
        {"id": "s10"},
    ),
    (
        "double-encoded access_token in a redirect",
        {
            "id": "s11",
            "redirect": "https://crm.example/cb?next=https%253A%252F%252Fapp.example%252Fok%253Faccess_token"
            "%253Ddbl-enc-0011%2526lang%253Den",
        },
        "dbl-enc-0011",
        {"id": "s11"},
    ),
    (
        "URL-encoded URL with a password",
        {"id": "s12", "next": "https%3A%2F%2Frec%3Aenc-url-pw-0012%40media.example%2Fr.mp3"},
        "enc-url-pw-0012",
        {"id": "s12"},
    ),
    (
        'password=\\"...\\" inside embedded JSON',
        {"id": "s13", "payload": json.dumps({"note": 'login with password="esc-quote-0013" ok'})},
        "esc-quote-0013",
        {"id": "s13"},
    ),
    (
        "GCS and Azure presigned recording URLs",
        {
            "id": "s20",
            "recording_url": "https://storage.googleapis.com/b/r.mp3?X-Goog-Algorithm=GOOG4-RSA-SHA256"
            "&X-Goog-Credential=svc%40p.iam.gserviceaccount.com%2F20260101&X-Goog-Expires=900"
            "&X-Goog-Signature=0020goog5ign4ture",
            "backup_url": "https://acct.blob.core.windows.net/c/r.mp3?sv=2022-11-02&se=2026-01-01T00%3A00Z"
            "&sp=r&sig=0020azure5ig%3D",
        },
        "0020",
        {"id": "s20"},
    ),
    (
        "a credential-named key beside a header entry's name and value",
        {"id": "s22", "entry": {"key": "Authorization", "value": "hv-0022-abcdef", "token": "tk-0022-abc"}},
        "0022",
        {"id": "s22"},
    ),
    (
        "Bearer followed by a colon",
        {"id": "s21", "note": "retrying with Bearer: brc-0021-abcdef"},
        "brc-0021-abcdef",
        {"id": "s21"},
    ),
    (
        "a JWT standing alone",
        {
            "id": "s14",
            "note": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTAwMTQifQ.jwt-sig-0014_abcdefghij",
        },
        "jwt-sig-0014",
        {"id": "s14"},
    ),
    (
        "a private key block in a prompt",
        {
            "id": "s15",
            "llm_prompt": "Use this key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEApem0015\n"
            "-----END RSA PRIVATE KEY-----\nthen call the CRM.",
        },
        "MIIEpAIBAAKCAQEApem0015",
        {"id": "s15"},
    ),
    (
        "a Stripe key in a tool call's arguments",
        {"id": "s16", "function_call_data": [{"args": {"note": "charge with sk_live_51Hstr1pe0016xyzABC"}}]},
        "sk_live_51Hstr1pe0016xyzABC",
        {"id": "s16"},
    ),
    (
        "an OpenAI project key in an error body",
        {"id": "s17", "error_body": "Incorrect API key provided: sk-proj-Ab12Cd34Ef56Gh78Ij90Kl0017."},
        "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl0017",
        {"id": "s17"},
    ),
    (
        "Slack and ElevenLabs keys in a transcript",
        {
            "id": "s18",
            "transcript": "human: the bot token is xoxb-1234567890-0018abcdefghij\n"
            "bot: and sk_0018" + "3f9a" * 11 + " for the voice",
        },
        "0018",
        {"id": "s18"},
    ),
    (
        "a Google API key in a webhook URL",
        {
            "id": "s19",
            "webhook_url": "https://maps.example/geo?q=x&k=AIzaSyA0019bcdefghijklmnopqrstuvwxyz123",
        },
        "AIzaSyA0019bcdefghijklmnopqrstuvwxyz123",
        {"id": "s19"},
    ),
    (
        "a key's name in two words in a note (API Key: ...)",
        {"id": "s20", "note": "Caller read out their API Key: plain-words-key-0020 twice"},
        "plain-words-key-0020",
        {"id": "s20"},
    ),
    (
        "a secret key assigned in a tool call's arguments (Secret Key=...)",
        {"id": "s21", "arguments": "crm=hubspot Secret Key=plain-words-key-0021"},
        "plain-words-key-0021",
        {"id": "s21"},
    ),
    (
        "a Slack webhook URL in an OmniDimension delivery (its path is the credential)",
        {
            "id": "s22",
            "post_call_actions": {
                "slack_service_ids": [
                    {
                        "webhook_url": "https://hooks.slack.com/services/T0SLACK22/B0SLACK22/slackWebhook0022xyz"
                    }
                ]
            },
        },
        "slackWebhook0022xyz",
        {"id": "s22"},
    ),
    (
        "a Discord webhook URL in a tool's note, any case",
        {"id": "s23", "note": "posting to HTTPS://Discord.com/api/webhooks/1230023/discordToken0023-abc now"},
        "discordToken0023",
        {"id": "s23"},
    ),
]

# Values that only look like credentials and must come back exactly as sent.
KEPT = {
    "total_tokens": 812,
    "passenger": "Ms. Aubergine",
    "author": "agent-7",
    "tokenizer": "cl100k_base",
    "secretary": "Ms. Moneypenny",
    "checks_passed": 3,
    "passing_score": 0.8,
    "bypass_reason": "manual",
    "tags": ["password", "reset"],
    "pairs": [["lang", "en"], ["total_tokens", 12]],
    "desk": "sk-desk-2",  # a word that begins like a key
    "note_de": "Grüße aus Köln: das Passwort wurde zurückgesetzt",
    "windows_path": "C:\\users\\agent\\notes.txt",
    "escaped_plain": "caf\\u00e9 at 5\\/6",
    "headers_ok": [{"Name": "Accept", "Value": "text/html"}],
}


@pytest.mark.parametrize(("record", "secret", "intact"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_each_shape_is_redacted_by_the_walk_and_the_fast_paths_alike(record, secret, intact):
    record = {**record, **KEPT}
    walked = redact_value(record, [API_KEY])
    fast = redact_json(record, [API_KEY])
    (paged,) = redact_serialized_many([record], [orjson.dumps(record)], [API_KEY])
    assert secret not in orjson.dumps(walked).decode(), "the walk leaks it"
    assert secret not in fast.decode(), "the fast path leaks it"
    assert fast == paged == orjson.dumps(walked), "the fast paths must give the walk's bytes"
    for key, value in {**intact, **KEPT}.items():
        assert walked[key] == value


@pytest.mark.parametrize(("record", "secret"), [s[1:3] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_each_shape_is_redacted_in_messages_and_log_lines(record, secret, caplog):
    # A message quoting the record (an error body, a log line): its text, not a decoded value.
    text = json.dumps(record)
    assert secret not in redact_text(text, [API_KEY])
    assert secret not in redact_strings([text], [API_KEY])[0]
    logger = logging.getLogger("calllog_pipeline.test_redaction_shapes")
    logger.addFilter(RedactingFilter([API_KEY]))
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("provider answered %s", text)
    assert secret not in caplog.text


def test_words_that_only_look_like_credentials_are_kept_everywhere():
    assert redact_value(KEPT) == KEPT
    assert redact_json(KEPT) == orjson.dumps(KEPT)
    for text in (
        "passenger Aubergine",
        "author: agent-7",
        "sk-desk-2",
        "xoxo from the team",
        "eyJust kidding",
        "the api key ring: blue",  # "key ring", not "key"
        "press the API key button",
    ):
        assert redact_text(text) == text


# --- generated records: the fast paths give the walk's bytes, and a second pass finds nothing ---------


# Pieces a record is made of: credential names and words that only look like them, the marker
# words, URLs, escapes of every kind, quotes, non-ASCII letters, and the known key.
NAMES = st.sampled_from(
    [
        "id", "note", "api_key", "apiKey", "x-api-key", "API_KEY", "clientSecret", "accessToken",
        "refresh_token", "webhookSecret", "authenticationValue", "Authorization", "password",
        "passenger", "author", "session_id", "total_tokens", "token_count", "key", "name", "value",
        "Name", "Value", "header", "field", "headers", "payload", "url", "tokens", "authenticated",
    ]
)  # fmt: skip
PIECES = st.sampled_from(
    [
        " ", "\n", "\t", "=", ":", ": ", "&", "?", "%3D", "%26", "%253D", "%3A%2F%2F", "%40", "@", "/",
        '"', "'", "\\", "\\n", '\\"', "\\/", "\\u0041", "\\u005f", "ü", "Straße", "密码",
        "token", "tokens", "Bearer ", "basic ", "Token ", "password", "passenger", "secret_key_",
        "api_key", "API Key", " key", "auth", "session", "sig", "https://", "user:pw123456@",
        "https:\\/\\/u:p4ssw0rd99@h",
        "?access_token=", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.", "sk_live_", "sk-proj-", "xoxb-",
        "-----BEGIN PRIVATE KEY-----", "-----END", "abcdef123456", "QWxhZGRpbjpvcGVu", "42",
        "hooks.slack.com/services/", "Discord.com/api/webhooks/",
        "{", "}", "[", "]", API_KEY,
    ]
)  # fmt: skip
TEXTS = st.lists(PIECES, max_size=8).map("".join)


def _documents(children):
    return st.one_of(
        st.dictionaries(NAMES, children, max_size=4),
        st.lists(children, max_size=3),
        st.tuples(NAMES, children).map(list),  # a [name, value] pair
        st.tuples(st.sampled_from(["key", "name", "Name", "header"]), NAMES, children).map(
            lambda t: {t[0]: t[1], "value": t[2]}
        ),
    )


LEAVES = st.one_of(TEXTS, st.integers(-(2**40), 2**40), st.booleans(), st.none(), st.floats(allow_nan=False))
VALUES = st.recursive(
    LEAVES,
    lambda children: st.one_of(_documents(children), _documents(children).map(json.dumps)),
    max_leaves=12,
)
RECORDS = st.dictionaries(NAMES, VALUES, max_size=6)


@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(RECORDS)
def test_generated_records_the_fast_paths_agree_with_the_walk_and_keep_nothing_to_find(record):
    walked = orjson.dumps(redact_value(record, [API_KEY]))
    assert redact_json(record, [API_KEY]) == walked
    assert redact_serialized_many([record], [orjson.dumps(record)], [API_KEY]) == [walked]
    assert API_KEY not in walked.decode()
    # Normalize trusts a raw file redacted under the same policy and does not redact its values
    # again: that is only safe if a second pass finds nothing more.
    assert orjson.dumps(redact_value(orjson.loads(walked), [API_KEY])) == walked


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(st.lists(RECORDS, max_size=5))
def test_generated_pages_are_redacted_as_the_walk_redacts_each_record(records):
    """A page is scanned joined and only the records it shows may change are looked at: each
    comes back as the walk gives it."""
    payloads = [orjson.dumps(record) for record in records]
    page = redact_serialized_many(records, payloads, [API_KEY])
    assert page == [orjson.dumps(redact_value(record, [API_KEY])) for record in records]


# --- end to end: a provider on loopback sends the shapes; no Parquet file holds them ------------------


def _call_log(n: int, created: str) -> dict:
    """A LeadConnector call log carrying the shapes where a provider would: a custom action's
    headers and URL, the extracted data, the transcript, and fields no column maps."""
    return {
        "id": f"call-{n:03d}",
        "agentId": "agent-1",
        "contactId": "contact-1",
        "createdAt": created,
        "duration": 61,
        "callType": "LIVE",
        "trialCall": False,
        "transcript": "bot: Hello\nhuman: my token is\nBearer e2e-newline-bearer-01\n"
        "human: and xoxb-1234567890-e2eslack0001 too",
        "extractedData": {
            "note": 'copied from the CRM: "api\\u005fkey": "e2e-escaped-key-02"',
            "crm": '{"client\\u005fsecret": "e2e-escaped-secret-03", "region": "eu"}',
        },
        "executedCallActions": [
            {
                "actionId": f"a-{n}",
                "actionType": "CUSTOM_ACTION",
                "actionName": "Check order",
                "actionParameters": {
                    "apiDetails": {
                        "url": "https://crm.example/cb?next=https%253A%252F%252Fapp%252F%253Faccess_token"
                        "%253De2e-double-04%2526x%253D1",
                        "headers": [["Authorization", "e2e-pair-05"], ["Accept", "application/json"]],
                        "moreHeaders": [{"Name": "X-Api-Key", "Value": "e2e-entry-06"}],
                    }
                },
                "executedAt": created,
            }
        ],
        "requestLog": "POST /hook HTTP/1.1\nAuthorization: Bearer e2e-block-07\n\n"
        '{"webhook": "https:\\/\\/hook:e2e-escaped-url-08@crm.example\\/in"}',
        "passenger": "Ms. Aubergine",
    }


E2E_SECRETS = [f"e2e-{s}" for s in ("newline-bearer-01", "escaped-key-02", "escaped-secret-03", "double-04")]
E2E_SECRETS += [f"e2e-{s}" for s in ("pair-05", "entry-06", "block-07", "escaped-url-08")] + ["e2eslack0001"]


def test_shapes_sent_by_a_provider_reach_no_raw_or_normalized_parquet_file(tmp_path, monkeypatch):
    from datetime import UTC, datetime, timedelta

    import dagster as dg
    import duckdb
    from loopback import Listing
    from test_contract_http import iso

    from calllog_pipeline import redact as redaction
    from calllog_pipeline.lake import Lake
    from calllog_pipeline.normalized import Privacy, build_normalized_assets
    from calllog_pipeline.providers import REGISTRY
    from calllog_pipeline.raw.assets import build_raw_asset

    monkeypatch.setattr(redaction, "_remembered", set())  # the key below is remembered by the run
    monkeypatch.setattr(redaction, "_cache", {})
    day = "2026-03-02"
    start = datetime(2026, 3, 2, tzinfo=UTC)
    records = [_call_log(n, iso(start + timedelta(minutes=37 * n))) for n in range(30)]

    def answer(path: str, query: dict[str, str]) -> dict:
        page, size = int(query.get("page", 1)), min(int(query.get("pageSize", 10)), 50)
        return {
            "total": len(records),
            "page": page,
            "pageSize": size,
            "callLogs": records[(page - 1) * size :][:size],
        }

    provider = REGISTRY["leadconnector"]
    part = dg.DailyPartitionsDefinition(start_date="2026-01-01")
    assets = [build_raw_asset(provider, e, part) for e in provider.endpoints]
    assets += build_normalized_assets([provider], part)
    lake = Lake(root=str(tmp_path))
    with Listing(answer) as server:
        api = type(provider.api())(
            base_url=server.url, api_key=API_KEY, location_id="loc", rate_limit_requests=1000
        )
        dg.materialize(
            assets, resources={"lake": lake, "leadconnector": api, "privacy": Privacy()}, partition_key=day
        )
    # Normalize trusted the raw file's redaction (same policy, same keys): what the fast path
    # wrote is all that stands between the secrets and the normalized tables.
    raw = lake.raw_day(provider.name, day)
    assert {raw.redaction(e.name) for e in provider.endpoints} == {redaction.policy_fingerprint()}
    files = sorted(str(p) for p in tmp_path.rglob("*.parquet"))
    assert any("/raw/" in f for f in files) and any("/calls/" in f for f in files)
    assert any("/actions/" in f for f in files) and any("/interactions/" in f for f in files)
    text = "\n".join(str(duckdb.sql(f"SELECT * FROM read_parquet('{f}')").fetchall()) for f in files)
    assert text.count("call-0") >= 4 * 30  # every call in raw, calls, actions and interactions
    for secret in E2E_SECRETS:
        assert secret not in text, secret
    assert "Ms. Aubergine" in text and "Bearer [REDACTED]" in text


def test_a_logged_traceback_is_redacted_like_the_message(caplog):
    logger = logging.getLogger("calllog_pipeline.test_redaction_shapes.traceback")
    logger.addFilter(RedactingFilter([API_KEY]))
    with caplog.at_level(logging.INFO, logger=logger.name):
        try:
            raise ValueError(f"provider said: api_key=tb-secret-123456 (sent {API_KEY})")
        except ValueError:
            logger.exception("page 3 failed")
    assert "ValueError: provider said: api_key=[REDACTED]" in caplog.text
    assert "tb-secret-123456" not in caplog.text and API_KEY not in caplog.text


def test_a_failing_normalize_day_logs_and_reports_its_error_redacted(tmp_path, monkeypatch):
    import dagster as dg

    from calllog_pipeline.lake import Lake
    from calllog_pipeline.normalized import Privacy, assets, build_normalized_assets
    from calllog_pipeline.providers import REGISTRY

    def broken(*_):  # an error quoting a record, as a library's message may
        raise ValueError('could not read {"Name": "Authorization", "Value": "nf-secret-123456"}')

    monkeypatch.setattr(assets, "raw_versions", broken)
    provider = next(iter(REGISTRY.values()))
    part = dg.DailyPartitionsDefinition(start_date="2026-01-01")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize(
            build_normalized_assets([provider], part),
            resources={"lake": Lake(root=str(tmp_path / "lake")), "privacy": Privacy()},
            partition_key="2026-03-02",
            instance=instance,
            raise_on_error=False,
        )
        said = "\n".join(str(event) for event in instance.all_logs(result.run_id))
    assert not result.success and "normalization failed" in said and "could not read" in said
    assert "nf-secret-123456" not in said


def test_long_texts_full_of_markers_are_redacted_like_short_ones():
    # Long runs of markers with no separator (a minified blob, a pasted log) used to be read once
    # per marker (a 100 kB "tokentoken..." took minutes); names and values are now read once.
    assert redact_text("token=" * 3000) == "token=" + REDACTED
    assert redact_text("password=" + "x" * 50_000 + " ok") == f"password={REDACTED} ok"
    assert redact_text("api_key=x " * 2000) == f"api_key={REDACTED} " * 2000
    assert redact_text("token" * 3000 + "=abc123456") == "token" * 3000 + "=" + REDACTED
    record = {"note": "a" * 50_000 + " auth_token: tk-123456 " + "token=" * 1000}
    assert redact_json(record) == orjson.dumps(redact_value(record))
    assert b"tk-123456" not in redact_json(record)
