"""Listings served on loopback by small servers written from the reference pages
(shared/provider-api/*.txt), not from our simulator: where a page leaves a behaviour open, the
server takes the reading our simulator does not, and every call of the day must still land once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from loopback import Listing

from calllog_pipeline.http import ShapeChanged
from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import build_raw_asset

DAY = "2026-03-02"
START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=1)
FAST = {"max_backoff_s": 0.05, "read_timeout_s": 2.0, "max_attempts": 3, "rate_limit_requests": 100}


def land(provider: str, endpoint: str, api, tmp_path: Path) -> list[str]:
    """Materialize one raw endpoint for DAY (UTC days) and return the stored record ids."""
    part = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")
    asset = build_raw_asset(REGISTRY[provider], REGISTRY[provider].endpoint(endpoint), part)
    dg.materialize([asset], resources={"lake": Lake(root=str(tmp_path)), provider: api}, partition_key=DAY)
    path = tmp_path / "raw" / provider / endpoint / f"date={DAY}" / "data.parquet"
    return sorted(r[0] for r in duckdb.sql(f"select record_id from '{path}'").fetchall())


def api(provider: str, server: Listing, **settings):
    """The provider's connection resource aimed at ``server``, with quick retries."""
    return type(REGISTRY[provider].api())(base_url=server.url, **FAST, **settings)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# Calls at the very edges of the day: the first instant of it, its last second, and the first
# instant of the next day (which belongs there). Whole seconds, as every page's example is.
EDGES = {
    "at_start": START,
    "midday": START + timedelta(hours=12),
    "last_second": END - timedelta(seconds=1),
    "next_day": END,
}
OF_THE_DAY = ["at_start", "last_second", "midday"]


# --- DialNexa GET /calls: `from` / `to` "ISO 8601 timestamps to bound the result by created_at" -------
# The page does not say whether either bound is inclusive; our simulator takes `from` inclusive and
# `to` exclusive. This server takes the opposite reading.


def dialnexa_calls(path: str, query: dict[str, str]) -> dict:
    lo, hi = (datetime.fromisoformat(query[k]) for k in ("from", "to"))
    listed = sorted(
        (
            {"id": name, "status": "completed", "created_at": iso(t)}
            for name, t in EDGES.items()
            if lo < t <= hi
        ),
        key=lambda r: r["created_at"],
        reverse=True,  # "sorted by start time (newest first)"
    )
    page, limit = int(query.get("page", 1)), int(query.get("limit", 20))
    return {
        "data": listed[(page - 1) * limit : page * limit],
        "meta": {"page": page, "limit": limit, "total": len(listed)},
    }


def test_dialnexa_calls_at_the_edges_of_the_day_land_whichever_bound_is_inclusive(tmp_path):
    with Listing(dialnexa_calls) as server:
        assert land("dialnexa", "calls", api("dialnexa", server, api_key="k"), tmp_path) == OF_THE_DAY


# --- LeadConnector: startDate / endDate, Unix epoch milliseconds ----------------------------------------
# "Start date filter ... Must be less than endDate": the page's example ends a day at ...199000, its
# last second, and does not say whether either bound is inclusive. This server reads both as
# exclusive, to the second.


