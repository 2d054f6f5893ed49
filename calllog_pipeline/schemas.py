"""The canonical tables, declared once as Arrow schemas, and their controlled vocabularies.

Every normalized Parquet file is written with exactly one of these schemas, so a column's type never
depends on the values a provider happened to send. ``docs/schema.md`` documents each column and how
every provider fills it.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

CALL_STATUSES = ("queued", "in_progress", "completed", "no_answer", "busy", "failed", "cancelled", "unknown")

# DialNexa's end-reason words (dialnexa-call-logs.txt, "End Reasons"); other providers map onto them.
END_REASONS = (
    "user_disconnected",
    "agent_disconnected",
    "user_did_not_pick_up",
    "user_busy",
    "user_unreachable",
    "invalid_phone_number",
    "destination_forbidden",
    "network_failure",
    "voicemail_detected",
    "system_failure",
    "system_at_capacity",
    "insufficient_balance",
    "unknown",
)

SENTIMENTS = ("positive", "neutral", "negative")

SPEAKERS = ("agent", "user")

DIRECTIONS = ("inbound", "outbound")

CHANNELS = ("phone", "web_call", "chat")

ACTION_TYPES = (
    "transfer",
    "sms",
    "data_extraction",
    "workflow",
    "appointment_booking",
    "custom_api",
    "knowledge_base",
    "function_call",
    "webhook",
    "email",
    "crm_sync",
    "notification",
    "spreadsheet",
    "other",
)

QUARANTINE_REASONS = (
    "wrong_shape",  # the record is not a JSON object
    "missing_id",  # no usable call id
    "missing_time",  # no start time at all
    "unparseable_time",  # a start time that is not a date
    "duplicate_id",  # the same call id again with different content
)

CALLS = pa.schema(
    [
        pa.field("provider", pa.string(), nullable=False),
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("agent_id", pa.string()),
        pa.field("agent_name", pa.string()),
        pa.field("started_at", TIMESTAMP, nullable=False),
        pa.field("ended_at", TIMESTAMP),
        pa.field("duration_s", pa.float64()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("status_raw", pa.string()),
        pa.field("end_reason", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("from_number", pa.string()),
        pa.field("to_number", pa.string()),
        pa.field("sentiment", pa.string()),
        pa.field("summary", pa.string()),
        pa.field("transcript", pa.string()),
        pa.field("recording_url", pa.string()),
        pa.field("is_test", pa.bool_()),
        pa.field("cost_usd", pa.float64()),
        pa.field("tokens", pa.int64()),
        pa.field("extracted", pa.string()),  # JSON object: the provider's post-call extraction
        pa.field("extra", pa.string()),  # JSON object: source fields not mapped to a column
        pa.field("ingested_at", TIMESTAMP, nullable=False),
    ]
)

ACTIONS = pa.schema(
    [
        pa.field("provider", pa.string(), nullable=False),
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("action_id", pa.string()),
        pa.field("action_type", pa.string(), nullable=False),
        pa.field("action_type_raw", pa.string()),
        pa.field("name", pa.string()),
        pa.field("executed_at", TIMESTAMP),
        pa.field("succeeded", pa.bool_()),  # null where the source does not say
        pa.field("latency_s", pa.float64()),
        pa.field("parameters", pa.string()),  # JSON object, credentials removed
        pa.field("result", pa.string()),
        pa.field("extra", pa.string()),  # JSON object
        pa.field("ingested_at", TIMESTAMP, nullable=False),
    ]
)

INTERACTIONS = pa.schema(
    [
        pa.field("provider", pa.string(), nullable=False),
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("turn_index", pa.int32(), nullable=False),
        pa.field("speaker", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("at", TIMESTAMP),
        pa.field("response_latency_s", pa.float64()),
        pa.field("source", pa.string(), nullable=False),  # "turns" (structured) or "transcript" (parsed)
        pa.field("ingested_at", TIMESTAMP, nullable=False),
    ]
)

QUARANTINE = pa.schema(
    [
        pa.field("provider", pa.string(), nullable=False),
        pa.field("endpoint", pa.string(), nullable=False),
        pa.field("record_id", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("payload", pa.string(), nullable=False),  # the record as JSON, credentials removed
        pa.field("ingested_at", TIMESTAMP, nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "calls": CALLS,
    "actions": ACTIONS,
    "interactions": INTERACTIONS,
    "quarantine": QUARANTINE,
}
