"""The normalized layer's assets: one multi-asset per provider, raw provider-days -> four tables.

``normalize_<provider>`` depends on that provider's raw assets only and writes its
``calls``, ``actions``, ``interactions`` and ``quarantine`` files (``writer``), then checks them
(``checks``). Providers run as separate steps: one provider's expired key, outage or mapping bug
fails its own step and leaves every other provider's tables written. The pool
``<provider>_normalize`` (limit 1) keeps two runs from writing the same provider's files at once.
It reads only the raw lake; it never calls a provider.
"""

import traceback
from collections.abc import Sequence

import dagster as dg

from calllog_pipeline import schemas
from calllog_pipeline.columns import column_schema
from calllog_pipeline.lake import Lake
from calllog_pipeline.normalized import checks, writer
from calllog_pipeline.normalized.checks import NormalizeConfig
from calllog_pipeline.normalized.keys import GROUP, normalize_pool, normalized_asset_key
from calllog_pipeline.normalized.privacy import Privacy
from calllog_pipeline.normalized.versions import input_version, raw_versions
from calllog_pipeline.providers.base import Provider
from calllog_pipeline.raw.assets import raw_asset_key
from calllog_pipeline.redact import LOG_FILTER, redact_text
from calllog_pipeline.versions import ABSENT, run_version

DESCRIPTIONS = {
    "calls": "One row per call, in the schema every provider shares (see docs/schema.md).",
    "actions": "Actions an agent executed during or after a call (transfers, SMS, tool calls, webhooks).",
    "interactions": "One row per utterance: the provider's structured turns, else its parsed transcript.",
    "quarantine": "Raw records that could not become rows, with the reason; nothing is dropped silently.",
}


def _spec(provider: Provider, table: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        normalized_asset_key(provider.name, table),
        description=f"{provider.title}: {DESCRIPTIONS[table]}",
        group_name=GROUP,
        kinds={"parquet"},
        owners=["team:data-platform"],
        deps=[raw_asset_key(provider.name, e.name) for e in provider.endpoints],
        tags={"provider": provider.name, "layer": GROUP},
        metadata={
            "provider": provider.title,
            "table": table,
            "lake_path": f"{table}/date=YYYY-MM-DD/provider={provider.name}/data.parquet",
            "dagster/column_schema": column_schema(schemas.TABLES[table]),
        },
    )


def _materialize_result(
    provider: Provider,
    table: str,
    lake: Lake,
    written: writer.Written,
    versions: dict[str, str | None],
    kept: list[str],
) -> dg.MaterializeResult:
    by_day = written.rows[table]
    metadata: dict[str, object] = {
        "paths": dg.MetadataValue.json([lake.url(p) for _, p in sorted(written.paths[table].items())]),
        # Days whose raw data had not changed since they were normalized: their files were kept.
        "unchanged_days": dg.MetadataValue.json(kept),
        "data_versions": dg.MetadataValue.json(versions),
    }
    if len(by_day) == 1:
        metadata["dagster/row_count"] = sum(by_day.values())
    else:  # a ranged run attaches the same metadata to every day: give each day its own count
        metadata["rows_by_day"] = dg.MetadataValue.json(dict(sorted(by_day.items())))
    if table == "quarantine":
        metadata["reasons"] = dg.MetadataValue.json(dict(written.reasons))
    return dg.MaterializeResult(
        asset_key=normalized_asset_key(provider.name, table),
        metadata=metadata,
        data_version=_data_version(versions),
    )


def _data_version(versions: dict[str, str | None]) -> dg.DataVersion | None:
    version = run_version(versions)
    return dg.DataVersion(version) if version else None


