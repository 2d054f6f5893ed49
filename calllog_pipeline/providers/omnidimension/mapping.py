"""OmniDimension call logs -> canonical rows.

Quirks (omnidimension-call-logs.txt): ``false`` stands for null in most fields; ``time_of_call`` is
``MM/DD/YYYY HH:MM:SS`` local time without a zone (the zone is the fetch setting recorded in the raw
file's ``source_context``); ``call_duration`` is an ``M:S`` string beside
``call_duration_in_seconds``; ``interactions[]`` are structured turns with latencies and
``function_call_data`` tool calls; ``post_call_actions`` webhook payloads embed credentials
(``call_sid`` starting ``secret_key_``); ``call_conversation`` is HTML with ``<br/>`` separators.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calllog_pipeline import schemas
from calllog_pipeline.mapping import (
    Admitted,
    Invalid,
    RawDay,
    Reject,
    SeenIds,
    TableBatch,
    TableBuffers,
    absent,
    admit,
    as_bool,
    as_float,
    as_int,
    as_list,
    as_object,
    as_str,
    column,
    direction_word,
    dump_json,
    during_calls,
    e164,
    extra_column,
    in_later_hours,
    json_column,
    json_redacted_at_ingest,
    local_times,
    mapped_batches,
    take_column,
    take_first,
)
from calllog_pipeline.timeutil import LATER_PASS_IDS

PROVIDER = "omnidimension"
ENDPOINT = "call_logs"
TIME_OF_CALL = "%m/%d/%Y %H:%M:%S"
WEBHOOK_TIME = "%Y-%m-%d %H:%M:%S"  # post_call_actions[].create_date, same local zone as time_of_call

# The page's call_status filter: "completed" | "busy" | "failed" | "no-answer".
STATUS = {
    "completed": "completed",
    "busy": "busy",
    "failed": "failed",
    "no_answer": "no_answer",
    "in_progress": "in_progress",
    "ongoing": "in_progress",
    "initiated": "in_progress",
    "queued": "queued",
    "scheduled": "queued",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}
HANGUP_SOURCE = {
    "user": "user_disconnected",
    "customer": "user_disconnected",
    "caller": "user_disconnected",
    "agent": "agent_disconnected",
    "bot": "agent_disconnected",
    "assistant": "agent_disconnected",
    "llm": "agent_disconnected",  # the agent's own label in call_conversation
}
# hangup_reason when hangup_source is "system" (neither side hung up).
HANGUP_REASON = {
    "voicemail_detected": "voicemail_detected",
    "no_answer": "user_did_not_pick_up",
    "busy": "user_busy",
    "call_failed": "unknown",
}
# post_call_actions holds one list per integration kind.
POST_CALL_KINDS = {
    "call_recording_webhook_ids": "webhook",
    "email_service_ids": "email",
    "hubspot_service_ids": "crm_sync",
    "salesforce_service_ids": "crm_sync",
    "slack_service_ids": "notification",
    "google_sheets_service_ids": "spreadsheet",
}
# hangup_source / hangup_reason stay in `extra` as the evidence behind `end_reason`.
MAPPED = frozenset(
    {
        "id",
        "bot_id",
        "agent_id",
        "bot_name",
        "time_of_call",
        "call_duration",
        "call_duration_in_seconds",
        "call_status",
        "is_voicemail",
        "call_direction",
        "channel_type",
        "from_number",
        "to_number",
        "sentiment_score",
        "sentiment_analysis_details",
        "call_conversation",
        "recording_url",
        "is_simulation",
        "aggregated_estimated_cost",
        "total_tokens",
        "extracted_variables",
        "interactions",
        "post_call_actions",
    }
)
FUNCTION_CALL_MAPPED = frozenset({"args", "result", "success", "time_taken", "function_name"})
WEBHOOK_MAPPED = frozenset(
    {"id", "name", "webhook_url", "webhook_method", "payload", "create_date", "response_body"}
)

# The page's "user:" / "LLM:", and the labels other voice stacks write for the same two sides.
SPEAKERS = {
    **dict.fromkeys(("llm", "agent", "assistant", "bot", "ai"), "agent"),
    **dict.fromkeys(("user", "human", "customer", "caller"), "user"),
}
HTML_BREAK = re.compile(r"</?br\s*/?>|\r?\n", re.IGNORECASE)  # also "</br>", a common slip


def normalize(raw: RawDay) -> Iterator[TableBatch]:
    context = raw.source_context(ENDPOINT)
    zone = source_zone(context)
    later_pass = frozenset(map(str, context.get(LATER_PASS_IDS, ())))  # see raw.repeated_hour
    start = (
        "time_of_call",
        lambda values: local_times(values, zone, TIME_OF_CALL),
        f"does not match {TIME_OF_CALL}",
    )
    out = TableBuffers(PROVIDER, SPEAKERS, HTML_BREAK)
    seen = SeenIds()

    def map_batch(payloads: pa.Array) -> list[TableBatch]:
        calls = admit(out, ENDPOINT, payloads, seen, _call_id, start, ("id",))
        return [*map_calls(out, calls, zone, later_pass), *out.drain()]  # drain: quarantine, transcripts

    with json_redacted_at_ingest(raw, ENDPOINT):
        yield from mapped_batches(raw, ENDPOINT, map_batch)


def source_zone(context: Mapping[str, str]) -> tzinfo:
    name = context.get("timezone") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"omnidimension source_context timezone is not an IANA zone: {name!r}") from None


def _call_id(record: dict[str, Any]) -> str | Reject:
    call_id = as_str(record.get("id"))
    return Reject("missing_id", "record has no id") if call_id is None else call_id


def map_calls(
    out: TableBuffers, calls: Admitted, zone: tzinfo, later_pass: frozenset[str]
) -> list[TableBatch]:
    """The calls of a batch, column by column, then their turns and actions, a batch at a time."""
    records = calls.records
    started_at = calls.started_at
    if later_pass and not later_pass.isdisjoint(calls.call_ids):  # the fetch placed their hour later
        started_at = in_later_hours(started_at, zone, [call_id in later_pass for call_id in calls.call_ids])
    nested = flatten(records)
    for i in nested.by_text:  # no structured turns: the conversation text is split instead
        out.add_transcript(calls.call_ids[i], unescaped(records[i].get("call_conversation")))
    columns = {
        "call_id": calls.call_ids,
        "started_at": started_at,
        **call_columns(records, nested.unreadable),
    }
    mapped = [out.batch("calls", len(records), columns)]
    at = during_calls(  # each interaction's time, read once for its turns and its tool calls
        local_times([turn.get("time_of_call") for turn in nested.turns], zone, TIME_OF_CALL),
        started_at.take(nested.turn_call),
        zone,
    )
    mapped += action_batches(out, nested, at, calls.call_ids, started_at, zone)
    mapped += turn_batches(out, nested, at, calls.call_ids)
    return mapped


def call_columns(records: list[dict[str, Any]], unreadable: Invalid) -> dict[str, Any]:
    """The calls' own columns; the nested values in ``unreadable`` (``flatten``) join ``extra``."""
    invalid: Invalid = {}
    not_phone: Invalid = {}
    status_raw = take_column(records, "call_status", as_str, invalid, false_is_null=True)
    agent_id = take_first(records, [("bot_id", as_str), ("agent_id", as_str)], invalid, false_is_null=True)
    agent_name = take_column(records, "bot_name", as_str, invalid, false_is_null=True)
    duration_s = take_first(
        records,
        [("call_duration_in_seconds", as_float), ("call_duration", minutes_seconds)],
        invalid,
        false_is_null=True,
    )
    statuses = {raw: _status(raw) for raw in set(status_raw)}
    end_reason = [_end_reason(r, raw) for r, raw in zip(records, status_raw, strict=True)]
    direction = _read_words(records, "call_direction", direction_word, invalid)
    channel = _read_words(records, "channel_type", _channel, invalid)
    from_number = _phones(records, "from_number", not_phone)
    to_number = _phones(records, "to_number", not_phone)
    sentiment = _read_words(records, "sentiment_score", _sentiment, invalid)
    summary = take_column(records, "sentiment_analysis_details", as_str, invalid, false_is_null=True)
    transcript = [conversation_text(v) for v in column(records, "call_conversation")]
    recording_url = take_column(records, "recording_url", as_str, invalid, false_is_null=True)
    is_test = take_column(records, "is_simulation", as_bool, invalid)
    cost_usd = take_column(records, "aggregated_estimated_cost", as_float, invalid, false_is_null=True)
    tokens = take_column(records, "total_tokens", as_int, invalid, false_is_null=True)
    extracted = _json_objects(records, "extracted_variables", invalid)
    for i, nested in unreadable.items():
        invalid.setdefault(i, {}).update(nested)
    return {
        "agent_id": agent_id,
        "agent_name": agent_name,
        "duration_s": duration_s,
        "status": [statuses[raw] for raw in status_raw],
        "status_raw": status_raw,
        "end_reason": end_reason,
        "direction": direction,
        "channel": channel,
        "from_number": from_number,
        "to_number": to_number,
        "sentiment": sentiment,
        "summary": summary,
        "transcript": transcript,
        "recording_url": recording_url,
        "is_test": is_test,
        "cost_usd": cost_usd,
        "tokens": tokens,
        "extracted": extracted,
        "extra": extra_column(records, MAPPED, invalid, [not_phone.get(i) for i in range(len(records))]),
    }