def leadconnector(path: str, query: dict[str, str]) -> dict:
    lo, hi = (int(query[k]) // 1000 for k in ("startDate", "endDate"))
    assert lo < hi, "startDate must be less than endDate"
    listed = sorted(
        (
            {"id": name, "createdAt": iso(t), "duration": 60}
            for name, t in EDGES.items()
            if lo < t.timestamp() < hi
        ),
        key=lambda r: r["createdAt"],
        reverse=query.get("sort") != "ascend",
    )
    page, size = int(query.get("page", 1)), int(query.get("pageSize", 10))
    return {
        "total": len(listed),
        "page": page,
        "pageSize": size,
        "callLogs": listed[(page - 1) * size : page * size],
    }


def test_leadconnector_calls_at_the_edges_of_the_day_land_whichever_bound_is_inclusive(tmp_path):
    with Listing(leadconnector) as server:
        resource = api("leadconnector", server, api_key="k", location_id="loc")
        assert land("leadconnector", "call_logs", resource, tmp_path) == OF_THE_DAY


# --- an empty listing whose records are `null` ------------------------------------------------------------
# Every page shows a list of records, but an API serializing an empty list as `null` (a common habit
# of some server stacks) still means "no calls": the day lands empty rather than failing as a
# changed response shape. A `null` beside a non-zero total is still a changed shape.


@pytest.mark.parametrize(
    ("provider", "endpoint", "body", "settings"),
    [
        ("dialnexa", "calls", {"data": None, "meta": {"page": 1, "limit": 100, "total": 0}}, {}),
        (
            "leadconnector",
            "call_logs",
            {"total": 0, "page": 1, "pageSize": 50, "callLogs": None},
            {"location_id": "l"},
        ),
        ("omnidimension", "call_logs", {"call_log_data": None, "total_records": 0}, {}),
    ],
    ids=["dialnexa-calls", "leadconnector", "omnidimension"],
)
def test_an_empty_day_listed_as_null_lands_empty(provider, endpoint, body, settings, tmp_path):
    with Listing(lambda path, query: body) as server:
        assert land(provider, endpoint, api(provider, server, api_key="k", **settings), tmp_path) == []


def test_null_records_beside_a_non_zero_total_are_still_a_changed_shape():
    read_page = REGISTRY["dialnexa"].endpoint("calls").read_page
    assert read_page({"data": None, "meta": {"total": 0}}) == ([], 0)
    with pytest.raises(ShapeChanged, match="'data'"):
        read_page({"data": None, "meta": {"total": 3}})


# --- a server that sends fewer records a page than asked for ----------------------------------------------
# Each page documents a maximum page size, and the client asks for it; a server whose own cap is lower
# (a smaller plan, a changed limit) numbers its pages by that cap. Every call must still land once.

CAP = 7
DAY_CALLS = {f"call_{i:02d}": START + timedelta(minutes=31 * i) for i in range(45)}
AROUND = {
    **{f"before_{i:02d}": START - timedelta(minutes=97 * (i + 1)) for i in range(12)},
    **{f"after_{i:02d}": END + timedelta(minutes=89 * i) for i in range(5)},
}


def capped(records: list[dict], number: int) -> list[dict]:
    return records[(number - 1) * CAP : number * CAP]


def capped_dialnexa(path: str, query: dict[str, str]) -> dict:
    lo, hi = (datetime.fromisoformat(query[k]) for k in ("from", "to"))
    calls = {**DAY_CALLS, **AROUND}
    listed = [
        {"id": name, "status": "completed", "created_at": iso(t)}
        for name, t in sorted(calls.items(), key=lambda item: item[1], reverse=True)
        if lo <= t <= hi
    ]
    page = int(query.get("page", 1))
    return {"data": capped(listed, page), "meta": {"page": page, "limit": CAP, "total": len(listed)}}


def capped_leadconnector(path: str, query: dict[str, str]) -> dict:
    lo, hi = (int(query[k]) / 1000 for k in ("startDate", "endDate"))
    calls = {**DAY_CALLS, **AROUND}
    listed = [
        {"id": name, "createdAt": iso(t), "duration": 60}
        for name, t in sorted(calls.items(), key=lambda item: item[1], reverse=query.get("sort") != "ascend")
        if lo <= t.timestamp() <= hi
    ]
    page = int(query.get("page", 1))
    return {"total": len(listed), "page": page, "pageSize": CAP, "callLogs": capped(listed, page)}


def capped_omnidimension(path: str, query: dict[str, str]) -> dict:
    calls = {**DAY_CALLS, **AROUND}  # every call ever made, newest first, no date filter
    listed = [
        {"id": name, "time_of_call": t.strftime("%m/%d/%Y %H:%M:%S"), "call_status": "completed"}
        for name, t in sorted(calls.items(), key=lambda item: item[1], reverse=True)
    ]
    return {"call_log_data": capped(listed, int(query.get("pageno", 1))), "total_records": len(listed)}


@pytest.mark.parametrize(
    ("provider", "endpoint", "answer", "settings"),
    [
        ("dialnexa", "calls", capped_dialnexa, {}),
        ("leadconnector", "call_logs", capped_leadconnector, {"location_id": "l"}),
        ("omnidimension", "call_logs", capped_omnidimension, {}),
    ],
    ids=["dialnexa-calls", "leadconnector", "omnidimension"],
)
def test_a_server_capping_pages_below_the_documented_size_loses_no_call(
    provider, endpoint, answer, settings, tmp_path
):
    with Listing(answer) as server:
        landed = land(provider, endpoint, api(provider, server, api_key="k", **settings), tmp_path)
        asked = {int(q.get("limit") or q.get("pageSize") or q.get("pagesize")) for q in server.queries}
    assert landed == sorted(DAY_CALLS)
    assert CAP in asked  # after the first page, pages are asked for by the server's own size


# --- DialNexa GET /call-logs: start_date "on or after this date"; end_date undescribed ----------------------
# One server reads end_date as inclusive (our simulator's reading), the other as exclusive
# (`created_at < end_date`): every call log of the day lands from both.


def call_logs(end_inclusive: bool):
    logs = {**DAY_CALLS, **AROUND}

    def answer(path: str, query: dict[str, str]) -> dict:
        start = datetime.fromisoformat(query["start_date"]).replace(tzinfo=UTC)
        end = datetime.fromisoformat(query["end_date"]).replace(tzinfo=UTC) + timedelta(days=end_inclusive)
        listed = [
            {"id": f"log_{name}", "call_id": name, "status": "completed", "created_at": iso(t)}
            for name, t in sorted(logs.items(), key=lambda item: item[1])
            if start <= t < end
        ]
        page, limit = int(query.get("page", 1)), int(query.get("limit", 20))
        return {"data": listed[(page - 1) * limit : page * limit], "meta": {"total": len(listed)}}

    return answer


@pytest.mark.parametrize("end_inclusive", [True, False], ids=["end-inclusive", "end-exclusive"])
def test_dialnexa_call_logs_of_the_day_land_whichever_way_end_date_is_read(end_inclusive, tmp_path):
    with Listing(call_logs(end_inclusive)) as server:
        landed = land("dialnexa", "call_logs", api("dialnexa", server, api_key="k"), tmp_path)
    assert landed == sorted(f"log_{name}" for name in DAY_CALLS)
