"""Small normalized provider-days written by hand, for QA tests (values checked by hand)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from calllog_pipeline import schemas
from calllog_pipeline.lake import Lake

INGESTED = datetime(2026, 3, 20, tzinfo=UTC)


def _file_schema(schema: pa.Schema) -> pa.Schema:
    return schema.remove(schema.get_field_index("provider"))


def call(call_id: str, day: str, minute: int = 0, **fields) -> dict:
    started = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=10, minutes=minute)
    row = {"call_id": call_id, "started_at": started, "status": "completed", "ingested_at": INGESTED}
    for key in ("extracted", "extra"):
        if isinstance(fields.get(key), dict):
            fields[key] = json.dumps(fields[key])
    row.update(fields)
    return row


def action(call_id: str, action_type: str, **fields) -> dict:
    return {"call_id": call_id, "action_type": action_type, "ingested_at": INGESTED, **fields}


def turn(call_id: str, index: int, speaker: str, text: str, latency: float | None = None) -> dict:
    return {
        "call_id": call_id,
        "turn_index": index,
        "speaker": speaker,
        "text": text,
        "response_latency_s": latency,
        "source": "turns",
        "ingested_at": INGESTED,
    }


def write_day(
    lake: Lake,
    provider: str,
    day: str,
    calls: list[dict] = (),
    actions: list[dict] = (),
    turns: list[dict] = (),
) -> None:
    """The three normalized files of one provider-day, as the normalized asset writes them."""
    for table, rows in (("calls", calls), ("actions", actions), ("interactions", turns)):
        schema = _file_schema(schemas.TABLES[table])
        lake.write_table(
            lake.table_path(table, day, provider), pa.Table.from_pylist(list(rows), schema=schema)
        )
