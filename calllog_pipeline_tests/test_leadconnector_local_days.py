"""LeadConnector's page says its date range is "interpreted in the provided IANA timezone" and lists
no timezone parameter: the zone is the server's (the location's, say). `startDate`/`endDate` are
instants, but a server may round them to whole days of that zone. These servers, on loopback,
take the page at its word in the readings that cut a range short: each bound becomes the start of
its local day, the end one exclusive ("calls of the days from startDate's to endDate's"). Every
call of the partition's day lands once, in any partition timezone against any server zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from loopback import Listing
from test_contract_http import KEY, iso

from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import build_raw_asset

DAY = "2026-03-02"


def start_of_local_day(epoch_ms: str, zone: ZoneInfo) -> float:
    local = datetime.fromtimestamp(int(epoch_ms) / 1000, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def whole_local_days(calls: dict[str, datetime], zone: str):
    server_zone = ZoneInfo(zone)

    def answer(path: str, query: dict[str, str]) -> dict:
        lo, hi = (start_of_local_day(query[k], server_zone) for k in ("startDate", "endDate"))
        listed = sorted(
            ((n, t) for n, t in calls.items() if lo <= t.timestamp() < hi),
            key=lambda c: c[1],
            reverse=query.get("sort") != "ascend",
        )
        page, size = int(query.get("page", 1)), min(int(query.get("pageSize", 10)), 50)
        rows = [
            {"id": n, "createdAt": iso(t.astimezone(UTC)), "duration": 60}
            for n, t in listed[(page - 1) * size : page * size]
        ]
        return {"total": len(listed), "page": page, "pageSize": size, "callLogs": rows}

    return answer


@pytest.mark.parametrize("server_zone", ["Asia/Kolkata", "America/New_York", "Pacific/Chatham"])
@pytest.mark.parametrize("partition_zone", ["UTC", "America/New_York", "Pacific/Chatham"])
def test_a_server_rounding_the_range_to_its_local_days_loses_no_call(partition_zone, server_zone, tmp_path):
    part = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone=partition_zone)
    window = part.time_window_for_partition_key(DAY)
    # Calls every 13 minutes from a day before the partition's day to a day after it.
    calls = {
        f"c{i:03d}": window.start - timedelta(days=1) + timedelta(minutes=13 * i)
        for i in range(int(3 * 24 * 60 / 13))
    }
    of_the_day = sorted(n for n, t in calls.items() if window.start <= t < window.end)
    provider = REGISTRY["leadconnector"]
    asset = build_raw_asset(provider, provider.endpoint("call_logs"), part)
    with Listing(whole_local_days(calls, server_zone)) as server:
        api = type(provider.api())(
            base_url=server.url, api_key=KEY, location_id="loc", max_backoff_s=0.05, rate_limit_requests=1000
        )
        dg.materialize(
            [asset], resources={"lake": Lake(root=str(tmp_path)), "leadconnector": api}, partition_key=DAY
        )
        requests = len(server.requests)
    path = tmp_path / "raw" / "leadconnector" / "call_logs" / f"date={DAY}" / "data.parquet"
    assert sorted(r[0] for r in duckdb.sql(f"select record_id from '{path}'").fetchall()) == of_the_day
    # The day's pages, the earlier day's the server adds before them, and those in flight when a
    # page passes the window's end.
    assert requests <= 2 * len(of_the_day) // 50 + 2 + 4
