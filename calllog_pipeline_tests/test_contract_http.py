"""The HTTP level of the provider pages, served on loopback by servers written from the pages
(shared/provider-api/*.txt) rather than from our simulator: redirects, byte-order marks, error
pages, throttling in the spellings the pages and the providers' docs allow, totals that are off.
What a user would notice is asserted: every call of the day lands exactly once, or the run fails
with a message that says what to do, and never shows the API key."""

from __future__ import annotations

import gzip
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import dagster as dg
import duckdb
import httpx
import pytest
from loopback import DROP, Listing, Reply

from calllog_pipeline.http import retry_after_seconds, window_reset_seconds
from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import build_raw_asset

DAY = "2026-03-02"
START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=1)
KEY = "sk_live_contract2_do_not_show"
FAST = {"max_backoff_s": 0.05, "read_timeout_s": 2.0, "max_attempts": 4, "rate_limit_requests": 1000}
SETTINGS = {"leadconnector": {"location_id": "loc_1"}}

# A day of calls every 7 minutes (206: several pages at every documented page size) and some on
# either side of it, which the filtered listings leave out and OmniDimension's lists anyway.
DAY_CALLS = {f"c{i:03d}": START + timedelta(minutes=7 * i, seconds=i % 60) for i in range(206)}
AROUND = {
    **{f"b{i:02d}": START - timedelta(minutes=13 * (i + 1)) for i in range(20)},
    **{f"a{i:02d}": END + timedelta(minutes=11 * i) for i in range(20)},
}
ENDPOINTS = [
    ("dialnexa", "calls"),
    ("dialnexa", "call_logs"),
    ("leadconnector", "call_logs"),
    ("omnidimension", "call_logs"),
]
IDS = [f"{p}-{e}" for p, e in ENDPOINTS]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- each page's listing, as the page documents it ------------------------------------------------------


def dialnexa_calls(query: dict[str, str]) -> tuple[list[dict], int, int]:
    """``from``/``to`` bound ``created_at``; newest first; ``page`` from 1, ``limit`` max 100."""
    lo, hi = (datetime.fromisoformat(query[k]) for k in ("from", "to"))
    chosen = sorted(((n, t) for n, t in {**DAY_CALLS, **AROUND}.items() if lo <= t <= hi), key=lambda x: x[1])
    rows = [{"id": n, "status": "completed", "created_at": iso(t)} for n, t in reversed(chosen)]
    return rows, int(query.get("page", 1)), min(int(query.get("limit", 20)), 100)


def dialnexa_call_logs(query: dict[str, str]) -> tuple[list[dict], int, int]:
    """``start_date``/``end_date`` whole days, ``created_at=asc|desc``."""
    lo = datetime.fromisoformat(query["start_date"]).replace(tzinfo=UTC)
    hi = datetime.fromisoformat(query["end_date"]).replace(tzinfo=UTC) + timedelta(days=1)
    chosen = sorted(((n, t) for n, t in {**DAY_CALLS, **AROUND}.items() if lo <= t < hi), key=lambda x: x[1])
    if query.get("created_at") == "desc":
        chosen.reverse()
    rows = [{"id": f"log_{n}", "call_id": n, "status": "completed", "created_at": iso(t)} for n, t in chosen]
    return rows, int(query.get("page", 1)), min(int(query.get("limit", 20)), 100)


def leadconnector(query: dict[str, str]) -> tuple[list[dict], int, int]:
    """``startDate``/``endDate`` epoch ms; ``sortBy``/``sort``; ``page`` from 1, ``pageSize`` max 50."""
    lo, hi = (int(query[k]) / 1000 for k in ("startDate", "endDate"))
    chosen = sorted(
        ((n, t) for n, t in {**DAY_CALLS, **AROUND}.items() if lo <= t.timestamp() <= hi),
        key=lambda x: x[1],
        reverse=query.get("sort") != "ascend",
    )
    rows = [{"id": n, "createdAt": iso(t), "duration": 60, "trialCall": False} for n, t in chosen]
    return rows, int(query.get("page", 1)), min(int(query.get("pageSize", 10)), 50)


