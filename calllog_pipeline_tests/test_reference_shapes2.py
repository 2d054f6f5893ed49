"""Shapes an independent implementation of the provider APIs may send, round 2 (round 1:
``test_reference_shapes``): HTTP habits of real servers and proxies the reference pages
(shared/provider-api/*.txt) do not rule out, served on loopback by the documented listings of
``test_contract_http``. Every call of the day lands once, or the run fails saying what to change,
never showing the API key."""

from __future__ import annotations

import gzip
import json
import math
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import test_contract_http as contract
from aiohttp.compression_utils import HAS_BROTLI
from alert_receivers import self_signed_certificate
from fixtures.memory_raw import fixed_ingestion_time, fixture, run  # noqa: F401
from loopback import Listing, Reply
from test_reference_shapes import EACH_START_FIELD

from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.providers.dialnexa.mapping import normalize as dialnexa

RECORDS_KEYS = ("data", "callLogs", "call_log_data")


def records_of(body: dict) -> list[dict]:
    return body[next(key for key in RECORDS_KEYS if key in body)]


# --- a redirect that leaves the key behind -----------------------------------------------------------


# The key is sent only to the base URL's own origin: aiohttp drops it on a redirect to another host,
# port or scheme. The usual case is a base URL written http:// for an https:// API: the server
# answers 301 to https://, the same host on another port and scheme. The refusal that follows is no
# wrong key: the user is told where the API answered and to point the base URL there.
def test_a_redirect_to_another_port_says_to_fix_the_base_url_not_the_key(tmp_path):
    def refused(number, path, query, body):
        return Reply(401, {"error": {"code": "unauthorized", "message": "missing bearer token"}})

    with contract.serve("dialnexa", "calls", refused) as there:

        def moved(number, path, query, body):
            return Reply(301, b"", {"Location": f"{there.url}{path}?{urlencode(query)}"})

        result, _ = contract.run_day("dialnexa", "calls", moved, tmp_path)
    assert not result.success
    said = contract.failure(result)
    assert f"redirected to {there.url}/calls" in said and "set DIALNEXA_BASE_URL" in said
    assert "check DIALNEXA_API_KEY" not in said and contract.KEY not in said
    assert there.requests and all("Authorization" not in headers for _, _, headers in there.requests)


# --- a provider too slow for the read timeout --------------------------------------------------------


# A large page at a busy hour can take longer than the read timeout on every attempt; that looks
# like an outage, but the fix is a setting. The failure names the timeout and its variable.
def test_answers_slower_than_the_read_timeout_fail_naming_the_timeout_setting(tmp_path):
    def slow(number, path, query, body):
        time.sleep(1.5)
        return body

    result, server = contract.run_day(
        "omnidimension", "call_logs", slow, tmp_path, read_timeout_s=0.5, max_attempts=2
    )
    assert not result.success
    said = contract.failure(result)
    assert "kept failing (read timeout)" in said
    assert "waited 0.5 s (OMNIDIM_READ_TIMEOUT_S)" in said and "raise OMNIDIM_READ_TIMEOUT_S" in said
    assert len(server.queries) == 2


# --- bodies that cannot be read as sent -------------------------------------------------------------


# A body in an encoding we never asked for (br: brotli is not installed, so our Accept-Encoding
# names gzip and deflate only; a CDN that compresses regardless) and a body shorter than its
# Content-Length (a proxy or server cut off mid-answer) are retried, and the failure says which.
def brotli(number, path, query, body):
    return Reply(
        200, b"\x1b\x03\x00\xf8\xa5\x02", {"Content-Type": "application/json", "Content-Encoding": "br"}
    )


