"""The normalized layer: raw provider-days -> ``calls``, ``actions``, ``interactions``, ``quarantine``.

One multi-asset writes all four tables, because one pass over a provider's raw records yields rows
for each of them. For every partition day and provider it streams ``provider.normalize(raw)`` into
four Parquet files (``<table>/date=<day>/provider=<name>/data.parquet``), batch by batch, each file
atomic. It reads only the raw lake; it never calls a provider.
"""

import contextlib
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from calllog_pipeline import schemas
from calllog_pipeline.lake import Lake
from calllog_pipeline.mapping import salted_hash
from calllog_pipeline.providers.base import Provider

GROUP = "normalized"
TABLE_KEYS = {table: dg.AssetKey(table) for table in schemas.TABLES}
DESCRIPTIONS = {
    "calls": "One row per call, every provider in one schema (see docs/schema.md).",
    "actions": "Actions an agent executed during or after a call (transfers, SMS, tool calls, webhooks).",
    "interactions": "One row per utterance: the provider's structured turns, else its parsed transcript.",
    "quarantine": "Raw records that could not become rows, with the reason; nothing is dropped silently.",
}

# --- privacy -------------------------------------------------------------------------------------------

_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
_PHONE = r"\+[0-9][0-9 ().\-]{5,18}[0-9]"
# Free-text and JSON columns that can carry contact details, per table.
_TEXT_COLUMNS = {
    "calls": ("summary", "transcript", "extracted", "extra"),
    "actions": ("parameters", "result", "extra"),
    "interactions": ("text",),
    "quarantine": ("detail", "payload"),
}
_NUMBER_COLUMNS = {"calls": ("from_number", "to_number")}


class Privacy(dg.ConfigurableResource):
    """Pseudonymize personal data before it is written.

    With ``hash_pii`` phone-number columns become salted SHA-256 pseudonyms (the same number gives the
    same value in every table and provider, so joins and counts still work), and e-mail addresses and
    ``+``-prefixed phone numbers inside free text and JSON are masked as ``[email]`` / ``[phone]``.
    Without a salt the pseudonyms can be reversed by enumerating phone numbers: set one.
    """

    hash_pii: bool = False
    salt: str = ""

    def protect(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.hash_pii or batch.num_rows == 0:
            return batch
        columns = dict(zip(batch.schema.names, batch.columns, strict=True))
        for name in _NUMBER_COLUMNS.get(table, ()):
            values = columns[name].to_pylist()
            hashed = [None if v is None else salted_hash(v, self.salt) for v in values]
            columns[name] = pa.array(hashed, type=pa.string())
        for name in _TEXT_COLUMNS.get(table, ()):
            masked = pc.replace_substring_regex(columns[name], _EMAIL, "[email]")
            columns[name] = pc.replace_substring_regex(masked, _PHONE, "[phone]")
        return pa.RecordBatch.from_arrays(list(columns.values()), schema=batch.schema)


def privacy_from_env(env: Mapping[str, str] = os.environ) -> Privacy:
    """``CALLLOG_HASH_PII`` (1/true/yes/on) and ``CALLLOG_HASH_SALT`` (kept as an ``EnvVar``)."""
    hash_pii = env.get("CALLLOG_HASH_PII", "").strip().lower() in ("1", "true", "yes", "on")
    salt = dg.EnvVar("CALLLOG_HASH_SALT") if env.get("CALLLOG_HASH_SALT") else ""
    return Privacy(hash_pii=hash_pii, salt=salt)


# --- writing -------------------------------------------------------------------------------------------


class NormalizeConfig(dg.Config):
    max_quarantine_share: float = 0.05  # above this share of records quarantined, a WARN check fails


@dataclass
class Written:
    """What a run wrote: file paths and row counts per table and provider, quarantine reasons."""

    paths: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in schemas.TABLES})
    rows: dict[str, Counter] = field(default_factory=lambda: {t: Counter() for t in schemas.TABLES})
    rows_by_day: dict[str, Counter] = field(default_factory=lambda: {t: Counter() for t in schemas.TABLES})
    reasons: Counter = field(default_factory=Counter)
    # partition key -> calls files of that day (the started_at check needs each day's window)
    calls_by_day: dict[str, list[str]] = field(default_factory=dict)


