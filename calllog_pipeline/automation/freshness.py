"""When a day is stale: the asset as a whole (a freshness policy) and each daily partition (checks
that fail when yesterday has not landed by the deadline; their failures become stale-day alerts).

The per-partition check is our own, not ``build_time_partition_freshness_checks``: Dagster's fails
with a bare "Expected non-None value" whenever no day has closed by the last deadline (a deployment
whose CALLLOG_START_DATE is today or yesterday), and with it every ad-hoc
``dagster asset materialize`` run that selects the checked assets. Ours passes then, saying no day is
due yet.

An ``AutomationCondition`` on each check says when it runs, and one automation condition sensor
(running by default) evaluates those conditions in the daemon; the daily jobs leave the checks out.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

FRESHNESS_SENSOR = "freshness_automation_sensor"
FRESHNESS_CHECK = "freshness_check"  # the name alert sensors recognise a stale day by


def freshness_policy() -> dg.FreshnessPolicy:
    # A day's data should land within a day and a half of the day closing (schedule + lookback).
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36), warn_window=timedelta(hours=28))


def _now() -> datetime:
    return datetime.now(UTC)


def last_deadline(now: datetime, timezone: str, hour: int) -> datetime:
    """The last deadline (``hour``:00 in ``timezone``) at or before ``now``."""
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    today = datetime.combine(local.date(), time(hour), tzinfo=tz)
    return (
        today if today <= local else datetime.combine(local.date() - timedelta(days=1), time(hour), tzinfo=tz)
    )


def freshness_condition(timezone: str, deadline_hour: int) -> dg.AutomationCondition:
    """Run a freshness check when its verdict can have changed: at every deadline, and whenever it
    has not run since its asset was last materialized (a new deployment; a late day that lands
    turns a failed check green). Never while a run of it is under way."""
    at_deadline = dg.AutomationCondition.cron_tick_passed(f"0 {deadline_hour} * * *", timezone)
    return (
        (
            # "missing" for a check: no evaluation against the asset's latest materialization.
            dg.AutomationCondition.missing().with_label("not run since the asset was materialized")
            | at_deadline.since_last_handled().with_label(
                f"{deadline_hour:02d}:00 {timezone} deadline passed"
            )
        )
        & ~dg.AutomationCondition.in_progress()
    ).with_label("freshness check due")


def partition_freshness(
    assets: Sequence[dg.AssetsDefinition], timezone: str, deadline_hour: int
) -> tuple[list[dg.AssetChecksDefinition], dg.AutomationConditionSensorDefinition]:
    """A ``freshness_check`` per asset (did the newest day closed by the last ``deadline_hour``
    land?) and the sensor that evaluates when they run."""
    partitions = {key: asset.partitions_def for asset in assets for key in asset.keys}
    condition = freshness_condition(timezone, deadline_hour)

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                FRESHNESS_CHECK,
                asset=key,
                description=f"The newest day closed by {deadline_hour:02d}:00 ({timezone}) has landed.",
                automation_condition=condition,
            )
            for key in partitions
        ],
        can_subset=True,
        name="partition_freshness_checks",
    )
    def freshness_checks(context: dg.AssetCheckExecutionContext):
        deadline = last_deadline(_now(), timezone, deadline_hour)
        for check_key in context.selected_asset_check_keys:
            key = check_key.asset_key
            yield _day_landed(context.instance, key, partitions[key], deadline)

    sensor = dg.AutomationConditionSensorDefinition(
        FRESHNESS_SENSOR,
        target=dg.AssetSelection.checks(freshness_checks),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Runs each asset's {FRESHNESS_CHECK} at {deadline_hour:02d}:00 ({timezone}) and after the "
            "asset is materialized; a failed check becomes a stale-day alert."
        ),
    )
    return [freshness_checks], sensor


def _day_landed(
    instance: dg.DagsterInstance,
    key: dg.AssetKey,
    partitions_def: dg.PartitionsDefinition,
    deadline: datetime,
) -> dg.AssetCheckResult:
    with dg.partition_loading_context(deadline):  # the last day only: listing them all cost 0.1 CPU-s
        day = partitions_def.get_last_partition_key()
    if day is None:
        return _passed(
            key, f"No day is due yet: none had closed by the deadline {deadline:%Y-%m-%d %H:%M %Z}."
        )
    landed = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
    ).records
    if landed:
        return _passed(key, f"{day} landed.")
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=FRESHNESS_CHECK,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{day} has not landed by the deadline {deadline:%Y-%m-%d %H:%M %Z}.",
    )


def _passed(key: dg.AssetKey, description: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key, check_name=FRESHNESS_CHECK, passed=True, description=description
    )
