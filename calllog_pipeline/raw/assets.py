"""Raw layer: one daily-partitioned asset per provider endpoint, records exactly as received.

Each day is written to ``raw/<provider>/<endpoint>/date=YYYY-MM-DD/data.parquet`` (one row per
record: record_id, endpoint, page, fetched_at and the redacted JSON payload), atomically, so
re-materializing a day replaces it whole. Each page's ETag, with what a 304 needs to stand for that
page (its listed count, the listing's total, its record times), lives in the file's footer: on the
next run an unchanged DialNexa call-log day costs one 304 per page and no write.
"""

import asyncio
import contextlib
import gc
import time
from array import array
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate, repeat

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from orjson import dumps, loads

from calllog_pipeline import schemas
from calllog_pipeline.columns import column_schema
from calllog_pipeline.http import ApiClient, ProviderError, ProviderUnavailable
from calllog_pipeline.lake import RAW_BATCH_ROWS, RAW_SCHEMA, Lake
from calllog_pipeline.providers.base import Endpoint, Paging, Provider, ProviderApi, Window
from calllog_pipeline.raw.coverage import Page
from calllog_pipeline.raw.fetch import FetchStats, PageNote, WindowFetch, first_error
from calllog_pipeline.raw.versions import CONTENT_HASH, ContentHash
from calllog_pipeline.redact import (
    LOG_FILTER,
    REDACTION_KEY,
    policy_fingerprint,
    redact_serialized_many,
    redact_text,
    remember_secrets,
)
from calllog_pipeline.timeutil import LATER_PASS_IDS
from calllog_pipeline.versions import run_version

DAYS_IN_FLIGHT = 2  # days of a ranged run fetched at once; pages within a day are concurrent too
# A batch (one row group) is written at RAW_BATCH_ROWS records or this many payload bytes, whichever
# comes first: OmniDimension's records are ~5 KB, and a batch is held about three times while written.
RAW_BATCH_BYTES = 8 << 20
# Columns worth a Parquet dictionary; ids and payloads are unique (a fifth of the write's CPU).
RAW_DICTIONARY_COLUMNS = ["endpoint", "page", "fetched_at"]


def raw_asset_key(provider: str, endpoint: str) -> dg.AssetKey:
    """``raw/<provider>_<endpoint>``: the UI labels a node with the key's last part, so it names the
    provider (``dialnexa_call_logs``, not three nodes called ``call_logs``)."""
    return dg.AssetKey(["raw", f"{provider}_{endpoint}"])


class _Unchanged(Exception):
    """Every page answered 304: keep the stored file instead of rewriting it."""


@dataclass
class DayOutcome:
    day: str
    records: int = 0
    unchanged: bool = False
    error: str | None = None
    content_hash: str = ""  # what the day's records hash to (the day's data version)
    seconds: float = 0.0
    stats: FetchStats = field(default_factory=FetchStats)


class RawSink:
    """Buffers accepted records and streams them to the Parquet writer in bounded batches.

    Columns are built from buffers (``arrow_strings``), not with ``pa.array``: pyarrow imports
    pandas the first time it is handed a Python list (about 0.6 CPU-s per process, more than the
    rest of a 10,000-record day's write)."""

    def __init__(self, writer: pq.ParquetWriter, endpoint: Endpoint, secrets: tuple[str, ...]):
        self.writer, self.endpoint, self.secrets = writer, endpoint, secrets
        self.content = ContentHash()
        self._clear()

    def _clear(self) -> None:
        self._ids: list[bytes | None] = []
        self._payloads: list[bytes] = []
        self._pages = array("i")
        self._fetched_us = array("q")
        self._bytes = 0

    def __call__(self, page: Page, records: list[dict]) -> None:
        record_id = self.endpoint.record_id
        payloads = redact_serialized_many(records, [dumps(record) for record in records], self.secrets)
        # Whole-page list operations: this runs for every record of the day.
        self._ids.extend([None if (rid := record_id(record)) is None else rid.encode() for record in records])
        self.content.add_many(payloads)
        self._payloads.extend(payloads)
        self._bytes += sum(map(len, payloads))
        self._pages.extend(repeat(page.number, len(records)))
        self._fetched_us.extend(repeat(_epoch_us(page.fetched_at), len(records)))
        if len(self._payloads) >= RAW_BATCH_ROWS or self._bytes >= RAW_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._payloads:
            return
        rows = len(self._payloads)
        name = self.endpoint.name.encode()
        columns = [
            arrow_strings(self._ids),
            arrow_strings([name] * rows),
            pa.Array.from_buffers(pa.int32(), rows, [None, pa.py_buffer(self._pages)]),
            pa.Array.from_buffers(_FETCHED_AT, rows, [None, pa.py_buffer(self._fetched_us)]),
            arrow_strings(self._payloads),
        ]
        self.writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=RAW_SCHEMA))
        self._clear()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FETCHED_AT = RAW_SCHEMA.field("fetched_at").type  # microseconds since the epoch


