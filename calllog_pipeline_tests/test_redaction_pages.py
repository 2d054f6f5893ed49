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


# --- decisions read from a window, remembered from call to call ---------------------------------

# Pieces of the text around a JSON string and inside it: markers in several cases, names, signs,
# quotes and escapes, blanks, brackets (ASCII only: the bytes path reads ASCII payloads alone).
AROUND = st.sampled_from(
    [
        '{"key":', '"name":', '{"Key":', '[', '[ ', '\\"', '"', ',', ':', '{', '}', ']', ' ', '\\t',
        '"value":"v"', 'api', 'x', '"headers":[', '"apiDetails":', '\\\\', '=', '?', '&',
    ]
)  # fmt: skip
INSIDE = st.sampled_from(
    [
        "api", "API", "Api", "token", "Token", "tokens", "secret", "auth", "Authorization", "pass",
        "pwd", "session", "cookie", "credential", "signature", "private", "key", " key", "_key",
        "=", ":=", ":", " ", "\\t", "\\\\", '\\"', "x", "_", "-", ".", "%3d", "%253d", "://",
        "u:pw123456@", "@", "secret_key_ab12", "Bearer ", "basic ", "abc123456789", "sk_live_abcdef123456",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.", "external ", "?", "&", "[REDACTED]",
    ]
)  # fmt: skip


def _string_hits(text: str):
    """The hits of ``text`` as the bytes path meets them (counters read as "token"), each with
    the string holding it when a character of ":,}]" follows that string."""
    lowered = text.lower()
    hits = redaction._SCAN.find_matches_as_indexes(lowered.encode())
    hits += [(redaction._EQUALS, at, at + 1) for at in redaction._positions(lowered, "=")]
    for marker, at, end in hits:
        if marker == redaction._COUNTER_KEY:
            marker, end = redaction._TOKEN, at + len("token")
        open_quote, close_quote = lowered.rfind('"', 0, at), lowered.find('"', at)
        after = lowered[close_quote + 1 : close_quote + 2] if close_quote != -1 else ""
        if open_quote != -1 and after and after in ":,}]":
            yield lowered, marker, at, end, open_quote, close_quote


@settings(max_examples=600, derandomize=True, deadline=None, database=None)
@given(
    st.lists(AROUND, max_size=6).map("".join),
    st.lists(INSIDE, min_size=1, max_size=6).map("".join),
    st.sampled_from(":,}]"),
    st.lists(st.one_of(AROUND, INSIDE), max_size=6).map("".join),
)
def test_a_window_decides_as_the_whole_text(before, inside, after_quote, after):
    """A hit in a JSON string followed by one of ":,}]" is decided by ``_decide`` from the string
    and a few characters around it (24 before, 2 after), and, in a value (followed by one of
    ",}]"), read by ``_span_at`` from the string alone: the bytes path decides, remembers and
    reads them so. Whatever stands outside, the window gives what the whole text gives."""
    text = f'{before}"{inside}"{after_quote}{after}'
    for lowered, marker, at, end, open_quote, close_quote in _string_hits(text):
        if marker < redaction._NAME_MARKERS:
            entry_key = text[open_quote - 6 : open_quote]
            whole = redaction._decide(lowered, marker, at, end, open_quote, close_quote, entry_key)
            start = max(0, open_quote - redaction._BEFORE_STRING)
            window = lowered[start : close_quote + 3]
            shifted = (at - start, end - start, open_quote - start, close_quote - start)
            assert redaction._decide(window, marker, *shifted, entry_key) == whole, (text, marker, at)
        alone = redaction._left_span(text.encode(), lowered.encode(), marker, at, end)
        if after_quote == ":" and close_quote == len(before) + 1 + len(inside):
            assert alone is redaction._UNTOLD  # a key: what is assigned to it is read in the text
        elif alone is not redaction._UNTOLD:
            assert alone == redaction._span_at(text, lowered, marker, at, end), (text, marker, at)


def _custom_action(secret: str, header: bool, token: bool, case=str) -> dict:
    url = "https://api.example.com/orders" + (f"?token={secret[:12]}" if token else "")
    headers = [{"key": "Content-Type", "value": "application/json"}]
    if header:
        headers.append({"key": "Authorization", "value": f"Bearer {secret}"})
    return _recased(
        {
            "actionType": "CUSTOM_ACTION",
            "description": "Checks order status via external API",
            "actionParameters": {
                "apiDetails": {
                    "url": url,
                    "authenticationRequired": True,
                    "authenticationValue": f"sk_live_{secret}",
                    "headers": headers,
                }
            },
        },
        case,
    )


@pytest.mark.parametrize("form", CASE_FORMS)
def test_a_configuration_sent_again_and_again_is_redacted_as_the_walk_redacts_it(form):
    """A custom action's configuration comes back in call after call with other secrets: its keys'
    and texts' decisions are remembered, never its values. Each call is redacted as the walk
    redacts it, whether the decisions were remembered or not, beside the same words where they
    decide otherwise (a key holding an object, a text with something assigned)."""
    case = CASE_FORMS[form]
    records = []
    for n in range(60):
        secret = f"s{n:03d}cret{n * 7919:08d}"
        action = _custom_action(secret, header=n % 3 == 0, token=n % 4 == 0, case=case)
        record = {"id": f"c{n}", "executedCallActions": [action], "total_tokens": n}
        if n % 5 == 0:  # the same key holding an object (walked), and a text with an assignment
            record["apiDetails"] = {"authenticationValue": {"nested": f"n-{secret}"}}
            record["note"] = case(f"Checks order status via external API key={secret}")
        if n % 7 == 0:
            record["payload"] = orjson.dumps(
                {"call_sid": f"secret_key_{secret}", "url": "https://x.example"}
            ).decode()
        records.append(record)
    payloads = [orjson.dumps(record) for record in records]
    walked = [orjson.dumps(redaction.redact_value(record, [API_KEY])) for record in records]
    redaction._decisions.clear()
    assert redact_serialized_many(records, payloads, [API_KEY]) == walked  # decided as they come
    assert redact_serialized_many(records, payloads, [API_KEY]) == walked  # remembered
    text = b"".join(walked).decode().lower()
    for n in range(60):
        assert f"s{n:03d}cret" not in text