def minutes_seconds(value: Any) -> float | None:
    """``"M:S"`` (or ``"H:M:S"``) as seconds; None if it is not that shape. A plain number (or its
    text) is seconds: the page's own webhook payload writes ``"call_duration": 0``, a number."""
    if not isinstance(value, str) or ":" not in value:
        seconds = None if isinstance(value, bool) else as_float(value)
        return seconds if seconds is not None and 0 <= seconds < math.inf else None
    parts = value.strip().split(":")
    if not 2 <= len(parts) <= 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return float(seconds)


def _status(status_raw: str | None) -> str:
    return STATUS.get(_word(status_raw), "unknown")


def _word(value: Any) -> str | None:
    """A vocabulary word in any case and with ``-`` or a space for ``_`` (the page's own
    ``no-answer`` beside ``no_answer``); None for anything but text."""
    if not isinstance(value, str):
        return None
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def _end_reason(record: dict[str, Any], status_raw: str | None) -> str | None:
    """DialNexa's end-reason words, where OmniDimension's fields say the same thing."""
    if record.get("is_voicemail") is True or _machine_answered(record):
        return "voicemail_detected"
    if (source := _word(record.get("hangup_source"))) in HANGUP_SOURCE:
        return HANGUP_SOURCE[source]
    if (reason := _word(record.get("hangup_reason"))) in HANGUP_REASON:
        return HANGUP_REASON[reason]
    status = _status(status_raw)
    if status == "no_answer":
        return "user_did_not_pick_up"
    if status == "busy":
        return "user_busy"
    return None