def write_provider_day(
    lake: Lake, privacy: Privacy, provider: Provider, day: str, written: Written
) -> dict[str, int]:
    """Stream one provider-day into its four files (a day with no rows still gets empty files);
    returns the rows written per table."""
    counts = dict.fromkeys(schemas.TABLES, 0)
    paths = {table: lake.table_path(table, day, provider.name) for table in schemas.TABLES}
    for table in schemas.TABLES:
        written.rows[table][provider.name] += 0  # a provider or day with no rows still shows up, as 0
        written.rows_by_day[table][day] += 0
    with contextlib.ExitStack() as stack:
        writers = {
            t: stack.enter_context(lake.writer(paths[t], _file_schema(s))) for t, s in schemas.TABLES.items()
        }
        for table, batch in provider.normalize(lake.raw_day(provider.name, day)):
            batch = privacy.protect(table, batch)
            writers[table].write_batch(batch.drop_columns(["provider"]))
            written.rows[table][provider.name] += batch.num_rows
            written.rows_by_day[table][day] += batch.num_rows
            counts[table] += batch.num_rows
            if table == "quarantine":
                written.reasons.update(_value_counts(batch.column("reason")))
    for table, path in paths.items():
        written.paths[table].append(path)
    written.calls_by_day.setdefault(day, []).append(paths["calls"])
    return counts


def _file_schema(schema: pa.Schema) -> pa.Schema:
    """The columns stored in a file: ``provider`` lives in the path (``provider=<name>``) only, as
    hive partitioning expects; pandas, pyarrow and Spark refuse a column that is in both."""
    return schema.remove(schema.get_field_index("provider"))


def _value_counts(column: pa.Array) -> dict[str, int]:
    counts = pc.value_counts(column)
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))


def materialize_result(table: str, lake: Lake, written: Written) -> dg.MaterializeResult:
    rows, by_day = written.rows[table], written.rows_by_day[table]
    metadata: dict[str, object] = {
        "rows_by_provider": dg.MetadataValue.json(dict(rows)),
        "paths": dg.MetadataValue.json([lake.url(p) for p in written.paths[table]]),
    }
    if len(by_day) == 1:
        metadata["dagster/row_count"] = sum(rows.values())
    else:  # a ranged run attaches the same metadata to every day: give each day its own count
        metadata["rows_by_day"] = dg.MetadataValue.json(dict(by_day))
    if table == "quarantine":
        metadata["reasons"] = dg.MetadataValue.json(dict(written.reasons))
    return dg.MaterializeResult(asset_key=TABLE_KEYS[table], metadata=metadata)


# --- checks --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    table: str
    description: str
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR


CHECKS = (
    Check("call_id_unique", "calls", "Each (provider, call_id) appears once per day."),
    Check("required_fields_not_null", "calls", "provider, call_id, started_at, status set."),
    Check("duration_non_negative", "calls", "duration_s is never negative."),
    Check("started_at_in_partition", "calls", "Every call started inside its partition's day window."),
    Check("required_fields_not_null", "actions", "provider, call_id, action_type are set."),
    Check("references_a_call", "actions", "Every action belongs to a call of the same provider-day."),
    Check("required_fields_not_null", "interactions", "provider, call_id, turn_index, speaker, text set."),
    Check("references_a_call", "interactions", "Every turn belongs to a call of the same provider-day."),
    Check(
        "quarantine_share_below_threshold",
        "quarantine",
        "Quarantined records stay under NormalizeConfig.max_quarantine_share of all records.",
        dg.AssetCheckSeverity.WARN,
    ),
)

_REQUIRED = {
    "calls": ("provider", "call_id", "started_at", "status", "ingested_at"),
    "actions": ("provider", "call_id", "action_type", "ingested_at"),
    "interactions": ("provider", "call_id", "turn_index", "speaker", "text", "ingested_at"),
}


def _files(paths: Sequence[str]) -> str:
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{quoted}], hive_partitioning = true)"  # adds the folders' date, provider


def _is_remote(lake: Lake) -> bool:
    protocol = lake.fs.protocol
    return (protocol[0] if isinstance(protocol, tuple) else protocol) not in ("file", "local")


