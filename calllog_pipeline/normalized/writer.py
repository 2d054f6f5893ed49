"""How one provider-day is written: ``provider.normalize(raw)`` streamed into four Parquet files.

Each file is ``<table>/date=<day>/provider=<name>/data.parquet``, written batch by batch into a
staged file and renamed into place with the day's three other files once all four are complete
(``Lake.publish_together``), so a re-run replaces the day whole and a crash leaves no half-written
partition.
"""

import contextlib
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from calllog_pipeline import schemas
from calllog_pipeline.lake import Lake
from calllog_pipeline.normalized.privacy import Privacy
from calllog_pipeline.providers.base import Provider
from calllog_pipeline.versions import DATA_VERSION, current_rows


@dataclass
class Written:
    """What one provider's run wrote: per table, each day's file and row count; quarantine reasons."""

    paths: dict[str, dict[str, str]] = field(default_factory=lambda: {t: {} for t in schemas.TABLES})
    rows: dict[str, Counter] = field(default_factory=lambda: {t: Counter() for t in schemas.TABLES})
    reasons: Counter = field(default_factory=Counter)

    def days(self) -> list[str]:
        return sorted(self.paths["calls"])


def day_paths(lake: Lake, provider: Provider, day: str) -> dict[str, str]:
    return {table: lake.table_path(table, day, provider.name) for table in schemas.TABLES}


def write_provider_day(
    lake: Lake, privacy: Privacy, provider: Provider, day: str, written: Written, version: str | None = None
) -> dict[str, int]:
    """Stream one provider-day into its four files (a day with no rows still gets empty files);
    returns the rows written per table. Nothing is recorded in ``written`` unless all four succeed.
    ``version`` (the inputs' fingerprint, see ``versions``) is recorded in every file's footer."""
    counts = dict.fromkeys(schemas.TABLES, 0)
    reasons: Counter = Counter()
    paths = day_paths(lake, provider, day)
    footer = {DATA_VERSION: version} if version else None
    # The four files are renamed into place one right after another, and only once all four are
    # complete: a failure part-way replaces none of them.
    with lake.publish_together() as together, contextlib.ExitStack() as stack:
        writers = {
            t: stack.enter_context(
                lake.writer(
                    paths[t],
                    file_schema(s),
                    footer,
                    together=together,
                    use_dictionary=DICTIONARY.get(t, True),
                )
            )
            for t, s in schemas.TABLES.items()
        }
        groups = {t: _RowGroup(writers[t]) for t in writers}
        for table, batch in provider.normalize(lake.raw_day(provider.name, day)):
            batch = privacy.protect(table, batch)
            groups[table].add(batch.drop_columns(["provider"]))
            counts[table] += batch.num_rows
            if table == "quarantine":
                reasons.update(_value_counts(batch.column("reason")))
        for group in groups.values():
            group.flush()
    for table, path in paths.items():
        written.paths[table][day] = path
        written.rows[table][day] = counts[table]
    written.reasons.update(reasons)
    # The day's batches are freed by now, but Arrow's allocator keeps their pages for reuse: give
    # them back, or the checks that read the files next add their memory on top (peak RSS).
    pa.default_memory_pool().release_unused()
    return counts


# The ``calls`` columns worth a Parquet dictionary (few distinct values); the others (ids, times,
# texts, JSON) are mostly unique, and a dictionary Arrow builds then drops cost 12-23% of the
# table's write (10,000 calls). The other tables are written with dictionaries for every column: their
# repetitive columns (call ids, speakers, action types) are most of them.
DICTIONARY = {
    "calls": [
        "agent_id",
        "agent_name",
        "status",
        "status_raw",
        "end_reason",
        "direction",
        "channel",
        "sentiment",
        "is_test",
    ],
}

GROUP_ROWS = 5_000  # rows per Parquet row group: mappings emit ~1,000-row batches, and every
GROUP_BYTES = 4 << 20  # row group costs a fixed amount to encode; the bytes bound memory per table


class _RowGroup:
    """Batches gathered into row groups of ``GROUP_ROWS`` rows (or ``GROUP_BYTES``) before writing."""

    def __init__(self, writer):
        self.writer, self.batches, self.rows, self.bytes = writer, [], 0, 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)
        self.rows += batch.num_rows
        self.bytes += batch.nbytes
        if self.rows >= GROUP_ROWS or self.bytes >= GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.batches:
            self.writer.write_table(pa.Table.from_batches(self.batches), row_group_size=GROUP_ROWS)
        self.batches, self.rows, self.bytes = [], 0, 0


def keep_provider_day(
    lake: Lake, provider: Provider, day: str, written: Written, version: str | None
) -> dict[str, int] | None:
    """When the day's four files were computed from inputs with this ``version``, record them in
    ``written`` as they are (their checks still run) and return their row counts; else None."""
    paths = day_paths(lake, provider, day)
    rows = current_rows(lake, paths, version)
    if rows is None:
        return None
    for table, path in paths.items():
        written.paths[table][day] = path
        written.rows[table][day] = rows[table]
    return rows


def file_schema(schema: pa.Schema) -> pa.Schema:
    """The columns stored in a file: ``provider`` lives in the path (``provider=<name>``) only, as
    hive partitioning expects (pandas, pyarrow and Spark refuse a column that is in both); column
    descriptions stay in the code and the asset catalog, not in every file."""
    return schemas.without_descriptions(schema.remove(schema.get_field_index("provider")))


def _value_counts(column: pa.Array) -> dict[str, int]:
    counts = pc.value_counts(column)
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))
