"""The shared HTTP layer's waits, and credential redaction, on the providers' own examples."""

import json
from pathlib import Path

import httpx
import orjson

from calllog_pipeline.http import retry_after_seconds
from calllog_pipeline.redact import REDACTED, redact_json

FIXTURES = Path(__file__).parent / "fixtures"


def test_waits_follow_whatever_header_the_provider_sends():
    now = 1_700_000_000.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "7"}), now) == 7.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "Tue, 14 Nov 2023 22:13:30 GMT"}), now) == 10.0
    # DialNexa: X-RateLimit-Reset as epoch seconds, or as seconds from now.
    assert retry_after_seconds(httpx.Headers({"X-RateLimit-Reset": str(int(now) + 3)}), now) == 3.0
    assert retry_after_seconds(httpx.Headers({"X-RateLimit-Reset": "4"}), now) == 4.0
    # LeadConnector: the burst interval, once the remaining budget is spent.
    lc = {"X-RateLimit-Remaining": "0", "X-RateLimit-Interval-Milliseconds": "10000"}
    assert retry_after_seconds(httpx.Headers(lc), now) == 10.0
    # OmniDimension: a bare 429; the provider's default wait applies.
    assert retry_after_seconds(httpx.Headers({}), now) is None


def _fixture_with(text: str):
    for path in sorted(FIXTURES.glob("*.json")):
        if text in path.read_text():
            return json.loads(path.read_text())
    raise AssertionError(f"no fixture contains {text!r}")


def test_leadconnector_custom_action_credentials_are_redacted():
    record = _fixture_with("authenticationValue")
    out = redact_json(record).decode()
    assert "token123" not in out
    assert f'"authenticationValue":"{REDACTED}"' in out
    assert "Check Order Status" in out, "everything else is kept as received"


def test_omnidimension_webhook_call_sid_is_redacted_inside_its_json_string():
    record = _fixture_with("secret_key_")
    out = redact_json(record).decode()
    assert "secret_key_" not in out and "fb6cac5ad0ba353d30768b2f6d92dab3" not in out
    assert "webhook.site" in out


def test_headers_tokens_in_urls_and_known_keys_are_redacted():
    record = {
        "headers": [
            {"key": "Authorization", "value": "Bearer abcdef123456"},
            {"key": "Accept", "value": "json"},
        ],
        "url": "https://api.example.com/orders?id=5&token=s3cr3t&x=1",
        "note": "called with key live-key-42",
    }
    out = orjson.loads(redact_json(record, known_secrets=["live-key-42"]))
    assert out["headers"] == [{"key": "Authorization", "value": REDACTED}, {"key": "Accept", "value": "json"}]
    assert out["url"] == f"https://api.example.com/orders?id=5&token={REDACTED}&x=1"
    assert out["note"] == f"called with key {REDACTED}"


def test_clean_records_are_left_byte_for_byte():
    record = {"id": "call_x9y3zp4mq7r1", "status": "completed", "duration_sec": 142}
    assert redact_json(record) == orjson.dumps(record)
