"""OmniDimension: `GET /calls/logs` (see omnidimension-call-logs.txt).

No date filter: always newest first. Times are local wall-clock strings without a zone, rendered in
`SimulatorConfig.omni_timezone`. Ongoing calls are listed with `call_status` "in-progress".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from .common import ApiError, Reply, json_reply, parse_int, select
from .config import RateLimit, SimulatorConfig
from .world import Call, World, conversation, person, phone, summary

PROVIDER = "omnidimension"
BASE_PATH = "/omnidimension/api/v1"  # the API's root under the simulator's URL
MAX_PAGE_SIZE = 150
DEFAULT_PAGE_SIZE = 30
FAR_FUTURE_MS = 2**53
ID_BASE = 1000  # ids are ID_BASE + the global call index: unique and increasing with time
CALL_STATUSES = ("completed", "busy", "failed", "no-answer")
SLOW_RESPONSE_S = 4.0  # a response slower than this is an "issue"
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "claude-3-5-haiku")
ASR = ("deepgram_stream", "azure_stream")
TTS = ("eleven_labs", "cartesia", "deepgram")
FUNCTIONS = (
    ("offer_calendly_meeting", "Calendly card is now visible to the visitor below your reply."),
    ("lookup_order", '{"status": "shipped", "eta": "tomorrow"}'),
    ("transfer_call", "Transfer initiated."),
    ("check_availability", '{"slots": ["10:00", "14:00"]}'),
)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, {"detail": [{"loc": ["query", field], "msg": message, "type": "value_error"}]})


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(ms: int, tz: str, fmt: str = "%m/%d/%Y %H:%M:%S") -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(_zone(tz)).strftime(fmt)


def record_id(call: Call) -> int:
    return ID_BASE + call.g


def channel(call: Call) -> str:
    if call.outcome == "completed" and call.key[24] < 38:  # ~15% of conversations are chats
        return "Widget-Chat"
    return "Web-Call" if call.key[24] < 64 and call.outcome == "completed" else "Phone-Call"


def call_status(call: Call, clock_ms: int) -> str:
    if clock_ms < call.ended_ms:
        return "in-progress"
    return {"completed": "completed", "voicemail": "completed", "no_answer": "no-answer", "busy": "busy"}.get(
        call.outcome, "failed"
    )


def bulk_call_id(call: Call) -> int | None:
    """Outbound phone calls of bulk-call campaigns (one campaign per agent and week)."""
    if channel(call) != "Phone-Call" or call.key[25] % 10 >= 3:
        return None
    return 500 + ((call.day // 7) * 20 + call.agent.index) % 10_000


def _interactions(world: World, call: Call, tz: str) -> tuple[list[dict], list[tuple[str, str]]]:
    rnd = call.rng("omni-turns")
    chat = channel(call) == "Widget-Chat"
    turns = conversation(call, call.rng("omni-conversation"))
    # Pair turns: the first interaction answers an empty user query (the greeting).
    pairs, pending = [], ""
    for speaker, text in turns:
        if speaker == "user":
            pending = text
        else:
            pairs.append((pending, text))
            pending = ""
    span = max(call.duration_s, 5 * len(pairs)) * 1000
    out, tokens = [], 6000 + rnd.randint(0, 500)
    for seq, (query, response) in enumerate(pairs, start=1):
        llm = round(world.response_seconds(call, rnd), 9)
        tts = 0 if chat else round(rnd.uniform(0.1, 0.6), 9)
        asr = 0 if chat else round(rnd.uniform(0.05, 0.5), 9)
        tokens += rnd.randint(4, 400)
        functions: bool | list = False
        if rnd.random() < 0.1:
            name, result = rnd.choice(FUNCTIONS)
            functions = [
                {
                    "args": {} if name == "offer_calendly_meeting" else {"query": query[:40]},
                    "result": result,
                    "success": rnd.random() < 0.95,
                    "time_taken": round(rnd.uniform(0.001, 1.5), 9),
                    "function_name": name,
                }
            ]
        out.append(
            {
                "id": record_id(call) * 16 + seq,
                "interaction_sequence": seq,
                "user_query": query,
                "bot_response": response,
                "customer_phone_number": False,
                "time_of_call": local(call.answered_ms + span * (seq - 1) // len(pairs), tz),
                "llm2_time": llm,
                "asr_time": asr,
                "tts_time": tts,
                "metric_score_intent": 0,
                "metric_score_relevance": 0,
                "metric_score_latency": 0,
                "metric_score_coherence": 0,
                "latency_llm": llm,
                "latency_tts": tts,
                "total_response_time": round(llm + tts + asr, 9),
                "evaluation_remarks": False,
                "total_tokens": tokens,
                "has_issue": llm > SLOW_RESPONSE_S,
                "total_cost": 0,
                "issues": [],
                "json_evolution_matrix_score": {},
                "function_call_data": functions,
                "tts_speaking_duration": 0 if chat else round(len(response) / 15, 2),
            }
        )
    return out, pairs


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _hangup(call: Call, chat: bool, clock_ms: int) -> tuple[str | None, str | None]:
    if chat or clock_ms < call.ended_ms or call.key[26] % 10 == 0:
        return None, None
    return {
        "completed": ("user", "user_hangup") if call.key[27] % 3 else ("agent", "agent_hangup"),
        "voicemail": ("agent", "voicemail_detected"),
        "no_answer": ("system", "no_answer"),
        "busy": ("system", "busy"),
    }.get(call.outcome, ("system", "call_failed"))


def _inbound(call: Call) -> bool:
    return call.key[28] % 4 == 0 and channel(call) != "Widget-Chat"


def _quality(call: Call, has_issue: bool) -> int:
    """Call-quality score 1-10: follows the caller's sentiment, lower when something went wrong."""
    base = {"positive": 8, "neutral": 6, "negative": 4}[call.sentiment] + call.key[30] % 3 - 1
    return max(1, min(10, base - (2 if has_issue else 0)))


