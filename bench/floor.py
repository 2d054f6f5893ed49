"""The normalize floor: the least work that turns raw payloads into a ``calls`` Parquet file.

Reads the same raw payload column, parses every payload with orjson, picks one source field per
``calls`` column with a plain dict lookup (type-checked so the declared type holds; nested objects
dumped to JSON text), parses timestamps vectorized in Arrow, and writes the same 24 columns with the
``calls`` schema to Parquet (zstd), as the pipeline does. No quirks, no quarantine, no actions or
interactions tables: a lower bound, not a competitor.
"""

from __future__ import annotations

from datetime import datetime

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from calllog_pipeline import schemas
from calllog_pipeline.lake import Lake
from calllog_pipeline.mapping import gc_paused

# calls column -> source key, per provider (DialNexa: /calls record, joined to its /call-logs record).
FIELDS = {
    "dialnexa": {
        "call_id": "id",
        "agent_id": "agent_id",
        "agent_name": "agent_name",
        "started_at": "created_at",
        "ended_at": "ended_at",
        "duration_s": "duration_sec",
        "status": "status",
        "status_raw": "status",
        "end_reason": "log.end_reason",
        "direction": "direction",
        "from_number": "from_phone_number",
        "to_number": "to_phone_number",
        "sentiment": "log.sentiment",
        "summary": "log.summary",
        "recording_url": "recording_url",
        "extracted": "log.analysis",
        "extra": "metadata",
    },
    "leadconnector": {
        "call_id": "id",
        "agent_id": "agentId",
        "started_at": "createdAt",
        "duration_s": "duration",
        "from_number": "fromNumber",
        "summary": "summary",
        "transcript": "transcript",
        "is_test": "trialCall",
        "extracted": "extractedData",
        "extra": "executedCallActions",
    },
    "omnidimension": {
        "call_id": "id",
        "agent_name": "bot_name",
        "started_at": "time_of_call",
        "duration_s": "call_duration_in_seconds",
        "status": "call_status",
        "status_raw": "call_status",
        "end_reason": "hangup_reason",
        "direction": "call_direction",
        "channel": "channel_type",
        "from_number": "from_number",
        "to_number": "to_number",
        "summary": "call_conversation",
        "recording_url": "recording_url",
        "is_test": "is_simulation",
        "cost_usd": "call_cost",
        "tokens": "total_tokens",
        "extracted": "extracted_variables",
        "extra": "post_call_actions",
    },
}
PRIMARY = {"dialnexa": "calls", "leadconnector": "call_logs", "omnidimension": "call_logs"}


def _pick(records: list[dict], key: str, logs: dict) -> list:
    if key.startswith("log."):
        sub = key[4:]
        return [(logs.get(r.get("id")) or {}).get(sub) for r in records]
    return [r.get(key) for r in records]


def _column(values: list, field: pa.Field, provider: str) -> pa.Array:
    t = field.type
    if pa.types.is_timestamp(t):
        text = pa.array([v if type(v) is str else None for v in values], pa.string())
        if provider == "omnidimension":
            return pc.assume_timezone(pc.strptime(text, "%m/%d/%Y %H:%M:%S", "us", error_is_null=True), "UTC")
        try:
            return pc.cast(text, t)
        except pa.ArrowInvalid:  # a bad record ("not-a-date"): only then parse value by value
            return pa.array([_iso(v) for v in text.to_pylist()], t)
    if field.name in ("extracted", "extra"):
        return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], t)
    if pa.types.is_string(t):
        return pa.array([v if type(v) is str else (str(v) if type(v) is int else None) for v in values], t)
    if pa.types.is_floating(t):
        return pa.array([v if type(v) in (int, float) else None for v in values], t)
    if pa.types.is_integer(t):
        return pa.array([v if type(v) is int else None for v in values], t)
    if pa.types.is_boolean(t):
        return pa.array([v if type(v) is bool else None for v in values], t)
    raise TypeError(t)


def run_floor(data_dir: str, provider: str, day: str, out_path: str) -> dict:
    lake = Lake(root=data_dir)
    fields = FIELDS[provider]
    logs: dict = {}
    if provider == "dialnexa":  # the floor joins like the pipeline: each call with its log
        for batch in lake.iter_batches(lake.raw_path(provider, "call_logs", day), columns=["payload"]):
            for log in map(orjson.loads, batch.column(0).to_pylist()):
                logs[log.get("call_id") or log.get("id")] = log
    schema = schemas.CALLS
    records_in = len(logs)
    rows = 0
    with pq.ParquetWriter(out_path, schema, compression="zstd") as writer:
        path = lake.raw_path(provider, PRIMARY[provider], day)
        for batch in lake.iter_batches(path, columns=["payload"]):
            # The collector paused while a batch is mapped, as the pipeline maps one
            # (``mapping.gc_paused``): else the floor's decoded records are traversed again and
            # again (an OmniDimension day: 0.61 CPU-s with it running, 0.27 paused).
            with gc_paused():
                table = _calls(batch.column(0), provider, fields, logs, schema)
            writer.write_table(table)
            records_in += table.num_rows
            rows += table.num_rows
    return {"records_in": records_in, "rows": rows}


def _calls(payloads: pa.Array, provider: str, fields: dict, logs: dict, schema: pa.Schema) -> pa.Table:
    records = [orjson.loads(p) for p in payloads.to_pylist()]
    arrays = []
    for f in schema:
        if f.name == "provider":
            arrays.append(pa.array([provider] * len(records), f.type))
        elif f.name == "ingested_at":
            arrays.append(pa.nulls(len(records), f.type).fill_null(pa.scalar(0, f.type)))
        else:
            key = fields.get(f.name)
            values = _pick(records, key, logs) if key else [None] * len(records)
            arrays.append(_column(values, f, provider))
    return _relax(arrays, schema)


def _iso(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _relax(arrays: list[pa.Array], schema: pa.Schema) -> pa.Table:
    """Fill nulls in non-nullable columns the floor could not pick (it does no repair work)."""
    cols = []
    for f, col in zip(schema, arrays, strict=True):
        if not f.nullable and col.null_count:
            col = pc.fill_null(col, pa.scalar("" if pa.types.is_string(f.type) else 0, f.type))
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=schema)
