"""The per-day freshness check, run the way `dagster asset materialize --select ... --partition DAY`
runs it (the selected assets with their checks): a deployment whose first day has not closed by
the deadline yet must not fail the run, in any timezone; a day that landed passes; one that did not
fails as stale. And when its automation condition runs it: at the deadline in the configured
timezone (DST days included) and after a late day lands, never inside the daily jobs."""

import os
import shutil
import subprocess
import sys
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from calllog_pipeline.automation import freshness
from calllog_pipeline.automation.freshness import (
    FRESHNESS_CHECK,
    FRESHNESS_SENSOR,
    last_deadline,
    partition_freshness,
)
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.settings import Settings

KEY = dg.AssetKey(["raw", "leadconnector_call_logs"])
TIMEZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]


def asset_and_checks(start: str, timezone: str):
    partitions = dg.DailyPartitionsDefinition(start_date=start, timezone=timezone)

    @dg.asset(key=KEY, partitions_def=partitions)
    def call_logs():
        return None

    checks, sensor = partition_freshness([call_logs], timezone, deadline_hour=7)
    return call_logs, checks, partitions, sensor


def evaluation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (found,) = result.get_asset_check_evaluations()
    return found


@pytest.mark.parametrize("timezone", TIMEZONES)
def test_materializing_the_first_day_of_a_new_deployment_passes_its_freshness_check(timezone, monkeypatch):
    # Started yesterday; the check runs before today's 07:00 deadline, so no day is due yet.
    yesterday = (datetime.now(ZoneInfo(timezone)) - timedelta(days=1)).date()
    before_deadline = datetime.combine(yesterday + timedelta(days=1), time(6, 30), tzinfo=ZoneInfo(timezone))
    monkeypatch.setattr(freshness, "_now", lambda: before_deadline)
    call_logs, checks, *_ = asset_and_checks(yesterday.isoformat(), timezone)
    with dg.instance_for_test() as instance:
        result = dg.materialize([call_logs, *checks], instance=instance, partition_key=yesterday.isoformat())
    assert result.success
    found = evaluation(result)
    assert found.passed and found.description.startswith("No day is due yet")


@pytest.mark.parametrize("timezone", TIMEZONES)
def test_the_newest_day_due_passes_once_it_landed_and_fails_as_stale_before(timezone):
    start = (datetime.now(ZoneInfo(timezone)) - timedelta(days=10)).date().isoformat()
    call_logs, checks, partitions, _ = asset_and_checks(start, timezone)
    deadline = last_deadline(datetime.now(UTC), timezone, 7)
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
    assert last_deadline(now, "Asia/Kolkata", 7) == datetime(
        2026, 3, 9, 7, 0, tzinfo=ZoneInfo("Asia/Kolkata")
    )
    # The day after New York springs forward: 07:00 EST the day before, 23 hours earlier.
    now = datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    assert last_deadline(now, "America/New_York", 7).isoformat() == "2026-03-08T07:00:00-04:00"
    assert (
        last_deadline(now - timedelta(hours=3), "America/New_York", 7).isoformat()
        == "2026-03-07T07:00:00-05:00"
    )


# The sensor compares the check's evaluations and the asset's materializations (stamped with the
# real clock) with the time of each tick: simulated ticks lie after today, two years on.
YEAR = date.today().year + 2


def dst_days(timezone: str, year: int) -> list[date]:
    """The days of ``year`` whose UTC offset at noon differs from the day before's."""
    tz = ZoneInfo(timezone)
    noons = [datetime.combine(date(year, 1, 1) + timedelta(days=i), time(12), tzinfo=tz) for i in range(366)]
    return [b.date() for a, b in zip(noons, noons[1:], strict=False) if a.utcoffset() != b.utcoffset()]


DAYS = [(tz, day) for tz in TIMEZONES for day in dst_days(tz, YEAR) or [date(YEAR, 3, 1)]]


class Deployment:
    """One checked asset on an instance, with the freshness sensor ticking at chosen local times."""

    def __init__(self, instance: dg.DagsterInstance, timezone: str, day: date, monkeypatch):
        self.instance, self.tz, self.day, self.monkeypatch = instance, ZoneInfo(timezone), day, monkeypatch
        self.asset, self.checks, _, sensor = asset_and_checks((day - timedelta(days=5)).isoformat(), timezone)
        self.defs = dg.Definitions(assets=[self.asset], asset_checks=self.checks, sensors=[sensor])
        self.cursor = None

    def at(self, days: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.day + timedelta(days=days), time(hour, minute), tzinfo=self.tz)

    def tick(self, now: datetime) -> dg.AssetCheckEvaluation | None:
        """One evaluation of the sensor's conditions; runs the check if they request it."""
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.cursor, evaluation_time=now
        )
        self.cursor = result.cursor
        requested = [r.key for r in result.results if not r.true_subset.is_empty]
        if not requested:
            return None
        assert requested == [dg.AssetCheckKey(KEY, FRESHNESS_CHECK)]
        self.monkeypatch.setattr(freshness, "_now", lambda: now)
        run = dg.materialize(
            [self.asset, *self.checks],
            instance=self.instance,
            selection=dg.AssetSelection.checks(*self.checks),
        )
        return evaluation(run)

    def land(self, days: int) -> None:
        day = (self.day + timedelta(days=days)).isoformat()
        self.instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=KEY, partition=day))


