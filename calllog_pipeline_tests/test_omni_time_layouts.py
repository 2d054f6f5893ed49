"""OmniDimension's `time_of_call` in the layouts a server may send besides the page's
`MM/DD/YYYY HH:MM:SS`: the `YYYY-MM-DD HH:MM:SS` its own webhook payload uses (`call_date`,
`start_time`), ISO 8601 with a `T`, fractional seconds of any length, an explicit offset or `Z`,
no seconds, a 12-hour clock. Served on loopback, every call lands once in its day, raw and
normalized, at the instant it names (local times read in OMNIDIM_TIMEZONE)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from loopback import Listing

from calllog_pipeline.automation import job_name
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.settings import Settings
from calllog_pipeline.timeutil import parse_local

DAY = "2026-03-02"
ZONE = ZoneInfo("Asia/Kolkata")
START = datetime(2026, 3, 2, tzinfo=UTC)
# Whole minutes (one layout has no seconds), some on either side of the day.
CALLS = {f"c{i:03d}": START + timedelta(minutes=17 * i) for i in range(-30, 120)}


def layouts(moment: datetime) -> list[str]:
    local = moment.astimezone(ZONE)
    return [
        local.strftime("%m/%d/%Y %H:%M:%S"),  # the page's
        local.strftime("%Y-%m-%d %H:%M:%S"),  # the webhook payload's call_date
        local.strftime("%Y-%m-%dT%H:%M:%S"),
        local.strftime("%m/%d/%Y %H:%M:%S.") + "123456789",
        local.strftime("%Y-%m-%dT%H:%M:%S.") + "5",
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),  # an instant: its zone wins
        local.isoformat(),  # +05:30
        local.strftime("%m/%d/%Y %H:%M"),
        local.strftime("%m/%d/%Y %I:%M:%S %p"),
        f"{local.month}/{local.day}/{local.year} {local.hour}:{local.minute:02d}:{local.second:02d}",
    ]


def listing(path: str, query: dict[str, str]) -> dict:
    newest_first = sorted(CALLS.items(), key=lambda item: item[1], reverse=True)
    rows = [
        {
            "id": name,
            "time_of_call": layouts(t)[i % 10],
            "call_status": "completed",
            "call_duration_in_seconds": 60,
        }
        for i, (name, t) in enumerate(newest_first)
    ]
    page, size = int(query["pageno"]), int(query["pagesize"])
    return {"call_log_data": rows[(page - 1) * size : page * size], "total_records": len(rows)}


@pytest.mark.parametrize("variant", range(10))
def test_every_layout_reads_as_the_same_instant(variant):
    moment = START + timedelta(hours=7, minutes=3)
    read = parse_local(layouts(moment)[variant], "%m/%d/%Y %H:%M:%S", ZONE)
    assert read is not None and read.replace(microsecond=0) == moment


def test_calls_in_every_layout_land_once_in_their_day_at_their_instant(monkeypatch, tmp_path):
    with Listing(listing) as server:
        for name, value in {
            "CALLLOG_PROVIDERS": "omnidimension",
            "CALLLOG_STEP_RETRIES": "0",
            "OMNIDIM_BASE_URL": server.url,
            "OMNIDIM_API_KEY": "test-key",
            "OMNIDIM_TIMEZONE": "Asia/Kolkata",
        }.items():
            monkeypatch.setenv(name, value)
        settings = Settings.from_env({"CALLLOG_START_DATE": "2026-03-01", "CALLLOG_DATA_DIR": str(tmp_path)})
        with dg.instance_for_test() as instance:
            result = (
                build_definitions(settings)
                .resolve_job_def(job_name("omnidimension"))
                .execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)
            )
    assert result.success
    of_the_day = {n: t for n, t in CALLS.items() if START <= t < START + timedelta(days=1)}
    folder = tmp_path / "{}" / f"date={DAY}" / "provider=omnidimension" / "data.parquet"
    calls = duckdb.sql(f"select call_id, started_at from '{str(folder).format('calls')}'").fetchall()
    assert {n: t.astimezone(UTC).replace(microsecond=0) for n, t in calls} == of_the_day
    quarantine = str(folder).format("quarantine")
    assert duckdb.sql(f"select count(*) from '{quarantine}'").fetchall() == [(0,)]
