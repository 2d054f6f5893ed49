"""The nightly schedule where users live: in their zone, at their hour, over their closed days."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from calllog_pipeline.automation import AutomationSettings
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.settings import Settings, SettingsError


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
def test_the_nightly_run_covers_the_last_closed_days_of_the_users_zone(timezone, monkeypatch):
    monkeypatch.setenv("CALLLOG_SCHEDULE_HOUR", "4")
    settings = Settings.from_env(
        {"CALLLOG_START_DATE": "2026-01-01", "CALLLOG_DATA_DIR": "/tmp/unused", "CALLLOG_TIMEZONE": timezone}
    )
    defs = build_definitions(settings)
    for provider in REGISTRY:
        schedule = defs.resolve_schedule_def(f"{provider}_daily_schedule")
        assert schedule.cron_schedule == "30 4 * * *" and schedule.execution_timezone == timezone
        # 04:30 local on the morning after New York's spring-forward night (2026-03-08).
        tick = datetime(2026, 3, 9, 4, 30, tzinfo=ZoneInfo(timezone))
        context = dg.build_schedule_context(
            scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        )
        (request,) = schedule.evaluate_tick(context).run_requests
        assert request.job_name in (None, f"{provider}_daily")
        assert request.tags["dagster/asset_partition_range_start"] == "2026-03-06"
        assert request.tags["dagster/asset_partition_range_end"] == "2026-03-08"
        # Evaluating the same tick again asks for the same run: Dagster launches it once.
        (again,) = schedule.evaluate_tick(context).run_requests
        assert again.run_key == request.run_key


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CALLLOG_SCHEDULE_HOUR", "24"),
        ("CALLLOG_FRESHNESS_DEADLINE_HOUR", "7am"),
        ("CALLLOG_CHANGE_POLL_S", "5"),
        ("CALLLOG_STEP_RETRIES", "-1"),
    ],
)
def test_bad_automation_settings_fail_naming_the_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        AutomationSettings.from_env({variable: value})
