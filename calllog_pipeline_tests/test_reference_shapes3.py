"""Shapes an independent implementation of the provider APIs may send, round 3 (rounds 1 and 2:
``test_reference_shapes``, ``test_reference_shapes2``): record-level values the reference pages
(shared/provider-api/*.txt) show or leave open, and how they become the canonical tables; plus a
server that never finishes an answer."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

import pytest
import test_contract_http as contract
from fixtures.memory_raw import fixed_ingestion_time, fixture, run  # noqa: F401
from loopback import _Loopback

from calllog_pipeline.providers.dialnexa import mapping as dialnexa_mapping
from calllog_pipeline.providers.dialnexa.mapping import normalize as dialnexa
from calllog_pipeline.providers.leadconnector.mapping import normalize as leadconnector
from calllog_pipeline.providers.omnidimension.mapping import normalize as omnidimension

# --- a server that trickles its answer -----------------------------------------------------------------


class Trickle(_Loopback):
    """Answers 200 with a large Content-Length, then one byte every 0.1 s: never silent for as long
    as a read timeout, never finished (a throttling proxy, a stuck server streaming its page)."""

    def __init__(self):
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                self.wfile.write(b'{"call_log_data": [')
                until = time.monotonic() + 30
                try:
                    while time.monotonic() < until:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:  # the client gave up
                    pass
                self.close_connection = True

            def log_message(self, *args):
                pass

        self._serve(Handler)


# The read timeout is a limit between bytes: a server trickling a byte every 0.1 s never trips it, and
# used to hold the day (and its run) forever. Each request is bounded as a whole; the attempts run
# out and the failure names the setting to raise.
def test_an_answer_trickled_forever_is_cut_off_by_the_request_time_limit(tmp_path):
    with Trickle() as server:
        api = contract.resource("omnidimension", server, request_timeout_s=0.6, max_attempts=2)
        began = time.monotonic()
        result = contract.materialize("omnidimension", "call_logs", api, tmp_path)
        took = time.monotonic() - began
    assert not result.success and server.requests == 2
    said = contract.failure(result)
    assert "kept failing (answer not finished within the request time limit)" in said
    assert "after 0.6 s (OMNIDIM_REQUEST_TIMEOUT_S)" in said and "raise OMNIDIM_REQUEST_TIMEOUT_S" in said
    assert contract.KEY not in said and took < 20


# --- DialNexa: the direction one view gives --------------------------------------------------------------


DIALNEXA_AT = "2024-05-01T14:22:00.000Z"


# /calls may say a call came in (an explicit `direction`, or the filter enum's `received` status)
# while its call log has a plain `completed` status and no direction. The log's silence used to be
# read as DialNexa's default `outbound`, and the log wins a merge: every such inbound call landed as
# outbound. The default now applies only where neither view says anything; a big day (DuckDB's
# join of parts) gives the same rows.
@pytest.mark.usefixtures("fixed_ingestion_time")
@pytest.mark.parametrize("part_rows", [None, 2], ids=["in-memory", "parts"])
def test_dialnexa_inbound_said_by_calls_only_is_kept_after_the_merge(part_rows, monkeypatch):
    if part_rows:
        monkeypatch.setattr(dialnexa_mapping, "PART_ROWS", part_rows)
    calls = [
        {"id": "c_received", "status": "received", "created_at": DIALNEXA_AT},
        {"id": "c_said", "status": "completed", "direction": "Inbound", "created_at": DIALNEXA_AT},
        {"id": "c_placed", "status": "completed", "created_at": DIALNEXA_AT},
        {"id": "c_alone", "status": "received", "created_at": DIALNEXA_AT},  # no log
    ]
    logs = [
        {"id": f"log_{n}", "call_id": f"c_{n}", "status": "completed", "created_at": DIALNEXA_AT}
        for n in ("received", "said", "placed", "only_log")
    ]
    tables = run(dialnexa, {"calls": calls, "call_logs": logs})
    directions = {row["call_id"]: row["direction"] for row in tables["calls"]}
    assert directions == {
        "c_received": "inbound",
        "c_said": "inbound",
        "c_placed": "outbound",
        "c_alone": "inbound",
        "c_only_log": "outbound",
    }


# /calls is "sorted by start time" and its `created_at` is the call's start; a call log's `created_at`
# is when the log was made, which a server may stamp at the call's end. The log used to win the merge,
# so such a call started at its end (its duration after its `ended_at`). The start is /calls' now;
# the log's own time is kept in `extra` where it differs.
@pytest.mark.usefixtures("fixed_ingestion_time")
@pytest.mark.parametrize("part_rows", [None, 1], ids=["in-memory", "parts"])
def test_dialnexa_start_is_the_calls_view_when_the_log_was_made_later(part_rows, monkeypatch):
    if part_rows:
        monkeypatch.setattr(dialnexa_mapping, "PART_ROWS", part_rows)
    ended = "2024-05-01T14:24:25.000Z"
    calls = [
        {"id": "c_late_log", "status": "completed", "created_at": DIALNEXA_AT, "ended_at": ended},
        {"id": "c_same", "status": "completed", "created_at": DIALNEXA_AT},
    ]
    logs = [
        {
            "id": "log_1",
            "call_id": "c_late_log",
            "status": "completed",
            "duration_sec": 145,
            "created_at": ended,
        },
        {"id": "log_2", "call_id": "c_same", "status": "completed", "created_at": DIALNEXA_AT},
        {"id": "log_3", "call_id": "c_log_only", "status": "completed", "created_at": ended},
    ]
    rows = {row["call_id"]: row for row in run(dialnexa, {"calls": calls, "call_logs": logs})["calls"]}
    at, end = datetime(2024, 5, 1, 14, 22, tzinfo=UTC), datetime(2024, 5, 1, 14, 24, 25, tzinfo=UTC)
    assert rows["c_late_log"]["started_at"] == at and rows["c_late_log"]["ended_at"] == end
    assert rows["c_late_log"]["duration_s"] == 145.0
    assert rows["c_late_log"]["extra"] == {"log_id": "log_1", "log_created_at": "2024-05-01T14:24:25Z"}
    assert rows["c_same"]["started_at"] == at and rows["c_same"]["extra"] == {"log_id": "log_2"}
    assert rows["c_log_only"]["started_at"] == end


# --- LeadConnector: action types in other spellings ---------------------------------------------------


# The page writes the eight types in SCREAMING_SNAKE_CASE only; a server that writes them as words
# or kebab-case (as the statuses of the other pages vary) used to give `other` for every action.
@pytest.mark.usefixtures("fixed_ingestion_time")
def test_leadconnector_action_types_in_other_spellings_keep_their_type():
    spellings = {
        "call-transfer": "transfer",
        "Call Transfer": "transfer",
        " in_call_data_extraction ": "data_extraction",
        "Knowledge-Base": "knowledge_base",
        "VOICEMAIL_DROP": "other",  # a type the page does not list: other, kept as sent
    }
    actions = [{"actionId": f"a{i}", "actionType": t} for i, t in enumerate(spellings)]
    record = fixture("leadconnector_call_logs.json")[0] | {"executedCallActions": actions}
    rows = run(leadconnector, {"call_logs": [record]})["actions"]
    assert {row["action_type_raw"]: row["action_type"] for row in rows} == spellings


# --- transcripts labelled as other voice stacks label them -------------------------------------------------


# The pages say transcripts "look like" `Agent:`/`User:` (DialNexa), `bot:`/`human:` (LeadConnector),
# `user:`/`LLM:` (OmniDimension). A transcript whose labels are another stack's words for the same two
# sides (`Assistant:`, `AI:`, `Customer:`) used to give no turns at all (lines before the first
# known label are dropped) or fold the user's words into the agent's turn.
TRANSCRIPT = (
    "Assistant: Hello, how can I help?\r\ncustomer: Book me in: 2 PM\n\nplease\nAI: Done.\nHuman: thanks"
)
TURNS = [
    ("agent", "Hello, how can I help?"),
    ("user", "Book me in: 2 PM\nplease"),
    ("agent", "Done."),
    ("user", "thanks"),
]


@pytest.mark.usefixtures("fixed_ingestion_time")
@pytest.mark.parametrize(
    ("normalize", "endpoint", "record"),
    [
        (dialnexa, "calls", {"id": "c1", "created_at": DIALNEXA_AT, "transcript": TRANSCRIPT}),
        (leadconnector, "call_logs", {"id": "c1", "createdAt": DIALNEXA_AT, "transcript": TRANSCRIPT}),
        (
            omnidimension,
            "call_logs",
            {
                "id": "c1",
                "time_of_call": "05/01/2024 14:22:00",
                "interactions": [],
                "call_conversation": TRANSCRIPT.replace("\r\n", "<br/>").replace("\n", "<br/>"),
            },
        ),
    ],
    ids=["dialnexa", "leadconnector", "omnidimension"],
)
def test_transcript_labels_of_other_stacks_give_the_turns(normalize, endpoint, record):
    rows = run(normalize, {endpoint: [record]}, {"timezone": "UTC"})["interactions"]
    assert [(row["speaker"], row["text"]) for row in rows] == TURNS


# --- directions as telephony stacks spell them ---------------------------------------------------------


# The pages write `outbound` (OmniDimension's call_direction; DialNexa's `direction` is not on its
# pages at all). Telephony stacks also write `incoming`/`outgoing` and Twilio's `outbound-api` /
# `outbound-dial`: those used to be refused (OmniDimension: no direction; DialNexa: the default
# `outbound`, so an `incoming` call landed as outbound).
DIRECTION_SPELLINGS = {
    "INBOUND": "inbound",
    "Incoming": "inbound",
    " outgoing ": "outbound",
    "outbound-api": "outbound",
    "outbound-dial": "outbound",
}


@pytest.mark.usefixtures("fixed_ingestion_time")
def test_directions_in_other_spellings_are_read():
    omni = [
        fixture("omnidimension_call_logs.json")[0] | {"id": i, "call_direction": sent}
        for i, sent in enumerate([*DIRECTION_SPELLINGS, "sideways"])
    ]
    rows = run(omnidimension, {"call_logs": omni}, {"timezone": "UTC"})["calls"]
    assert [row["direction"] for row in rows] == [*DIRECTION_SPELLINGS.values(), None]
    assert rows[-1]["extra"]["_invalid"] == {"call_direction": "sideways"}

    calls = [
        {"id": f"c{i}", "status": "completed", "direction": sent, "created_at": DIALNEXA_AT}
        for i, sent in enumerate(DIRECTION_SPELLINGS)
    ]
    rows = run(dialnexa, {"calls": calls})["calls"]
    assert [row["direction"] for row in rows] == list(DIRECTION_SPELLINGS.values())


# --- OmniDimension: call_duration as a number ---------------------------------------------------------


# The page's call record writes `call_duration` as "M:S" text beside `call_duration_in_seconds`; the
# webhook payload on the same page writes `"call_duration": 0`, a number of seconds. A server that
# sends the number (or its text) without `call_duration_in_seconds` used to lose the duration.
@pytest.mark.usefixtures("fixed_ingestion_time")
def test_omnidimension_call_duration_as_a_number_is_seconds():
    sent = {"n": 145, "text": "145", "float": 92.5, "m_s": "2:25", "h_m_s": "1:02:03", "negative": -1}
    base = fixture("omnidimension_call_logs.json")[0]
    del base["call_duration_in_seconds"]
    records = [base | {"id": k, "call_duration": v} for k, v in sent.items()]
    rows = run(omnidimension, {"call_logs": records}, {"timezone": "UTC"})["calls"]
    durations = {row["call_id"]: row["duration_s"] for row in rows}
    assert durations == {
        "n": 145.0,
        "text": 145.0,
        "float": 92.5,
        "m_s": 145.0,
        "h_m_s": 3723.0,
        "negative": None,
    }
    (refused,) = [row for row in rows if row["call_id"] == "negative"]
    assert refused["extra"]["_invalid"] == {"call_duration": -1}


# --- OmniDimension: line breaks as HTML writers write them --------------------------------------------


# `call_conversation` is HTML with `<br/>` (the page); `<br>`, `<BR />` and the `</br>` slip browsers
# also read as a break. `</br>` used to stay in the text, joining two speakers' lines into one turn.
@pytest.mark.usefixtures("fixed_ingestion_time")
def test_omnidimension_conversation_breaks_as_html_writers_write_them():
    record = fixture("omnidimension_call_logs.json")[0] | {
        "interactions": False,
        "call_conversation": " </br> user: hi <br> LLM: Hello! <BR /> user: bye </br>LLM: Bye.</br>",
    }
    tables = run(omnidimension, {"call_logs": [record]}, {"timezone": "UTC"})
    assert tables["calls"][0]["transcript"] == "user: hi\nLLM: Hello!\nuser: bye\nLLM: Bye."
    turns = [(row["speaker"], row["text"]) for row in tables["interactions"]]
    assert turns == [("user", "hi"), ("agent", "Hello!"), ("user", "bye"), ("agent", "Bye.")]


# The page's delivery `status` is "sent"; in another case or with blanks around it (a padded enum
# column) it used to say nothing about whether the delivery succeeded.
@pytest.mark.usefixtures("fixed_ingestion_time")
def test_omnidimension_delivery_status_with_blanks_is_read():
    base = fixture("omnidimension_call_logs.json")[0]
    deliveries = [
        {"id": n, "status": status, "response_code": False, "error_message": False}
        for n, status in enumerate([" Sent ", "FAILED ", "delivered"])
    ]
    record = base | {"interactions": False, "post_call_actions": {"call_recording_webhook_ids": deliveries}}
    rows = run(omnidimension, {"call_logs": [record]}, {"timezone": "UTC"})["actions"]
    assert [row["succeeded"] for row in rows] == [True, False, True]
