"""DialNexa records -> canonical rows.

DialNexa lists the same call twice: ``GET /calls`` (the scheduling view: numbers, ``ended_at``,
``metadata``) and ``GET /call-logs`` (the analytics view: sentiment, ``analysis``, ``end_reason``).
They merge into one ``calls`` row per call. A day that fits one part is joined in memory
(``_normalize_in_memory``). A bigger day's two sides are mapped batch by batch into temporary
Parquet files, split into parts of about ``PART_ROWS`` records by a hash of the call id (a call's
two views land in the same part); DuckDB joins one part at a time (its memory capped) and hands back aligned
(log, /calls row) batches, which ``merge`` combines, then the part's ``/calls`` rows no log matched.
Memory stays bounded by a part, however big the day.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from calllog_pipeline import schemas
from calllog_pipeline.mapping import (
    RawDay,
    Reject,
    SeenIds,
    TableBatch,
    TableBuffers,
    as_float,
    as_object,
    as_str,
    batches,
    dump_json,
    e164,
    json_redacted_at_ingest,
    parse_iso_utc,
    parse_iso_utc_or_none,
    record_id_of,
    records,
    take,
)

PROVIDER = "dialnexa"
CALLS_ENDPOINT = "calls"
LOGS_ENDPOINT = "call_logs"

# Both pages list status spellings that differ from each other and from the filter enum
# (dialnexa-calls.txt: "no-answer", "in-progress"; the enum: created, initiated, sent, received,
# did_not_pick, no_answer, retry_expired). Keys are lower-cased with "-" and " " read as "_".
STATUS = {
    "completed": "completed",
    "received": "completed",  # an inbound call that was answered (see INBOUND_STATUSES)
    "no_answer": "no_answer",
    "did_not_pick": "no_answer",
    "busy": "busy",
    "failed": "failed",
    "sent": "failed",  # dispatched to the carrier but never connected: a final state once the day is over
    "retry_expired": "failed",  # retries ran out without a connected call
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "initiated": "in_progress",
    "in_progress": "in_progress",
    "ringing": "in_progress",
    "created": "queued",  # scheduled, not dialled yet
}
INBOUND_STATUSES = frozenset({"received"})

# The fields a column holds; every other field goes to `extra`.
MAPPED = frozenset(
    {
        "id",
        "call_id",
        "agent_id",
        "agent_name",
        "to_phone_number",
        "from_phone_number",
        "direction",
        "status",
        "duration_seconds",
        "duration_sec",
        "recording_url",
        "created_at",
        "ended_at",
        "sentiment",
        "end_reason",
        "summary",
        "transcript",
        "analysis",
    }
)

# "Agent: ..." / "User: ..." lines (README, "Facts from the providers' public documentation").
SPEAKERS = {"agent": "agent", "user": "user"}
LINE_BREAK = re.compile(r"\r?\n")

BATCH_ROWS = 5_000
JOIN_MEMORY = "64MB"  # DuckDB's cap for joining one part; beyond it, it spills to the temporary folder
PART_ROWS = 50_000  # records per part: a 1,000,000-call day in one 64 MB join could not even spill
PART_GROUP_ROWS = 1_000  # rows a part buffers before writing them as one row group


def normalize(raw: RawDay) -> Iterator[TableBatch]:
    out = TableBuffers(PROVIDER, SPEAKERS, LINE_BREAK)
    parts = max(1, -(-max(raw.records(e) for e in (CALLS_ENDPOINT, LOGS_ENDPOINT)) // PART_ROWS))
    if parts == 1:  # a day that fits one part is joined in memory (no part files, no DuckDB)
        yield from _normalize_in_memory(raw, out)
        return
    with tempfile.TemporaryDirectory(prefix="dialnexa-normalize-") as folder:
        for endpoint in (CALLS_ENDPOINT, LOGS_ENDPOINT):
            yield from _map_to_parts(raw, out, endpoint, folder, parts)
        for merged in _joined(folder, parts):
            yield "calls", merged
            yield from _transcript_turns(out, merged)


def _normalize_in_memory(raw: RawDay, out: TableBuffers) -> Iterator[TableBatch]:
    """Both endpoints mapped into Arrow tables, joined by a hash lookup of the call ids: the
    rows ``_joined`` gives (log rows merged with their ``/calls`` row, then the unmatched
    ``/calls`` rows), for a day no bigger than one part."""
    mapped = {}
    for endpoint in (CALLS_ENDPOINT, LOGS_ENDPOINT):
        seen, pieces = SeenIds(), []
        with json_redacted_at_ingest(raw, endpoint):
            for payloads in batches(raw, endpoint):
                _collect(out, endpoint, payloads, seen)
                pieces.append(out.calls.take_batch(out.ingested_at))
                yield from out.drain()
        mapped[endpoint] = pa.Table.from_batches(pieces, schemas.CALLS).combine_chunks()
    calls, logs = mapped[CALLS_ENDPOINT], mapped[LOGS_ENDPOINT]
    if logs.num_rows:  # call ids are unique on each side (``SeenIds``): one partner at most
        partner = calls.take(pc.index_in(logs.column("call_id"), value_set=calls.column("call_id")))
        merged = merge(_one_batch(logs), _one_batch(partner))
        yield "calls", merged
        yield from _transcript_turns(out, merged)
    unmatched = calls.filter(pc.invert(pc.is_in(calls.column("call_id"), value_set=logs.column("call_id"))))
    if unmatched.num_rows:
        merged = _one_batch(unmatched)
        yield "calls", merged
        yield from _transcript_turns(out, merged)


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([c.combine_chunks() for c in table.columns], schema=table.schema)


def _part_path(folder: str, endpoint: str, part: int) -> str:
    return f"{folder}/{endpoint}-{part:03d}.parquet"


def _map_to_parts(
    raw: RawDay, out: TableBuffers, endpoint: str, folder: str, parts: int
) -> Iterator[TableBatch]:
    """Every record of one endpoint mapped to a (partial) call row, into its part's file;
    quarantined records are yielded at once. Parts write row groups of ``PART_GROUP_ROWS`` (a
    row group per mapped batch would make each file's footer, held until it closes, grow with
    the day) and no statistics (nothing filters these files)."""
    seen = SeenIds()
    pending: list[list[pa.RecordBatch]] = [[] for _ in range(parts)]
    with contextlib.ExitStack() as stack:
        stack.enter_context(json_redacted_at_ingest(raw, endpoint))
        writers = [
            stack.enter_context(
                pq.ParquetWriter(_part_path(folder, endpoint, part), schemas.CALLS, write_statistics=False)
            )
            for part in range(parts)
        ]

        def flush(part: int) -> None:
            writers[part].write_table(pa.Table.from_batches(pending[part], schemas.CALLS))
            pending[part] = []

        for payloads in batches(raw, endpoint):
            _collect(out, endpoint, payloads, seen)
            batch = out.calls.take_batch(out.ingested_at)
            if parts == 1:
                pending[0].append(batch)
            else:
                of_row = np.fromiter((hash(c) % parts for c in batch.column("call_id").to_pylist()), np.int64)
                for part in np.unique(of_row):
                    pending[part].append(batch.filter(pa.array(of_row == part)))
            for part in range(parts):
                if sum(len(b) for b in pending[part]) >= PART_GROUP_ROWS:
                    flush(part)
            yield from out.drain()
        for part in range(parts):
            flush(part)


def _joined(folder: str, parts: int) -> Iterator[pa.RecordBatch]:
    """Part by part: each log row merged with its ``/calls`` row, then the ``/calls`` rows no log
    matched. Rows come in no particular order: sorting would make DuckDB hold them."""
    import duckdb  # here, not at import: the mapping module loads without DuckDB

    config = {"memory_limit": JOIN_MEMORY, "temp_directory": folder, "threads": 1}
    partner = ", ".join(f'c."{f.name}" AS "calls__{f.name}"' for f in schemas.CALLS)
    with duckdb.connect(config={**config, "preserve_insertion_order": False}) as con:
        con.execute("SET TimeZone = 'UTC'")
        for part in range(parts):
            logs, calls = (
                "read_parquet('" + _part_path(folder, endpoint, part).replace("'", "''") + "')"
                for endpoint in (LOGS_ENDPOINT, CALLS_ENDPOINT)
            )
            pairs = con.sql(
                f"SELECT l.*, {partner} FROM {logs} l LEFT JOIN {calls} c ON l.call_id = c.call_id"
            )
            for pair in pairs.to_arrow_reader(BATCH_ROWS):
                yield merge(_calls_columns(pair, ""), _calls_columns(pair, "calls__"))
            unmatched = con.sql(f"SELECT c.* FROM {calls} c ANTI JOIN {logs} l ON l.call_id = c.call_id")
            for batch in unmatched.to_arrow_reader(BATCH_ROWS):
                yield _calls_columns(batch, "")


def _calls_columns(batch: pa.RecordBatch, prefix: str) -> pa.RecordBatch:
    columns = [batch.column(prefix + f.name).cast(f.type) for f in schemas.CALLS]
    return pa.RecordBatch.from_arrays(columns, schema=schemas.CALLS)


def _collect(out: TableBuffers, endpoint: str, payloads: pa.Array, seen: SeenIds) -> None:
    for record, digest in records(payloads):
        try:
            row = call_row(record, endpoint)
            if seen.check(row["call_id"], digest):
                out.calls.append(row)
        except Reject as rejected:
            out.reject(
                endpoint, record, rejected.reason, rejected.detail, record_id_of(record, "call_id", "id")
            )


def call_row(record: Any, endpoint: str) -> dict[str, Any]:
    """One ``/calls`` or ``/call-logs`` record as a (possibly partial) canonical call row."""
    if not isinstance(record, dict):
        raise Reject("wrong_shape", f"expected a JSON object, got {type(record).__name__}")
    invalid: dict[str, Any] = {}
    call_id, log_id = _ids(record, endpoint)
    started_at = parse_iso_utc(record.get("created_at"), "created_at")
    ended_at = take(record, "ended_at", parse_iso_utc_or_none, invalid)
    status_raw = take(record, "status", as_str, invalid)
    return {
        "provider": PROVIDER,
        "call_id": call_id,
        "agent_id": take(record, "agent_id", as_str, invalid),
        "agent_name": take(record, "agent_name", as_str, invalid),
        "started_at": started_at,
        "ended_at": ended_at,
        "duration_s": _duration(record, started_at, ended_at, invalid),
        "status": canonical_status(status_raw),
        "status_raw": status_raw,
        "end_reason": take(record, "end_reason", _end_reason, invalid),
        "direction": take(record, "direction", _direction, invalid) or _direction_of(status_raw),
        "channel": "phone",
        "from_number": take(record, "from_phone_number", e164, invalid),
        "to_number": take(record, "to_phone_number", e164, invalid),
        "sentiment": take(record, "sentiment", _sentiment, invalid),
        "summary": take(record, "summary", as_str, invalid),
        "transcript": take(record, "transcript", as_str, invalid),
        "recording_url": take(record, "recording_url", as_str, invalid),
        "is_test": None,  # DialNexa does not mark test calls
        "cost_usd": None,
        "tokens": None,
        "extracted": dump_json(as_object(record.get("analysis"))),
        "extra": _extra(record, log_id, invalid),
    }


LOG_ID_PREFIX = "log_"  # a call log's own id (dialnexa-call-logs.txt: "log_abc123" beside "call_abc123")


def _ids(record: dict[str, Any], endpoint: str) -> tuple[str, str | None]:
    """(call id, call-log id): a log carries ``call_id`` beside its own ``log_...`` id, or only ``id``
    which is then the call id (dialnexa-call-logs.txt, first vs second example)."""
    own_id = as_str(record.get("id"))
    if endpoint == LOGS_ENDPOINT:
        given = record.get("call_id")
        if given is not None and not (isinstance(given, str) and not given.strip()):
            if (call_id := as_str(given)) is None:
                raise Reject("missing_id", f"call_id is not an id: {given!r}"[:200])
            return call_id, own_id
        if own_id is not None and own_id.lower().startswith(LOG_ID_PREFIX):
            # Its own log id, never a call id: as a call it would match no /calls record.
            raise Reject("missing_id", f"call log {own_id} has no call_id")
    if own_id is None:
        raise Reject("missing_id", "record has no id")
    return own_id, None


def _duration(record: dict, started_at: datetime, ended_at: datetime | None, invalid: dict) -> float | None:
    # The field is `duration_seconds` in one example and `duration_sec` in another (both pages).
    for key in ("duration_seconds", "duration_sec"):
        seconds = take(record, key, as_float, invalid)
        if seconds is not None:
            return seconds
    if ended_at is not None and ended_at >= started_at:
        return (ended_at - started_at).total_seconds()
    return None


def canonical_status(status_raw: str | None) -> str:
    if status_raw is None:
        return "unknown"
    return STATUS.get(status_raw.strip().lower().replace("-", "_").replace(" ", "_"), "unknown")


def _direction_of(status_raw: str | None) -> str:
    """DialNexa places calls ("Returns every call placed in your workspace", dialnexa-calls.txt);
    only a ``received`` call came in."""
    return "inbound" if status_raw and status_raw.strip().lower() in INBOUND_STATUSES else "outbound"


def _end_reason(value: Any) -> str | None:
    """The page's words; read with the separators its statuses vary in ("user-disconnected")."""
    word = as_str(value)
    word = word.strip().lower().replace("-", "_").replace(" ", "_") if word else None
    return word if word in schemas.END_REASONS else None