def omnidimension(query: dict[str, str]) -> tuple[list[dict], int, int]:
    """Every call ever made, newest first; ``pageno`` from 1, ``pagesize`` max 150."""
    chosen = sorted({**DAY_CALLS, **AROUND}.items(), key=lambda x: x[1], reverse=True)
    rows = [
        {"id": n, "time_of_call": t.strftime("%m/%d/%Y %H:%M:%S"), "call_status": "completed"}
        for n, t in chosen
    ]
    return rows, int(query.get("pageno", 1)), min(int(query.get("pagesize", 30)), 150)


def envelope(provider: str, endpoint: str, records: list[dict], total: Any, number: int, size: int) -> dict:
    if provider == "dialnexa":
        return {"data": records, "meta": {"page": number, "limit": size, "total": total}}
    if provider == "leadconnector":
        return {"total": total, "page": number, "pageSize": size, "callLogs": records}
    return {"call_log_data": records, "total_records": total}


LISTINGS = {
    ("dialnexa", "calls"): dialnexa_calls,
    ("dialnexa", "call_logs"): dialnexa_call_logs,
    ("leadconnector", "call_logs"): leadconnector,
    ("omnidimension", "call_logs"): omnidimension,
}

# A quirk turns the documented answer into what a server may send instead:
# (request number, path, query, documented body) -> answer for ``Listing``.
Quirk = Callable[[int, str, dict[str, str], dict], Any]


def serve(provider: str, endpoint: str, quirk: Quirk | None = None, tls=None) -> Listing:
    listing, path = LISTINGS[provider, endpoint], REGISTRY[provider].endpoint(endpoint).path
    count = iter(range(10**9))

    def answer(asked: str, query: dict[str, str]) -> Any:
        number = next(count)
        rows, page, size = listing(query)
        body = envelope(provider, endpoint, rows[(page - 1) * size : page * size], len(rows), page, size)
        if quirk is None:
            return body if asked.endswith(path) else Reply(404, {"detail": "Not Found"})
        return quirk(number, asked, query, body)

    return Listing(answer, tls)


def resource(provider: str, server: Listing, **settings):
    api_type = type(REGISTRY[provider].api())
    return api_type(base_url=server.url, api_key=KEY, **{**FAST, **SETTINGS.get(provider, {}), **settings})


def materialize(provider: str, endpoint: str, api, tmp_path: Path) -> dg.ExecuteInProcessResult:
    part = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")
    asset = build_raw_asset(REGISTRY[provider], REGISTRY[provider].endpoint(endpoint), part)
    return dg.materialize(
        [asset],
        resources={"lake": Lake(root=str(tmp_path)), provider: api},
        partition_key=DAY,
        raise_on_error=False,
    )


def landed(provider: str, endpoint: str, tmp_path: Path) -> list[str]:
    """The call ids stored for the day, one per stored record (so a duplicate shows)."""
    path = tmp_path / "raw" / provider / endpoint / f"date={DAY}" / "data.parquet"
    ids = [r[0] for r in duckdb.sql(f"select record_id from '{path}'").fetchall()]
    return sorted(i.removeprefix("log_") for i in ids)


def failure(result: dg.ExecuteInProcessResult) -> str:
    """What the user reads: the step failure's innermost error (ours, not Dagster's wrapper)."""
    (event,) = [e for e in result.all_events if e.is_step_failure]
    error = event.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return error.message


def run_day(provider: str, endpoint: str, quirk: Quirk | None, tmp_path: Path, **settings):
    with serve(provider, endpoint, quirk) as server:
        result = materialize(provider, endpoint, resource(provider, server, **settings), tmp_path)
    return result, server


def assert_every_call_once(provider, endpoint, quirk, tmp_path, **settings) -> Listing:
    result, server = run_day(provider, endpoint, quirk, tmp_path, **settings)
    assert result.success, failure(result)
    assert landed(provider, endpoint, tmp_path) == sorted(DAY_CALLS)
    return server


@pytest.mark.parametrize(("provider", "endpoint"), ENDPOINTS, ids=IDS)
def test_the_documented_server_lands_every_call_once(provider, endpoint, tmp_path):
    assert_every_call_once(provider, endpoint, None, tmp_path)


# --- redirects --------------------------------------------------------------------------------------------
# No page forbids a redirect, and server stacks send them unasked: FastAPI (OmniDimension's error
# bodies are FastAPI's) answers a path without its trailing slash with 307 to the one with it.


