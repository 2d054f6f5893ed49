"""DialNexa ``/call-logs`` is filtered by whole days and asked one day more than the window (the page
leaves ``end_date`` undescribed), so it lists the next day too. The listing is oldest first
(``created_at=asc``): once a page ends after the window, the pages after it are not read. Served on
loopback from the reference page, with the next day far busier than the window's day, as a backfill
of yesterday sees it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest
from loopback import Listing

from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import COMPLETENESS_CHECK, build_raw_asset, raw_asset_key

DAY = "2026-03-02"
START = datetime(2026, 3, 2, tzinfo=UTC)
PAGE = REGISTRY["dialnexa"].endpoint("call_logs").page_size

# 2.5 pages of the day itself, a quiet day before it and a busy one after it.
LOGS = {
    **{f"prev_{i:03d}": START - timedelta(hours=23) + timedelta(minutes=5 * i) for i in range(40)},
    **{f"call_{i:03d}": START + timedelta(seconds=345 * i) for i in range(250)},
    **{f"next_{i:04d}": START + timedelta(days=1, seconds=70 * i) for i in range(1200)},
}
DAY_LOGS = sorted(f"log_{name}" for name in LOGS if name.startswith("call_"))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def call_logs(*, end_inclusive: bool, honours_order: bool = True):
    def answer(path: str, query: dict[str, str]) -> dict:
        start = datetime.fromisoformat(query["start_date"]).replace(tzinfo=UTC)
        end = datetime.fromisoformat(query["end_date"]).replace(tzinfo=UTC) + timedelta(days=end_inclusive)
        newest_first = query.get("created_at") != "asc" or not honours_order
        listed = [
            {"id": f"log_{name}", "call_id": name, "status": "completed", "created_at": iso(t)}
            for name, t in sorted(LOGS.items(), key=lambda item: item[1], reverse=newest_first)
            if start <= t < end
        ]
        page, limit = int(query.get("page", 1)), int(query.get("limit", 20))
        return {"data": listed[(page - 1) * limit : page * limit], "meta": {"total": len(listed)}}

    return answer


def land(server: Listing, tmp_path, **settings) -> tuple[list[str], bool]:
    """Materialize DialNexa /call-logs for DAY; the stored log ids and whether completeness passed."""
    provider = REGISTRY["dialnexa"]
    part = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")
    asset = build_raw_asset(provider, provider.endpoint("call_logs"), part)
    api = type(provider.api())(base_url=server.url, api_key="k", max_backoff_s=0.05, **settings)
    result = dg.materialize(
        [asset], resources={"lake": Lake(root=str(tmp_path)), "dialnexa": api}, partition_key=DAY
    )
    path = tmp_path / "raw" / "dialnexa" / "call_logs" / f"date={DAY}" / "data.parquet"
    ids = sorted(r[0] for r in duckdb.sql(f"select record_id from '{path}'").fetchall())
    [check] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_check_key == dg.AssetCheckKey(raw_asset_key("dialnexa", "call_logs"), COMPLETENESS_CHECK)
    ]
    return ids, check.passed


@pytest.mark.parametrize("end_inclusive", [True, False], ids=["end-inclusive", "end-exclusive"])
def test_pages_after_the_day_are_not_read(end_inclusive, tmp_path):
    with Listing(call_logs(end_inclusive=end_inclusive)) as server:
        landed, complete = land(server, tmp_path, max_concurrency=1)
        pages_read = len(server.queries)
    assert landed == DAY_LOGS
    assert complete  # the unread pages count as listed outside the window, not as lost
    day_pages = -(-250 // PAGE)  # the day's logs start the listing (start_date is the day)
    assert pages_read == day_pages  # not the next day's 12 pages


def test_pages_read_concurrently_land_the_day_once(tmp_path):
    with Listing(call_logs(end_inclusive=True)) as server:
        landed, complete = land(server, tmp_path, max_concurrency=4)
        pages_read = len(server.queries)
    assert landed == DAY_LOGS
    assert complete
    assert pages_read < -(-(250 + 1200) // PAGE)


def test_a_server_ignoring_the_asked_order_is_read_to_the_end(tmp_path):
    with Listing(call_logs(end_inclusive=True, honours_order=False)) as server:
        landed, complete = land(server, tmp_path, max_concurrency=1)
        pages_read = len(server.queries)
    assert landed == DAY_LOGS
    assert complete
    assert pages_read == -(-(250 + 1200) // PAGE)
