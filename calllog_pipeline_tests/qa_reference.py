"""An independent reading of docs/metrics.md: every QA metric recomputed in plain Python from the
normalized Parquet files, written from the catalog's words (not from ``qa/metrics.py``), so the
audit test can compare it value by value with what the QA assets write.

Deliberately simple: rows as dicts, percentiles by hand (linear interpolation between the closest
ranks), one function per metric family. A QA analyst with the normalized tables and the catalog
should get these numbers.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections import defaultdict
from datetime import date, timedelta

import pyarrow.parquet as pq

from calllog_pipeline.qa.catalog import METRICS

SHORT_CALL_S = 15.0
REPEAT_WINDOW = timedelta(days=7)
TECHNICAL = {"network_failure", "system_failure", "system_at_capacity"}
NON_DIALABLE = {"invalid_phone_number", "destination_forbidden", "insufficient_balance"}
# as docs/metrics.md lists them
PLACEHOLDERS = {
    "",
    "not provided",
    "n/a",
    "na",
    "none",
    "null",
    "unknown",
    "-",
    "not available",
    "not mentioned",
}
NO_AGENT = "(none)"


def read(root: str, table: str, day: str, provider: str) -> list[dict]:
    path = os.path.join(root, table, f"date={day}", f"provider={provider}", "data.parquet")
    return pq.read_table(path).to_pylist()


def read_all_calls(root: str, provider: str) -> list[dict]:
    rows = []
    for path in glob.glob(os.path.join(root, "calls", "date=*", f"provider={provider}", "*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


# --- small statistics, by hand ------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, DuckDB's quantile_cont)."""
    xs = sorted(values)
    if not xs:
        return None
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


# --- what a call is ------------------------------------------------------------------------------


def is_test(c: dict) -> bool:
    return bool(c.get("is_test")) or c.get("channel") == "chat"


def is_connected(c: dict) -> bool:
    return (
        c["status"] == "completed"
        and c.get("duration_s") is not None
        and c["duration_s"] > 0
        and c.get("end_reason") != "voicemail_detected"
    )


def agent_key(c: dict) -> str:
    return c.get("agent_id") or c.get("agent_name") or NO_AGENT


def contact(c: dict) -> str | None:
    """The other party: the called number of an outbound call, the caller otherwise."""
    return c.get("to_number") if c.get("direction") == "outbound" else c.get("from_number")


def _json(text: str | None) -> dict:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def is_filled(value) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in PLACEHOLDERS
    if isinstance(value, list | dict):
        return len(value) > 0
    return True


def number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# --- the metrics of one group of calls -----------------------------------------------------------


