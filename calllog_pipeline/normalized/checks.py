"""The data-quality checks on one provider's normalized tables, run in the step that wrote them.

They read exactly the files the step wrote (DuckDB over Parquet), so a verdict always describes
this provider's data of this run: a broken provider fails its own checks, never another's.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import duckdb

from calllog_pipeline import schemas
from calllog_pipeline.lake import Lake
from calllog_pipeline.normalized.keys import normalized_asset_key
from calllog_pipeline.normalized.writer import Written


class NormalizeConfig(dg.Config):
    max_quarantine_share: float = 0.05  # above this share of records quarantined, a WARN check fails
    # Rewrite days even when their raw data and the code are unchanged (normally they are kept).
    force: bool = False


@dataclass(frozen=True)
class Check:
    name: str
    table: str
    description: str
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR


CHECKS = (
    Check("call_id_unique", "calls", "Each call_id appears once per day."),
    Check("required_fields_not_null", "calls", "call_id, started_at, status are set."),
    Check(
        "values_in_vocabulary", "calls", "status, end_reason, direction, channel, sentiment are canonical."
    ),
    Check("duration_non_negative", "calls", "duration_s is never negative."),
    Check("started_at_in_partition", "calls", "Every call started inside its partition's day window."),
    Check("required_fields_not_null", "actions", "call_id, action_type are set."),
    Check("values_in_vocabulary", "actions", "action_type is canonical."),
    Check("references_a_call", "actions", "Every action belongs to a call of the same provider-day."),
    Check("required_fields_not_null", "interactions", "call_id, turn_index, speaker, text are set."),
    Check("values_in_vocabulary", "interactions", "speaker is canonical."),
    Check("references_a_call", "interactions", "Every turn belongs to a call of the same provider-day."),
    Check("values_in_vocabulary", "quarantine", "Every quarantined record names a known reason."),
    Check(
        "quarantine_share_below_threshold",
        "quarantine",
        "Quarantined records stay under NormalizeConfig.max_quarantine_share of all records.",
        dg.AssetCheckSeverity.WARN,
    ),
)

# The controlled vocabularies of ``schemas``: a value outside them is a mapping bug (a provider's new
# word must be mapped, or land as "unknown"/"other"); nulls are the required-fields check's business.
_VOCABULARIES = {
    "calls": {
        "status": schemas.CALL_STATUSES,
        "end_reason": schemas.END_REASONS,
        "direction": schemas.DIRECTIONS,
        "channel": schemas.CHANNELS,
        "sentiment": schemas.SENTIMENTS,
    },
    "actions": {"action_type": schemas.ACTION_TYPES},
    "interactions": {"speaker": schemas.SPEAKERS},
    "quarantine": {"reason": schemas.QUARANTINE_REASONS},
}

_REQUIRED = {
    "calls": ("call_id", "started_at", "status", "ingested_at"),
    "actions": ("call_id", "action_type", "ingested_at"),
    "interactions": ("call_id", "turn_index", "speaker", "text", "ingested_at"),
}


def check_specs(provider: str) -> list[dg.AssetCheckSpec]:
    # No partitions_def on the specs (a preview API): each evaluation is still tied to the
    # materialization of the run's partition, and its "partitions" metadata names the day(s).
    return [
        dg.AssetCheckSpec(c.name, asset=normalized_asset_key(provider, c.table), description=c.description)
        for c in CHECKS
    ]


def _files(paths: Sequence[str]) -> str:
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{quoted}], hive_partitioning = true)"  # adds the folders' date, provider


def _is_remote(lake: Lake) -> bool:
    protocol = lake.fs.protocol
    return (protocol[0] if isinstance(protocol, tuple) else protocol) not in ("file", "local")


class CheckRunner:
    """Runs the checks with DuckDB over exactly the files one provider's run wrote."""

    def __init__(
        self, provider: str, lake: Lake, written: Written, partitions_def: dg.TimeWindowPartitionsDefinition
    ):
        self.provider, self.lake, self.written, self.partitions_def = provider, lake, written, partitions_def
        self.con = duckdb.connect()
        if _is_remote(lake):  # let DuckDB read through the lake's own fsspec filesystem
            self.con.register_filesystem(self.lake.fs)

    def table(self, name: str, days: Sequence[str] | None = None) -> str:
        paths = self.written.paths[name]
        return _files([self.lake.url(paths[d]) for d in (days or sorted(paths))])

    def per_day(self, sql: str, params: list | None = None) -> dict[str, int]:
        """``sql`` returns (date, count) rows; days with a non-zero count, by partition key."""
        return {str(day): n for day, n in self.con.execute(sql, params or []).fetchall() if n}

    def results(self, config: NormalizeConfig):
        for check in CHECKS:
            yield self.result(check, config)

    def result(self, check: Check, config: NormalizeConfig) -> dg.AssetCheckResult:
        # Each check is judged day by day: a ranged run (one result per check) still says which
        # partitions fail, in "failing_days"; a one-day run's result is that day's verdict.
        failing, metadata = getattr(self, check.name)(check.table, config)
        metadata["failing_days"] = dg.MetadataValue.json(failing)
        metadata["partitions"] = dg.MetadataValue.json(self.written.days())
        return dg.AssetCheckResult(
            asset_key=normalized_asset_key(self.provider, check.table),
            check_name=check.name,
            passed=not failing,
            metadata=metadata,
            severity=check.severity,
        )

    def call_id_unique(self, table: str, _config) -> tuple[dict, dict]:
        duplicated = f"SELECT date, call_id FROM {self.table(table)} GROUP BY ALL HAVING count(*) > 1"
        failing = self.per_day(f"SELECT date, count(*) FROM ({duplicated}) GROUP BY date")
        sample = [[str(v) for v in row] for row in self.con.execute(f"{duplicated} LIMIT 5").fetchall()]
        return failing, {
            "duplicated_ids": sum(failing.values()),
            "duplicated_ids_sample": dg.MetadataValue.json(sample),
        }

    def required_fields_not_null(self, table: str, _config) -> tuple[dict, dict]:
        condition = " OR ".join(f"{c} IS NULL" for c in _REQUIRED[table])
        failing = self.per_day(
            f"SELECT date, count(*) FROM {self.table(table)} WHERE {condition} GROUP BY date"
        )
        return failing, {"bad_rows": sum(failing.values())}

    def values_in_vocabulary(self, table: str, _config) -> tuple[dict, dict]:
        vocabularies = _VOCABULARIES[table]
        outside = " OR ".join(f"{column} NOT IN ?" for column in vocabularies)  # NULL NOT IN: not true
        words = [list(vocabulary) for vocabulary in vocabularies.values()]
        failing = self.per_day(
            f"SELECT date, count(*) FROM {self.table(table)} WHERE {outside} GROUP BY date", words
        )
        found = {
            column: [
                v
                for (v,) in self.con.execute(
                    f"SELECT DISTINCT {column} FROM {self.table(table)} WHERE {column} NOT IN ? LIMIT 5",
                    [vocabulary],
                ).fetchall()
            ]
            for column, vocabulary in zip(vocabularies, words, strict=True)
        }
        return failing, {
            "bad_rows": sum(failing.values()),
            "unknown_values": dg.MetadataValue.json({c: v for c, v in found.items() if v}),
        }

    def duration_non_negative(self, table: str, _config) -> tuple[dict, dict]:
        failing = self.per_day(
            f"SELECT date, count(*) FROM {self.table(table)} WHERE duration_s < 0 GROUP BY date"
        )
        return failing, {"negative_durations": sum(failing.values())}

    def started_at_in_partition(self, table: str, _config) -> tuple[dict, dict]:
        failing = {}
        for day in self.written.days():
            window = self.partitions_def.time_window_for_partition_key(day)
            failing |= self.per_day(
                f"SELECT date, count(*) FROM {self.table(table, [day])} "
                "WHERE started_at < ? OR started_at >= ? GROUP BY date",
                [window.start, window.end],
            )
        return failing, {"calls_outside_window": sum(failing.values())}

    def references_a_call(self, table: str, _config) -> tuple[dict, dict]:
        failing = self.per_day(
            f"SELECT t.date, count(*) FROM {self.table(table)} t "
            f"ANTI JOIN {self.table('calls')} c USING (date, call_id) GROUP BY t.date"
        )
        return failing, {"orphan_rows": sum(failing.values())}

    def quarantine_share_below_threshold(self, table: str, config: NormalizeConfig) -> tuple[dict, dict]:
        quarantined, calls = self.written.rows["quarantine"], self.written.rows["calls"]

        def share(q: int, c: int) -> float:
            return q / (q + c) if q + c else 0.0

        by_day = {day: share(quarantined[day], calls[day]) for day in self.written.days()}
        failing = {day: round(s, 4) for day, s in by_day.items() if s > config.max_quarantine_share}
        return failing, {
            "quarantined": sum(quarantined.values()),
            "share": float(share(sum(quarantined.values()), sum(calls.values()))),
            "threshold": float(config.max_quarantine_share),
            "reasons": dg.MetadataValue.json(dict(self.written.reasons)),
        }
