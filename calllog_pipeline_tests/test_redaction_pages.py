"""Pages large enough for the page path's own lower-casing (Arrow's, not ``bytes.lower``).

``redact_serialized_many`` lower-cases a page joined with Arrow's kernel once it is larger than
``_ARROW_LOWER_FROM``; smaller pages (every other test's) use ``bytes.lower``. Here every shape
of ``test_redaction.CASES``, its names in several cases, sits first, in the middle and last of
such a page, and each record must come back as it does alone.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calllog_pipeline import redact as redaction
from calllog_pipeline.redact import redact_serialized, redact_serialized_many
from calllog_pipeline_tests.test_redaction import API_KEY, CASES

FILLER = {
    "id": "f",
    "total_tokens": 12,
    "recording_url": "https://rec.example/f.mp3",
    "summary": "Caller asked about pricing and booked a visit. " * 8,
}


def _recased(value, case):
    """``value`` with every key (and string) in another letter case: markers are case-blind."""
    if isinstance(value, dict):
        return {case(k): _recased(v, case) for k, v in value.items()}
    if isinstance(value, list):
        return [_recased(v, case) for v in value]
    return case(value) if isinstance(value, str) else value


CASE_FORMS = {"as sent": str, "upper": str.upper, "title": str.title, "swapped": str.swapcase}


@pytest.mark.parametrize("form", CASE_FORMS)
def test_every_shape_in_a_large_page_comes_back_as_it_does_alone(form):
    shaped = [_recased(record, CASE_FORMS[form]) for _, record, _, _ in CASES]
    filler = [FILLER] * (redaction._ARROW_LOWER_FROM // len(orjson.dumps(FILLER)) // 2 + 1)
    records = shaped + filler + shaped + filler + shaped
    payloads = [orjson.dumps(record) for record in records]
    assert len(b"\n".join(payloads)) > redaction._ARROW_LOWER_FROM  # the Arrow path is taken
    page = redact_serialized_many(records, payloads, [API_KEY])
    assert page == [redact_serialized(r, p, [API_KEY]) for r, p in zip(records, payloads, strict=True)]
    if form == "as sent":
        text = b"".join(page)
        for _, _, secret, _ in CASES:
            assert secret.encode() not in text


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=4096), st.integers(min_value=-2, max_value=2))
def test_the_page_lower_casing_is_bytes_lower(data, beside):
    # Any bytes, not only UTF-8 (what a page holds is never trusted to be ASCII), just below,
    # at and above the size where Arrow's kernel takes over.
    page = (data * (redaction._ARROW_LOWER_FROM // len(data) + 1))[: redaction._ARROW_LOWER_FROM + beside]
    assert redaction._ascii_lower(page) == page.lower()


def test_the_page_lower_casing_above_the_threshold_is_bytes_lower():
    data = bytes(range(256)) * (2 * redaction._ARROW_LOWER_FROM // 256 + 1)
    assert redaction._ascii_lower(data) == data.lower()


# A credential's name inside a text, before what is assigned to it, in the forms ``_triage`` now
# checks before handing a hit on to ``_scrub`` (a word with nothing assigned after it is dropped).
ASSIGNMENTS = [
    "api_key=k1-secret-0001",
    "API-KEY: k1-secret-0002",
    "Api Key = k1-secret-0003",
    "api  key \t:\t k1-secret-0004",
    "api_key\t=\tk1-secret-0015",
    "password\t:\tk1-secret-0016",
    "X-Api-Key:k1-secret-0005",
    "password: 'k1-secret-0006'",
    'PassWord="k1-secret-0007"',
    "db.pwd = k1-secret-0008",
    "auth_header := k1-secret-0009",
    "Session.Cookie=k1-secret-0010",
    "client_credentials: k1-secret-0011",
    "PRIVATE_KEY_PATH=k1-secret-0012",
    "request.signature = k1-secret-0013",
    "a_very_long_" + "x" * 40 + "_apikey=k1-secret-0014",
]


@pytest.mark.parametrize("form", CASE_FORMS)
@pytest.mark.parametrize("where", ["alone", "after words", "in a JSON text"])
def test_an_assignment_after_a_marker_is_redacted_and_a_bare_word_kept(form, where):
    records = []
    for n, assignment in enumerate(ASSIGNMENTS):
        said = CASE_FORMS[form](assignment)
        if where == "after words":
            said = f"Checks order status via external API, then {said}, see https://api.example.com"
        elif where == "in a JSON text":
            said = orjson.dumps({"note": said, "api": "v2"}).decode()
        records.append({"id": f"a{n}", "description": "external API", "note": said})
    records += [FILLER] * 30
    payloads = [orjson.dumps(record) for record in records]
    page = redact_serialized_many(records, payloads, [API_KEY])
    for record, out in zip(records, page, strict=True):
        assert orjson.loads(out) == redaction.redact_value(record, [API_KEY])
    text = b"".join(page).decode().lower()
    for n in range(1, len(ASSIGNMENTS) + 1):
        assert f"k1-secret-{n:04d}" not in text
    assert "external api" in text
