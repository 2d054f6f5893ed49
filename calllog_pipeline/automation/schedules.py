"""When the lake is refreshed: nightly, yesterday plus the lookback days, one ranged run per provider."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
from dagster._core.storage.tags import (  # the tags of a single-run backfill; Dagster has no public alias
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)


def schedule_name(job_name: str) -> str:
    return f"{job_name}_schedule"


def range_request(first: str, last: str, run_key: str) -> dg.RunRequest:
    """One run over the days ``first``..``last``: one process and one rate limit for the range."""
    return dg.RunRequest(
        run_key=run_key, tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    )


def daily_schedule(
    job: dg.UnresolvedAssetJobDefinition,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    lookback_days: int,
    hour: int,
) -> dg.ScheduleDefinition:
    """After each day closes, refresh it and the ``lookback_days - 1`` days before it.

    Providers change records after the call (status, sentiment, analysis arrive minutes to hours
    later) and log late calls; re-reading a short lookback catches those, and costs little:
    DialNexa answers unchanged pages with 304, and unchanged raw days are not normalized again.
    """

    @dg.schedule(
        name=schedule_name(job.name),
        job=job,
        cron_schedule=f"30 {hour} * * *",
        execution_timezone=partitions_def.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Daily at {hour:02d}:30 ({partitions_def.timezone}): the last {lookback_days} closed days "
            "as one ranged run."
        ),
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time or datetime.now()
        keys = partitions_def.get_partition_keys(current_time=now)[-lookback_days:]
        if not keys:
            return dg.SkipReason("no closed day yet since CALLLOG_START_DATE")
        # The run key makes a re-evaluated tick (daemon restart, clock skew) a no-op.
        return range_request(keys[0], keys[-1], f"{keys[0]}..{keys[-1]}@{now:%Y-%m-%dT%H}")

    return _schedule
