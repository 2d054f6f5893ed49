"""LeadConnector (HighLevel) Voice AI: `GET /voice-ai/dashboard/call-logs`.

See leadconnector-voice-ai-call-logs.txt. No status, sentiment or cost; `trialCall` marks test calls.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from .common import ApiError, Reply, json_reply, parse_int, select
from .config import RateLimit, SimulatorConfig
from .world import Call, World, conversation, hex_id, iso_ms, object_id, person, phone, summary

PROVIDER = "leadconnector"
BASE_PATH = "/leadconnector"  # the API's root under the simulator's URL
MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 10
FAR_FUTURE_MS = 2**53
CONTACT_POOL = 2000  # repeat callers make the contactId filter meaningful
DAILY_LIMIT = 200_000
ACTION_TYPES = (
    "CALL_TRANSFER", "SMS", "DATA_EXTRACTION", "WORKFLOW_TRIGGER", "APPOINTMENT_BOOKING",
    "CUSTOM_ACTION", "IN_CALL_DATA_EXTRACTION", "KNOWLEDGE_BASE",
)  # fmt: skip
ACTION_NAMES = {
    "CALL_TRANSFER": ("Transfer to Manager", "Transfers call to a manager when customer requests escalation"),
    "SMS": ("Send Confirmation SMS", "Sends SMS confirmation to customer"),
    "DATA_EXTRACTION": ("Extract Phone Number", "Extracts customer phone number for contact record"),
    "WORKFLOW_TRIGGER": ("Start Follow-up Workflow", "Triggers follow-up workflow for lead nurturing"),
    "APPOINTMENT_BOOKING": ("Book Consultation", "Books consultation appointment with sales team"),
    "CUSTOM_ACTION": ("Check Order Status", "Checks order status via external API"),
    "IN_CALL_DATA_EXTRACTION": ("Extract Email During Call", "Extracts customer email during the call"),
    "KNOWLEDGE_BASE": ("Query Product Info", "Queries knowledge base for product information"),
}


def error(status: int, message: str) -> ApiError:
    names = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 422: "Unprocessable Entity"}
    return ApiError(status, {"statusCode": status, "message": message, "error": names[status]})


def unprocessable(message: str) -> ApiError:
    return error(422, message)


def record_id(world: World, call: Call) -> str | None:
    if call.bad and call.key[30] % 2:
        return None  # a record without `id`: served, but it cannot be in truth()
    return object_id(call.created_ms, world.seed, PROVIDER, "call", call.g)


def agent_id(world: World, call: Call) -> str:
    return hex_id(world.seed, PROVIDER, "agent", call.agent.number)


def contact_id(world: World, call: Call) -> str:
    return hex_id(world.seed, PROVIDER, "contact", int.from_bytes(call.key[24:26], "big") % CONTACT_POOL)


def is_trial(call: Call) -> bool:
    return call.key[26] < 8  # ~3%


def action_types(call: Call) -> list[str]:
    """The actions an ended, answered call executed (in execution order)."""
    if not call.conversed:
        return []
    rnd = call.rng("lc-actions")
    count = rnd.choices((0, 1, 2, 3), weights=(30, 35, 20, 10))[0]
    kinds = rnd.sample([k for k in ACTION_TYPES if k != "CALL_TRANSFER"], k=count)
    return [*kinds, "CALL_TRANSFER"] if call.transferred else kinds  # the transfer ends the call


def _secret(rnd: random.Random, n: int = 16) -> str:
    return "".join(rnd.choice("0123456789abcdef") for _ in range(2 * n))


def _parameters(kind: str, world: World, call: Call, rnd: random.Random) -> dict:
    ids = lambda *p: hex_id(world.seed, PROVIDER, call.agent.number, kind, *p)  # noqa: E731
    if kind == "CALL_TRANSFER":
        return {
            "transferToType": "number",
            "transferToValue": phone(rnd, "+1"),
            "triggerMessage": "Let me transfer you to a manager right away",
            "hearWhisperMessage": rnd.random() < 0.5,
        }
    if kind == "SMS":
        return {
            "triggerPrompt": "When caller asks for booking confirmation",
            "triggerMessage": "I'll send you a confirmation text",
            "messageBody": "Your appointment is confirmed for tomorrow at 2 PM",
        }
    if kind in ("DATA_EXTRACTION", "IN_CALL_DATA_EXTRACTION"):
        email = kind == "IN_CALL_DATA_EXTRACTION"
        return {
            "contactFieldId": ids("field"),
            "description": "Customer's email address" if email else "Customer's phone number",
            "examples": ["john@example.com", "jane@company.com"] if email else ["+1234567890", "+9876543210"],
            "overwriteExistingValue": email,
        }
    if kind == "WORKFLOW_TRIGGER":
        return {
            "triggerPrompt": "When caller requests a quote",
            "triggerMessage": "Let me start that process for you",
            "workflowId": ids("workflow"),
        }
    if kind == "APPOINTMENT_BOOKING":
        return {
            "calendarId": ids("calendar"),
            "daysOfOfferingDates": rnd.randint(1, 7),
            "slotsPerDay": rnd.randint(1, 5),
            "hoursBetweenSlots": rnd.randint(1, 3),
        }
    if kind == "CUSTOM_ACTION":
        # Real configurations leak credentials: the pipeline must redact them.
        headers = [{"key": "Content-Type", "value": "application/json"}]
        if rnd.random() < 0.4:
            headers.append({"key": "Authorization", "value": "Bearer " + _secret(rnd)})
        url = "https://api.example.com/orders"
        if rnd.random() < 0.3:
            url += "?token=" + _secret(rnd, 12)
        return {
            "triggerPrompt": "When caller provides order number",
            "triggerMessage": "Let me check that order status",
            "apiDetails": {
                "url": url,
                "method": "GET",
                "authenticationRequired": True,
                "authenticationValue": "sk_live_" + _secret(rnd),
                "headers": headers,
                "parameters": [
                    {
                        "name": "orderId",
                        "description": "Order ID to look up",
                        "type": "string",
                        "example": "ORD-12345",
                    }
                ],
            },
            "responsePathsToExtract": ["data.orderId", "status"],
        }
    return {  # KNOWLEDGE_BASE
        "triggerPrompt": "When caller asks about pricing",
        "triggerMessage": "Let me look that up for you",
        "knowledgeBaseId": ids("kb"),
        "parameters": [
            {
                "name": "category",
                "description": "Product category to search",
                "type": "string",
                "example": "pricing",
            }
        ],
    }


def _actions(world: World, call: Call) -> list[dict]:
    rnd = call.rng("lc-action-params")
    kinds = action_types(call)
    actions = []
    for n, kind in enumerate(kinds):
        name, description = ACTION_NAMES[kind]
        at = call.answered_ms + call.duration_s * 1000 * (n + 1) // (len(kinds) + 1)
        actions.append(
            {
                "actionId": hex_id(world.seed, PROVIDER, call.agent.number, kind, "action"),
                "actionType": kind,
                "actionName": name,
                "description": description,
                "actionParameters": _parameters(kind, world, call, rnd),
                "executedAt": iso_ms(at),
            }
        )
    return actions


def render(world: World, call: Call, clock_ms: int) -> dict:
    ended = clock_ms >= call.ended_ms
    analyzed = call.phase(clock_ms) == "analyzed"
    rnd = call.rng("lc")
    name, email = person(rnd)
    record: dict = {}
    rid = record_id(world, call)
    if rid is not None:
        record["id"] = rid
    transcript = ""
    if ended and call.conversed:
        who = {"agent": "bot", "user": "human"}
        transcript = "\n".join(f"{who[s]}: {t}" for s, t in conversation(call, call.rng("lc-transcript")))
    extracted = {}
    if analyzed and call.conversed:
        extracted = {"phoneNumber": phone(rnd, "+1"), "customerName": name}
        if rnd.random() < 0.6:
            extracted["email"] = email
        if rnd.random() < 0.3:
            extracted["companyName"] = rnd.choice(("Acme Corp", "Globex", "Initech", "Umbrella LLC"))
    record.update(
        {
            "agentId": agent_id(world, call),
            "isAgentDeleted": call.agent.deleted,
            "createdAt": None if (call.bad and rid is not None) else iso_ms(call.created_ms),
            "duration": call.duration_s if ended else 0,
            "trialCall": is_trial(call),
            "executedCallActions": _actions(world, call) if ended else [],
            "summary": summary(call, rnd, booked="APPOINTMENT_BOOKING" in action_types(call))
            if analyzed and call.conversed
            else "",
            "transcript": transcript,
            "contactId": contact_id(world, call),
            "fromNumber": world.contact_number(call, "+1"),
            "translation": {"translatedTranscript": transcript}
            if transcript and rnd.random() < 0.15
            else None,
            "extractedData": extracted,
            "messageId": object_id(call.created_ms, world.seed, PROVIDER, "message", call.g),
        }
    )
    return record


def truth_id(world: World, endpoint: str, call: Call) -> str | None:
    return record_id(world, call)


# -- the provider's dialect for errors and rate limits (used by app.py) --------------------------
ENDPOINTS = ("call_logs",)
UNAUTHORIZED = {"statusCode": 401, "message": "Invalid JWT", "error": "Unauthorized"}
TOO_MANY = {"statusCode": 429, "message": "Too Many Requests"}


def check_request(params: Mapping[str, str], headers: Mapping[str, str], config: SimulatorConfig) -> None:
    """Version header and locationId, checked before rate limiting and faults."""
    if not headers.get("version"):
        raise error(400, "Version header is required")
    location = params.get("locationId")
    if not location:
        raise unprocessable("locationId should not be empty")
    if location != config.location_id:
        raise error(403, "The token does not have access to this location.")


def rate_limit_headers(
    limit: RateLimit | None, allowed: bool, remaining: int, reset_s: float, used: int
) -> dict[str, str]:
    """On every response. Without a configured limit the published burst (100 per 10 s) is reported."""
    max_requests = limit.requests if limit else 100
    return {
        "X-RateLimit-Limit-Daily": str(DAILY_LIMIT),
        "X-RateLimit-Daily-Remaining": str(max(0, DAILY_LIMIT - used)),
        "X-RateLimit-Interval-Milliseconds": str(int((limit.per_seconds if limit else 10) * 1000)),
        "X-RateLimit-Max": str(max_requests),
        "X-RateLimit-Remaining": str(remaining if limit else max_requests),
    }


def _csv(params: Mapping[str, str], name: str) -> set[str] | None:
    raw = params.get(name)
    return {v.strip() for v in raw.split(",") if v.strip()} if raw else None


def list_call_logs(
    world: World, params: Mapping[str, str], headers: Mapping[str, str], clock_ms: int
) -> Reply:
    page = parse_int(params, "page", 1, unprocessable, minimum=1)
    size = parse_int(params, "pageSize", DEFAULT_PAGE_SIZE, unprocessable, minimum=1, maximum=MAX_PAGE_SIZE)
    start = parse_int(params, "startDate", None, unprocessable, minimum=0)
    end = parse_int(params, "endDate", None, unprocessable, minimum=0)
    if (start is None) != (end is None):
        raise unprocessable("startDate and endDate must be provided together")
    if start is not None and start >= end:
        raise unprocessable("startDate must be less than endDate")
    sort_by = params.get("sortBy") or None
    if sort_by not in (None, "createdAt", "duration"):
        raise unprocessable("sortBy must be one of: createdAt, duration")
    direction = params.get("sort") or "descend"
    if direction not in ("ascend", "descend"):
        raise unprocessable("sort must be one of: ascend, descend")
    call_type = params.get("callType") or None
    if call_type not in (None, "LIVE", "TRIAL"):
        raise unprocessable("callType must be one of: LIVE, TRIAL")
    wanted_actions = _csv(params, "actionType")
    if wanted_actions and not wanted_actions <= set(ACTION_TYPES):
        raise unprocessable("actionType must be a comma-separated list of ACTION_TYPE values")
    wanted_agent = params.get("agentId") or None
    wanted_contacts = _csv(params, "contactId")

    def match(call: Call) -> bool:
        if wanted_agent and agent_id(world, call) != wanted_agent:
            return False
        if wanted_contacts and contact_id(world, call) not in wanted_contacts:
            return False
        if call_type and is_trial(call) != (call_type == "TRIAL"):
            return False
        if wanted_actions:
            executed = action_types(call) if clock_ms >= call.ended_ms else []
            return bool(wanted_actions.intersection(executed))
        return True

    filtered = any(v for v in (wanted_agent, wanted_contacts, call_type, wanted_actions))
    newest_first = sort_by is None or direction == "descend"
    sort_key = None
    if sort_by == "duration":
        sign = -1 if direction == "descend" else 1

        def sort_key(call: Call) -> int:
            return sign * (call.duration_s if clock_ms >= call.ended_ms else 0)

    # endDate is inclusive (the page's example ends a day at 23:59:59.999 = 1679395199000).
    total, calls = select(
        world, PROVIDER, start if start is not None else 0, end + 1 if end is not None else FAR_FUTURE_MS,
        clock_ms, offset=(page - 1) * size, limit=size, newest_first=newest_first,
        match=match if filtered else None, sort_key=sort_key,
    )  # fmt: skip
    return json_reply(
        {
            "total": total,
            "page": page,
            "pageSize": size,
            "callLogs": [render(world, c, clock_ms) for c in calls],
        }
    )


ROUTES = {"/voice-ai/dashboard/call-logs": list_call_logs}  # below BASE_PATH


def pipeline_env(config: SimulatorConfig, base_url: str) -> dict[str, str]:
    """The pipeline's environment variables for this provider, served at ``base_url``."""
    return {
        "LEADCONNECTOR_BASE_URL": base_url,
        "LEADCONNECTOR_API_KEY": config.api_keys[PROVIDER],
        "LEADCONNECTOR_LOCATION_ID": config.location_id,
    }