@pytest.mark.parametrize(("timezone", "day"), DAYS, ids=[f"{tz}-{day}" for tz, day in DAYS])
def test_the_sensor_runs_the_check_at_each_deadline_and_when_a_late_day_lands(timezone, day, monkeypatch):
    with dg.instance_for_test() as instance:
        deployment = Deployment(instance, timezone, day, monkeypatch)
        at, tick = deployment.at, deployment.tick
        deployment.land(-2)

        first = tick(at(0, 6))  # a new deployment: checked at once, before any deadline
        assert first.passed and first.description == f"{day - timedelta(days=2)} landed."
        assert tick(at(0, 6, 59)) is None, "nothing changed before 07:00 local (on a DST day too)"

        stale = tick(at(0, 7, 1))
        assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
        yesterday = day - timedelta(days=1)
        assert (
            stale.description == f"{yesterday} has not landed by the deadline {at(0, 7):%Y-%m-%d %H:%M %Z}."
        )
        assert tick(at(0, 7, 30)) is None, "a failed check waits for its asset"

        deployment.land(-1)  # the late day lands
        late = tick(at(0, 8))
        assert late.passed and late.description == f"{yesterday} landed."
        assert tick(at(0, 9)) is None
        assert tick(at(1, 6, 59)) is None

        overdue = tick(at(1, 7))
        assert not overdue.passed and overdue.description.startswith(f"{day} has not landed")


def test_the_daily_jobs_leave_the_freshness_checks_to_a_sensor_running_by_default():
    defs = build_definitions(
        Settings.from_env({"CALLLOG_START_DATE": "2026-01-01", "CALLLOG_DATA_DIR": "/x"})
    )
    graph = defs.resolve_asset_graph()
    freshness_checks = {key for key in graph.asset_check_keys if key.name == FRESHNESS_CHECK}
    assert {key.asset_key for key in freshness_checks} == graph.get_all_asset_keys()
    for provider in REGISTRY:
        steps = {node.name for node in defs.resolve_job_def(f"{provider}_daily").graph.nodes}
        assert "partition_freshness_checks" not in steps, f"{provider}_daily runs the freshness checks"

    sensor = defs.resolve_sensor_def(FRESHNESS_SENSOR)
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.asset_selection.resolve_checks(graph) == freshness_checks
    assert not sensor.asset_selection.resolve(graph), "the sensor evaluates the checks only"
    assert all(graph.get(key).automation_condition is not None for key in freshness_checks)


ROOT = Path(__file__).parents[1]
COMPLETED = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}


@pytest.mark.skipif(
    not os.environ.get("CALLLOG_DAEMON_TESTS"),
    reason="starts dagster-daemon and a run process (a minute): CALLLOG_DAEMON_TESTS=1 (CI sets it)",
)
def test_on_a_new_deployment_the_daemon_runs_every_freshness_check_without_anyone_turning_it_on(
    tmp_path, monkeypatch
):
    """Nothing has landed three days after CALLLOG_START_DATE: every asset's check fails as stale."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    provider = "leadconnector"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "CALLLOG_DATA_DIR": str(tmp_path / "lake"),
        "CALLLOG_START_DATE": (datetime.now(UTC) - timedelta(days=3)).date().isoformat(),
        "CALLLOG_PROVIDERS": provider,
    }
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    bin_dir = Path(sys.executable).parent
    daemon = subprocess.Popen(
        [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with dg.DagsterInstance.get() as instance:
            assets = build_definitions(Settings.from_env(env)).resolve_asset_graph().get_all_asset_keys()
            keys = [dg.AssetCheckKey(key, FRESHNESS_CHECK) for key in assets]

            def evaluations():
                found = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
                done = [r for r in found.values() if r.status in COMPLETED]
                return done if len(done) == len(keys) else None

            give_up = clock.monotonic() + 240  # against hanging, not a performance limit
            while not (done := evaluations()) and clock.monotonic() < give_up:
                clock.sleep(1)
            assert done, "the daemon did not run every freshness check"
            for record in done:
                check = record.event.dagster_event.event_specific_data
                assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
                assert "has not landed by the deadline" in check.description
                run = instance.get_run_by_id(record.run_id)
                assert run.tags.get("dagster/sensor_name") == FRESHNESS_SENSOR
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
