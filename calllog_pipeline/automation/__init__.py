"""What keeps the lake current without anyone clicking, and tells a user when to act.

- ``jobs``: one job per provider, ``<provider>_daily``, selecting that provider's chain by tag.
- ``schedules``: nightly, yesterday plus the lookback days as one ranged run per provider.
- ``changes``: a sensor that polls conditional endpoints with the stored ETags and refreshes the
  days that changed.
- ``freshness``: freshness policies and per-partition freshness checks (stale days), run by an
  automation condition sensor.
- ``alerts``: what an alert says; ``channels``: Slack, webhook, e-mail; ``sensors``: which events
  become alerts, each exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from calllog_pipeline.automation.changes import build_change_sensor
from calllog_pipeline.automation.channels import AlertChannels
from calllog_pipeline.automation.config import AutomationSettings
from calllog_pipeline.automation.freshness import freshness_policy, partition_freshness
from calllog_pipeline.automation.jobs import job_name, provider_jobs
from calllog_pipeline.automation.schedules import daily_schedule
from calllog_pipeline.automation.sensors import ALERT_SENSORS
from calllog_pipeline.providers.base import Provider

__all__ = [
    "AlertChannels",
    "Automation",
    "AutomationSettings",
    "build_automation",
    "freshness_policy",
    "job_name",
]


@dataclass(frozen=True)
class Automation:
    jobs: list
    schedules: list[dg.ScheduleDefinition]
    sensors: list[dg.SensorDefinition]
    asset_checks: list[dg.AssetChecksDefinition]


def build_automation(
    providers: Sequence[Provider],
    assets: Sequence[dg.AssetsDefinition],
    partitions_def: dg.TimeWindowPartitionsDefinition,
    lookback_days: int,
    settings: AutomationSettings,
) -> Automation:
    freshness_checks, freshness_sensor = partition_freshness(
        assets, partitions_def.timezone, settings.freshness_deadline_hour
    )
    # The freshness checks run when their sensor says, not inside the daily runs.
    jobs = provider_jobs([p.name for p in providers], excluded_checks=freshness_checks)
    schedules = [daily_schedule(job, partitions_def, lookback_days, settings.schedule_hour) for job in jobs]
    change_sensor = build_change_sensor(
        list(providers),
        partitions_def,
        jobs,
        lookback_days,
        settings.change_poll_s,
        settings.change_poll_max_requests,
    )
    sensors = [*ALERT_SENSORS, freshness_sensor, *([change_sensor] if change_sensor else [])]
    return Automation(jobs, schedules, sensors, freshness_checks)