def build_normalized_asset(
    provider: Provider, partitions_def: dg.TimeWindowPartitionsDefinition
) -> dg.AssetsDefinition:
    """``normalize_<provider>``: that provider's four tables and their checks, one step."""

    @dg.multi_asset(
        name=f"normalize_{provider.name}",
        specs=[_spec(provider, table) for table in schemas.TABLES],
        check_specs=checks.check_specs(provider.name),
        partitions_def=partitions_def,
        can_subset=False,  # one pass over raw records yields all four tables
        # single_run, like the raw assets: Dagster gives a job the smallest max_partitions_per_run of
        # its assets, so anything else would split the raw layer's ranged fetches into one run per
        # day. A ranged run normalizes its days one after another (memory stays one provider-day);
        # each day gets its own row counts. Check verdicts are per partition when a run covers one
        # day (the daily schedule); a ranged run checks all its days at once and lists them in the
        # check's "partitions" metadata.
        backfill_policy=dg.BackfillPolicy.single_run(),
        # One writer per provider-day: a second run's step waits for this pool's single slot.
        pool=normalize_pool(provider.name),
    )
    def normalize(context: dg.AssetExecutionContext, config: NormalizeConfig, lake: Lake, privacy: Privacy):
        written = writer.Written()
        context.log.addFilter(LOG_FILTER)  # a traceback may quote a record: redacted like the raw step's
        failed: dict[str, str] = {}
        versions: dict[str, str | None] = {}
        kept: list[str] = []
        for day in context.partition_keys:  # one day, or every day of a ranged run
            try:
                raw = raw_versions(lake, provider, day)
                _require_raw(provider, day, raw)
                versions[day] = version = input_version(raw, privacy, provider)
                counts = (
                    None if config.force else writer.keep_provider_day(lake, provider, day, written, version)
                )
                if counts is not None:
                    kept.append(day)
                    context.log.info(
                        f"{provider.name} {day}: raw data unchanged since it was normalized; kept"
                    )
                    continue
                counts = writer.write_provider_day(lake, privacy, provider, day, written, version)
            except MissingRawData as exc:
                context.log.error(f"{provider.title} {day}: {exc}")
                failed[day] = f"{type(exc).__name__}: {exc}"
                continue
            except Exception as exc:  # noqa: BLE001 - a failing day spares the others; reported below
                context.log.error(f"{provider.title} {day}: normalization failed\n{traceback.format_exc()}")
                failed[day] = redact_text(f"{type(exc).__name__}: {exc}")
                continue
            context.log.info(f"{provider.name} {day}: " + ", ".join(f"{t}={n}" for t, n in counts.items()))
        if failed:
            raise _failure(provider, failed, len(context.partition_keys))
        for table in schemas.TABLES:
            yield _materialize_result(provider, table, lake, written, versions, kept)
        yield from checks.CheckRunner(provider.name, lake, written, partitions_def).results(config)

    return normalize


class MissingRawData(Exception):
    """A raw file of the day was never written: normalizing would publish an empty day as if real."""


def _require_raw(provider: Provider, day: str, raw: dict[str, str | None]) -> None:
    missing = [endpoint for endpoint, version in raw.items() if version == ABSENT]
    if missing:
        keys = ", ".join(raw_asset_key(provider.name, name).to_user_string() for name in missing)
        raise MissingRawData(f"no raw file for {keys} on {day}: materialize it for this day first")


def _failure(provider: Provider, failed: dict[str, str], days: int) -> dg.Failure:
    first_day, first_error = next(iter(failed.items()))
    return dg.Failure(
        description=(
            f"{provider.title}: normalizing {len(failed)} of {days} day(s) failed "
            f"({', '.join(failed)}); those days' {provider.name} tables were not replaced. Other "
            f"providers are not affected. First error ({first_day}): {first_error}. Fix the cause "
            f"(the log has the traceback), then re-run normalize_{provider.name} for those partitions."
        ),
        metadata={"provider": provider.name, "failed_days": dg.MetadataValue.json(failed)},
    )


def build_normalized_assets(
    providers: Sequence[Provider], partitions_def: dg.TimeWindowPartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """One ``normalize_<provider>`` multi-asset per provider."""
    return [build_normalized_asset(p, partitions_def) for p in providers]