def trailing_slash(number, path, query, body):
    if path.endswith("/"):
        return body
    return Reply(307, b"", {"Location": f"{path}/?{urlencode(query)}"})


@pytest.mark.parametrize(("provider", "endpoint"), ENDPOINTS, ids=IDS)
def test_a_listing_behind_a_redirect_lands_every_call_once(provider, endpoint, tmp_path):
    server = assert_every_call_once(provider, endpoint, trailing_slash, tmp_path)
    redirected = [headers for path, _, headers in server.requests if path.endswith("/")]
    assert redirected and all(h.get("Authorization") == f"Bearer {KEY}" for h in redirected)


def test_a_redirect_to_another_host_keeps_the_key_and_says_to_update_the_base_url(tmp_path):
    """An API moved to a new host answers 301 there: the key is not sent to another host, so the
    new host refuses; the user is told to point the base URL at it, not that the key is wrong."""

    def new_host(number, path, query, body):
        return Reply(401, {"error": {"code": "unauthorized"}})

    with serve("dialnexa", "calls", new_host) as moved:
        target = moved.url.replace("127.0.0.1", "localhost")  # another host, same machine

        def old_host(number, path, query, body):
            return Reply(301, b"", {"Location": f"{target}{path}?{urlencode(query)}"})

        result, _ = run_day("dialnexa", "calls", old_host, tmp_path)
    assert not result.success
    assert "set DIALNEXA_BASE_URL" in failure(result) and "localhost" in failure(result)
    assert all("Authorization" not in headers for _, _, headers in moved.requests)


def redirect_loop(number, path, query, body):
    other = path[:-1] if path.endswith("/") else f"{path}/"
    return Reply(302, b"", {"Location": f"{other}?{urlencode(query)}"})


def test_a_redirect_loop_fails_at_once_naming_the_base_url_setting(tmp_path):
    result, server = run_day("dialnexa", "calls", redirect_loop, tmp_path)
    assert not result.success
    assert "redirects in a loop" in failure(result) and "DIALNEXA_BASE_URL" in failure(result)
    assert len(server.requests) <= 6, "a redirect loop is not retried"


# --- bodies ---------------------------------------------------------------------------------------------


def with_bom(number, path, query, body):
    """UTF-8 JSON that starts with a byte-order mark, as some server stacks write it."""
    return Reply(
        200, b"\xef\xbb\xbf" + json.dumps(body).encode(), {"Content-Type": "application/json; charset=utf-8"}
    )


@pytest.mark.parametrize(("provider", "endpoint"), ENDPOINTS, ids=IDS)
def test_json_after_a_byte_order_mark_lands_every_call_once(provider, endpoint, tmp_path):
    assert_every_call_once(provider, endpoint, with_bom, tmp_path)


def labelled_gzip_once(number, path, query, body):
    """A body sent as it is under ``Content-Encoding: gzip`` (a proxy that decoded it already)."""
    encoding = {"Content-Encoding": "gzip"} if number == 1 else {}
    return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json", **encoding})


@pytest.mark.parametrize(("provider", "endpoint"), ENDPOINTS[:1], ids=IDS[:1])
def test_a_body_its_content_encoding_does_not_describe_is_retried(provider, endpoint, tmp_path):
    assert_every_call_once(provider, endpoint, labelled_gzip_once, tmp_path)


def latin1(number, path, query, body):
    """JSON in the charset the server names (RFC 8259 says UTF-8; not every server listens)."""
    for record in next(v for k, v in body.items() if isinstance(v, list)):
        record["user_name"] = "José Müller"
    return Reply(
        200,
        json.dumps(body, ensure_ascii=False).encode("latin-1"),
        {"Content-Type": "application/json; charset=iso-8859-1"},
    )


@pytest.mark.parametrize(("provider", "endpoint"), ENDPOINTS[2:], ids=IDS[2:])
def test_json_in_the_charset_the_server_names_lands_every_call_once(provider, endpoint, tmp_path):
    assert_every_call_once(provider, endpoint, latin1, tmp_path)
    path = tmp_path / "raw" / provider / endpoint / f"date={DAY}" / "data.parquet"
    assert "José Müller" in duckdb.sql(f"select any_value(payload) from '{path}'").fetchall()[0][0]


