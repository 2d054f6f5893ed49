"""Shapes an independent implementation of the provider APIs may send that the reference pages
(shared/provider-api/*.txt) do not rule out and our simulator never produces, served on loopback
by the documented listings of ``test_contract_http``: every call of the day lands once (raw and
normalized), or the run fails saying why."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest
import test_contract_http as contract
from fixtures.memory_raw import fixed_ingestion_time, fixture, run  # noqa: F401
from loopback import Listing, Reply

from calllog_pipeline.http import ShapeChanged
from calllog_pipeline.lake import Lake
from calllog_pipeline.normalized import build_normalized_assets
from calllog_pipeline.normalized.privacy import Privacy
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.providers.dialnexa.mapping import normalize as dialnexa
from calllog_pipeline.providers.leadconnector.mapping import normalize as leadconnector
from calllog_pipeline.providers.omnidimension.mapping import normalize as omnidimension
from calllog_pipeline.raw.assets import build_raw_asset

RECORDS_KEYS = ("data", "callLogs", "call_log_data")


def records_of(body: dict) -> list[dict]:
    return body[next(key for key in RECORDS_KEYS if key in body)]


def page_number(query: dict[str, str]) -> int:
    return int(query.get("page") or query.get("pageno") or 1)


# --- a page past the listing's end, refused instead of answered empty ---------------------------------

# When the last page by the total is full, the fetch reads one more page in case the total counts
# short. The pages do not say what a page past the end answers: most servers send an empty list,
# Django REST framework answers 404 {"detail": "Invalid page."}, others 400 or 422. A day whose
# listing is an exact multiple of the page size (300 calls: 3 pages of 100, 6 of 50, 2 of 150) must
# still land, not fail as a wrong base URL or a rejected request.
EXACT_DAY = {f"x{i:03d}": contract.START + timedelta(minutes=4 * i, seconds=i % 60) for i in range(300)}
REFUSALS = {
    404: {"detail": "Invalid page."},
    400: {
        "statusCode": 400,
        "message": "page must not be greater than the last page",
        "error": "Bad Request",
    },
    422: {"detail": [{"loc": ["query", "pageno"], "msg": "page out of range"}]},
}


def refused_past_the_end(status: int):
    def quirk(number, path, query, body):
        if page_number(query) > 1 and not records_of(body):
            return Reply(status, REFUSALS[status])
        return body

    return quirk


@pytest.fixture
def exact_day(monkeypatch):
    """The documented listings hold exactly ``EXACT_DAY``: nothing before or after the day."""
    monkeypatch.setattr(contract, "DAY_CALLS", EXACT_DAY)
    monkeypatch.setattr(contract, "AROUND", {})


@pytest.mark.parametrize(
    ("provider", "endpoint", "status"),
    [(*contract.ENDPOINTS[i], status) for i, status in enumerate([404, 400, 422, 404])],
    ids=[f"{name}-{status}" for name, status in zip(contract.IDS, [404, 400, 422, 404], strict=True)],
)
def test_a_page_past_the_end_refused_instead_of_empty_ends_the_listing(
    exact_day, provider, endpoint, status, tmp_path
):
    server = contract.assert_every_call_once(provider, endpoint, refused_past_the_end(status), tmp_path)
    pages = [page_number(q) for q in server.queries]
    size = REGISTRY[provider].endpoint(endpoint).page_size
    assert max(pages) == len(EXACT_DAY) // size + 1  # the one page past the end, asked once or twice


def test_a_page_the_total_promises_that_is_refused_still_fails_the_day(exact_day, tmp_path):
    """Only a page past the listing's end by its total reads as its end: a refused page inside it
    is a real failure, named, never a silently shorter day."""

    def quirk(number, path, query, body):
        return Reply(404, REFUSALS[404]) if page_number(query) == 2 else body

    result, _ = contract.run_day("leadconnector", "call_logs", quirk, tmp_path)
    assert not result.success
    assert "HTTP 404" in contract.failure(result) and "LEADCONNECTOR_BASE_URL" in contract.failure(result)


# --- JSON that orjson refuses but the server meant ------------------------------------------------------


# A JavaScript server that cuts a transcript or summary at a length in UTF-16 units can cut an emoji
# in half; JSON.stringify then writes the lone half as an escape ("\ud83d"), which strict parsers
# refuse. A Python server writes NaN and Infinity for a float it has no value for (json.dumps does
# by default). Neither is a provider outage: the record keeps its text (the lone half becomes
# U+FFFD) and the missing number is null.
def odd_json(number, path, query, body):
    for record in records_of(body)[:2]:
        record["summary"] = "Caller was happy \ud83d"
        record["cqs_score"] = float("nan")
        record["latency"] = float("inf")
    return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


@pytest.mark.parametrize(("provider", "endpoint"), contract.ENDPOINTS, ids=contract.IDS)
def test_lone_surrogates_and_nan_in_a_page_land_every_call_once(provider, endpoint, tmp_path):
    contract.assert_every_call_once(provider, endpoint, odd_json, tmp_path)
    path = tmp_path / "raw" / provider / endpoint / f"date={contract.DAY}" / "data.parquet"
    stored = [json.loads(p) for (p,) in duckdb.sql(f"select payload from '{path}'").fetchall()]
    odd = [p for p in stored if "summary" in p]  # the first two of each page
    assert odd and all(p["summary"] == "Caller was happy \ufffd" and p["cqs_score"] is None for p in odd)


def raw_and_normalized(provider: str, page: dict, tmp_path) -> dg.ExecuteInProcessResult:
    """A provider's raw assets and normalized tables for ``contract.DAY``, its listings served
    ``page`` (every endpoint, every page number)."""
    part = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")
    chosen = REGISTRY[provider]
    with Listing(lambda path, query: Reply(200, json.dumps(page).encode())) as server:
        return dg.materialize(
            [
                *(build_raw_asset(chosen, e, part) for e in chosen.endpoints),
                *build_normalized_assets([chosen], part),
            ],
            resources={
                "lake": Lake(root=str(tmp_path)),
                "privacy": Privacy(),
                provider: contract.resource(provider, server),
            },
            partition_key=contract.DAY,
            raise_on_error=False,
        )


def test_a_transcript_cut_in_the_middle_of_an_emoji_reaches_the_calls_table(tmp_path):
    call = fixture("leadconnector_call_logs.json")[0] | {
        "createdAt": "2026-03-02T10:30:00.000Z",
        "summary": "Booked \U0001f389 then cut \ud83c",
        "transcript": "bot: Hello \U0001f600\nhuman: hi \ud83d",
    }
    page = {"total": 1, "page": 1, "pageSize": 50, "callLogs": [call]}
    result = raw_and_normalized("leadconnector", page, tmp_path)
    assert result.success, contract.failure(result)
    folder = tmp_path / "{}" / f"date={contract.DAY}" / "provider=leadconnector" / "data.parquet"
    calls = duckdb.sql(f"select call_id, summary from '{str(folder).format('calls')}'").fetchall()
    turns = duckdb.sql(
        f"select speaker, text from '{str(folder).format('interactions')}' order by turn_index"
    )
    assert calls == [(call["id"], "Booked \U0001f389 then cut \ufffd")]
    assert turns.fetchall() == [("agent", "Hello \U0001f600"), ("user", "hi \ufffd")]


# --- epoch times sent as text ----------------------------------------------------------------------------

# The pages write ISO 8601 (`2024-03-01T10:00:00.000Z`); LeadConnector takes epoch milliseconds in
# its query, and a server may answer in the same unit. Epoch numbers are read (test_odd_values); the
# same numbers sent as JSON text (as many APIs send large numbers) are the same instants, in the
# raw fetch (which files the record under its day) and in normalization alike.
EPOCH_TEXT = {"s": "1772451000", "ms": "1772451000250", "fraction": "1772451000.5"}
EXPECTED = {
    "s": datetime(2026, 3, 2, 11, 30, tzinfo=UTC),
    "ms": datetime(2026, 3, 2, 11, 30, 0, 250_000, tzinfo=UTC),
    "fraction": datetime(2026, 3, 2, 11, 30, 0, 500_000, tzinfo=UTC),
}


# Each endpoint with a start time in text, its fixture and field (also used by test_reference_shapes2).
EACH_START_FIELD = pytest.mark.parametrize(
    ("normalize", "name", "endpoint", "field"),
    [
        (dialnexa, "dialnexa_calls.json", "calls", "created_at"),
        (dialnexa, "dialnexa_call_logs.json", "call_logs", "created_at"),
        (leadconnector, "leadconnector_call_logs.json", "call_logs", "createdAt"),
    ],
    ids=["dialnexa-calls", "dialnexa-call_logs", "leadconnector"],
)


@pytest.mark.usefixtures("fixed_ingestion_time")
@EACH_START_FIELD
def test_a_start_time_sent_as_epoch_text_is_read(normalize, name, endpoint, field):
    id_key = "call_id" if endpoint == "call_logs" and normalize is dialnexa else "id"
    records = [{**fixture(name)[0], field: text, id_key: f"epoch_{k}"} for k, text in EPOCH_TEXT.items()]
    records.append({**fixture(name)[0], field: "20260302", id_key: "a_date"})  # eight digits: a date
    tables = run(normalize, {endpoint: records}, {"timezone": "UTC"})
    started = {row["call_id"]: row["started_at"] for row in tables["calls"]}
    assert started == {f"epoch_{k}": moment for k, moment in EXPECTED.items()} | {
        "a_date": datetime(2026, 3, 2, tzinfo=UTC)
    }
    assert tables["quarantine"] == []
    provider = "dialnexa" if normalize is dialnexa else "leadconnector"
    for k, text in EPOCH_TEXT.items():  # the fetch files the record under the same day
        assert REGISTRY[provider].endpoint(endpoint).record_time({field: text}, {}) == EXPECTED[k]


# --- an error answered 200 in a shape no page documents ------------------------------------------------


def test_an_unknown_error_answered_200_fails_showing_what_the_server_said(tmp_path):
    """``{"success": false, "message": ...}`` is not an error object the pages document: the day
    fails at once as a changed shape, and the message shows the answer's short top-level values
    (what went wrong) but neither its lists (they may hold calls) nor the API key."""

    def quirk(number, path, query, body):
        return {"success": False, "message": f"Invalid API key {contract.KEY}", "calls": [{"id": "c1"}]}

    result, server = contract.run_day("omnidimension", "call_logs", quirk, tmp_path)
    assert not result.success and len(server.queries) == 1  # not retried
    said = contract.failure(result)
    assert "'call_log_data': missing" in said and "'success': false" in said
    assert "'message': 'Invalid API key [REDACTED]'" in said and "'calls': [1 items]" in said
    assert contract.KEY not in said


# --- OmniDimension hang-up words in the page's own spellings ---------------------------------------------


# The page shows `hangup_source`/`hangup_reason` only as null; its own vocabulary writes `no-answer`
# with a hyphen (call_status) and calls the agent `LLM` (call_conversation). A server filling them
# in would use those spellings, in any case.
@pytest.mark.usefixtures("fixed_ingestion_time")
@pytest.mark.parametrize(
    ("changes", "end_reason"),
    [
        ({"hangup_source": "LLM"}, "agent_disconnected"),
        ({"hangup_source": " User "}, "user_disconnected"),
        ({"hangup_source": "system", "hangup_reason": "No-Answer"}, "user_did_not_pick_up"),
        ({"hangup_source": "system", "hangup_reason": "voicemail detected"}, "voicemail_detected"),
        ({"hangup_source": "system", "hangup_reason": "BUSY"}, "user_busy"),
    ],
)
def test_omnidimension_hang_up_words_in_any_spelling(changes, end_reason):
    record = fixture("omnidimension_call_logs.json")[0] | changes
    (row,) = run(omnidimension, {"call_logs": [record]}, {"timezone": "UTC"})["calls"]
    assert row["end_reason"] == end_reason


# `call_conversation` is HTML (omnidimension-call-logs.txt); a server that escapes what was said in it
# (as HTML builders do) must not leave entities in the transcript or the turns a user reads.
@pytest.mark.usefixtures("fixed_ingestion_time")
def test_omnidimension_conversation_with_html_entities_reads_as_plain_text():
    conversation = (
        " <br/> user: I&#x27;m at AT&T &amp; it&#39;s &lt;3 <br/> LLM: Great &quot;deal&quot;! "
        "See x.example/?a=1&notify=0 <br/>"  # an entity needs its ';' here: no '¬ify'
    )
    record = fixture("omnidimension_call_logs.json")[0] | {
        "interactions": [],
        "call_conversation": conversation,
    }
    tables = run(omnidimension, {"call_logs": [record]}, {"timezone": "UTC"})
    (call,) = tables["calls"]
    said = 'Great "deal"! See x.example/?a=1&notify=0'
    assert call["transcript"] == f"user: I'm at AT&T & it's <3\nLLM: {said}"
    turns = [(t["speaker"], t["text"]) for t in tables["interactions"]]
    assert turns == [("user", "I'm at AT&T & it's <3"), ("agent", said)]


# --- a listing that ignores its page parameter -----------------------------------------------------------


# A cache or proxy in front of the API that keys on the path alone, or a paging parameter the
# provider renamed, answers page 1 to every page number. Each answer looks full and new, so reading
# on "in case the total counts short" would never end: the run fails at once, saying what to check.
# Two page numbers may answer the same records (a listing that moved by exactly a page between two
# reads); three do not.
def every_page_is_page_one(number, path, query, body):
    if page_number(query) == 1:
        every_page_is_page_one.first = body
    if number >= 20:  # enough to tell; then empty pages, so a fetch that reads on ends (and fails here)
        return {key: [] if key in RECORDS_KEYS else value for key, value in body.items()}
    return every_page_is_page_one.first


@pytest.mark.parametrize("day_pages", [1.5, None], ids=["a-day-of-one-and-a-half-pages", "the-206-call-day"])
@pytest.mark.parametrize(("provider", "endpoint"), contract.ENDPOINTS, ids=contract.IDS)
def test_a_listing_that_ignores_the_page_number_fails_at_once_saying_why(
    provider, endpoint, day_pages, monkeypatch, tmp_path
):
    if day_pages:
        size = REGISTRY[provider].endpoint(endpoint).page_size
        short_day = dict(list(contract.DAY_CALLS.items())[: int(size * day_pages)])
        monkeypatch.setattr(contract, "DAY_CALLS", short_day)
    result, server = contract.run_day(provider, endpoint, every_page_is_page_one, tmp_path)
    assert not result.success
    message = contract.failure(result)
    assert "ignores the page parameter" in message
    assert f"{REGISTRY[provider].api().env_prefix}_BASE_URL" in message
    assert len(server.queries) <= 6


# --- an empty listing answered 204 No Content --------------------------------------------------------------


# A day with no calls (a weekend, a new account) is an empty list on the pages; a server may answer
# it "204 No Content" instead, with no body. That is an empty day, not an unreadable answer retried
# until the provider is reported down.
def no_content_when_empty(number, path, query, body):
    return Reply(204, b"") if not records_of(body) else body


@pytest.mark.parametrize(("provider", "endpoint"), contract.ENDPOINTS, ids=contract.IDS)
def test_an_empty_day_answered_204_no_content_lands_as_an_empty_day(
    provider, endpoint, monkeypatch, tmp_path
):
    monkeypatch.setattr(contract, "DAY_CALLS", {})
    monkeypatch.setattr(contract, "AROUND", {})
    result, server = contract.run_day(provider, endpoint, no_content_when_empty, tmp_path)
    assert result.success, contract.failure(result)
    assert contract.landed(provider, endpoint, tmp_path) == []
    assert len(server.queries) <= 3  # read as an answer, not retried


@pytest.mark.parametrize(("provider", "endpoint"), contract.ENDPOINTS, ids=contract.IDS)
def test_a_page_past_the_end_answered_204_no_content_ends_the_listing(
    exact_day, provider, endpoint, tmp_path
):
    contract.assert_every_call_once(provider, endpoint, no_content_when_empty, tmp_path)


# --- an empty page without a count -----------------------------------------------------------------------


# The pages always show a count beside the records; a server may leave it out, or send null, when
# there is nothing to count. An empty page without a count is an empty listing (a count missing
# beside records still fails as a changed shape).
def without_a_count(number, path, query, body):
    out = {key: value for key, value in body.items() if key not in ("total", "total_records")}
    if isinstance(out.get("meta"), dict):
        out["meta"] = {key: value for key, value in out["meta"].items() if key != "total"}
    return out


def null_count(number, path, query, body):
    out = {key: None if key in ("total", "total_records") else value for key, value in body.items()}
    if isinstance(out.get("meta"), dict):
        out["meta"] = {**out["meta"], "total": None}
    return out


@pytest.mark.parametrize("quirk", [without_a_count, null_count], ids=["left-out", "null"])
@pytest.mark.parametrize(("provider", "endpoint"), contract.ENDPOINTS, ids=contract.IDS)
def test_an_empty_day_without_a_count_lands_as_an_empty_day(provider, endpoint, quirk, monkeypatch, tmp_path):
    monkeypatch.setattr(contract, "DAY_CALLS", {})
    monkeypatch.setattr(contract, "AROUND", {})
    result, _ = contract.run_day(provider, endpoint, quirk, tmp_path)
    assert result.success, contract.failure(result)
    assert contract.landed(provider, endpoint, tmp_path) == []


def test_a_count_left_out_beside_records_is_still_a_changed_shape():
    read_page = REGISTRY["omnidimension"].endpoint("call_logs").read_page
    assert read_page({"call_log_data": [], "total_records": None}) == ([], 0)
    for body in ({"call_log_data": [{"id": 1}]}, {"call_log_data": [{"id": 1}], "total_records": None}):
        with pytest.raises(ShapeChanged, match="total_records"):
            read_page(body)