def metrics(
    calls: list[dict],
    actions: list[dict],
    turns: list[dict],
    history: list[dict],
    provider: str,
    short_call_s: float = SHORT_CALL_S,
) -> dict:
    """Every catalog metric over ``calls`` (all of a group's calls of the day, test calls included).
    ``history`` is every call of the provider (any day, any agent) for repeat contacts."""
    real = [c for c in calls if not is_test(c)]
    ids = {c["call_id"] for c in real}
    connected = [c for c in real if is_connected(c)]
    connected_ids = {c["call_id"] for c in connected}
    n, nc = len(real), len(connected)
    durations = [c["duration_s"] for c in connected]
    out: dict = {"calls": n, "test_calls": len(calls) - n, "connected_calls": nc}
    out["connected_minutes"] = sum(durations) / 60
    out["connect_rate"] = share(nc, n)
    out["no_answer_rate"] = share(sum(c["status"] == "no_answer" for c in real), n)
    out["busy_rate"] = share(sum(c["status"] == "busy" for c in real), n)
    out["voicemail_rate"] = share(sum(c.get("end_reason") == "voicemail_detected" for c in real), n)
    out["technical_failure_rate"] = share(sum(c.get("end_reason") in TECHNICAL for c in real), n)
    out["non_dialable_rate"] = share(sum(c.get("end_reason") in NON_DIALABLE for c in real), n)

    out["handle_time_mean_s"] = mean(durations)
    out["handle_time_p50_s"] = quantile(durations, 0.5)
    out["handle_time_p90_s"] = quantile(durations, 0.9)
    out["short_call_rate"] = share(sum(d < short_call_s for d in durations), nc)
    sided = [c for c in connected if c.get("end_reason") in ("user_disconnected", "agent_disconnected")]
    out["user_ended_share"] = share(sum(c["end_reason"] == "user_disconnected" for c in sided), len(sided))

    # transfers, tasks
    my_actions = [a for a in actions if a["call_id"] in ids]
    types_by_call = defaultdict(list)
    for a in my_actions:
        types_by_call[a["call_id"]].append(a["action_type"])
    transferred = [
        c
        for c in connected
        if "transfer" in types_by_call[c["call_id"]] or _json(c.get("extra")).get("is_call_transfer") is True
    ]
    out["transfer_rate"] = share(len(transferred), nc)
    out["containment_rate"] = None if out["transfer_rate"] is None else 1 - out["transfer_rate"]
    booked = [c for c in connected if "appointment_booking" in types_by_call[c["call_id"]]]
    out["booking_rate"] = share(len(booked), nc)
    connected_actions = [a for a in my_actions if a["call_id"] in connected_ids]
    out["actions_per_call"] = share(len(connected_actions), nc)
    by_type = defaultdict(int)
    for a in connected_actions:
        by_type[a["action_type"]] += 1
    out["actions_by_type"] = {t: k / nc for t, k in by_type.items()} if nc else None
    tools = [a for a in my_actions if a["action_type"] == "function_call"]
    out["tool_calls"] = len(tools)
    reported = [a for a in tools if a.get("succeeded") is not None]
    out["tool_calls_with_outcome"] = len(reported)
    out["tool_success_rate"] = share(sum(a["succeeded"] for a in reported), len(reported))
    out["tool_time_p95_s"] = quantile([a["latency_s"] for a in tools if a.get("latency_s") is not None], 0.95)

    fields = [v for c in connected for v in _json(c.get("extracted")).values()]
    out["extraction_fill_rate"] = share(sum(is_filled(v) for v in fields), len(fields))

    # sentiment, scores
    sentiments = [c["sentiment"] for c in real if c.get("sentiment") is not None]
    for s in ("positive", "neutral", "negative"):
        out[f"{s}_share"] = share(sentiments.count(s), len(sentiments))
    out["net_sentiment"] = (
        None if not sentiments else out["positive_share"] - out["negative_share"]
    )  # fmt: skip
    csat = [number(_json(c.get("extracted")).get("customer_satisfaction")) for c in real]
    out["csat_mean"] = mean([x for x in csat if x is not None])
    quality = [number(_json(c.get("extra")).get("cqs_score")) for c in real]
    out["quality_score_mean"] = mean([x for x in quality if x is not None and x > 0])

    # conversation
    my_turns = [t for t in turns if t["call_id"] in ids]
    latencies = [
        t["response_latency_s"]
        for t in my_turns
        if t["speaker"] == "agent" and t.get("response_latency_s") is not None
    ]
    for q in (50, 90, 95):
        out[f"latency_p{q}_s"] = quantile(latencies, q / 100)
    first_agent: dict[str, dict] = {}
    for t in sorted(my_turns, key=lambda t: t["turn_index"]):
        if t["speaker"] == "agent":
            first_agent.setdefault(t["call_id"], t)
    firsts = [
        t["response_latency_s"] for t in first_agent.values() if t.get("response_latency_s") is not None
    ]
    out["first_response_s"] = mean(firsts)
    turns_by_call = defaultdict(int)
    for t in my_turns:
        turns_by_call[t["call_id"]] += 1
    out["turns_per_call"] = mean(list(turns_by_call.values()))
    agent_chars = sum(len(t["text"]) for t in my_turns if t["speaker"] == "agent")
    all_chars = sum(len(t["text"]) for t in my_turns)
    out["agent_talk_share"] = share(agent_chars, all_chars)

    # cost
    costs = [c["cost_usd"] for c in real if c.get("cost_usd") is not None]
    out["cost_usd"] = sum(costs) if costs else None
    out["cost_per_call_usd"] = share(sum(costs), len(costs))
    minutes = out["connected_minutes"]
    cost = out["cost_usd"]
    out["cost_per_connected_minute_usd"] = cost / minutes if cost is not None and minutes else None
    out["tokens_per_call"] = mean([c["tokens"] for c in real if c.get("tokens") is not None])

    # repeat contact, data health
    earlier = defaultdict(list)
    for h in history:
        if not is_test(h) and contact(h) is not None:
            earlier[contact(h)].append(h["started_at"])
    with_contact = [c for c in real if contact(c) is not None]
    repeats = [
        c
        for c in with_contact
        if any(c["started_at"] - REPEAT_WINDOW <= t < c["started_at"] for t in earlier[contact(c)])
    ]
    out["repeat_contact_rate"] = share(len(repeats), len(with_contact))
    out["unknown_status_share"] = share(sum(c["status"] == "unknown" for c in real), n)
    out["unknown_end_reason_share"] = share(sum(c.get("end_reason") in (None, "unknown") for c in real), n)

    for m in METRICS:  # "Where a provider's API lacks the source field the value is null"
        if not m.available(provider):
            out[m.name] = None
    return out


def end_reasons(calls: list[dict]) -> list[tuple]:
    real = [c for c in calls if not is_test(c)]
    counts = defaultdict(int)
    for c in real:
        counts[(c["status"], c.get("end_reason"))] += 1
    return sorted(((s, r, k, k / len(real)) for (s, r), k in counts.items()), key=str)


def reference_day(root: str, provider: str, day: str, short_call_s: float = SHORT_CALL_S):
    """(provider row, {agent key: agent row}, end-reason rows) as docs/metrics.md defines them."""
    calls = read(root, "calls", day, provider)
    actions = read(root, "actions", day, provider)
    turns = read(root, "interactions", day, provider)
    history = read_all_calls(root, provider)
    provider_row = metrics(calls, actions, turns, history, provider, short_call_s)
    groups = defaultdict(list)
    seen = list(calls)
    for c in calls:
        groups[agent_key(c)].append(c)
    for d in range(1, 8):  # agents of the 7 days before get a row with calls = 0
        earlier = (date.fromisoformat(day) - timedelta(days=d)).isoformat()
        path = os.path.join(root, "calls", f"date={earlier}", f"provider={provider}", "data.parquet")
        for c in pq.read_table(path).to_pylist() if os.path.exists(path) else []:
            groups.setdefault(agent_key(c), [])
            seen.append(c)
    agents = {
        key: metrics(group, actions, turns, history, provider, short_call_s) for key, group in groups.items()
    }
    for key, row in agents.items():  # the name on the agent's latest call that has one
        named = sorted(
            (c["started_at"], c["agent_name"]) for c in seen if agent_key(c) == key and c.get("agent_name")
        )
        row["agent_name"] = named[-1][1] if named else None
    return provider_row, agents, end_reasons(calls)