def _webhook(world: World, call: Call, record: dict, pairs: list[tuple[str, str]], tz: str) -> dict:
    rnd = call.rng("omni-webhook")
    hook = uuid.UUID(int=rnd.getrandbits(128), version=4)
    url = f"https://webhook.site/{hook}"
    when = local(call.ended_ms, tz, "%Y-%m-%d %H:%M:%S")
    secret = f"secret_key_{rnd.getrandbits(128):032x}_{uuid.UUID(int=rnd.getrandbits(128), version=4)}"
    payload = {
        "call_id": record["id"],
        "call_sid": secret,
        "bot_id": call.agent.number,
        "bot_name": record["bot_name"],
        "phone_number": record["from_number"],
        "call_direction": record["call_direction"],
        "to_number": record["to_number"],
        "call_request_id": False,
        "from_number": record["from_number"],
        "call_date": when,
        "start_time": local(call.created_ms, tz, "%Y-%m-%d %H:%M:%S"),
        "end_time": when,
        "call_duration": record["call_duration_in_seconds"],
        "call_status": record["call_status"],
        "hangup_source": record["hangup_source"] or False,
        "recording_url": record["recording_url"],
        "recording_available_at": None,
        "low_interaction": len(pairs) < 3,
        "call_report": {
            "summary": record["sentiment_analysis_details"],
            "sentiment": record["sentiment_score"],
            "extracted_variables": record["extracted_variables"],
            "full_conversation": record["call_conversation"].replace("<br/>", "\n"),
        },
    }
    return {
        "id": 1000 + call.g % 100_000,
        "name": f"Webhook to {url} on {when}",
        "webhook_url": url,
        "webhook_method": "POST",
        "payload": json.dumps(payload),  # a JSON string, embedding the call_sid secret
        "status": "sent",
        "response_code": 200,
        "response_body": "OK",
        "error_message": False,
        "call_recording_id": record["id"],
        "user_id": 1234,
        "create_date": when,
        "create_by": record["user_name"] or "system",
    }