def cut_short(number, path, query, body):
    whole = json.dumps(body).encode()
    return Reply(
        200, whole[: len(whole) // 2], {"Content-Type": "application/json", "Content-Length": str(len(whole))}
    )


@pytest.mark.parametrize(
    ("quirk", "reason"),
    [(brotli, "undecodable body (Content-Encoding: br"), (cut_short, "body cut short")],
    ids=["br-unasked", "cut-short"],
)
def test_a_body_that_cannot_be_read_as_sent_is_retried_and_named(quirk, reason, tmp_path):
    if quirk is brotli and HAS_BROTLI:
        pytest.skip("brotli is installed: aiohttp asks for br and reads it")

    def once(number, path, query, body):
        return quirk(number, path, query, body) if number == 1 else body

    contract.assert_every_call_once("leadconnector", "call_logs", once, tmp_path)
    result, server = contract.run_day("leadconnector", "call_logs", quirk, tmp_path / "always")
    assert not result.success and len(server.queries) == contract.FAST["max_attempts"]
    assert f"kept failing ({reason}" in contract.failure(result)


# --- JSON nested deeper than a parser goes -------------------------------------------------------------


# orjson refuses nesting past 1024 levels and the standard library's parser runs out of stack near
# there: a page that deep (a runaway serializer) is an unreadable answer, retried like a cut-off
# one, not a crash that names a RecursionError.
def nested_too_deep_once(number, path, query, body):
    if number != 1:
        return body
    text = json.dumps(body)
    return Reply(200, (text[:-1] + ', "debug": ' + "[" * 5000 + "]" * 5000 + "}").encode())


@pytest.mark.parametrize(("provider", "endpoint"), contract.ENDPOINTS[2:], ids=contract.IDS[2:])
def test_a_page_nested_too_deep_to_parse_is_retried(provider, endpoint, tmp_path):
    contract.assert_every_call_once(provider, endpoint, nested_too_deep_once, tmp_path)


# --- a total written as a float ------------------------------------------------------------------------


# A server that keeps its count in a float column, or writes every number as one, sends the total as
# 206.0, or as the text "206.0" (some serializers write large numbers as text; round 1 read "206").
def total_as_float_text(number, path, query, body):
    holder = body.get("meta", body)
    key = next(k for k in ("total", "total_records") if k in holder)
    holder[key] = f"{float(holder[key])}"
    return body


@pytest.mark.parametrize(("provider", "endpoint"), contract.ENDPOINTS, ids=contract.IDS)
def test_a_total_sent_as_float_text_lands_every_call_once(provider, endpoint, tmp_path):
    contract.assert_every_call_once(provider, endpoint, total_as_float_text, tmp_path)


# --- a rate limit that says "now" --------------------------------------------------------------------


# Retry-After has whole seconds, and a server that rounds the rest of its window down answers
# "Retry-After: 0" while its window still refuses. Taken as "retry at once", every attempt lands in
# the same window and the day fails as a provider that is down; the client waits at least a second.
def window_of_a_second_and_a_half(started: list[float]):
    def quirk(number, path, query, body):
        now = time.time()
        started.append(started[0] if started else now)
        if now - started[0] < 1.5:
            headers = {"Retry-After": "0"}
            return Reply(429, {"error": {"code": "rate_limited"}}, headers)
        return body

    return quirk


@pytest.mark.parametrize("endpoint", ["calls", "call_logs"])
def test_a_429_asking_to_wait_zero_seconds_is_waited_out_not_retried_at_once(endpoint, tmp_path):
    contract.assert_every_call_once(
        "dialnexa", endpoint, window_of_a_second_and_a_half([]), tmp_path, max_backoff_s=5.0
    )


# --- start times in the forms other stacks write --------------------------------------------------------


# The pages write `2024-03-01T10:00:00.000Z`. A server in another stack writes the same instant its
# own way: Ruby's `Time#to_s` and SQL text casts name the zone after the time ("... UTC"), Go's
# `Time.String` adds the offset too, JavaScript's `toUTCString` and HTTP dates are RFC 2822, and a
# template may leave a blank around the value. Each is one instant: it lands in its day, read alike
# by the raw fetch and the normalized tables, not quarantined as an unreadable time. A zone that a
# name alone gives (EST, JavaScript's "GMT+0530 (India Standard Time)") is not guessed at.
OTHER_FORMS = {
    "zone-named": ("2026-03-02 11:30:00 UTC", datetime(2026, 3, 2, 11, 30, tzinfo=UTC)),
    "go-string": ("2026-03-02 17:00:00.25 +0530 UTC", datetime(2026, 3, 2, 11, 30, 0, 250_000, tzinfo=UTC)),
    "rfc-2822": ("Mon, 02 Mar 2026 11:30:00 GMT", datetime(2026, 3, 2, 11, 30, tzinfo=UTC)),
    "rfc-2822-offset": ("Mon, 02 Mar 2026 17:00:00 +0530", datetime(2026, 3, 2, 11, 30, tzinfo=UTC)),
    "blanks": (" 2026-03-02T11:30:00.000Z ", datetime(2026, 3, 2, 11, 30, tzinfo=UTC)),
}
NOT_GUESSED = ["Mon, 02 Mar 2026 11:30:00 EST", "Mon Mar 02 2026 17:00:00 GMT+0530 (India Standard Time)"]


@pytest.mark.usefixtures("fixed_ingestion_time")
@EACH_START_FIELD
def test_a_start_time_in_another_stacks_form_is_read(normalize, name, endpoint, field):
    id_key = "call_id" if endpoint == "call_logs" and normalize is dialnexa else "id"
    sent = {**{k: text for k, (text, _) in OTHER_FORMS.items()}, **dict(enumerate(NOT_GUESSED))}
    records = [{**fixture(name)[0], field: text, id_key: f"call_{k}"} for k, text in sent.items()]
    tables = run(normalize, {endpoint: records}, {"timezone": "UTC"})
    started = {row["call_id"]: row["started_at"] for row in tables["calls"]}
    assert started == {f"call_{k}": moment for k, (_, moment) in OTHER_FORMS.items()}
    assert sorted(row["record_id"] for row in tables["quarantine"]) == ["call_0", "call_1"]
    provider = "dialnexa" if normalize is dialnexa else "leadconnector"
    for text, moment in OTHER_FORMS.values():  # the fetch files the record under the same day
        assert REGISTRY[provider].endpoint(endpoint).record_time({field: text}, {}) == moment


# --- a base URL that reaches no API ------------------------------------------------------------------


# A typo in the host, or a port nothing listens on, looks like an outage from the client: it is
# retried (a resolver or a server may be down for a moment), and when the attempts run out the
# failure says what to check instead of only "the provider looks down".
@pytest.mark.parametrize(
    ("base_url", "reason", "advice"),
    [
        ("http://api.dialnexa.invalid/v1", "host name not found (DNS)", "check DIALNEXA_BASE_URL for a typo"),
        (
            "http://127.0.0.1:9/v1",
            "connection refused or host unreachable",
            "check the host and port in DIALNEXA_BASE_URL",
        ),
    ],
    ids=["host-not-found", "nothing-listening"],
)
def test_a_base_url_that_reaches_nothing_fails_naming_the_setting(base_url, reason, advice, tmp_path):
    api = type(REGISTRY["dialnexa"].api())(base_url=base_url, api_key=contract.KEY, **contract.FAST)
    result = contract.materialize("dialnexa", "calls", api, tmp_path)
    assert not result.success
    said = contract.failure(result)
    assert f"kept failing ({reason})" in said and advice in said and contract.KEY not in said


# --- an https API whose certificate is not trusted -------------------------------------------------------


# A proxy or firewall that inspects TLS presents a certificate of its own authority, which the
# client does not trust until SSL_CERT_FILE names it. Every attempt fails the same way, so the day
# fails at once, saying so, instead of being retried until the provider is reported down; with
# SSL_CERT_FILE set the same API lands every call.
def test_an_untrusted_certificate_fails_at_once_naming_ssl_cert_file(monkeypatch, tmp_path):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    tls = self_signed_certificate(tmp_path)
    with contract.serve("omnidimension", "call_logs", tls=tls) as server:
        api = contract.resource("omnidimension", server)
        result = contract.materialize("omnidimension", "call_logs", api, tmp_path / "untrusted")
        assert not result.success
        said = contract.failure(result)
        assert "TLS certificate of 127.0.0.1 is not trusted" in said and "set SSL_CERT_FILE" in said
        assert "Not retried" in said and "kept failing" not in said

        monkeypatch.setenv("SSL_CERT_FILE", str(tls[0]))
        result = contract.materialize("omnidimension", "call_logs", api, tmp_path)
    assert result.success, contract.failure(result)
    assert contract.landed("omnidimension", "call_logs", tmp_path) == sorted(contract.DAY_CALLS)


# --- a short last page joined to the one before it ---------------------------------------------------------


# Django's paginator with `orphans` lists a last page of few records on the page before it, which
# then holds more than the page size, and answers the page number the total implies 404 "Invalid
# page." Whether a day fails then depends on its count modulo the page size: every call lands, once.
def django_orphans_listing(provider: str, endpoint: str) -> Listing:
    listing = contract.LISTINGS[provider, endpoint]

    def answer(path: str, query: dict[str, str]):
        rows, number, size = listing(query)
        orphans = size - 1  # the most Django allows to be useful: any short last page joins
        pages = max(1, math.ceil((len(rows) - orphans) / size))
        if number > pages:
            return Reply(404, {"detail": "Invalid page."})
        end = number * size if number < pages else len(rows)
        return contract.envelope(provider, endpoint, rows[(number - 1) * size : end], len(rows), number, size)

    return Listing(answer)


@pytest.mark.parametrize(("provider", "endpoint"), contract.ENDPOINTS, ids=contract.IDS)
def test_a_short_last_page_joined_to_the_one_before_lands_every_call_once(provider, endpoint, tmp_path):
    with django_orphans_listing(provider, endpoint) as server:
        api = contract.resource(provider, server)
        result = contract.materialize(provider, endpoint, api, tmp_path)
    assert result.success, contract.failure(result)
    assert contract.landed(provider, endpoint, tmp_path) == sorted(contract.DAY_CALLS)


# --- gzip that no header announces ---------------------------------------------------------------------


# A server that compresses its answers but forgets `Content-Encoding` (or a proxy that compresses a
# body already compressed, so that one decoding leaves gzip) sends what it meant, gzipped: read, not
# retried as an unreadable body until the provider is reported down.
def gzip_unannounced(number, path, query, body):
    return Reply(200, gzip.compress(json.dumps(body).encode()), {"Content-Type": "application/json"})


def gzip_twice(number, path, query, body):
    twice = gzip.compress(gzip.compress(json.dumps(body).encode()))
    return Reply(200, twice, {"Content-Type": "application/json", "Content-Encoding": "gzip"})


@pytest.mark.parametrize("quirk", [gzip_unannounced, gzip_twice], ids=["unannounced", "twice"])
@pytest.mark.parametrize(("provider", "endpoint"), contract.ENDPOINTS[1:3], ids=contract.IDS[1:3])
def test_gzip_that_no_header_announces_lands_every_call_once(provider, endpoint, quirk, tmp_path):
    server = contract.assert_every_call_once(provider, endpoint, quirk, tmp_path)
    pages = [query["page"] for query in server.queries]
    assert len(pages) == len(set(pages))  # each page read at once, not retried


# --- an unfiltered listing sorted oldest first --------------------------------------------------------------


# OmniDimension's page shows no order for `/calls/logs` (one record in its example); the listing is
# read as newest first, as the provider lists it. A server that lists by id (a query without an
# ORDER BY) sends the oldest first: searched for at the newest end, the day was read from one page
# and landed short, as a success (76 of 206 calls lost). Read from its start instead, up to the
# first page past the day: every call once, whether the day is the listing's newest or not.
@pytest.mark.parametrize("calls_after_the_day", [0, 400])
def test_an_unfiltered_listing_sorted_oldest_first_lands_every_call_once(calls_after_the_day, tmp_path):
    later = {f"m{i:03d}": contract.END + timedelta(hours=2, minutes=i) for i in range(calls_after_the_day)}
    calls = {**contract.DAY_CALLS, **contract.AROUND, **later}
    oldest_first = [
        {"id": name, "time_of_call": moment.strftime("%m/%d/%Y %H:%M:%S"), "call_status": "completed"}
        for name, moment in sorted(calls.items(), key=lambda item: item[1])
    ]

    def answer(path: str, query: dict[str, str]) -> dict:
        number, size = int(query["pageno"]), int(query["pagesize"])
        return {
            "call_log_data": oldest_first[(number - 1) * size : number * size],
            "total_records": len(calls),
        }

    with Listing(answer) as server:
        api = contract.resource("omnidimension", server)
        result = contract.materialize("omnidimension", "call_logs", api, tmp_path)
    assert result.success, contract.failure(result)
    assert contract.landed("omnidimension", "call_logs", tmp_path) == sorted(contract.DAY_CALLS)