def _epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def arrow_strings(values: list[bytes | None]) -> pa.Array:
    """An Arrow string array of UTF-8 ``values`` (None is null), built from one data buffer."""
    offsets = array("i", [0])
    validity = None
    if None not in values:  # payloads always, ids nearly always: C loops only
        offsets.extend(accumulate(map(len, values)))
        data = b"".join(values)
    else:  # rare: records without an id
        offsets.extend(accumulate(0 if v is None else len(v) for v in values))
        data = b"".join(v for v in values if v is not None)
        bits = bytearray((len(values) + 7) // 8)
        for i, v in enumerate(values):
            if v is not None:
                bits[i >> 3] |= 1 << (i & 7)
        validity = pa.py_buffer(bits)
    buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), len(values), buffers)


def _stored_page_reader(lake: Lake, path: str):
    """Reads one page of the previous file back, for pages the provider answered 304."""

    def stored_page(number: int) -> list[dict]:
        # Pages arrive roughly in order, so row-group statistics let the filter skip most of the file.
        with lake.fs.open(path, "rb") as f:
            table = pq.read_table(f, columns=["payload"], filters=[("page", "==", number)])
        return [loads(p) for p in table["payload"].to_pylist()]

    return stored_page


def _page_notes(footer: dict) -> dict[str, PageNote]:
    """The stored page notes; none from a file written before notes existed (every page is then
    read in full once)."""
    notes = footer.get("pages")
    if not isinstance(notes, dict):
        return {}
    return {key: note for key, value in notes.items() if (note := PageNote.read(value)) is not None}


def _source_context(api: ProviderApi, stats: FetchStats) -> dict:
    """What the mapping needs to read the records: the provider's settings and, on a DST
    fall-back day, which records the listing's order placed in the later pass of the repeated hour."""
    context: dict = dict(api.source_context())
    if stats.later_pass_ids:
        context[LATER_PASS_IDS] = stats.later_pass_ids
    return context


async def ingest_day(
    client: ApiClient,
    api: ProviderApi,
    provider: Provider,
    endpoint: Endpoint,
    lake: Lake,
    day: str,
    window: Window,
    log,
) -> DayOutcome:
    """Fetch one day of one endpoint into its raw file; returns what happened."""
    started = time.monotonic()
    outcome = DayOutcome(day)
    path = lake.raw_path(provider.name, endpoint.name, day)
    previous = lake.file_metadata(path) if endpoint.conditional and lake.exists(path) else {}
    secrets = tuple(api.secrets())
    metadata = {
        "endpoint": redact_text(api.base_url.rstrip("/") + endpoint.path, secrets),
        "window": [window.start.isoformat(), window.end.isoformat()],
        "fetched_at": datetime.now(UTC).isoformat(),
        REDACTION_KEY: policy_fingerprint(secrets),  # normalize trusts JSON redacted under the same one
    }
    label = f"[{provider.name}/{endpoint.name} {day}]"
    try:
        with lake.writer(path, RAW_SCHEMA, metadata, use_dictionary=RAW_DICTIONARY_COLUMNS) as pw:
            sink = RawSink(pw, endpoint, secrets)
            fetch = WindowFetch(
                client,
                endpoint,
                window,
                api.source_context(),
                sink,
                default_params=api.default_params(),
                concurrency=api.max_concurrency,
                known_pages=_page_notes(previous),
                stored_page=_stored_page_reader(lake, path) if previous else None,
                progress=lambda msg: log.info(f"{label} {msg}"),
            )
            outcome.stats = await fetch.run()
            if outcome.stats.pages and outcome.stats.not_modified_pages == outcome.stats.pages:
                raise _Unchanged
            sink.flush()
            lake.add_metadata(
                pw,
                {
                    "source_context": _source_context(api, outcome.stats),
                    "pages": {key: asdict(note) for key, note in outcome.stats.page_notes.items()},
                    "total": outcome.stats.total,
                    CONTENT_HASH: sink.content.hexdigest(),
                },
            )
    except _Unchanged:
        outcome.unchanged = True
        log.info(f"{label} unchanged since the last run (all pages 304): kept the stored file")
    outcome.records = outcome.stats.records
    outcome.content_hash = sink.content.hexdigest()
    outcome.seconds = time.monotonic() - started
    return outcome


