"""HighLevel / LeadConnector Voice AI call logs -> canonical rows.

The page (leadconnector-voice-ai-call-logs.txt) has no call status, sentiment or cost: those columns
are null, except ``status`` which is derived from the duration (see ``derived_status``).
``trialCall`` marks test calls; ``executedCallActions`` become ``actions`` rows; the ``bot:`` /
``human:`` transcript becomes ``interactions`` rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from calllog_pipeline.mapping import (
    RawDay,
    Reject,
    SeenIds,
    TableBatch,
    TableBuffers,
    as_bool,
    as_float,
    as_list,
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

PROVIDER = "leadconnector"
ENDPOINT = "call_logs"

# The eight ACTION_TYPE values of the page's `actionType` filter.
ACTION_TYPES = {
    "CALL_TRANSFER": "transfer",
    "SMS": "sms",
    "DATA_EXTRACTION": "data_extraction",
    "IN_CALL_DATA_EXTRACTION": "data_extraction",  # same thing, done while the call is live
    "WORKFLOW_TRIGGER": "workflow",
    "APPOINTMENT_BOOKING": "appointment_booking",
    "CUSTOM_ACTION": "custom_api",
    "KNOWLEDGE_BASE": "knowledge_base",
}

MAPPED = frozenset(
    {
        "id",
        "agentId",
        "createdAt",
        "duration",
        "trialCall",
        "executedCallActions",
        "summary",
        "transcript",
        "fromNumber",
        "toNumber",
        "recordingUrl",
        "extractedData",
    }
)
ACTION_MAPPED = frozenset({"actionId", "actionType", "actionName", "actionParameters", "executedAt"})

SPEAKERS = {"bot": "agent", "human": "user"}
LINE_BREAK = re.compile(r"\r?\n")


def normalize(raw: RawDay) -> Iterator[TableBatch]:
    out = TableBuffers(PROVIDER, SPEAKERS, LINE_BREAK)
    seen = SeenIds()
    with json_redacted_at_ingest(raw, ENDPOINT):
        for payloads in batches(raw, ENDPOINT):
            for record, digest in records(payloads):
                try:
                    normalize_call(out, record, digest, seen)
                except Reject as rejected:
                    out.reject(ENDPOINT, record, rejected.reason, rejected.detail, record_id_of(record, "id"))
            yield from out.drain()


def normalize_call(out: TableBuffers, record: Any, digest: int, seen: SeenIds) -> None:
    row = call_row(record)
    if not seen.check(row["call_id"], digest):
        return
    out.calls.append(row)
    out.actions.extend(action_rows(row["call_id"], as_list(record.get("executedCallActions"))))
    out.add_transcript(row["call_id"], row["transcript"])


def call_row(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise Reject("wrong_shape", f"expected a JSON object, got {type(record).__name__}")
    call_id = as_str(record.get("id"))
    if call_id is None:
        raise Reject("missing_id", "record has no id")
    invalid: dict[str, Any] = {}
    duration_s = take(record, "duration", as_float, invalid)
    return {
        "provider": PROVIDER,
        "call_id": call_id,
        "agent_id": take(record, "agentId", as_str, invalid),
        "agent_name": None,
        "started_at": parse_iso_utc(record.get("createdAt"), "createdAt"),
        "ended_at": None,  # the page gives createdAt and a duration, not an end time
        "duration_s": duration_s,
        "status": derived_status(duration_s),
        "status_raw": None,
        "end_reason": None,
        "direction": None,
        "channel": "phone",
        "from_number": take(record, "fromNumber", e164, invalid),
        "to_number": take(record, "toNumber", e164, invalid),
        "sentiment": None,
        "summary": take(record, "summary", as_str, invalid),
        "transcript": take(record, "transcript", as_str, invalid),
        "recording_url": take(record, "recordingUrl", as_str, invalid),
        "is_test": _is_test(record, invalid),
        "cost_usd": None,
        "tokens": None,
        "extracted": _json_object(record, "extractedData", invalid),
        "extra": _extra(record, invalid),
    }


def _is_test(record: dict[str, Any], invalid: dict[str, Any]) -> bool | None:
    """``trialCall``; a record that only carries the ``callType`` the page filters on (``LIVE`` /
    ``TRIAL``) says the same."""
    trial = take(record, "trialCall", as_bool, invalid)
    if trial is None:
        trial = {"TRIAL": True, "LIVE": False}.get((as_str(record.get("callType")) or "").strip().upper())
    return trial


def derived_status(duration_s: float | None) -> str:
    """LeadConnector reports no status: a call that lasted is ``completed``; otherwise we cannot tell
    a missed call from a failed one, so ``unknown``."""
    return "completed" if duration_s is not None and duration_s > 0 else "unknown"


def action_rows(call_id: str, actions: Any) -> list[dict[str, Any]]:
    if not isinstance(actions, list):
        return []
    return [action_row(call_id, action) for action in actions if isinstance(action, dict)]


def action_row(call_id: str, action: dict[str, Any]) -> dict[str, Any]:
    invalid: dict[str, Any] = {}
    type_raw = take(action, "actionType", as_str, invalid)
    parameters = action.get("actionParameters")
    if parameters is not None and (parameters := as_object(parameters)) is None:  # an object or its JSON text
        invalid["actionParameters"] = action["actionParameters"]
    row = {
        "provider": PROVIDER,
        "call_id": call_id,
        "action_id": take(action, "actionId", as_str, invalid),
        "action_type": ACTION_TYPES.get((type_raw or "").strip().upper(), "other"),
        "action_type_raw": type_raw,
        "name": take(action, "actionName", as_str, invalid),
        "executed_at": take(action, "executedAt", parse_iso_utc_or_none, invalid),
        "succeeded": None,  # the page does not say whether an action worked
        "latency_s": None,
        "parameters": dump_json(parameters),
        "result": None,
    }
    rest = {k: v for k, v in action.items() if k not in ACTION_MAPPED and v is not None}
    if invalid:
        rest["_invalid"] = invalid
    row["extra"] = dump_json(rest) if rest else None
    return row


def _json_object(record: dict[str, Any], key: str, invalid: dict[str, Any]) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if (found := as_object(value)) is None:
        invalid[key] = value
        return None
    return dump_json(found)


def _extra(record: dict[str, Any], invalid: dict[str, Any]) -> str | None:
    rest = {k: v for k, v in record.items() if k not in MAPPED and v is not None}
    actions = record.get("executedCallActions")
    if actions is not None and as_list(actions) is None:  # a list or its JSON text
        invalid["executedCallActions"] = actions
    if invalid:
        rest["_invalid"] = invalid
    return dump_json(rest) if rest else None
