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
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from calllog_pipeline import schemas
from calllog_pipeline.mapping import (
    Admitted,
    Invalid,
    RawDay,
    Reject,
    SeenIds,
    TableBatch,
    TableBuffers,
    admit,
    as_object,
    as_str,
    batches,
    column,
    direction_word,
    extra_column,
    gc_paused,
    iso_times,
    json_column,
    json_redacted_at_ingest,
    number_column,
    phone_column,
    take_times,
    text_column,
    word_column,
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

# "Agent: ..." / "User: ..." lines (README, "Facts from the providers' public documentation"): they
# "look like" that, no more; the labels other voice stacks write for the same two sides are read too
# (a transcript in them would otherwise give no turns at all: lines before a known label are dropped).
SPEAKERS = {
    **dict.fromkeys(("agent", "assistant", "bot", "ai"), "agent"),
    **dict.fromkeys(("user", "human", "customer", "caller"), "user"),
}
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
                pieces.append(map_calls(out, endpoint, payloads, seen))
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
        merged = placed_unless_said(_one_batch(unmatched))
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
            batch = map_calls(out, endpoint, payloads, seen)
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
                yield placed_unless_said(_calls_columns(batch, ""))


def _calls_columns(batch: pa.RecordBatch, prefix: str) -> pa.RecordBatch:
    columns = [batch.column(prefix + f.name).cast(f.type) for f in schemas.CALLS]
    return pa.RecordBatch.from_arrays(columns, schema=schemas.CALLS)


def map_calls(out: TableBuffers, endpoint: str, payloads: pa.Array, seen: SeenIds) -> pa.RecordBatch:
    """One raw batch of ``/calls`` or ``/call-logs`` records as (possibly partial) canonical call
    rows, column by column; the records that cannot be calls are quarantined in ``out``."""
    with gc_paused():
        batch = _call_batch(out, endpoint, payloads, seen)  # its records are freed as it returns
    return batch


def _call_batch(out: TableBuffers, endpoint: str, payloads: pa.Array, seen: SeenIds) -> pa.RecordBatch:
    calls = admit(
        out, endpoint, payloads, seen, _CALL_ID[endpoint], START, ("call_id", "id"), _ID_KEY[endpoint]
    )
    return out.batch("calls", len(calls.records), call_columns(calls, endpoint))[1]


START = ("created_at", iso_times, "is not an ISO-8601 time")


def call_columns(calls: Admitted, endpoint: str) -> dict[str, Any]:
    records = calls.records
    invalid: Invalid = {}
    ended_at = take_times(records, "ended_at", invalid)
    status_raw = text_column(records, "status", invalid)
    agent_id = text_column(records, "agent_id", invalid)
    agent_name = text_column(records, "agent_name", invalid)
    duration_s = _durations(records, calls.started_at, ended_at, invalid)
    end_reason = word_column(records, "end_reason", _end_reason, invalid)
    direction = word_column(records, "direction", _direction, invalid)
    from_number = phone_column(records, "from_phone_number", invalid)
    to_number = phone_column(records, "to_phone_number", invalid)
    sentiment = word_column(records, "sentiment", _sentiment, invalid)
    summary = text_column(records, "summary", invalid)
    transcript = text_column(records, "transcript", invalid)
    recording_url = text_column(records, "recording_url", invalid)
    given = column(records, "analysis")
    analysis = [v if type(v) is dict else None if v is None else as_object(v) for v in given]
    if analysis.count(None) != given.count(None):  # some value is not an object
        for i, (value, found) in enumerate(zip(given, analysis, strict=True)):
            if value is not None and value != "" and found is None:
                invalid.setdefault(i, {})["analysis"] = value
    status, status_direction = _status_columns(status_raw)
    log_ids = _log_ids(records) if endpoint == LOGS_ENDPOINT else None
    return {
        "call_id": calls.call_ids,
        "agent_id": agent_id,
        "agent_name": agent_name,
        "started_at": calls.started_at,
        "ended_at": ended_at,
        "duration_s": duration_s,
        "status": status,
        "status_raw": status_raw,
        "end_reason": end_reason,
        "direction": pc.coalesce(pa.array(direction, pa.string()), status_direction),
        "channel": "phone",
        "from_number": from_number,
        "to_number": to_number,
        "sentiment": sentiment,
        "summary": summary,
        "transcript": transcript,
        "recording_url": recording_url,
        "extracted": json_column(analysis),
        "extra": extra_column(records, MAPPED, invalid, log_ids),
    }


def _status_columns(status_raw: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(canonical status, the direction the status implies: ``inbound`` or null) of each raw
    status, each distinct status read once."""
    codes = status_raw.dictionary_encode()
    raws = codes.dictionary.to_pylist()
    status = pa.array([canonical_status(raw) for raw in raws], pa.string()).take(codes.indices)
    direction = pa.array([_direction_of(raw) for raw in raws], pa.string()).take(codes.indices)
    if codes.indices.null_count:  # no status at all
        status = status.fill_null(canonical_status(None))
    return status, direction


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


def _call_id_on(endpoint: str):
    def call_id(record: dict[str, Any]) -> str | Reject:
        try:
            return _ids(record, endpoint)[0]
        except Reject as rejected:  # without its traceback: its frames would hold the whole batch
            return rejected.with_traceback(None)

    return call_id


_CALL_ID = {endpoint: _call_id_on(endpoint) for endpoint in (CALLS_ENDPOINT, LOGS_ENDPOINT)}
# The field whose non-blank text is the call id, when it holds one (``_ids``).
_ID_KEY = {CALLS_ENDPOINT: "id", LOGS_ENDPOINT: "call_id"}


def _log_ids(records: list[dict[str, Any]]) -> list[dict[str, str] | None]:
    """``{"log_id": ...}`` of each call log that carries ``call_id`` beside its own id (see ``_ids``)."""
    return [
        None
        if (g := r.get("call_id")) is None
        or (type(g) is str and not g.strip())
        or (log_id := as_str(r.get("id"))) is None
        else {"log_id": log_id}
        for r in records
    ]


def _durations(records: list[dict], started_at: pa.Array, ended_at: pa.Array, invalid: Invalid) -> pa.Array:
    """The field is `duration_seconds` in one example and `duration_sec` in another (both pages);
    without either, the time from start to end (when the end is not before the start)."""
    seconds = number_column(records, "duration_seconds", invalid)
    if seconds.null_count:  # as ``take_first``: the second spelling only where the first gave none
        also: Invalid = {}
        other = number_column(records, "duration_sec", also)
        if also:
            missing = seconds.is_null().to_pylist()
            for i, values in also.items():
                if missing[i]:
                    invalid.setdefault(i, {}).update(values)
        seconds = pc.coalesce(seconds, other)
    if not seconds.null_count:
        return seconds
    elapsed = pc.subtract(ended_at, started_at).cast(pa.int64())  # microseconds
    exact = pc.and_(pc.greater_equal(elapsed, 0), pc.less_equal(elapsed, 2**53))  # as an int's / in Python
    from_times = pc.if_else(exact, pc.divide(elapsed.cast(pa.float64()), 1e6), pa.scalar(None, pa.float64()))
    beyond = pc.greater(elapsed, 2**53)
    if pc.any(beyond).as_py():  # centuries: divided as Python divides (as total_seconds())
        late = zip(elapsed.to_pylist(), beyond.to_pylist(), from_times.to_pylist(), strict=True)
        from_times = pa.array([e / 1_000_000 if b else s for e, b, s in late], pa.float64())
    return pc.coalesce(seconds, from_times)


def canonical_status(status_raw: str | None) -> str:
    if status_raw is None:
        return "unknown"
    return STATUS.get(status_raw.strip().lower().replace("-", "_").replace(" ", "_"), "unknown")


def _direction_of(status_raw: str | None) -> str | None:
    """Only a ``received`` call came in; any other status says nothing (``placed_unless_said``)."""
    return "inbound" if status_raw and status_raw.strip().lower() in INBOUND_STATUSES else None


def placed_unless_said(calls: pa.RecordBatch) -> pa.RecordBatch:
    """``outbound`` where neither view said or implied a direction: DialNexa places calls
    ("Returns every call placed in your workspace", dialnexa-calls.txt). Filled only once the two
    views are merged: a default taken earlier would win over the other view's ``direction`` or
    ``received`` status (the log wins where both have a value)."""
    at = calls.schema.get_field_index("direction")
    return calls.set_column(at, calls.schema.field(at), calls.column(at).fill_null("outbound"))


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
    return direction_word(word) if word else None


# --- the /calls + /call-logs join ---------------------------------------------------------------------

_FROM_LOG_ONLY = ("provider", "call_id", "ingested_at")
# /calls is "sorted by start time" and its created_at is the call's start (dialnexa-calls.txt); a
# log's created_at is when the log was created (dialnexa-call-logs.txt), which may be the call's end.
_FROM_CALLS_FIRST = ("started_at",)


def merge(logs: pa.RecordBatch, partner: pa.RecordBatch) -> pa.RecordBatch:
    """Call-log rows completed with their ``/calls`` rows (``partner``, aligned; all null where a
    log has none).

    The log (the enriched view) wins where both have a value, but for the start (``/calls``' own,
    the log's kept in ``extra.log_created_at`` when it differs); ``status``/``status_raw`` are taken
    as a pair so a log without a status never hides the ``/calls`` status; ``extra`` objects are
    merged.
    """
    log_has_status = pc.is_valid(logs.column("status_raw"))
    columns = []
    for field in schemas.CALLS:
        mine, theirs = logs.column(field.name), partner.column(field.name)
        if field.name in _FROM_LOG_ONLY:
            columns.append(mine)
        elif field.name in _FROM_CALLS_FIRST:
            columns.append(pc.coalesce(theirs, mine))
        elif field.name in ("status", "status_raw"):
            columns.append(pc.if_else(log_has_status, mine, pc.coalesce(theirs, mine)))
        elif field.name == "extra":
            merged = _merge_objects(mine.to_pylist(), theirs.to_pylist())
            _keep_log_start(merged, logs.column("started_at"), partner.column("started_at"))
            columns.append(pa.array(merged, type=pa.string()))
        else:
            columns.append(pc.coalesce(mine, theirs))
    return placed_unless_said(pa.RecordBatch.from_arrays(columns, schema=schemas.CALLS))


def _keep_log_start(extra: list[str | None], log_start: pa.Array, calls_start: pa.Array) -> None:
    """``log_created_at`` (ISO 8601, UTC) in ``extra`` of each row whose log names another start
    than its ``/calls`` record (which the row's ``started_at`` holds)."""
    differs = pc.fill_null(pc.not_equal(log_start, calls_start), False)
    if not differs.true_count:
        return
    for i in pc.indices_nonzero(differs).to_pylist():
        fields = orjson.loads(extra[i]) if extra[i] is not None else {}
        fields["log_created_at"] = log_start[i].as_py().isoformat().replace("+00:00", "Z")
        extra[i] = orjson.dumps(fields).decode()


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
