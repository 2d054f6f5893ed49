"""The per-day freshness check, run the way `dagster asset materialize --select ... --partition DAY`
runs it (the selected assets with their checks): a deployment whose first day has not closed by
the deadline yet must not fail the run, in any timezone; a day that landed passes; one that did not
fails as stale."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from calllog_pipeline.automation import freshness
from calllog_pipeline.automation.freshness import FRESH_UNTIL, deadlines, partition_freshness

KEY = dg.AssetKey(["raw", "leadconnector_call_logs"])
TIMEZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]


def asset_and_checks(start: str, timezone: str):
    partitions = dg.DailyPartitionsDefinition(start_date=start, timezone=timezone)

    @dg.asset(key=KEY, partitions_def=partitions)
    def call_logs():
        return None

    checks, _sensor = partition_freshness([call_logs], timezone, deadline_hour=7)
    return call_logs, checks, partitions


def evaluation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (found,) = result.get_asset_check_evaluations()
    return found


@pytest.mark.parametrize("timezone", TIMEZONES)
def test_materializing_the_first_day_of_a_new_deployment_passes_its_freshness_check(timezone, monkeypatch):
    # Started yesterday; the check runs before today's 07:00 deadline, so no day is due yet.
    yesterday = (datetime.now(ZoneInfo(timezone)) - timedelta(days=1)).date()
    before_deadline = datetime.combine(yesterday + timedelta(days=1), time(6, 30), tzinfo=ZoneInfo(timezone))
    monkeypatch.setattr(freshness, "_now", lambda: before_deadline)
    call_logs, checks, _ = asset_and_checks(yesterday.isoformat(), timezone)
    with dg.instance_for_test() as instance:
        result = dg.materialize([call_logs, *checks], instance=instance, partition_key=yesterday.isoformat())
    assert result.success
    found = evaluation(result)
    assert found.passed and found.description.startswith("No day is due yet")
    assert found.metadata[FRESH_UNTIL].value > before_deadline.timestamp()  # when the sensor looks again


@pytest.mark.parametrize("timezone", TIMEZONES)
def test_the_newest_day_due_passes_once_it_landed_and_fails_as_stale_before(timezone):
    start = (datetime.now(ZoneInfo(timezone)) - timedelta(days=10)).date().isoformat()
    call_logs, checks, partitions = asset_and_checks(start, timezone)
    deadline, _ = deadlines(datetime.now(UTC), timezone, 7)
    due = partitions.get_partition_keys(current_time=deadline)[-1]
    with dg.instance_for_test() as instance:
        older = (datetime.fromisoformat(due) - timedelta(days=1)).date().isoformat()
        stale = evaluation(dg.materialize([call_logs, *checks], instance=instance, partition_key=older))
        fresh = evaluation(dg.materialize([call_logs, *checks], instance=instance, partition_key=due))
    assert not stale.passed and stale.description.startswith(f"{due} has not landed")
    assert fresh.passed and fresh.description == f"{due} landed."


def test_deadlines_follow_the_local_clock():
    # 06:59 in Kolkata is before that day's 07:00 deadline: the last one was the day before.
    now = datetime(2026, 3, 10, 6, 59, tzinfo=ZoneInfo("Asia/Kolkata"))
    last, following = deadlines(now, "Asia/Kolkata", 7)
    assert last == datetime(2026, 3, 9, 7, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert following - last == timedelta(days=1)
