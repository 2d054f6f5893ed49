"""When a day is stale: the asset as a whole (a freshness policy) and each daily partition (checks
that fail when yesterday has not landed by the deadline; their failures become stale-day alerts)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

FRESHNESS_SENSOR = "freshness_checks_sensor"


def freshness_policy() -> dg.FreshnessPolicy:
    # A day's data should land within a day and a half of the day closing (schedule + lookback).
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36), warn_window=timedelta(hours=28))


def partition_freshness(
    assets: Sequence[dg.AssetsDefinition], timezone: str, deadline_hour: int
) -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition]:
    """A freshness check per asset (``freshness_check``: did the newest closed day land by
    ``deadline_hour``?) and the sensor that evaluates them."""
    with warnings.catch_warnings():
        # Dagster marks these "superseded" by FreshnessPolicy, but a policy judges the asset as a
        # whole (any recent materialization), not whether each day's partition arrived; we keep both.
        warnings.simplefilter("ignore", FutureWarning)
        checks = list(
            dg.build_time_partition_freshness_checks(
                assets=list(assets), deadline_cron=f"0 {deadline_hour} * * *", timezone=timezone
            )
        )
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name=FRESHNESS_SENSOR,
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=600,
        )
    return checks, sensor
