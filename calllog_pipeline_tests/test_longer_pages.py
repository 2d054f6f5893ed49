"""A server whose pages are longer than the page size asked for: it ignores the size parameter (or
its default is larger than the documented maximum, or a proxy rewrites the query) and numbers its
pages by its own size. Every call of the day lands once, and the pages are counted by the size the
server really uses: the day costs about its own pages, not a search through misnumbered ones."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from loopback import Listing
from test_contract_http import envelope, failure, iso, materialize, resource

from calllog_pipeline.providers import REGISTRY

DAY = "2026-03-02"
START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=1)
# A day of 1,200 calls between 2,000 older ones and 1,500 of the next days.
DAY_CALLS = {f"d{i:04d}": START + timedelta(seconds=72 * i) for i in range(1200)}
CALLS = {
    **DAY_CALLS,
    **{f"o{i:04d}": START - timedelta(seconds=97 * (i + 1)) for i in range(2000)},
    **{f"n{i:04d}": END + timedelta(seconds=131 * i) for i in range(1500)},
}
ENDPOINTS = [
    ("dialnexa", "calls"),
    ("dialnexa", "call_logs"),
    ("leadconnector", "call_logs"),
    ("omnidimension", "call_logs"),
]


def chosen(provider: str, endpoint: str, query: dict[str, str]) -> list[tuple[str, datetime]]:
    """The listing each page documents: its filter and its order."""
    calls = sorted(CALLS.items(), key=lambda item: item[1])
    if provider == "dialnexa" and endpoint == "calls":
        lo, hi = (datetime.fromisoformat(query[k]) for k in ("from", "to"))
        return [c for c in reversed(calls) if lo <= c[1] <= hi]
    if provider == "dialnexa":
        lo = datetime.fromisoformat(query["start_date"]).replace(tzinfo=UTC)
        hi = datetime.fromisoformat(query["end_date"]).replace(tzinfo=UTC) + timedelta(days=1)
        return [c for c in calls if lo <= c[1] < hi]
    if provider == "leadconnector":
        lo, hi = (int(query[k]) / 1000 for k in ("startDate", "endDate"))
        return [c for c in calls if lo <= c[1].timestamp() <= hi]
    return list(reversed(calls))


def record(provider: str, endpoint: str, name: str, moment: datetime) -> dict:
    if provider == "dialnexa":
        call_id = {"call_id": name, "id": f"log_{name}"} if endpoint == "call_logs" else {"id": name}
        return {**call_id, "status": "completed", "created_at": iso(moment)}
    if provider == "leadconnector":
        return {"id": name, "createdAt": iso(moment), "duration": 60, "trialCall": False}
    return {"id": name, "time_of_call": moment.strftime("%m/%d/%Y %H:%M:%S"), "call_status": "completed"}


def own_size_server(provider: str, endpoint: str, size: int) -> Listing:
    """Pages of ``size`` records whatever size is asked for."""

    def answer(path: str, query: dict[str, str]) -> dict:
        listing = chosen(provider, endpoint, query)
        number = int(query.get("page") or query.get("pageno") or 1)
        rows = [record(provider, endpoint, n, t) for n, t in listing[(number - 1) * size : number * size]]
        return envelope(provider, endpoint, rows, len(listing), number, size)

    return Listing(answer)


def landed(provider: str, endpoint: str, tmp_path) -> list[str]:
    path = tmp_path / "raw" / provider / endpoint / f"date={DAY}" / "data.parquet"
    return sorted(r[0].removeprefix("log_") for r in duckdb.sql(f"select record_id from '{path}'").fetchall())


@pytest.mark.parametrize(("provider", "endpoint"), ENDPOINTS, ids=[f"{p}-{e}" for p, e in ENDPOINTS])
def test_pages_longer_than_asked_for_land_every_call_once_in_about_the_days_own(provider, endpoint, tmp_path):
    size = 3 * REGISTRY[provider].endpoint(endpoint).page_size
    with own_size_server(provider, endpoint, size) as server:
        result = materialize(provider, endpoint, resource(provider, server), tmp_path)
        requests = len(server.requests)
    assert result.success, failure(result)
    assert landed(provider, endpoint, tmp_path) == sorted(DAY_CALLS)
    # The day's calls fill this many of the server's pages (one more where they straddle a page
    # edge); a few requests more for the search's guesses, a day-granular filter's next day, and
    # the page read past a full last page.
    day_pages = math.ceil(len(DAY_CALLS) / size) + 1
    assert requests <= day_pages + 4, f"{requests} requests for a day on {day_pages} pages"
