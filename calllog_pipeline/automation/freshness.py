"""When a day is stale: the asset as a whole (a freshness policy) and each daily partition (checks
that fail when yesterday has not landed by the deadline; their failures become stale-day alerts).

The per-partition check is our own, not ``build_time_partition_freshness_checks``: Dagster's fails
with a bare "Expected non-None value" whenever no day has closed by the last deadline (a deployment
whose CALLLOG_START_DATE is today or yesterday), and with it every ad-hoc
``dagster asset materialize`` run that selects the checked assets. Ours passes then, saying no day is
due yet. Its results carry the metadata Dagster's freshness sensor schedules by.
"""

import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

FRESHNESS_SENSOR = "freshness_checks_sensor"
FRESHNESS_CHECK = "freshness_check"  # the name alert sensors recognise a stale day by
# Read by Dagster's freshness sensor: when a passed check can next be overdue, and (on the spec)
# the check's deadline, as Dagster's own freshness checks record them.
FRESH_UNTIL = "dagster/fresh_until_timestamp"
FRESHNESS_PARAMS = "dagster/freshness_params"


def freshness_policy() -> dg.FreshnessPolicy:
    # A day's data should land within a day and a half of the day closing (schedule + lookback).
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36), warn_window=timedelta(hours=28))


def _now() -> datetime:
    return datetime.now(UTC)


def deadlines(now: datetime, timezone: str, hour: int) -> tuple[datetime, datetime]:
    """The last deadline (``hour``:00 in ``timezone``) at or before ``now``, and the next one."""
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    today = datetime.combine(local.date(), time(hour), tzinfo=tz)
    last = today if today <= local else today - timedelta(days=1)
    return last, last + timedelta(days=1)


def partition_freshness(
    assets: Sequence[dg.AssetsDefinition], timezone: str, deadline_hour: int
) -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition]:
    """A ``freshness_check`` per asset (did the newest day closed by the last ``deadline_hour``
    land?) and the sensor that evaluates them."""
    partitions = {key: asset.partitions_def for asset in assets for key in asset.keys}
    params = dg.MetadataValue.json({"timezone": timezone, "deadline_cron": f"0 {deadline_hour} * * *"})

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                FRESHNESS_CHECK,
                asset=key,
                description=f"The newest day closed by {deadline_hour:02d}:00 ({timezone}) has landed.",
                metadata={FRESHNESS_PARAMS: params},
            )
            for key in partitions
        ],
        can_subset=True,
        name="partition_freshness_checks",
    )
    def freshness_checks(context: dg.AssetCheckExecutionContext):
        deadline, next_deadline = deadlines(_now(), timezone, deadline_hour)
        for check_key in context.selected_asset_check_keys:
            key = check_key.asset_key
            yield _day_landed(context.instance, key, partitions[key], deadline, next_deadline)

    with warnings.catch_warnings():
        # Dagster marks its freshness-check sensor "superseded" by FreshnessPolicy, but a policy
        # judges the asset as a whole (any recent materialization), not whether each day arrived.
        warnings.simplefilter("ignore", FutureWarning)
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=[freshness_checks],
            name=FRESHNESS_SENSOR,
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=600,
        )
    return [freshness_checks], sensor


def _day_landed(
    instance: dg.DagsterInstance,
    key: dg.AssetKey,
    partitions_def: dg.PartitionsDefinition,
    deadline: datetime,
    next_deadline: datetime,
) -> dg.AssetCheckResult:
    def fresh(description: str) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=FRESHNESS_CHECK,
            passed=True,
            description=description,
            metadata={FRESH_UNTIL: dg.MetadataValue.timestamp(next_deadline)},
        )

    due = partitions_def.get_partition_keys(current_time=deadline)
    if not due:
        return fresh(f"No day is due yet: none had closed by the deadline {deadline:%Y-%m-%d %H:%M %Z}.")
    day = due[-1]
    landed = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
    ).records
    if landed:
        return fresh(f"{day} landed.")
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=FRESHNESS_CHECK,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{day} has not landed by the deadline {deadline:%Y-%m-%d %H:%M %Z}.",
    )