def _sentiment(value: Any) -> str | None:
    word = as_str(value)
    word = word.strip().lower() if word else None
    return word if word in schemas.SENTIMENTS else None


def _direction(value: Any) -> str | None:
    word = as_str(value)
    word = word.strip().lower() if word else None
    return word if word in schemas.DIRECTIONS else None


def _extra(record: dict[str, Any], log_id: str | None, invalid: dict[str, Any]) -> str | None:
    rest = {k: v for k, v in record.items() if k not in MAPPED and v is not None}
    if log_id is not None:
        rest["log_id"] = log_id
    if record.get("analysis") not in (None, "") and as_object(record["analysis"]) is None:
        invalid["analysis"] = record["analysis"]
    if invalid:
        rest["_invalid"] = invalid
    return dump_json(rest) if rest else None


# --- the /calls + /call-logs join ---------------------------------------------------------------------

_FROM_LOG_ONLY = ("provider", "call_id", "ingested_at")


def merge(logs: pa.RecordBatch, partner: pa.RecordBatch) -> pa.RecordBatch:
    """Call-log rows completed with their ``/calls`` rows (``partner``, aligned; all null where a
    log has none).

    The log (the enriched view) wins where both have a value; ``status``/``status_raw`` are taken as
    a pair so a log without a status never hides the ``/calls`` status; ``extra`` objects are merged.
    """
    log_has_status = pc.is_valid(logs.column("status_raw"))
    columns = []
    for field in schemas.CALLS:
        mine, theirs = logs.column(field.name), partner.column(field.name)
        if field.name in _FROM_LOG_ONLY:
            columns.append(mine)
        elif field.name in ("status", "status_raw"):
            columns.append(pc.if_else(log_has_status, mine, pc.coalesce(theirs, mine)))
        elif field.name == "extra":
            columns.append(pa.array(_merge_objects(mine.to_pylist(), theirs.to_pylist()), type=pa.string()))
        else:
            columns.append(pc.coalesce(mine, theirs))
    return pa.RecordBatch.from_arrays(columns, schema=schemas.CALLS)


def _merge_objects(primary: list[str | None], secondary: list[str | None]) -> list[str | None]:
    merged = []
    for first, second in zip(primary, secondary, strict=True):
        if first is None or second is None:
            merged.append(first if second is None else second)
        else:
            merged.append(orjson.dumps({**orjson.loads(second), **orjson.loads(first)}).decode())
    return merged


def _transcript_turns(out: TableBuffers, calls: pa.RecordBatch) -> Iterator[TableBatch]:
    transcripts = calls.column("transcript")
    if transcripts.null_count < len(transcripts):
        yield from out.transcript_turns(calls.column("call_id"), transcripts)