def render(world: World, call: Call, clock_ms: int) -> dict:
    tz = world.config.omni_timezone
    rnd = call.rng("omni")
    kind = channel(call)
    chat = kind == "Widget-Chat"
    ended = clock_ms >= call.ended_ms
    analyzed = call.phase(clock_ms) == "analyzed"
    name, _ = person(rnd)
    seconds = call.duration_s if ended and not chat else 0
    interactions, pairs = _interactions(world, call, tz) if ended and call.conversed else ([], [])
    has_issue = any(
        t["has_issue"] or any(not f["success"] for f in t["function_call_data"] or []) for t in interactions
    )
    latencies = [t["total_response_time"] for t in interactions]
    prompt_tokens = sum(t["total_tokens"] for t in interactions)
    completion_tokens = sum(len(t["bot_response"]) // 4 for t in interactions)
    conversation_html = "".join(f" <br/> user: {q} <br/> LLM: {a} <br/>" for q, a in pairs)
    if chat:
        numbers = ("Chat", "Assistant")
    elif kind == "Web-Call":
        numbers = ("Web-Call", "Assistant")
    else:
        ours, theirs = phone(rnd, "+1"), world.contact_number(call, "+1")
        numbers = (theirs, ours) if _inbound(call) else (ours, theirs)
    hangup_source, hangup_reason = _hangup(call, chat, clock_ms)
    voicemail = call.outcome == "voicemail" and ended
    model = call.agent.number % len(MODELS)
    bulk = bulk_call_id(call)
    if call.bad:
        time_of_call = "" if call.key[30] % 2 else "13/45/2026 99:00:00"
    else:
        time_of_call = local(call.created_ms, tz)
    record = {
        "id": record_id(call),
        "organization_branch_name": "",
        "bot_name": call.agent.name,
        "is_bot_response": True,
        "time_of_call": time_of_call,
        "from_number": numbers[0],
        "to_number": numbers[1],
        "call_direction": "inbound" if _inbound(call) else "outbound",
        "call_duration": f"{seconds // 60}:{seconds % 60}",
        "recording_url": f"https://recordings.omnidim.io/{record_id(call)}.wav" if seconds else False,
        "internal_recording_url": False,
        "recording_available_at": "",
        "call_conversation": conversation_html,
        "call_status": call_status(call, clock_ms),
        "channel_type": kind,
        "sentiment_score": call.sentiment.capitalize() if analyzed else "",
        "sentiment_analysis_details": summary(call, rnd) if analyzed and pairs else "",
        "call_type": False,
        "is_call_transfer": call.transferred and ended,
        "status": "",
        "cqs_score": _quality(call, has_issue) if analyzed and pairs else 0,
        "cqs_score_message": False,
        "metric_score_intent": 0,
        "metric_score_relevance": 0,
        "metric_score_latency": 0,
        "metric_score_coherence": 0,
        "p50_latency": _percentile(latencies, 0.5),
        "p99_latency": _percentile(latencies, 0.99),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "total_tts_speaking_minutes": round(sum(t["tts_speaking_duration"] for t in interactions) / 60, 2),
        "total_tts_speaking_seconds": round(sum(t["tts_speaking_duration"] for t in interactions), 2),
        "llm_prompt": False,
        "aggregated_estimated_cost": round(
            (prompt_tokens * 2.5e-6 + completion_tokens * 1e-5 + seconds * 0.0015) * call.cost_factor, 3
        ),
        "model_name": MODELS[model],
        "model_type": "chat",
        "asr_service": ASR[call.agent.number % len(ASR)],
        "tts_service": TTS[call.agent.number % len(TTS)],
        "has_issue": has_issue,
        "is_simulation": call.key[29] < 8,  # ~3% test calls
        "json_evolution_matrix_score": {},
        "issues": [],
        "call_duration_in_seconds": seconds,
        "call_duration_in_minutes": round(seconds / 60, 2),
        "extracted_variables": (
            {
                "user_name": name,
                "main_purpose": rnd.choice(("Booking a meeting", "Pricing", "Support")),
                "phone_number": "Not provided",
                "interaction_count_total": len(pairs),
            }
            if analyzed and pairs
            else {}
        ),  # fmt: skip
        "voice_insides": False,
        "amd_detected": voicemail,
        "amd_answered_by": "machine_end_beep" if voicemail else False,
        "amd_duration": round(rnd.uniform(1, 4), 2) if voicemail else 0,
        "is_voicemail": voicemail,
        "is_fax": False,
        "voicemail_type": "machine_end_beep" if voicemail else False,
        "hangup_source": hangup_source,
        "hangup_reason": hangup_reason,
        "user_name": name if pairs else "",
        "call_cost": round(seconds / 60 * 0.09, 3),
        "call_request_id": {"id": bulk, "type_of_request": "bulk_call"}
        if bulk
        else {"id": False, "type_of_request": ""},
        "interactions": interactions,
    }
    webhooks = []
    if analyzed and pairs and call.agent.number % 2 == 0:  # agents with a recording webhook configured
        webhooks.append(_webhook(world, call, record, pairs, tz))
    record["post_call_actions"] = {
        "call_recording_webhook_ids": webhooks,
        "email_service_ids": [],
        "hubspot_service_ids": [],
        "slack_service_ids": [],
        "salesforce_service_ids": [],
        "google_sheets_service_ids": [],
    }
    return record


def truth_id(world: World, endpoint: str, call: Call) -> str:
    return str(record_id(call))


# -- the provider's dialect for errors and rate limits (used by app.py) --------------------------
ENDPOINTS = ("call_logs",)
UNAUTHORIZED = {"detail": "Invalid or missing API key"}
TOO_MANY = {"detail": "Rate limit exceeded. Please retry after a minute."}


def check_request(params: Mapping[str, str], headers: Mapping[str, str], config: SimulatorConfig) -> None:
    """Nothing beyond the bearer token."""


def rate_limit_headers(
    limit: RateLimit | None, allowed: bool, remaining: int, reset_s: float, used: int
) -> dict[str, str]:
    """OmniDimension documents no rate-limit headers: a bare 429."""
    return {}


def list_call_logs(
    world: World, params: Mapping[str, str], headers: Mapping[str, str], clock_ms: int
) -> Reply:
    def err(field: str):
        return lambda message: invalid(field, message)

    page = parse_int(params, "pageno", 1, err("pageno"), minimum=1)
    size = parse_int(params, "pagesize", DEFAULT_PAGE_SIZE, err("pagesize"), minimum=1, maximum=MAX_PAGE_SIZE)
    agent = parse_int(params, "agentid", None, err("agentid"))
    bulk = parse_int(params, "bulk_call_id", None, err("bulk_call_id"))
    wanted_status = params.get("call_status") or None
    if wanted_status is not None and wanted_status not in CALL_STATUSES:
        raise invalid("call_status", "call_status must be one of: " + ", ".join(CALL_STATUSES))

    def match(call: Call) -> bool:
        if agent is not None and call.agent.number != agent:
            return False
        if bulk is not None and bulk_call_id(call) != bulk:
            return False
        return wanted_status is None or call_status(call, clock_ms) == wanted_status

    filtered = agent is not None or bulk is not None or wanted_status is not None
    total, calls = select(
        world, PROVIDER, 0, FAR_FUTURE_MS, clock_ms, offset=(page - 1) * size, limit=size,
        match=match if filtered else None,
    )  # fmt: skip
    return json_reply({"call_log_data": [render(world, c, clock_ms) for c in calls], "total_records": total})


ROUTES = {"/calls/logs": list_call_logs}  # below BASE_PATH


def pipeline_env(config: SimulatorConfig, base_url: str) -> dict[str, str]:
    """The pipeline's environment variables for this provider, served at ``base_url``."""
    return {
        "OMNIDIM_BASE_URL": base_url,
        "OMNIDIM_API_KEY": config.api_keys[PROVIDER],
        "OMNIDIM_TIMEZONE": config.omni_timezone,
    }
