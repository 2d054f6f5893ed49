"""HighLevel / LeadConnector Voice AI call logs -> canonical rows.

The page (leadconnector-voice-ai-call-logs.txt) has no call status, sentiment or cost: those columns
are null, except ``status`` which is derived from the duration (see ``derived_statuses``).
``trialCall`` marks test calls; ``executedCallActions`` become ``actions`` rows; the ``bot:`` /
``human:`` transcript becomes ``interactions`` rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calllog_pipeline.mapping import (
    Admitted,
    Invalid,
    RawDay,
    Reject,
    SeenIds,
    TableBatch,
    TableBuffers,
    admit,
    as_bool,
    as_list,
    as_object,
    as_str,
    column,
    extra_column,
    iso_times,
    json_column,
    json_redacted_at_ingest,
    mapped_batches,
    number_column,
    phone_column,
    take_column,
    take_times,
    text_column,
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

# The page's "bot:" / "human:", and the labels other voice stacks write for the same two sides (a
# transcript in them would otherwise give no turns at all: lines before a known label are dropped).
SPEAKERS = {
    **dict.fromkeys(("bot", "agent", "assistant", "ai"), "agent"),
    **dict.fromkeys(("human", "user", "customer", "caller"), "user"),
}
LINE_BREAK = re.compile(r"\r?\n")


def normalize(raw: RawDay) -> Iterator[TableBatch]:
    out = TableBuffers(PROVIDER, SPEAKERS, LINE_BREAK)
    seen = SeenIds()

    def map_batch(payloads: pa.Array) -> list[TableBatch]:
        calls = admit(out, ENDPOINT, payloads, seen, _call_id, START, ("id",), id_key="id")
        return [*map_calls(out, calls), *out.drain()]  # drain: the quarantined records

    with json_redacted_at_ingest(raw, ENDPOINT):
        yield from mapped_batches(raw, ENDPOINT, map_batch)


START = ("createdAt", iso_times, "is not an ISO-8601 time")


def _call_id(record: dict[str, Any]) -> str | Reject:
    call_id = as_str(record.get("id"))
    return Reject("missing_id", "record has no id") if call_id is None else call_id


def map_calls(out: TableBuffers, calls: Admitted) -> Iterator[TableBatch]:
    """The calls of a batch, column by column; then their actions and transcript turns."""
    records, n = calls.records, len(calls.records)
    if not n:
        return
    invalid: Invalid = {}
    call_ids = pa.array(calls.call_ids, pa.string())
    duration_s = number_column(records, "duration", invalid)
    agent_id = text_column(records, "agentId", invalid)
    from_number = phone_column(records, "fromNumber", invalid)
    to_number = phone_column(records, "toNumber", invalid)
    summary = text_column(records, "summary", invalid)
    transcript = text_column(records, "transcript", invalid)
    recording_url = text_column(records, "recordingUrl", invalid)
    is_test = _is_test(records, invalid)
    extracted = _json_objects(records, "extractedData", invalid)
    listed = column(records, "executedCallActions")
    actions = [
        v if type(v) is list else None if v is None else as_list(v) for v in listed
    ]  # or its JSON text
    _refused(listed, actions, "executedCallActions", invalid)
    yield out.batch(
        "calls",
        n,
        {
            "call_id": call_ids,
            "agent_id": agent_id,
            "started_at": calls.started_at,
            "duration_s": duration_s,
            "status": derived_statuses(duration_s),
            "channel": "phone",
            "from_number": from_number,
            "to_number": to_number,
            "summary": summary,
            "transcript": transcript,
            "recording_url": recording_url,
            "is_test": is_test,
            "extracted": extracted,
            "extra": extra_column(records, MAPPED, invalid),
        },
    )
    yield from map_actions(out, call_ids, actions)
    yield from out.transcript_turns(call_ids, transcript)


def _refused(values: list[Any], found: list[Any], key: str, invalid: Invalid) -> None:
    """Keep in ``invalid`` each value that is present but was not taken (``found`` None)."""
    if found.count(None) != values.count(None):
        for i, (value, taken) in enumerate(zip(values, found, strict=True)):
            if value is not None and taken is None:
                invalid.setdefault(i, {})[key] = value


def _is_test(records: list[dict[str, Any]], invalid: Invalid) -> list[bool | None]:
    """``trialCall``; a record that only carries the ``callType`` the page filters on (``LIVE`` /
    ``TRIAL``) says the same."""
    trial = take_column(records, "trialCall", as_bool, invalid)
    if None not in trial:
        return trial
    return [
        t if t is not None else CALL_TYPES.get((as_str(r.get("callType")) or "").strip().upper())
        for t, r in zip(trial, records, strict=True)
    ]


CALL_TYPES = {"TRIAL": True, "LIVE": False}


def derived_statuses(duration_s: pa.Array) -> pa.Array:
    """LeadConnector reports no status: a call that lasted is ``completed``; otherwise we cannot tell
    a missed call from a failed one, so ``unknown``."""
    lasted = pc.fill_null(pc.greater(duration_s, 0.0), False)
    return pc.if_else(lasted, "completed", "unknown")


def map_actions(out: TableBuffers, call_ids: pa.Array, actions: list[list | None]) -> Iterator[TableBatch]:
    """``executedCallActions`` of a batch's calls (``call_ids``), column by column (entries that are
    not objects are skipped)."""
    records = [action for listed in actions if listed for action in listed if isinstance(action, dict)]
    if not records:
        return
    counts = [len(listed) if listed else 0 for listed in actions]
    if sum(counts) != len(records):  # some entries are not objects: count the objects only
        counts = [sum(isinstance(a, dict) for a in listed) if listed else 0 for listed in actions]
    owners = np.repeat(np.arange(len(actions)), counts)
    invalid: Invalid = {}
    type_raw = text_column(records, "actionType", invalid)
    given = column(records, "actionParameters")
    # An object, or its JSON text.
    parameters = [v if type(v) is dict else None if v is None else as_object(v) for v in given]
    _refused(given, parameters, "actionParameters", invalid)
    action_id = text_column(records, "actionId", invalid)
    name = text_column(records, "actionName", invalid)
    executed_at = take_times(records, "executedAt", invalid)
    yield out.batch(
        "actions",
        len(records),
        {
            "call_id": call_ids.take(pa.array(owners)),
            "action_id": action_id,
            "action_type": _action_types(type_raw),
            "action_type_raw": type_raw,
            "name": name,
            "executed_at": executed_at,
            "parameters": json_column(parameters),
            "extra": extra_column(records, ACTION_MAPPED, invalid),
        },
    )


def _action_types(type_raw: pa.Array) -> pa.Array:
    """``ACTION_TYPES`` of each raw type (trimmed, upper-cased, ``-`` or a space read as ``_``:
    ``call-transfer``, ``Call Transfer``; ``other`` if unknown or null), read once per distinct value."""
    types = pc.dictionary_encode(type_raw)
    known = [ACTION_TYPES.get(_type_word(t), "other") for t in types.dictionary.to_pylist()]
    return pc.fill_null(pa.array(known, pa.string()).take(types.indices), "other")


def _type_word(raw: str) -> str:
    return "_".join(raw.replace("-", " ").replace("_", " ").split()).upper()


def _json_objects(records: list[dict[str, Any]], key: str, invalid: Invalid) -> list[str | None]:
    """An object (or its JSON text) as JSON text; anything else is invalid."""
    values = column(records, key)
    found = [v if type(v) is dict else None if v is None else as_object(v) for v in values]
    _refused(values, found, key, invalid)
    return json_column(found)