def _machine_answered(record: dict[str, Any]) -> bool:
    """Answering-machine detection said a machine picked up (``amd_answered_by`` / ``voicemail_type``
    such as ``machine_end_beep``; the page's ``false`` means it did not run or found a person)."""
    return any(
        isinstance(value, str) and value.strip().lower().startswith(("machine", "voicemail"))
        for value in (record.get("amd_answered_by"), record.get("voicemail_type"))
    )


def _read_words(
    records: list[dict], key: str, read: Callable[[str], str | None], invalid: Invalid
) -> list[str | None]:
    """``read`` of each text of ``key`` (a direction in any spelling ``direction_word`` reads, a
    channel, a sentiment word), once per distinct text; one it cannot read is kept as invalid."""
    values = take_column(records, key, as_str, invalid, false_is_null=True)
    known = {value: read(value) for value in set(values) if value is not None}
    out = []
    for i, value in enumerate(values):
        word = None if value is None else known[value]
        if value is not None and word is None:
            invalid.setdefault(i, {})[key] = value
        out.append(word)
    return out


def _sentiment(value: str) -> str | None:
    """A sentiment word in any case ("Positive" -> "positive")."""
    word = value.strip().lower()
    return word if word in schemas.SENTIMENTS else None


def _channel(value: str) -> str | None:
    lowered = value.lower()
    if "chat" in lowered:  # "Widget-Chat" in the page's example
        return "chat"
    if "web" in lowered or "widget" in lowered:  # the website widget's voice calls run in the browser
        return "web_call"
    if any(word in lowered for word in ("phone", "call", "sip", "pstn", "telephony")):
        return "phone"
    return None


