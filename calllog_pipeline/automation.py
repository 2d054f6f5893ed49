"""What keeps the lake current without anyone clicking: the daily schedule and failure alerts."""

import os
from datetime import datetime, timedelta

import dagster as dg
import httpx

DAILY_JOB = "daily_refresh"


def daily_refresh_job(partitions_def: dg.TimeWindowPartitionsDefinition):
    return dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions_def,
        description="Every asset for one day: raw pages from each provider, then the normalized tables.",
    )


def daily_schedule(
    job,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    lookback_days: int,
) -> dg.ScheduleDefinition:
    """After each day closes, refresh it and the ``lookback_days - 1`` days before it.

    Providers change records after the call (status, sentiment, analysis arrive minutes to hours
    later) and log late calls; re-reading a short lookback catches those, and costs little because
    every write is idempotent and DialNexa answers unchanged pages with 304.
    """

    @dg.schedule(
        job=job,
        cron_schedule="30 1 * * *",
        execution_timezone=partitions_def.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Daily at 01:30 ({partitions_def.timezone}): the last {lookback_days} closed days.",
    )
    def daily_refresh_schedule(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time or datetime.now()
        keys = partitions_def.get_partition_keys(current_time=now)[-lookback_days:]
        return [dg.RunRequest(run_key=f"{key}@{now:%Y-%m-%d}", partition_key=key) for key in keys]

    return daily_refresh_schedule


class Alerts(dg.ConfigurableResource):
    """Where failure alerts go: always the Dagster log, plus a webhook (Slack-compatible) if set."""

    webhook_url: str | None = None
    ui_url: str = "http://localhost:3000"

    def send(self, text: str) -> None:
        if self.webhook_url:
            httpx.post(self.webhook_url, json={"text": text}, timeout=10).raise_for_status()


def alerts_from_env() -> Alerts:
    hook = dg.EnvVar("CALLLOG_ALERT_WEBHOOK_URL") if os.environ.get("CALLLOG_ALERT_WEBHOOK_URL") else None
    return Alerts(webhook_url=hook, ui_url=os.environ.get("CALLLOG_UI_URL", "http://localhost:3000"))


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Sends an alert for every failed run, with the error and what to do next.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, alerts: Alerts) -> None:
    run = context.dagster_run
    first, last = (run.tags.get(f"dagster/asset_partition_range_{end}") for end in ("start", "end"))
    partition = run.tags.get("dagster/partition") or (f"{first}..{last}" if first else "n/a")
    errors = [
        f"{e.step_key}: {_root_cause(e.step_failure_data.error)}" for e in context.get_step_failure_events()
    ] or [context.failure_event.message]
    text = (
        f"calllog_pipeline run failed: job {run.job_name}, partition(s) {partition}.\n"
        + "\n".join(f"- {e}" for e in errors[:5])
        + "\nWhat to do: read the error above (it names the provider and the fix), then re-execute "
        f"the failed partitions from {alerts.ui_url}/runs/{run.run_id} (Re-execute > From failure). "
        "Writes are idempotent; re-running is always safe."
    )
    context.log.error(text)
    alerts.send(text)


def _root_cause(error) -> str:
    """The user's own exception message, not Dagster's "error occurred while executing" wrapper."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def freshness_policy() -> dg.FreshnessPolicy:
    # A day's data should land within a day and a half of the day closing (schedule + lookback).
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36), warn_window=timedelta(hours=28))