class CheckRunner:
    """Runs the checks with DuckDB over exactly the files this run wrote."""

    def __init__(self, lake: Lake, written: Written, partitions_def: dg.DailyPartitionsDefinition):
        self.lake, self.written, self.partitions_def = lake, written, partitions_def
        self.con = duckdb.connect()
        if _is_remote(lake):  # let DuckDB read through the lake's own fsspec filesystem
            self.con.register_filesystem(self.lake.fs)

    def table(self, name: str) -> str:
        return _files([self.lake.url(p) for p in self.written.paths[name]])

    def scalar(self, sql: str, params: list | None = None):
        return self.con.execute(sql, params or []).fetchone()[0]

    def result(self, check: Check, config: NormalizeConfig) -> dg.AssetCheckResult:
        if not self.written.paths["calls"]:  # no providers configured: nothing to check
            passed, metadata = True, {}
        else:
            passed, metadata = getattr(self, check.name)(check.table, config)
        metadata["partitions"] = dg.MetadataValue.json(sorted(self.written.calls_by_day))
        return dg.AssetCheckResult(
            asset_key=TABLE_KEYS[check.table],
            check_name=check.name,
            passed=bool(passed),
            metadata=metadata,
            severity=check.severity,
        )

    def call_id_unique(self, table: str, _config) -> tuple[bool, dict]:
        rows = self.con.execute(
            f"SELECT date, provider, call_id FROM {self.table(table)} "
            "GROUP BY ALL HAVING count(*) > 1 LIMIT 5"
        ).fetchall()
        sample = [[str(value) for value in row] for row in rows]
        return not rows, {"duplicated_ids_sample": dg.MetadataValue.json(sample)}

    def required_fields_not_null(self, table: str, _config) -> tuple[bool, dict]:
        condition = " OR ".join(f"{c} IS NULL" for c in _REQUIRED[table])
        if table == "calls":
            statuses = ", ".join(f"'{s}'" for s in schemas.CALL_STATUSES)
            condition += f" OR status NOT IN ({statuses})"
        bad = self.scalar(f"SELECT count(*) FROM {self.table(table)} WHERE {condition}")
        return bad == 0, {"bad_rows": bad}

    def duration_non_negative(self, table: str, _config) -> tuple[bool, dict]:
        bad = self.scalar(f"SELECT count(*) FROM {self.table(table)} WHERE duration_s < 0")
        return bad == 0, {"negative_durations": bad}

    def started_at_in_partition(self, table: str, _config) -> tuple[bool, dict]:
        outside = 0
        for day, paths in self.written.calls_by_day.items():
            window = self.partitions_def.time_window_for_partition_key(day)
            outside += self.scalar(
                f"SELECT count(*) FROM {_files([self.lake.url(p) for p in paths])} "
                "WHERE started_at < ? OR started_at >= ?",
                [window.start, window.end],
            )
        return outside == 0, {"calls_outside_window": outside}

    def references_a_call(self, table: str, _config) -> tuple[bool, dict]:
        orphans = self.scalar(
            f"SELECT count(*) FROM {self.table(table)} t "
            f"ANTI JOIN {self.table('calls')} c USING (date, provider, call_id)"
        )
        return orphans == 0, {"orphan_rows": orphans}

    def quarantine_share_below_threshold(self, table: str, config: NormalizeConfig) -> tuple[bool, dict]:
        quarantined = sum(self.written.rows["quarantine"].values())
        total = quarantined + sum(self.written.rows["calls"].values())
        share = quarantined / total if total else 0.0
        return share <= config.max_quarantine_share, {
            "quarantined": quarantined,
            "share": float(share),
            "threshold": float(config.max_quarantine_share),
            "reasons": dg.MetadataValue.json(dict(self.written.reasons)),
        }


# --- the asset -----------------------------------------------------------------------------------------


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    """The Arrow schema as Dagster shows it in the asset's column list."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(f.name, str(f.type), constraints=dg.TableColumnConstraints(nullable=f.nullable))
            for f in schema
        ]
    )


def build_normalized_assets(
    providers: Sequence[Provider],
    partitions_def: dg.DailyPartitionsDefinition,
    raw_keys: Sequence[dg.AssetKey],
) -> list:
    specs = [
        dg.AssetSpec(
            key,
            description=DESCRIPTIONS[table],
            group_name=GROUP,
            kinds={"parquet"},
            deps=list(raw_keys),
            metadata={"dagster/column_schema": column_schema(schemas.TABLES[table])},
        )
        for table, key in TABLE_KEYS.items()
    ]
    check_specs = [
        dg.AssetCheckSpec(
            c.name, asset=TABLE_KEYS[c.table], description=c.description, partitions_def=partitions_def
        )
        for c in CHECKS
    ]

    @dg.multi_asset(
        name="normalize",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions_def,
        can_subset=False,  # one pass over raw records yields all four tables
        # single_run, like the raw assets: Dagster gives a job the smallest max_partitions_per_run of
        # its assets, so anything else would split the raw layer's ranged fetches into one run per
        # day. A ranged run normalizes its days one after another (memory stays one provider-day);
        # each day gets its own materialization and row counts. Check verdicts are per partition
        # when a run covers one day (the daily schedule); a ranged run checks all its days at once
        # and lists them in the check's "partitions" metadata.
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def normalize(context: dg.AssetExecutionContext, config: NormalizeConfig, lake: Lake, privacy: Privacy):
        written = Written()
        for day in context.partition_keys:  # one day, or every day of a ranged run
            for provider in providers:
                counts = write_provider_day(lake, privacy, provider, day, written)
                summary = ", ".join(f"{table}={n}" for table, n in counts.items())
                context.log.info(f"{provider.name} {day}: {summary}")
        for table in schemas.TABLES:
            yield materialize_result(table, lake, written)
        runner = CheckRunner(lake, written, partitions_def)
        for check in CHECKS:
            yield runner.result(check, config)

    return [normalize]