def _phones(records: list[dict], key: str, not_phone: Invalid) -> list[str | None]:
    """E.164 or None; chat calls put words here ("Chat", "Assistant"), kept in ``extra``."""
    values = column(records, key)
    numbers = [e164(v) for v in values]
    for i, (value, number) in enumerate(zip(values, numbers, strict=True)):
        if number is None and value not in (None, False, ""):
            not_phone.setdefault(i, {})[key] = value
    return numbers


def conversation_text(value: Any) -> str | None:
    """``call_conversation`` as plain lines: ``<br/>`` becomes a line break, blank lines go."""
    if not isinstance(value, str):
        return None
    value = unescaped(value)
    if "\r" not in value and value.count("<") == value.count("<br/>"):  # the page's own breaks only:
        lines = value.replace("<br/>", "\n").split("\n")  # plain splits, ~3x faster than the regex
    else:
        lines = HTML_BREAK.split(value)
    return "\n".join(filter(None, map(str.strip, lines))) or None


def unescaped(value: Any) -> Any:
    """``call_conversation`` is HTML: a server that escapes what was said in it writes ``I&#x27;m``
    and ``&lt;3``, which are ``I'm`` and ``<3`` in the transcript (the page's example escapes
    nothing). Only entities closed by ``;``: HTML also reads ``&not`` without one, which would
    turn an unescaped ``?a=1&notify=0`` into ``?a=1¬ify=0``."""
    if not isinstance(value, str) or "&" not in value:
        return value
    return _ENTITY.sub(lambda found: html.unescape(found[0]), value)


_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _json_objects(records: list[dict], key: str, invalid: Invalid) -> list[str | None]:
    values = column(records, key)
    found = [None if v is None or v is False else as_object(v) for v in values]
    for i, (value, obj) in enumerate(zip(values, found, strict=True)):
        if obj is None and value is not None and value is not False:
            invalid.setdefault(i, {})[key] = value
    return json_column(found)


# --- interactions, tool calls and post-call deliveries, a batch at a time -------------------------------


class Nested(NamedTuple):
    """A batch's nested lists, flattened (``flatten``)."""

    turns: list[dict[str, Any]]  # every call's interactions, call by call, each call's in order
    turn_call: pa.Array  # the position in the batch of each interaction's call
    tools: list[list[Any] | None]  # each interaction's tool calls (``function_call_data``) as a list
    deliveries: list[tuple[int, str, dict[str, Any]]]  # (call position, integration kind, delivery)
    by_text: list[int]  # positions of calls without interactions (their conversation text is split)
    unreadable: Invalid  # call position -> nested values no row can be made of (kept in ``_invalid``)


def flatten(records: list[dict[str, Any]]) -> Nested:
    """The interactions and post-call deliveries of a batch of calls, as flat lists.

    Nested values no row can be made of are kept, by call, in ``unreadable`` rather than lost: the
    page sends lists and objects, or ``false`` for none; their JSON text is read too (and redacted
    as it is decoded, by ``as_list`` / ``as_object``)."""
    turns: list[dict[str, Any]] = []
    turn_call: list[int] = []
    deliveries: list[tuple[int, str, dict[str, Any]]] = []
    by_text: list[int] = []
    unreadable: Invalid = {}
    for i, record in enumerate(records):
        found: dict[str, Any] = {}
        if type(sent := record.get("post_call_actions")) is dict or absent(sent):
            post_call = sent
        elif (post_call := as_object(sent)) is None:
            found["post_call_actions"] = sent
        if type(post_call) is dict:
            for kind, items in post_call.items():
                if type(items) is not list and (items := listed(items)) is None:  # the usual list first
                    found[f"post_call_actions.{kind}"] = post_call[kind]
                    continue
                deliveries.extend((i, kind, item) for item in items if type(item) is dict)
        interactions = record.get("interactions")
        listed_turns = interactions if type(interactions) is list else as_list(interactions)
        if listed_turns:
            for turn in listed_turns:
                if type(turn) is dict:
                    turns.append(turn)
                    turn_call.append(i)
        else:
            by_text.append(i)
            if listed_turns is None and not absent(interactions):
                found["interactions"] = interactions
        if found:
            unreadable[i] = found
    tools = _tool_calls(turns, turn_call, unreadable)
    order = _in_order(turns, turn_call)
    if order is not None:
        turns, tools = [turns[k] for k in order], [tools[k] for k in order]
        turn_call = [turn_call[k] for k in order]
    return Nested(turns, pa.array(turn_call, pa.int64()), tools, deliveries, by_text, unreadable)