# --- totals ---------------------------------------------------------------------------------------------
# Every page's total is a number beside the records; none promises it is exact. A cached or capped
# count (here: at most 200) that falls short must not end the listing early: a page that is full
# when the total says it is the last is followed by the next.


def count_capped_at_200(number, path, query, body):
    holder, key = (
        (body["meta"], "total") if "meta" in body else (body, "total" if "total" in body else "total_records")
    )
    holder[key] = min(holder[key], 200)
    return body


@pytest.mark.parametrize(("provider", "endpoint"), ENDPOINTS, ids=IDS)
def test_a_total_that_counts_short_loses_no_call(provider, endpoint, tmp_path):
    assert_every_call_once(provider, endpoint, count_capped_at_200, tmp_path)


# A total that counts more than the listing holds (the DialNexa /calls page's own example answers
# page 1 of `limit` 20 with 2 records and `"total": 47`): the records listed land, and the run
# ends instead of re-reading the missing end until it gives up.


def count_45_more(number, path, query, body):
    holder, key = (
        (body["meta"], "total") if "meta" in body else (body, "total" if "total" in body else "total_records")
    )
    holder[key] += 45
    return body


@pytest.mark.parametrize(("provider", "endpoint"), ENDPOINTS, ids=IDS)
def test_a_total_that_counts_more_than_is_listed_lands_every_call_once(provider, endpoint, tmp_path):
    server = assert_every_call_once(provider, endpoint, count_45_more, tmp_path)
    assert len(server.requests) < 12


# OmniDimension's `time_of_call` has whole seconds, and the page does not say how calls of the same
# second are ordered: a server sorting by the time alone may order them differently on every
# request, so a second that straddles a page boundary shows one call twice and hides another.


def test_calls_of_the_same_second_in_a_changing_order_land_once(tmp_path):
    busy = {f"t{i:03d}": START + timedelta(hours=10, seconds=i // 7) for i in range(600)}
    shuffle = random.Random(7)

    def answer(path: str, query: dict[str, str]) -> dict:
        newest_first = sorted(busy.items(), key=lambda item: (item[1], shuffle.random()), reverse=True)
        rows = [{"id": n, "time_of_call": t.strftime("%m/%d/%Y %H:%M:%S")} for n, t in newest_first]
        page, size = int(query["pageno"]), int(query["pagesize"])
        return {"call_log_data": rows[(page - 1) * size : page * size], "total_records": len(rows)}

    with Listing(answer) as server:
        result = materialize("omnidimension", "call_logs", resource("omnidimension", server), tmp_path)
    assert result.success, failure(result)
    assert landed("omnidimension", "call_logs", tmp_path) == sorted(busy)


# --- rate limits ---------------------------------------------------------------------------------------
# DialNexa documents its X-RateLimit-* headers on the 429 (README "Facts"); the answers before it
# need not carry them. X-RateLimit-Reset has no documented unit.


def throttled_once(reset: Callable[[], str]) -> Quirk:
    def quirk(number, path, query, body):
        if number != 1:
            return body
        headers = {"Retry-After": "1", "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0"}
        return Reply(429, {"error": {"code": "rate_limited"}}, {**headers, "X-RateLimit-Reset": reset()})

    return quirk


@pytest.mark.parametrize(
    "reset",
    [lambda: str(int(time.time()) + 1), lambda: str(int((time.time() + 1) * 1000))],
    ids=["epoch-seconds", "epoch-milliseconds"],
)
@pytest.mark.parametrize("endpoint", ["calls", "call_logs"])
def test_dialnexa_rate_limit_headers_on_the_429_alone_land_every_call_once(endpoint, reset, tmp_path):
    assert_every_call_once("dialnexa", endpoint, throttled_once(reset), tmp_path)


def test_a_reset_in_epoch_milliseconds_is_read_as_a_moment_not_as_ages():
    soon = httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int((1e9 + 2) * 1000))})
    assert retry_after_seconds(soon, now=1e9) == pytest.approx(2.0)
    assert window_reset_seconds(soon, now=1e9) == pytest.approx(2.0)


