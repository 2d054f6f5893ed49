"""The change sensor asks the conditional endpoints whether recent days changed (If-None-Match) and
requests a run for the days that did, once per change."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import dagster as dg

from calllog_pipeline.automation.changes import SENSOR_NAME
from calllog_pipeline.automation.schedules import range_request
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.settings import Settings
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer

CONDITIONAL = [(p, e) for p in REGISTRY.values() for e in p.endpoints if e.conditional]


def test_only_the_day_that_changed_is_requested(monkeypatch, tmp_path):
    # The sensor looks at the last closed days by the wall clock: the simulated world ends half an
    # hour before today began, so yesterday's last calls and their outcomes arrive later.
    today = datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)
    days = [(today - timedelta(days=k)).date().isoformat() for k in (3, 2, 1)]
    # A flat day (no night-time lull): a few calls still arrive in its last half hour.
    config = SimulatorConfig(
        seed=6, calls_per_day=60, now=today - timedelta(minutes=30), frozen_clock=True, seasonality=False
    )
    with SimulatorServer(config) as sim, dg.instance_for_test() as instance:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        settings = Settings.from_env(
            {"CALLLOG_START_DATE": days[0], "CALLLOG_DATA_DIR": str(tmp_path), "CALLLOG_LOOKBACK_DAYS": "3"}
        )
        defs = build_definitions(settings)
        resources = {key: defs.resources[key] for key in ("lake", *REGISTRY)}
        tags = range_request(days[0], days[-1], "first fetch").tags
        for provider in {p.name for p, _ in CONDITIONAL}:
            defs.resolve_job_def(f"{provider}_daily").execute_in_process(instance=instance, tags=tags)
        sensor = defs.resolve_sensor_def(SENSOR_NAME)
        assert sensor.required_resource_keys == {"lake", *(p.name for p, _ in CONDITIONAL)}

        def evaluate(cursor=None):
            context = dg.build_sensor_context(
                instance=instance, resources=resources, definitions=defs, cursor=cursor
            )
            return sensor.evaluate_tick(context)

        before = sim.stats()["responses"].get(304, 0)
        quiet = evaluate()
        assert not quiet.run_requests and "3 provider-days checked, 0 changed" in quiet.skip_message
        assert sim.stats()["responses"].get(304, 0) - before >= len(days) * len(CONDITIONAL)

        sim.advance(3 * 3600)
        # The last day changed. DialNexa's /call-logs listing of a day reaches into the next one (its
        # end_date is asked a day later, see providers/dialnexa/api.py), so the day before may be
        # asked again too; the older day is not.
        requests = evaluate().run_requests
        provider, _ = CONDITIONAL[0]
        assert {r.job_name for r in requests} == {f"{provider.name}_daily"}
        by_day = {r.partition_key: r for r in requests}
        assert days[-1] in by_day and set(by_day) <= set(days[-2:]), sorted(by_day)
        again = {r.partition_key: r.run_key for r in evaluate().run_requests}
        assert again == {day: r.run_key for day, r in by_day.items()}, "the same change is the same run"

        # With a budget of one request a tick, the sweep goes on where the last tick stopped and
        # finds the change within one pass over the stored pages.
        monkeypatch.setenv("CALLLOG_CHANGE_POLL_MAX_REQUESTS", "1")
        small_defs = build_definitions(settings)
        small = small_defs.resolve_sensor_def(SENSOR_NAME)
        cursor, found, ticks = None, [], 0
        while not found and ticks < 50:
            context = dg.build_sensor_context(
                instance=instance, resources=resources, cursor=cursor, definitions=small_defs
            )
            result = small.evaluate_tick(context)
            cursor, found, ticks = result.cursor, result.run_requests, ticks + 1
        assert {r.run_key for r in found} <= {r.run_key for r in requests} and ticks > 1