def _tool_calls(turns: list[dict[str, Any]], turn_call: list[int], unreadable: Invalid) -> list[list | None]:
    """Each interaction's ``function_call_data`` as a list (``false`` when it called no tool); an
    unreadable value is kept in ``unreadable`` under the interaction's id."""
    tools = [turn.get("function_call_data") for turn in turns]
    for k, calls in enumerate(tools):
        if type(calls) is list or calls is False:
            continue
        tools[k] = listed(calls)
        if tools[k] is None:
            turn = turns[k]
            name = as_str(turn.get("id")) or as_str(turn.get("interaction_sequence"))
            unreadable.setdefault(turn_call[k], {})[f"interactions[{name}].function_call_data"] = calls
    return tools


def listed(value: Any) -> list[Any] | None:
    """A list of items (a turn's ``function_call_data``, a ``post_call_actions`` kind): a list
    (``false`` or empty when none), one item sent as an object, or either as JSON text; None when
    it is none of those."""
    if absent(value):
        return []
    found = as_list(value)
    if found is None and (one := as_object(value)) is not None:
        found = [one]
    return found


def _in_order(turns: list[dict[str, Any]], turn_call: list[int]) -> np.ndarray | None:
    """The order that puts each call's interactions in ``interaction_sequence`` order (by number,
    also when sent as text; a stable sort), or None when they already are (most calls). A call
    with an interaction without a usable number keeps the order it was sent in."""
    numbers = (turn.get("interaction_sequence") for turn in turns)
    sequence = [s if type(s) is int and _INT64_MIN <= s <= _INT64_MAX else as_int(s) for s in numbers]
    calls = np.array(turn_call, np.int64)
    unnumbered = np.zeros(calls[-1] + 1 if len(calls) else 0, np.bool_)
    unnumbered[calls[np.array([s is None for s in sequence], np.bool_)]] = True
    position = np.arange(len(turns))
    key = np.where(unnumbered[calls], position, np.array([0 if s is None else s for s in sequence], np.int64))
    if np.all((key[1:] >= key[:-1]) | (calls[1:] != calls[:-1])):
        return None
    order = np.argsort(key, kind="stable")
    return order[np.argsort(calls[order], kind="stable")]


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def turn_batches(out: TableBuffers, nested: Nested, at: pa.Array, call_ids: list[str]) -> list[TableBatch]:
    """(speaker, text, at, latency) turns: the user's query, then the agent's answer, per interaction.

    The first interaction has an empty ``user_query`` (the agent greets first): empty turns are
    skipped. ``total_response_time`` is the agent's response latency. Both turns of an
    interaction share its time (``at``)."""
    said = [_words_of(turn.get(key)) for turn in nested.turns for key in ("user_query", "bot_response")]
    text = pa.array(said, pa.string())  # two rows an interaction, null where nothing is said
    if not (n := len(text) - text.null_count):
        return []
    row = np.flatnonzero(text.is_valid().to_numpy(zero_copy_only=False))
    turn, by_agent = pa.array(row >> 1), pa.array((row & 1).astype(np.bool_))
    latency = pa.array([as_float(t.get("total_response_time")) for t in nested.turns], pa.float64())
    call = nested.turn_call.take(turn).to_numpy()
    first = np.r_[True, call[1:] != call[:-1]]
    turn_index = np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0))
    columns = {
        "call_id": pa.array(call_ids, pa.string()).take(pa.array(call)),
        "turn_index": pa.array(turn_index, pa.int32()),
        "speaker": pc.if_else(by_agent, "agent", "user"),
        "text": text.drop_null(),
        "at": at.take(turn),
        "response_latency_s": pc.if_else(by_agent, latency.take(turn), pa.scalar(None, pa.float64())),
        "source": "turns",
    }
    return [out.batch("interactions", n, columns)]


