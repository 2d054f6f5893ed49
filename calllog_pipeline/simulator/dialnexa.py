"""DialNexa: `GET /calls` and `GET /call-logs` (see dialnexa-calls.txt, dialnexa-call-logs.txt)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime

import orjson

from .common import ApiError, Reply, parse_int, select
from .config import RateLimit, SimulatorConfig
from .world import DAY_MS, TECHNICAL_REASONS, Call, World, conversation, digest, iso_ms, person, phone, to_ms

PROVIDER = "dialnexa"
BASE_PATH = "/dialnexa/v1"  # the API's root under the simulator's URL
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
FAR_FUTURE_MS = 2**53

# Spellings seen on the pages, grouped by the status they mean. Filters match the whole group.
STATUS_ALIASES = {
    "no-answer": "no_answer",
    "no_answer": "no_answer",
    "did_not_pick": "no_answer",
    "in-progress": "in_progress",
    "in_progress": "in_progress",
}
KNOWN_STATUSES = {
    "created", "initiated", "sent", "received", "completed", "did_not_pick", "busy", "no_answer",
    "no-answer", "failed", "cancelled", "retry_expired", "in-progress", "in_progress",
}  # fmt: skip
FAILURE_REASONS = (
    "user_unreachable", "invalid_phone_number", "destination_forbidden", "network_failure",
    "system_failure", "system_at_capacity", "insufficient_balance", "unknown",
)  # fmt: skip
SENTIMENT_VALUES = ("positive", "neutral", "negative")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def bad_request(message: str) -> ApiError:
    return ApiError(400, {"error": {"code": "invalid_request", "message": message}})


def _b36(data: bytes, length: int = 12) -> str:
    n = int.from_bytes(data, "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(out)


def call_id(call: Call) -> str:
    return "call_" + _b36(call.key[24:32])


def agent_id(world: World, call: Call) -> str:
    return "agt_" + _b36(digest(world.seed, PROVIDER, "agent", call.agent.number, size=8))


def log_record_id(call: Call) -> str:
    """Some call-log records have their own `log_` id plus `call_id`; others just the call id."""
    if call.key[25] % 5 < 3:
        return "log_" + _b36(digest(call.key, "log", size=8))
    return call_id(call)


def canonical(status: str) -> str:
    return STATUS_ALIASES.get(status, status)


def status(call: Call, clock_ms: int) -> str:
    phase = call.phase(clock_ms)
    if phase == "ringing":
        return "created" if clock_ms < call.created_ms + 2000 else "initiated"
    if phase == "in_progress":
        return "in-progress" if call.key[26] % 10 < 7 else "in_progress"
    outcome = call.outcome
    if outcome == "completed":
        return "received" if call.key[27] % 20 == 0 else "completed"  # inbound calls
    if outcome == "voicemail":
        return "completed"
    if outcome == "no_answer":
        return ("no-answer", "no-answer", "no_answer", "no_answer", "did_not_pick")[call.key[26] % 5]
    if outcome == "failed":
        return "sent" if call.key[26] % 7 == 0 else "failed"  # dispatched, never connected
    return outcome  # busy, cancelled, retry_expired


def end_reason(call: Call) -> str | None:
    b = call.key[28]
    match call.outcome:
        case "completed":
            return "user_disconnected" if b % 10 < 7 else "agent_disconnected"
        case "no_answer":
            return "user_did_not_pick_up"
        case "busy":
            return "user_busy"
        case "voicemail":
            return "voicemail_detected"
        case "cancelled":
            return "agent_disconnected" if b % 2 else None
        case "retry_expired":
            return "system_at_capacity" if b % 2 else "user_unreachable"
    if call.platform_failure:
        return TECHNICAL_REASONS[b % len(TECHNICAL_REASONS)]
    return FAILURE_REASONS[b % len(FAILURE_REASONS)]


def duration(call: Call, clock_ms: int) -> int:
    return call.duration_s if clock_ms >= call.ended_ms else 0


def _duration_field(call: Call) -> str:
    return "duration_seconds" if call.key[29] % 2 else "duration_sec"


def _created_at(call: Call) -> str | None:
    if call.bad:  # a realistic defect the pipeline must quarantine
        return None if call.key[30] % 2 else "not-a-date"
    return iso_ms(call.created_ms)


def _recording_url(call: Call, clock_ms: int) -> str | None:
    if call.duration_s and clock_ms >= call.ended_ms:
        return f"https://recordings.dialnexa.com/{call_id(call)}.mp3"
    return None


def render_call(world: World, call: Call, clock_ms: int) -> dict:
    rnd = call.rng("dialnexa-call")
    full = call.key[31] % 4 != 0  # the second example on the page omits most optional fields
    record: dict = {"id": call_id(call), "status": status(call, clock_ms)}
    record["agent_id"] = agent_id(world, call)
    if full:
        record["agent_version_number"] = call.agent.version
    record["to_phone_number"] = world.contact_number(call, "+91")
    if full:
        record["from_phone_number"] = phone(rnd, "+91")
    record[_duration_field(call) if full else "duration_sec"] = duration(call, clock_ms)
    if full:
        name, _ = person(rnd)
        record["recording_url"] = _recording_url(call, clock_ms)
        record["metadata"] = (
            {"customer_name": name, "account_id": f"ACC-{rnd.randint(1000, 9999)}"}
            if rnd.random() < 0.8
            else {}
        )
    record["created_at"] = _created_at(call)
    if full:
        record["ended_at"] = iso_ms(call.ended_ms) if clock_ms >= call.ended_ms else None
    return record


def _analysis(call: Call) -> dict:
    rnd = call.rng("dialnexa-analysis")
    if call.outcome != "completed" or rnd.random() < 0.1:
        return {}
    low, high = {"positive": (7, 10), "neutral": (4, 7), "negative": (1, 4)}[call.sentiment]
    analysis: dict = {"customer_satisfaction": rnd.randint(low, high)}  # follows the sentiment
    if rnd.random() < 0.6:
        analysis["qualified"] = rnd.random() < 0.5
    if rnd.random() < 0.3:
        analysis["callback_requested"] = rnd.random() < 0.4
    return analysis


def render_log(world: World, call: Call, clock_ms: int) -> dict:
    analyzed = call.phase(clock_ms) == "analyzed"
    ended = clock_ms >= call.ended_ms
    full = call.key[31] % 10 < 7
    record: dict = {"id": log_record_id(call)}
    if record["id"].startswith("log_"):
        record["call_id"] = call_id(call)
    if full:
        record["agent_id"] = agent_id(world, call)
    record["status"] = status(call, clock_ms)
    record["sentiment"] = call.sentiment if analyzed else None
    record[_duration_field(call) if full else "duration_sec"] = duration(call, clock_ms)
    if full:
        record["recording_url"] = _recording_url(call, clock_ms)
    record["analysis"] = _analysis(call) if analyzed else {}
    record["created_at"] = _created_at(call)
    record["end_reason"] = end_reason(call) if analyzed else None
    if full:
        record["fallback_stt_transcriber_id"] = None
        if ended and call.conversed:
            turns = conversation(call, call.rng("dialnexa-transcript"))
            who = {"agent": "Agent", "user": "User"}
            record["transcript"] = "\n".join(f"{who[s]}: {text}" for s, text in turns)
        else:
            record["transcript"] = None
    return record


def truth_id(world: World, endpoint: str, call: Call) -> str:
    return call_id(call) if endpoint == "calls" else log_record_id(call)


# -- the provider's dialect for errors and rate limits (used by app.py) --------------------------
ENDPOINTS = ("calls", "call_logs")
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "Invalid or missing API key"}}
TOO_MANY = {"error": {"code": "rate_limited", "message": "Too many requests"}}


def check_request(params: Mapping[str, str], headers: Mapping[str, str], config: SimulatorConfig) -> None:
    """Nothing beyond the bearer token."""


def rate_limit_headers(
    limit: RateLimit | None, allowed: bool, remaining: int, reset_s: float, used: int
) -> dict[str, str]:
    """Per API key; the page publishes no numbers. X-RateLimit-Reset is in epoch seconds."""
    if limit is None:
        return {}
    headers = {
        "X-RateLimit-Limit": str(limit.requests),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(math.ceil(time.time() + reset_s)),
    }
    if not allowed:
        headers["Retry-After"] = str(max(1, math.ceil(reset_s)))
    return headers


def _page_params(params: Mapping[str, str]) -> tuple[int, int]:
    page = parse_int(params, "page", 1, bad_request, minimum=1)
    limit = parse_int(params, "limit", DEFAULT_LIMIT, bad_request, minimum=1, maximum=MAX_LIMIT)
    return page, limit


def _parse_iso(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        dt = datetime.fromisoformat(raw.replace(" ", "+"))  # an unescaped '+' arrives as ' '
    except ValueError:
        raise bad_request(f"{name} must be an ISO 8601 timestamp") from None
    return to_ms(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def _parse_day(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"{name} must be a date (YYYY-MM-DD)") from None
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _statuses(raw: str | None) -> set[str] | None:
    if not raw:
        return None
    values = {v.strip() for v in raw.split(",") if v.strip()}
    unknown = values - KNOWN_STATUSES
    if unknown:
        raise bad_request(f"unknown status: {', '.join(sorted(unknown))}")
    return {canonical(v) for v in values}


def _meta(world: World, path: str, params: Mapping[str, str], page: int, limit: int, total: int) -> dict:
    meta = {"page": page, "limit": limit, "total": total}
    # The pages show `totalPages` in one example and not in the other.
    if digest(world.seed, path, sorted(params.items()))[0] % 2:
        meta["totalPages"] = -(-total // limit)
    return meta


def list_calls(world: World, params: Mapping[str, str], headers: Mapping[str, str], clock_ms: int) -> Reply:
    page, limit = _page_params(params)
    lo = _parse_iso(params, "from")
    hi = _parse_iso(params, "to")
    wanted_agent = params.get("agent_id") or None
    wanted = _statuses(params.get("status"))

    def match(call: Call) -> bool:
        if wanted_agent and agent_id(world, call) != wanted_agent:
            return False
        return wanted is None or canonical(status(call, clock_ms)) in wanted

    filtered = wanted_agent is not None or wanted is not None
    total, calls = select(
        world, PROVIDER, lo if lo is not None else 0, hi if hi is not None else FAR_FUTURE_MS,
        clock_ms, offset=(page - 1) * limit, limit=limit, match=match if filtered else None,
    )  # fmt: skip
    body = {
        "data": [render_call(world, c, clock_ms) for c in calls],
        "meta": _meta(world, "calls", params, page, limit, total),
    }
    return Reply(200, orjson.dumps(body), {"content-type": "application/json"})


def list_call_logs(
    world: World, params: Mapping[str, str], headers: Mapping[str, str], clock_ms: int
) -> Reply:
    page, limit = _page_params(params)
    start = _parse_day(params, "start_date")
    end = _parse_day(params, "end_date")
    order = params.get("created_at", "desc") or "desc"
    if order not in ("asc", "desc"):
        raise bad_request("created_at must be asc or desc")
    sentiment = params.get("sentiment") or None
    if sentiment is not None and sentiment not in SENTIMENT_VALUES:
        raise bad_request("sentiment must be positive, neutral or negative")
    wanted_agent = params.get("agent_id") or None
    wanted = _statuses(params.get("status"))
    dmin = parse_int(params, "duration_min", None, bad_request, minimum=0)
    dmax = parse_int(params, "duration_max", None, bad_request, minimum=0)

    def match(call: Call) -> bool:
        if wanted_agent and agent_id(world, call) != wanted_agent:
            return False
        if wanted is not None and canonical(status(call, clock_ms)) not in wanted:
            return False
        analyzed = call.phase(clock_ms) == "analyzed"
        if sentiment is not None and not (analyzed and call.sentiment == sentiment):
            return False
        seconds = duration(call, clock_ms)
        if dmin is not None and seconds < dmin:
            return False
        return dmax is None or seconds <= dmax

    filtered = any(v is not None for v in (wanted_agent, wanted, sentiment, dmin, dmax))
    # end_date is an inclusive UTC day: the window ends at the next midnight.
    hi = end + DAY_MS if end is not None else FAR_FUTURE_MS
    total, calls = select(
        world, PROVIDER, start if start is not None else 0, hi, clock_ms,
        offset=(page - 1) * limit, limit=limit, newest_first=order == "desc",
        match=match if filtered else None,
    )  # fmt: skip
    body = orjson.dumps(
        {
            "data": [render_log(world, c, clock_ms) for c in calls],
            "meta": _meta(world, "call-logs", params, page, limit, total),
        }
    )
    etag = '"' + digest(body, size=16).hex() + '"'
    if headers.get("if-none-match") == etag:
        return Reply(304, b"", {"etag": etag})
    return Reply(200, body, {"content-type": "application/json", "etag": etag})


ROUTES = {"/calls": list_calls, "/call-logs": list_call_logs}  # below BASE_PATH


def pipeline_env(config: SimulatorConfig, base_url: str) -> dict[str, str]:
    """The pipeline's environment variables for this provider, served at ``base_url``."""
    return {"DIALNEXA_BASE_URL": base_url, "DIALNEXA_API_KEY": config.api_keys[PROVIDER]}
