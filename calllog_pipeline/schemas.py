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


def column(name: str, type_: pa.DataType, description: str, nullable: bool = True) -> pa.Field:
    """A table column with its description: the one place descriptions live in code. The asset
    catalog shows them (``dagster/column_schema``); a test keeps them equal to docs/schema.md."""
    return pa.field(name, type_, nullable=nullable, metadata={"description": description})


def description(field: pa.Field) -> str:
    return (field.metadata or {}).get(b"description", b"").decode()


def without_descriptions(schema: pa.Schema) -> pa.Schema:
    """The schema files are written with: descriptions live in code and the catalog, not in every file."""
    return pa.schema([f.remove_metadata() for f in schema], metadata=schema.metadata)


# One row per raw record (``raw/<provider>/<endpoint>/date=YYYY-MM-DD/data.parquet``).
RAW = pa.schema(
    [
        column("record_id", pa.string(), "the record's id as the endpoint gives it (null when it has none)"),
        column("endpoint", pa.string(), "the raw endpoint, e.g. call_logs", nullable=False),
        column("page", pa.int32(), "the listing page the record was read from", nullable=False),
        column("fetched_at", TIMESTAMP, "when that page was fetched", nullable=False),
        column("payload", pa.string(), "the record's JSON as received, credentials redacted", nullable=False),
    ]
)


CALLS = pa.schema(
    [
        column("provider", pa.string(), "provider name (from the provider= folder)", nullable=False),
        column("call_id", pa.string(), "the provider's call id", nullable=False),
        column("agent_id", pa.string(), "agent id"),
        column("agent_name", pa.string(), "agent name"),
        column("started_at", TIMESTAMP, "call start", nullable=False),
        column("ended_at", TIMESTAMP, "call end"),
        column("duration_s", pa.float64(), "call length in seconds"),
        column("status", pa.string(), "canonical status (vocabulary in docs/schema.md)", nullable=False),
        column("status_raw", pa.string(), "status as the provider sent it"),
        column(
            "end_reason",
            pa.string(),
            "why the call ended, in DialNexa's end-reason words (vocabulary in docs/schema.md)",
        ),
        column("direction", pa.string(), "inbound / outbound"),
        column("channel", pa.string(), "phone / web_call / chat"),
        column(
            "from_number", pa.string(), "caller number, E.164 or null (a pseudonym with CALLLOG_HASH_PII)"
        ),
        column("to_number", pa.string(), "called number, E.164 or null (a pseudonym with CALLLOG_HASH_PII)"),
        column("sentiment", pa.string(), "positive / neutral / negative"),
        column("summary", pa.string(), "call summary"),
        column("transcript", pa.string(), "plain-text transcript"),
        column("recording_url", pa.string(), "recording URL"),
        column("is_test", pa.bool_(), "test or simulated call"),
        column("cost_usd", pa.float64(), "cost in US dollars"),
        column("tokens", pa.int64(), "LLM tokens used"),
        column("extracted", pa.string(), "the provider's post-call extraction (JSON object)"),
        column("extra", pa.string(), "every source field no column holds, nulls dropped (JSON object)"),
        column("ingested_at", TIMESTAMP, "when the row was normalized", nullable=False),
    ]
)

ACTIONS = pa.schema(
    [
        column("provider", pa.string(), "provider name (from the provider= folder)", nullable=False),
        column("call_id", pa.string(), "the call the action belongs to", nullable=False),
        column("action_id", pa.string(), "action id"),
        column(
            "action_type", pa.string(), "canonical action type (vocabulary in docs/schema.md)", nullable=False
        ),
        column("action_type_raw", pa.string(), "action type as sent"),
        column("name", pa.string(), "action or function name"),
        column("executed_at", TIMESTAMP, "when it ran"),
        column("succeeded", pa.bool_(), "whether it succeeded; null where the source does not say"),
        column("latency_s", pa.float64(), "seconds it took"),
        column("parameters", pa.string(), "its parameters, credentials redacted (JSON object)"),
        column("result", pa.string(), "what it returned"),
        column("extra", pa.string(), "other source fields (JSON object)"),
        column("ingested_at", TIMESTAMP, "when the row was normalized", nullable=False),
    ]
)

INTERACTIONS = pa.schema(
    [
        column("provider", pa.string(), "provider name (from the provider= folder)", nullable=False),
        column("call_id", pa.string(), "the call the turn belongs to", nullable=False),
        column("turn_index", pa.int32(), "0, 1, 2, ... in conversation order", nullable=False),
        column("speaker", pa.string(), "agent / user", nullable=False),
        column("text", pa.string(), "what was said", nullable=False),
        column(
            "at",
            TIMESTAMP,
            "when it was said (OmniDimension only; to the second; an interaction's two turns share it)",
        ),
        column(
            "response_latency_s",
            pa.float64(),
            "seconds the agent took to answer (agent turns: OmniDimension total_response_time)",
        ),
        column("source", pa.string(), "turns (structured) or transcript (parsed)", nullable=False),
        column("ingested_at", TIMESTAMP, "when the row was normalized", nullable=False),
    ]
)

QUARANTINE = pa.schema(
    [
        column("provider", pa.string(), "provider name (from the provider= folder)", nullable=False),
        column("endpoint", pa.string(), "raw endpoint, e.g. call_logs", nullable=False),
        column("record_id", pa.string(), "the record's id when it has one"),
        column(
            "reason",
            pa.string(),
            "why it could not become a row (a reason code, see docs/schema.md)",
            nullable=False,
        ),
        column("detail", pa.string(), "human-readable explanation"),
        column("payload", pa.string(), "the record as JSON, credentials redacted", nullable=False),
        column("ingested_at", TIMESTAMP, "when the row was normalized", nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "calls": CALLS,
    "actions": ACTIONS,
    "interactions": INTERACTIONS,
    "quarantine": QUARANTINE,
}