def _words_of(value: Any) -> str | None:
    """A turn's text, stripped; None when it says nothing."""
    if type(value) is str:
        return value.strip() or None
    words = as_str(value)
    return words and words.strip()


def action_batches(
    out: TableBuffers,
    nested: Nested,
    at: pa.Array,
    call_ids: list[str],
    started_at: pa.Array,
    zone: tzinfo,
) -> list[TableBatch]:
    """Each call's tool calls (in interaction order), then its post-call deliveries."""
    rows, calls, turns = [], [], []
    turn_call = nested.turn_call.to_pylist()
    for k, tools in enumerate(nested.tools):
        if not tools:  # `false` when the turn called no tool (an unreadable value is in _invalid)
            continue
        turn = nested.turns[k]
        call_id = call_ids[turn_call[k]]
        turn_id = as_str(turn.get("id")) or f"{call_id}/{turn.get('interaction_sequence')}"
        for position, call in enumerate(c for c in tools if type(c) is dict):
            rows.append(function_call_row(f"{turn_id}:{position}", call))
            calls.append(turn_call[k])
            turns.append(k)
    delivery_call = [i for i, _, _ in nested.deliveries]
    delivered = during_calls(
        local_times([item.get("create_date") for _, _, item in nested.deliveries], zone, WEBHOOK_TIME),
        started_at.take(pa.array(delivery_call, pa.int64())),
        zone,
    )
    rows += [post_call_row(kind, item) for _, kind, item in nested.deliveries]
    if not rows:
        return []
    owner = np.array(calls + delivery_call, np.int64)
    order = np.argsort(owner, kind="stable")  # call by call, each call's tool calls first
    rows = [rows[k] for k in order]
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    columns["call_id"] = pa.array(call_ids, pa.string()).take(pa.array(owner[order]))
    columns["executed_at"] = pa.concat_arrays([at.take(pa.array(turns, pa.int64())), delivered]).take(order)
    return [out.batch("actions", len(rows), columns)]


def function_call_row(action_id: str, call: dict[str, Any]) -> dict[str, Any]:
    """One tool call's action columns (besides its call and time)."""
    result = call.get("result")
    rest = {k: v for k, v in call.items() if k not in FUNCTION_CALL_MAPPED and v is not None}
    return {
        "action_id": action_id,
        "action_type": "function_call",
        "action_type_raw": "function_call_data",
        "name": as_str(call.get("function_name")),
        "succeeded": as_bool(call.get("success")),
        "latency_s": as_float(call.get("time_taken")),
        "parameters": dump_json(call.get("args")) if call.get("args") is not False else None,
        "result": result if isinstance(result, str) else dump_json(result if result is not False else None),
        "extra": dump_json(rest) if rest else None,
    }


def post_call_row(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """One delivery of a post-call integration (besides its call and its ``create_date``). Its
    ``payload`` is not kept: it repeats the call's own fields (summary, transcript, numbers,
    e-mail) and embeds the ``call_sid`` credential (omnidimension-call-logs.txt)."""
    rest = {k: v for k, v in item.items() if k not in WEBHOOK_MAPPED and v is not None}
    parameters = {
        k: item[k] for k in ("webhook_url", "webhook_method") if item.get(k) not in (None, False, "")
    }
    body = item.get("response_body")
    return {
        "action_id": as_str(item.get("id")),
        "action_type": POST_CALL_KINDS.get(kind, "other"),
        "action_type_raw": kind,
        "name": as_str(item.get("name")),
        "succeeded": delivery_succeeded(item),
        "latency_s": None,
        "parameters": dump_json(parameters) if parameters else None,
        "result": body if isinstance(body, str) and body else None,
        "extra": dump_json(rest) if rest else None,
    }


def delivery_succeeded(item: dict[str, Any]) -> bool | None:
    """2xx response -> True; another code, an error message or a failed status -> False."""
    code = as_int(item.get("response_code"))
    if code is not None:
        return 200 <= code < 300
    if item.get("error_message") not in (None, False, ""):
        return False
    status = as_str(item.get("status"))
    if status is None:
        return None
    return {"sent": True, "success": True, "delivered": True, "failed": False, "error": False}.get(
        status.strip().lower()
    )
