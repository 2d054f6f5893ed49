"""Every example record of the providers' reference pages, normalized to exact canonical rows.

Fixtures are the pages' JSON examples, transcribed as captured (calllog_pipeline_tests/fixtures).
"""

from __future__ import annotations

import pytest
from fixtures.memory_raw import fixed_ingestion_time, fixture, run, utc  # noqa: F401

from calllog_pipeline.providers.dialnexa.mapping import normalize as dialnexa
from calllog_pipeline.providers.leadconnector.mapping import normalize as leadconnector
from calllog_pipeline.providers.omnidimension.mapping import normalize as omnidimension

pytestmark = pytest.mark.usefixtures("fixed_ingestion_time")

PRIYA = {"customer_name": "Priya Sharma", "account_id": "ACC-9912"}
DIALNEXA_NULLS = {
    "provider": "dialnexa",
    "agent_name": None,
    "channel": "phone",
    "direction": "outbound",
    "summary": None,
    "transcript": None,
    "is_test": None,
    "cost_usd": None,
    "tokens": None,
}

# --- DialNexa: each endpoint alone, then merged ---------------------------------------------------------

CALLS_ONLY = [
    {
        **DIALNEXA_NULLS,
        "call_id": "call_abc123",
        "agent_id": "agt_abc123",
        "started_at": utc(2024, 3, 1, 10, 0, 0),
        "ended_at": utc(2024, 3, 1, 10, 2, 25),
        "duration_s": 145.0,
        "status": "completed",
        "status_raw": "completed",
        "end_reason": None,
        "from_number": "+912234567890",
        "to_number": "+919876543210",
        "sentiment": None,
        "recording_url": "https://recordings.dialnexa.com/call_abc123.mp3",
        "extracted": None,
        "extra": {"agent_version_number": 1, "metadata": PRIYA},
    },
    {
        **DIALNEXA_NULLS,
        "call_id": "call_x9y3zp4mq7r1",
        "agent_id": "agt_k7m2nq9xw4p8",
        "started_at": utc(2024, 5, 1, 14, 22, 0),
        "ended_at": None,
        "duration_s": 142.0,
        "status": "completed",
        "status_raw": "completed",
        "end_reason": None,
        "from_number": None,
        "to_number": "+919876543210",
        "sentiment": None,
        "recording_url": None,
        "extracted": None,
        "extra": None,
    },
    {
        **DIALNEXA_NULLS,
        "call_id": "call_a2b4cd6ef8gh",
        "agent_id": "agt_k7m2nq9xw4p8",
        "started_at": utc(2024, 5, 1, 14, 18, 0),
        "ended_at": None,
        "duration_s": 0.0,
        "status": "no_answer",
        "status_raw": "no-answer",
        "end_reason": None,
        "from_number": None,
        "to_number": "+919123456789",
        "sentiment": None,
        "recording_url": None,
        "extracted": None,
        "extra": None,
    },
]

LOGS_ONLY = [
    {
        **DIALNEXA_NULLS,
        "call_id": "call_abc123",  # the log's own id is log_abc123; call_id names the call
        "agent_id": "agt_abc123",
        "started_at": utc(2024, 3, 1, 10, 0, 0),
        "ended_at": None,
        "duration_s": 145.0,
        "status": "completed",
        "status_raw": "completed",
        "end_reason": "user_disconnected",
        "from_number": None,
        "to_number": None,
        "sentiment": "positive",
        "recording_url": "https://recordings.dialnexa.com/call_abc123.mp3",
        "extracted": {"customer_satisfaction": 8},
        "extra": {"log_id": "log_abc123"},  # fallback_stt_transcriber_id is null: dropped
    },
    {
        **DIALNEXA_NULLS,
        "call_id": "call_x9y3zp4mq7r1",
        "agent_id": None,
        "started_at": utc(2024, 5, 1, 14, 22, 0),
        "ended_at": None,
        "duration_s": 142.0,
        "status": "completed",
        "status_raw": "completed",
        "end_reason": "user_disconnected",
        "from_number": None,
        "to_number": None,
        "sentiment": "positive",
        "recording_url": None,
        "extracted": {"qualified": True},
        "extra": None,
    },
    {
        **DIALNEXA_NULLS,
        "call_id": "call_a2b4cd6ef8gh",
        "agent_id": None,
        "started_at": utc(2024, 5, 1, 14, 18, 0),
        "ended_at": None,
        "duration_s": 0.0,
        "status": "no_answer",
        "status_raw": "no-answer",
        "end_reason": "user_did_not_pick_up",
        "from_number": None,
        "to_number": None,
        "sentiment": "neutral",
        "recording_url": None,
        "extracted": {},
        "extra": None,
    },
]