@contextlib.asynccontextmanager
async def _heap_frozen():
    """Keep what was alive before the fetch (Dagster, the code location: about a million objects)
    out of the garbage collector's full passes while pages are decoded. A day allocates millions of
    containers, and each full collection would walk that whole heap again (a fifth of an
    OmniDimension day's CPU). Reference counting still frees everything as usual; only cycles
    among the frozen objects wait until the fetch ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def ingest_days(
    api: ProviderApi,
    provider: Provider,
    endpoint: Endpoint,
    lake: Lake,
    days: list[tuple[str, Window]],
    log,
) -> tuple[list[DayOutcome], dict]:
    """Ingest several days with one client (one rate limit); a failing day spares the others,
    but a provider-level error (bad key, outage) stops the rest at once."""
    gate = asyncio.Semaphore(DAYS_IN_FLIGHT)
    outcomes: list[DayOutcome] = []

    async with _heap_frozen(), api.client() as client:

        async def one(day: str, window: Window) -> None:
            async with gate:
                try:
                    outcomes.append(await ingest_day(client, api, provider, endpoint, lake, day, window, log))
                except ProviderError:
                    raise
                except Exception as exc:  # noqa: BLE001 - recorded per day, reported at the end
                    outcomes.append(
                        DayOutcome(day, error=redact_text(f"{type(exc).__name__}: {exc}", api.secrets()))
                    )

        async with first_error(), asyncio.TaskGroup() as group:
            for day, window in days:
                group.create_task(one(day, window))
    return sorted(outcomes, key=lambda o: o.day), vars(client.stats)


def _summary(outcomes: list[DayOutcome], client_stats: dict, seconds: float) -> dict[str, dg.MetadataValue]:
    def total(attr: str) -> int:
        return sum(getattr(o.stats, attr) for o in outcomes)

    rows = [
        f"| {o.day} | {o.records} | {o.stats.pages} | {o.stats.not_modified_pages} | "
        f"{o.stats.duplicates} | {o.stats.drift_refetches} | "
        f"{'unchanged' if o.unchanged else (o.error or 'written')} |"
        for o in outcomes
    ]
    return {
        "records": dg.MetadataValue.int(sum(o.records for o in outcomes)),
        "pages": dg.MetadataValue.int(total("pages")),
        "requests": dg.MetadataValue.int(client_stats["requests"]),
        "retries": dg.MetadataValue.int(client_stats["retries"]),
        "rate_limited_429": dg.MetadataValue.int(client_stats["throttled"]),
        "not_modified_304": dg.MetadataValue.int(client_stats["not_modified"]),
        "duplicates_dropped": dg.MetadataValue.int(total("duplicates")),
        "out_of_window_dropped": dg.MetadataValue.int(total("out_of_window")),
        "drift_rescans": dg.MetadataValue.int(total("drift_refetches")),
        "window_probes": dg.MetadataValue.int(total("probes")),
        "repeated_hour_later_pass": dg.MetadataValue.int(sum(len(o.stats.later_pass_ids) for o in outcomes)),
        "repeated_hour_undecided": dg.MetadataValue.int(total("repeated_hour_undecided")),
        "bytes": dg.MetadataValue.int(client_stats["bytes"]),
        "seconds": dg.MetadataValue.float(round(seconds, 3)),
        "retry_reasons": dg.MetadataValue.json(client_stats["retry_reasons"]),
        "days": dg.MetadataValue.md(
            "| day | records | pages | 304 | duplicates | drift re-reads | result |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        ),
    }


COMPLETENESS_CHECK = "records_match_listing_total"


def completeness_check_specs(provider: Provider, endpoint: Endpoint) -> list[dg.AssetCheckSpec]:
    """Records landed vs the total the listing reported, where that total is the day's: only a
    listing filtered to the window reports one (OmniDimension's total counts its whole history)."""
    if endpoint.paging is not Paging.WINDOWED:
        return []
    return [
        dg.AssetCheckSpec(
            COMPLETENESS_CHECK,
            asset=raw_asset_key(provider.name, endpoint.name),
            description=(
                f"Every day, the records stored equal the total {provider.title} {endpoint.path} "
                "reported for the day's window (none lost, none extra)."
            ),
        )
    ]


def _completeness(provider: Provider, endpoint: Endpoint, outcomes: list[DayOutcome]) -> dg.AssetCheckResult:
    # A day-granular filter (DialNexa /call-logs outside UTC) lists more than the window: what it
    # reported for the window is its total less the records that fell outside.
    counts = {
        o.day: {"landed": o.records, "reported": o.stats.total - o.stats.out_of_window} for o in outcomes
    }
    off = {day: c for day, c in counts.items() if c["landed"] != c["reported"]}
    return dg.AssetCheckResult(
        asset_key=raw_asset_key(provider.name, endpoint.name),
        check_name=COMPLETENESS_CHECK,
        passed=not off,
        metadata={
            "landed": sum(c["landed"] for c in counts.values()),
            "reported": sum(c["reported"] for c in counts.values()),
            "days_off": dg.MetadataValue.json(off),
            "partitions": dg.MetadataValue.json(sorted(counts)),
        },
    )


def build_raw_asset(
    provider: Provider,
    endpoint: Endpoint,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    retry_policy: dg.RetryPolicy | None = None,
) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(provider.name, endpoint.name),
        group_name="raw",
        description=(
            f"{endpoint.description}\n\nEvery record created in the partition's day, exactly once, "
            f"as received (credentials redacted). Lake path: raw/{provider.name}/{endpoint.name}/"
            "date=YYYY-MM-DD/data.parquet"
        ),
        partitions_def=partitions_def,
        # A ranged backfill runs as one run: one process, one client and one rate limit for the
        # whole range instead of a process per day, while each day is still fetched and written
        # on its own (bounded memory, and a failed day never discards another day's file).
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=f"{provider.name}_api",
        retry_policy=retry_policy,  # retries only ProviderUnavailable: other failures disallow retries
        kinds={"python", "parquet"},
        owners=["team:data-platform"],
        tags={"provider": provider.name, "layer": "raw"},
        metadata={
            "provider": provider.title,
            "endpoint": endpoint.path,
            "page_size": endpoint.page_size,
            "dagster/column_schema": column_schema(schemas.RAW),
        },
        required_resource_keys={"lake", provider.name},
        check_specs=completeness_check_specs(provider, endpoint),
    )
    def raw_endpoint(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        api: ProviderApi = getattr(context.resources, provider.name)
        lake: Lake = context.resources.lake
        remember_secrets(api.secrets())  # redacted from every log line and message from now on
        context.log.addFilter(LOG_FILTER)
        days = [
            (key, Window(w.start, w.end))
            for key in context.partition_keys
            for w in [partitions_def.time_window_for_partition_key(key)]
        ]
        started = time.monotonic()
        try:
            outcomes, client_stats = asyncio.run(
                ingest_days(api, provider, endpoint, lake, days, context.log)
            )
        except ProviderUnavailable:
            raise  # an outage may pass: the step's RetryPolicy tries again with backoff
        except ProviderError as exc:
            # A bad key, a missing setting, a refused request or a changed response shape: the same
            # request would fail the same way, so fail now instead of retrying.
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        metadata = _summary(outcomes, client_stats, time.monotonic() - started)
        if failed := [o for o in outcomes if o.error]:
            raise dg.Failure(
                description=(
                    f"{provider.title} {endpoint.path}: {len(failed)} of {len(days)} day(s) failed and were "
                    f"not written ({', '.join(o.day for o in failed)}); the other days' files are complete. "
                    f"First error: {failed[0].error}. Re-run the failed partitions."
                ),
                metadata=metadata,
            )
        versions = {o.day: o.content_hash for o in outcomes}
        metadata["data_versions"] = dg.MetadataValue.json(versions)
        checks = [_completeness(provider, endpoint, outcomes)] if endpoint.paging is Paging.WINDOWED else []
        return dg.MaterializeResult(
            metadata=metadata, data_version=dg.DataVersion(run_version(versions)), check_results=checks
        )

    return raw_endpoint