# --- failures the user must act on ---------------------------------------------------------------------


def error_object_echoing_the_key(number, path, query, body):
    """A 200 whose body is an error that quotes the key it refused (as many APIs do)."""
    return {"error": f"invalid api key {KEY}"}


def wrong_path(number, path, query, body):
    return Reply(404, b"<html><body>Cannot GET</body></html>", {"Content-Type": "text/html"})


def maintenance_page(number, path, query, body):
    return Reply(
        200, b"<!DOCTYPE html><html><body>Down for maintenance</body></html>", {"Content-Type": "text/html"}
    )


def refused_echoing_the_key(number, path, query, body):
    return Reply(401, {"statusCode": 401, "message": f"Invalid token Bearer {KEY}"})


def refused_echoing_the_key_late(number, path, query, body):
    """The key where a message shortened to 200 characters would cut it (and so hide it from
    a redaction that looks for the whole key)."""
    return Reply(401, {"statusCode": 401, "message": f"{'x' * 154} key {KEY} refused"})


@pytest.mark.parametrize(
    ("quirk", "says"),
    [
        (error_object_echoing_the_key, "an error object instead of a page"),
        (wrong_path, "DIALNEXA_BASE_URL"),
        (maintenance_page, "unreadable JSON body (text/html)"),
        (refused_echoing_the_key, "check DIALNEXA_API_KEY"),
        (refused_echoing_the_key_late, "check DIALNEXA_API_KEY"),
    ],
    ids=["error-object-200", "404", "html-200", "401", "401-key-at-the-cut"],
)
def test_an_unusable_api_fails_saying_what_to_check_and_never_showing_the_key(quirk, says, tmp_path):
    result, _ = run_day("dialnexa", "calls", quirk, tmp_path)
    assert not result.success
    message = failure(result)
    assert says in message
    assert KEY[:8] not in message, "not even a shortened key"


def test_a_base_url_without_its_scheme_fails_at_once_naming_the_setting(tmp_path):
    api = type(REGISTRY["dialnexa"].api())(base_url="api.dialnexa.com/v1", api_key=KEY, **FAST)
    result = materialize("dialnexa", "calls", api, tmp_path)
    assert not result.success
    assert "fix DIALNEXA_BASE_URL" in failure(result) and "api.dialnexa.com/v1" in failure(result)


# --- found fine: each HTTP habit the pages allow, on one endpoint each -----------------------------------


def as_text_json(number, path, query, body):
    return Reply(200, json.dumps(body).encode(), {"Content-Type": "text/json"})


def gzipped(number, path, query, body):
    return Reply(200, gzip.compress(json.dumps(body).encode()), {"Content-Encoding": "gzip"})


def html_503_every_third(number, path, query, body):
    if number % 3 == 0:
        return Reply(
            503, b"<html><h1>503 Service Temporarily Unavailable</h1></html>", {"Content-Type": "text/html"}
        )
    return body


def retry_after_as_a_date(number, path, query, body):
    if number % 3 == 1:
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)
        return Reply(429, {"error": "Too Many Requests"}, {"retry-after": when})
    return body


def connection_reset_every_fourth(number, path, query, body):
    return DROP if number % 4 == 2 else body


def total_as_text(number, path, query, body):
    holder, key = (
        (body["meta"], "total") if "meta" in body else (body, "total" if "total" in body else "total_records")
    )
    holder[key] = str(holder[key])
    return body


def an_empty_page_once(number, path, query, body):
    if number == 2:
        body[next(k for k in ("data", "callLogs", "call_log_data") if k in body)] = []
    return body


HABITS = [
    as_text_json,
    gzipped,
    html_503_every_third,
    retry_after_as_a_date,
    connection_reset_every_fourth,
    total_as_text,
    an_empty_page_once,
]


@pytest.mark.parametrize(
    ("quirk", "provider", "endpoint"),
    [(quirk, *ENDPOINTS[i % len(ENDPOINTS)]) for i, quirk in enumerate(HABITS)],
    ids=[quirk.__name__ for quirk in HABITS],
)
def test_http_habits_the_pages_allow_land_every_call_once(quirk, provider, endpoint, tmp_path):
    assert_every_call_once(provider, endpoint, quirk, tmp_path)