def by_call_id(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: row["call_id"])  # DialNexa's out-of-core join keeps no order


def test_dialnexa_calls_examples():
    tables = run(dialnexa, {"calls": fixture("dialnexa_calls.json")})
    assert by_call_id(tables["calls"]) == by_call_id(CALLS_ONLY)
    assert tables["actions"] == tables["interactions"] == tables["quarantine"] == []


def test_dialnexa_call_log_examples():
    tables = run(dialnexa, {"call_logs": fixture("dialnexa_call_logs.json")})
    assert by_call_id(tables["calls"]) == by_call_id(LOGS_ONLY)
    assert tables["actions"] == tables["interactions"] == tables["quarantine"] == []


def test_dialnexa_calls_and_logs_merge_into_one_row_per_call():
    both = {"calls": fixture("dialnexa_calls.json"), "call_logs": fixture("dialnexa_call_logs.json")}
    tables = run(dialnexa, both)
    order = [log.get("call_id") or log["id"] for log in both["call_logs"]]
    rows = sorted(tables["calls"], key=lambda row: order.index(row["call_id"]))  # the join keeps no order
    assert rows == [
        {
            **LOGS_ONLY[0],
            "ended_at": utc(2024, 3, 1, 10, 2, 25),  # from /calls
            "from_number": "+912234567890",
            "to_number": "+919876543210",
            "extra": {
                "agent_version_number": 1,
                "metadata": PRIYA,
                "log_id": "log_abc123",
            },
        },
        {**LOGS_ONLY[1], "agent_id": "agt_k7m2nq9xw4p8", "to_number": "+919876543210"},
        {**LOGS_ONLY[2], "agent_id": "agt_k7m2nq9xw4p8", "to_number": "+919123456789"},
    ]
    assert tables["quarantine"] == []


# --- LeadConnector --------------------------------------------------------------------------------------

LC_CALL = "507f1f77bcf86cd799439011"


def lc_action(action_id, action_type, raw, name, executed_at, parameters, description):
    return {
        "provider": "leadconnector",
        "call_id": LC_CALL,
        "action_id": action_id,
        "action_type": action_type,
        "action_type_raw": raw,
        "name": name,
        "executed_at": executed_at,
        "succeeded": None,
        "latency_s": None,
        "parameters": parameters,
        "result": None,
        "extra": {"description": description},
    }


def test_leadconnector_example():
    tables = run(leadconnector, {"call_logs": fixture("leadconnector_call_logs.json")})
    assert tables["calls"] == [
        {
            "provider": "leadconnector",
            "call_id": LC_CALL,
            "agent_id": "507f1f77bcf86cd799439013",
            "agent_name": None,
            "started_at": utc(2024, 1, 15, 10, 30, 0),
            "ended_at": None,
            "duration_s": 180.0,
            "status": "completed",  # no status in the API: a call that lasted counts as completed
            "status_raw": None,
            "end_reason": None,
            "direction": None,
            "channel": "phone",
            "from_number": "+1234567890",
            "to_number": None,
            "sentiment": None,
            "summary": "Customer called to inquire about product pricing and was transferred to sales team.",
            "transcript": (
                "bot: Hello, how can I help you today?\nhuman: I would like to know about your pricing..."
            ),
            "recording_url": None,
            "is_test": False,
            "cost_usd": None,
            "tokens": None,
            "extracted": {
                "phoneNumber": "+1234567890",
                "customerName": "John Doe",
                "email": "john.doe@example.com",
                "companyName": "Acme Corp",
                "customField1": "Custom value",
                "customField2": "Another value",
            },
            "extra": {
                "isAgentDeleted": False,
                "contactId": "507f1f77bcf86cd799439012",
                "translation": {"translatedTranscript": "Translated version of the call transcript"},
                "messageId": "507f1f77bcf86cd799439014",
            },
        }
    ]
    assert tables["actions"] == [
        lc_action(
            "507f1f77bcf86cd799439015",
            "transfer",
            "CALL_TRANSFER",
            "Transfer to Manager",
            utc(2024, 1, 15, 10, 32, 0),
            {
                "transferToType": "number",
                "transferToValue": "+12345678901",
                "triggerMessage": "Let me transfer you to a manager right away",
                "hearWhisperMessage": True,
            },
            "Transfers call to a manager when customer requests escalation",
        ),
        lc_action(
            "507f1f77bcf86cd799439016",
            "sms",
            "SMS",
            "Send Confirmation SMS",
            utc(2024, 1, 15, 10, 33, 30),
            {
                "triggerPrompt": "When caller asks for booking confirmation",
                "triggerMessage": "I'll send you a confirmation text",
                "messageBody": "Your appointment is confirmed for tomorrow at 2 PM",
            },
            "Sends SMS confirmation to customer",
        ),
        lc_action(
            "507f1f77bcf86cd799439017",
            "data_extraction",
            "DATA_EXTRACTION",
            "Extract Phone Number",
            utc(2024, 1, 15, 10, 34, 15),
            {
                "contactFieldId": "507f1f77bcf86cd799439018",
                "description": "Customer's phone number",
                "examples": ["+1234567890", "+9876543210"],
                "overwriteExistingValue": False,
            },
            "Extracts customer phone number for contact record",
        ),
        lc_action(
            "507f1f77bcf86cd799439019",
            "workflow",
            "WORKFLOW_TRIGGER",
            "Start Follow-up Workflow",
            utc(2024, 1, 15, 10, 35, 0),
            {
                "triggerPrompt": "When caller requests a quote",
                "triggerMessage": "Let me start that process for you",
                "workflowId": "507f1f77bcf86cd799439020",
            },
            "Triggers follow-up workflow for lead nurturing",
        ),
        lc_action(
            "507f1f77bcf86cd799439021",
            "appointment_booking",
            "APPOINTMENT_BOOKING",
            "Book Consultation",
            utc(2024, 1, 15, 10, 36, 45),
            {
                "calendarId": "507f1f77bcf86cd799439022",
                "daysOfOfferingDates": 3,
                "slotsPerDay": 3,
                "hoursBetweenSlots": 1,
            },
            "Books consultation appointment with sales team",
        ),
        lc_action(
            "507f1f77bcf86cd799439023",
            "custom_api",
            "CUSTOM_ACTION",
            "Check Order Status",
            utc(2024, 1, 15, 10, 37, 20),
            {
                "triggerPrompt": "When caller provides order number",
                "triggerMessage": "Let me check that order status",
                "apiDetails": {
                    "url": "https://api.example.com/orders",
                    "method": "GET",
                    "authenticationRequired": True,
                    "authenticationValue": "[REDACTED]",  # "token123" on the page: a credential
                    "headers": [{"key": "Content-Type", "value": "application/json"}],
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
            },
            "Checks order status via external API",
        ),
        lc_action(
            "507f1f77bcf86cd799439024",
            "data_extraction",
            "IN_CALL_DATA_EXTRACTION",
            "Extract Email During Call",
            utc(2024, 1, 15, 10, 31, 45),
            {
                "contactFieldId": "507f1f77bcf86cd799439025",
                "description": "Customer's email address",
                "examples": ["john@example.com", "jane@company.com"],
                "overwriteExistingValue": True,
            },
            "Extracts customer email during the call",
        ),
        lc_action(
            "507f1f77bcf86cd799439026",
            "knowledge_base",
            "KNOWLEDGE_BASE",
            "Query Product Info",
            utc(2024, 1, 15, 10, 38, 10),
            {
                "triggerPrompt": "When caller asks about pricing",
                "triggerMessage": "Let me look that up for you",
                "knowledgeBaseId": "507f1f77bcf86cd799439027",
                "parameters": [
                    {
                        "name": "category",
                        "description": "Product category to search",
                        "type": "string",
                        "example": "pricing",
                    }
                ],
            },
            "Queries knowledge base for product information",
        ),
    ]
    transcript_turn = {
        "provider": "leadconnector",
        "call_id": LC_CALL,
        "at": None,
        "response_latency_s": None,
    }
    assert tables["interactions"] == [
        {
            **transcript_turn,
            "turn_index": 0,
            "speaker": "agent",
            "text": "Hello, how can I help you today?",
            "source": "transcript",
        },
        {
            **transcript_turn,
            "turn_index": 1,
            "speaker": "user",
            "text": "I would like to know about your pricing...",
            "source": "transcript",
        },
    ]
    assert tables["quarantine"] == []


# --- OmniDimension --------------------------------------------------------------------------------------

HOOK_URL = "https://webhook.site/94b3db04-2a3f-480f-86f5-6bcc84b4cc5b"
OMNI_TRANSCRIPT = "\n".join(
    [
        "user:",
        "LLM: Hello, I am Kevin from OmniDimension support. How may I help you?",
        "user: i awnt ti book a meetig",
        "LLM: Sure, I can help with that. Could you please provide me with your name and email address?",
        "user: aok demo@example.com",
        "LLM: Let's confirm your email address: demo@example.com Is that correct?",
        "user: y",
        "LLM: Great, you can book a meeting using the link below.",
    ]
)
OMNI_SUMMARY = (
    "The user requested to book a meeting, providing their email address. The agent confirmed the email "
    "and provided a link for booking the meeting successfully."
)


def test_omnidimension_example():
    record = fixture("omnidimension_call_logs.json")[0]
    tables = run(omnidimension, {"call_logs": [record]}, {"timezone": "UTC"})
    assert tables["calls"] == [
        {
            "provider": "omnidimension",
            "call_id": "50958",
            "agent_id": None,
            "agent_name": "Customer Support Agent",
            "started_at": utc(2026, 5, 4, 14, 46, 15),
            "ended_at": None,
            "duration_s": 0.0,
            "status": "completed",
            "status_raw": "completed",
            "end_reason": None,  # hangup_source and hangup_reason are null, no voicemail
            "direction": "outbound",
            "channel": "chat",  # Widget-Chat
            "from_number": None,  # "Chat"
            "to_number": None,  # "Assistant"
            "sentiment": "positive",
            "summary": OMNI_SUMMARY,
            "transcript": OMNI_TRANSCRIPT,
            "recording_url": None,  # false
            "is_test": False,
            "cost_usd": 0.123,
            "tokens": 31822,
            "extracted": {
                "industry": "Not provided",
                "use_case": "Not provided",
                "user_name": "Demo User",
                "main_purpose": "Booking a meeting",
                "phone_number": "Not provided",
                "preferred_language": "Not provided",
                "monthly_call_volume": "Not provided",
                "interaction_count_total": 4,
            },
            "extra": {
                "organization_branch_name": "",
                "is_bot_response": True,
                "internal_recording_url": False,
                "recording_available_at": "",
                "call_type": False,
                "is_call_transfer": False,
                "status": "",
                "cqs_score": 0,
                "cqs_score_message": False,
                "metric_score_intent": 0,
                "metric_score_relevance": 0,
                "metric_score_latency": 0,
                "metric_score_coherence": 0,
                "p50_latency": 2.53,
                "p99_latency": 2.79,
                "prompt_tokens": 31727,
                "completion_tokens": 95,
                "total_tts_speaking_minutes": 0,
                "total_tts_speaking_seconds": 0,
                "llm_prompt": False,
                "model_name": "gpt-4o",
                "model_type": "chat",
                "asr_service": "deepgram_stream",
                "tts_service": "eleven_labs",
                "has_issue": False,
                "json_evolution_matrix_score": {},
                "issues": [],
                "call_duration_in_minutes": 0,
                "voice_insides": False,
                "amd_detected": False,
                "amd_answered_by": False,
                "amd_duration": 0,
                "is_fax": False,
                "voicemail_type": False,
                "user_name": "Demo User",
                "call_cost": 0,
                "call_request_id": {"id": False, "type_of_request": ""},
                "from_number": "Chat",
                "to_number": "Assistant",
            },
        }
    ]
    webhook = record["post_call_actions"]["call_recording_webhook_ids"][0]
    assert tables["actions"] == [
        {
            "provider": "omnidimension",
            "call_id": "50958",
            "action_id": "88250:0",  # interaction 88250, first tool call
            "action_type": "function_call",
            "action_type_raw": "function_call_data",
            "name": "offer_calendly_meeting",
            "executed_at": utc(2026, 5, 4, 14, 43, 18),
            "succeeded": True,
            "latency_s": 0.002235458,
            "parameters": {},
            "result": (
                "Calendly card is now visible to the visitor below your reply. "
                "Stop and wait for them to tap. Do not ask any follow-up question this turn."
            ),
            "extra": None,
        },
        {
            "provider": "omnidimension",
            "call_id": "50958",
            "action_id": "1870",
            "action_type": "webhook",
            "action_type_raw": "call_recording_webhook_ids",
            "name": f"Webhook to {HOOK_URL} on 2026-05-04 14:46:15",
            "executed_at": utc(2026, 5, 4, 14, 46, 15),
            "succeeded": True,  # response_code 200
            "latency_s": None,
            "parameters": {
                "webhook_url": HOOK_URL,
                "webhook_method": "POST",
            },  # the payload repeats the call and embeds the call_sid credential: not kept
            "result": webhook["response_body"],
            "extra": {
                "status": "sent",
                "response_code": 200,
                "error_message": False,
                "call_recording_id": 50958,
                "user_id": 1234,
                "create_by": "Demo User",
            },
        },
    ]

    def turn(index, speaker, text, second, latency=None):
        return {
            "provider": "omnidimension",
            "call_id": "50958",
            "turn_index": index,
            "speaker": speaker,
            "text": text,
            "at": utc(2026, 5, 4, 14, 43, second),
            "response_latency_s": latency,
            "source": "turns",
        }

    lat4 = 1.136648417
    assert tables["interactions"] == [
        # interaction 1: the user_query is empty (the agent greets first), so no user turn
        turn(0, "agent", "Hello, I am Kevin from OmniDimension support. How may I help you?", 0, 2.349710792),
        turn(1, "user", "i awnt ti book a meetig", 8),
        turn(
            2,
            "agent",
            "Sure, I can help with that. Could you please provide me with your name and email address?",
            8,
            2.534026668,
        ),
        turn(3, "user", "aok demo@example.com", 13),
        turn(4, "agent", "Let's confirm your email address: demo@example.com Is that correct?", 13, lat4),
        turn(5, "user", "y", 18),
        turn(6, "agent", "Great, you can book a meeting using the link below.", 18, 2.787461793),
    ]
    assert tables["quarantine"] == []
