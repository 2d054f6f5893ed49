"""Variants the providers' reference pages allow (shared/provider-api/*.txt) beyond their literal
examples: each normalizes to the canonical value a user would expect, and no record is lost."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pytest
from fixtures.memory_raw import fixed_ingestion_time, fixture, run  # noqa: F401
from loopback import Listing

from calllog_pipeline import schemas
from calllog_pipeline.automation import job_name
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.providers.dialnexa.mapping import normalize as dialnexa
from calllog_pipeline.providers.leadconnector.mapping import normalize as leadconnector
from calllog_pipeline.providers.omnidimension.mapping import normalize as omnidimension
from calllog_pipeline.settings import Settings

pytestmark = pytest.mark.usefixtures("fixed_ingestion_time")


def omni_call(**changes) -> dict:
    record = copy.deepcopy(fixture("omnidimension_call_logs.json")[0]) | changes
    (row,) = run(omnidimension, {"call_logs": [record]}, {"timezone": "UTC"})["calls"]
    return row


# dialnexa-call-logs.txt, "End Reasons": thirteen words; the pages spell statuses with "-", "_" and in
# any case ("no-answer", "no_answer"), and end reasons may drift the same way.
def test_dialnexa_every_end_reason_in_every_spelling():
    log = fixture("dialnexa_call_logs.json")[0]
    expected = {}
    for word in schemas.END_REASONS:
        for spelling in (word, word.upper(), word.replace("_", "-"), word.replace("_", " ").title()):
            expected[f"call_{len(expected)}"] = (spelling, word)
    logs = [log | {"call_id": call_id, "end_reason": spelling} for call_id, (spelling, _) in expected.items()]
    rows = run(dialnexa, {"call_logs": logs})["calls"]
    assert {row["call_id"]: row["end_reason"] for row in rows} == {k: v[1] for k, v in expected.items()}


def lc_tables(**changes) -> dict:
    record = copy.deepcopy(fixture("leadconnector_call_logs.json")[0]) | changes
    return run(leadconnector, {"call_logs": [{k: v for k, v in record.items() if v is not ...}]})


# leadconnector-voice-ai-call-logs.txt filters on `callType` LIVE | TRIAL while its record shows
# `trialCall`: a record carrying only `callType` is still told apart.
@pytest.mark.parametrize(
    ("changes", "is_test"),
    [
        ({"trialCall": True}, True),
        ({"trialCall": ..., "callType": "TRIAL"}, True),
        ({"trialCall": ..., "callType": "LIVE"}, False),
        ({"trialCall": None, "callType": "trial"}, True),
        ({"trialCall": False, "callType": "TRIAL"}, False),  # trialCall, when sent, is the record's own word
        ({"trialCall": ...}, None),
    ],
)
def test_leadconnector_trial_calls_from_trial_call_or_call_type(changes, is_test):
    (row,) = lc_tables(**changes)["calls"]
    assert row["is_test"] is is_test


def test_leadconnector_action_types_in_any_case():
    record = copy.deepcopy(fixture("leadconnector_call_logs.json")[0])
    spelled = [{**a, "actionType": a["actionType"].lower()} for a in record["executedCallActions"]]
    lower = lc_tables(executedCallActions=spelled)["actions"]
    upper = lc_tables()["actions"]
    assert [a["action_type"] for a in lower] == [a["action_type"] for a in upper]
    assert "other" not in {a["action_type"] for a in lower}


# omnidimension-call-logs.txt shows `"channel_type": "Widget-Chat"`: the website widget also takes
# voice calls, which run in the browser (web_call), not over the phone network.
@pytest.mark.parametrize(
    ("channel_type", "channel"),
    [
        ("Widget-Chat", "chat"),
        ("Widget-Call", "web_call"),
        ("Widget-Voice", "web_call"),
        ("Web-Call", "web_call"),
        ("Phone-Call", "phone"),
    ],
)
def test_omnidimension_widget_voice_calls_are_web_calls(channel_type, channel):
    assert omni_call(channel_type=channel_type)["channel"] == channel


# The page's record carries answering-machine detection beside is_voicemail (`amd_detected`,
# `amd_answered_by`, `voicemail_type`, all `false` in the example): a machine answering is voicemail.
@pytest.mark.parametrize(
    ("changes", "end_reason"),
    [
        ({"amd_detected": True, "amd_answered_by": "machine_end_beep"}, "voicemail_detected"),
        (
            {"amd_detected": True, "amd_answered_by": "machine_start", "is_voicemail": False},
            "voicemail_detected",
        ),
        ({"voicemail_type": "machine_end_silence"}, "voicemail_detected"),
        ({"amd_detected": True, "amd_answered_by": "human"}, None),
        ({"amd_detected": False, "amd_answered_by": False, "voicemail_type": False}, None),
    ],
)
def test_omnidimension_answering_machine_is_voicemail(changes, end_reason):
    assert omni_call(**changes)["end_reason"] == end_reason


# --- a listing entry that is not an object --------------------------------------------------------------


def test_a_listing_entry_that_is_not_an_object_is_quarantined_and_the_day_still_lands(monkeypatch, tmp_path):
    call = fixture("leadconnector_call_logs.json")[0] | {"createdAt": "2026-03-02T10:30:00.000Z"}
    page = {"total": 3, "page": 1, "pageSize": 50, "callLogs": [call, None, "not a call"]}
    with Listing(lambda path, query: page) as server:
        for name, value in {
            "CALLLOG_PROVIDERS": "leadconnector",
            "CALLLOG_STEP_RETRIES": "0",
            "LEADCONNECTOR_BASE_URL": server.url,
            "LEADCONNECTOR_API_KEY": "test-key",
            "LEADCONNECTOR_LOCATION_ID": "loc-1",
        }.items():
            monkeypatch.setenv(name, value)
        settings = Settings.from_env({"CALLLOG_START_DATE": "2026-03-01", "CALLLOG_DATA_DIR": str(tmp_path)})
        with dg.instance_for_test() as instance:
            result = (
                build_definitions(settings)
                .resolve_job_def(job_name("leadconnector"))
                .execute_in_process(partition_key="2026-03-02", instance=instance, raise_on_error=False)
            )
    assert result.success
    folder = tmp_path / "{}" / "date=2026-03-02" / "provider=leadconnector" / "data.parquet"
    calls = duckdb.sql(f"select call_id from '{str(folder).format('calls')}'").fetchall()
    quarantine = duckdb.sql(f"select reason, payload from '{str(folder).format('quarantine')}'").fetchall()
    assert calls == [(call["id"],)]
    assert sorted(quarantine) == [("wrong_shape", '"not a call"'), ("wrong_shape", "null")]


# --- nested objects sent as JSON text ------------------------------------------------------------------

# The OmniDimension page already sends one object as JSON text (the webhook `payload`); the
# post-call extraction of every provider reads the same either way.
EXTRACTED = {"customer_name": "Priya Sharma", "qualified": True}


def test_dialnexa_analysis_as_json_text_is_the_extracted_object():
    log = fixture("dialnexa_call_logs.json")[0] | {"analysis": json.dumps(EXTRACTED)}
    (row,) = run(dialnexa, {"call_logs": [log]})["calls"]
    assert (row["extracted"], row["extra"]) == (EXTRACTED, {"log_id": "log_abc123"})


def test_leadconnector_extracted_data_as_json_text_is_the_extracted_object():
    (row,) = lc_tables(extractedData=json.dumps(EXTRACTED))["calls"]
    assert row["extracted"] == EXTRACTED
    assert "_invalid" not in row["extra"]


def test_omnidimension_extracted_variables_as_json_text_is_the_extracted_object():
    row = omni_call(extracted_variables=json.dumps(EXTRACTED))
    assert row["extracted"] == EXTRACTED
    assert "_invalid" not in row["extra"]


def test_text_that_is_not_a_json_object_stays_invalid_not_lost():
    row = omni_call(extracted_variables="{not json")
    assert row["extracted"] is None
    assert row["extra"]["_invalid"] == {"extracted_variables": "{not json"}


# --- times: every RFC 3339 spelling of an instant ----------------------------------------------------------


# The pages write times as `2024-03-01T10:00:00.000Z`; RFC 3339 (the profile of ISO 8601 APIs
# speak) also allows a lower-case `t`/`z`, an offset instead of `Z`, and any number of fraction
# digits. Each is the same instant, never a quarantined record.
@pytest.mark.parametrize(
    "spelling",
    [
        "2024-03-01T10:00:00.000Z",
        "2024-03-01T10:00:00Z",
        "2024-03-01t10:00:00.000z",
        "2024-03-01T10:00:00+00:00",
        "2024-03-01T15:30:00.000+05:30",
        "2024-03-01T05:00:00-05:00",
        "2024-03-01T10:00:00.000000000Z",
    ],
)
def test_iso_times_in_every_rfc3339_spelling(spelling):
    expected = datetime(2024, 3, 1, 10, tzinfo=UTC)
    log = fixture("dialnexa_call_logs.json")[0] | {"created_at": spelling}
    (dn,) = run(dialnexa, {"call_logs": [log]})["calls"]
    (lc,) = lc_tables(createdAt=spelling)["calls"]
    assert dn["started_at"] == lc["started_at"] == expected
    for provider in ("dialnexa", "leadconnector"):  # the raw fetch places the record in its day too
        (endpoint,) = [e for e in REGISTRY[provider].endpoints if e.name == "call_logs"]
        record = {"created_at": spelling, "createdAt": spelling}
        assert endpoint.record_time(record, {}) == expected


# OmniDimension sends one nested value as JSON text (the webhook `payload`); its other nested
# lists and objects read the same when they come that way, and one that cannot be read at all is
# kept in `extra._invalid`, never silently replaced (a call's structured turns by its transcript,
# its tool calls and webhooks by nothing).
def omni_tables(record: dict) -> dict:
    return run(omnidimension, {"call_logs": [record]}, {"timezone": "UTC"})


def summary(tables: dict) -> tuple:
    turns = [(t["speaker"], t["text"], t["source"], t["at"]) for t in tables["interactions"]]
    actions = [(a["action_type"], a["name"], a["succeeded"], a["executed_at"]) for a in tables["actions"]]
    return turns, actions


@pytest.mark.parametrize("key", ["interactions", "post_call_actions"])
def test_omnidimension_nested_values_as_json_text_are_read(key):
    record = copy.deepcopy(fixture("omnidimension_call_logs.json")[0])
    as_text = record | {key: json.dumps(record[key])}
    tables = omni_tables(as_text)
    assert summary(tables) == summary(omni_tables(record))
    assert "_invalid" not in (tables["calls"][0]["extra"] or {})
    assert "secret_key_" not in json.dumps(tables, default=str)


def test_omnidimension_one_tool_call_sent_as_an_object_is_a_tool_call():
    record = copy.deepcopy(fixture("omnidimension_call_logs.json")[0])
    listed = omni_tables(record)
    turn = record["interactions"][3]
    turn["function_call_data"] = turn["function_call_data"][0]
    assert summary(omni_tables(record)) == summary(listed)


def test_omnidimension_nested_values_that_cannot_be_read_are_kept_as_invalid():
    record = copy.deepcopy(fixture("omnidimension_call_logs.json")[0])
    record["interactions"][3]["function_call_data"] = "offer_calendly_meeting()"
    tables = omni_tables(record | {"post_call_actions": "sent"})
    assert tables["calls"][0]["extra"]["_invalid"] == {
        "post_call_actions": "sent",
        "interactions[88250].function_call_data": "offer_calendly_meeting()",
    }
    tables = omni_tables(record | {"interactions": "[{not json"})
    assert tables["calls"][0]["extra"]["_invalid"] == {"interactions": "[{not json"}
    assert {t["source"] for t in tables["interactions"]} == {"transcript"}  # the fallback still applies


def test_leadconnector_actions_and_their_parameters_as_json_text_are_read():
    record = copy.deepcopy(fixture("leadconnector_call_logs.json")[0])
    actions = copy.deepcopy(record["executedCallActions"])
    for action in actions:
        action["actionParameters"] = json.dumps(action["actionParameters"])
    as_text = lc_tables(executedCallActions=json.dumps(actions))
    listed = lc_tables()
    assert as_text["actions"] == listed["actions"]
    assert "_invalid" not in (as_text["calls"][0]["extra"] or {})
    assert "token123" not in json.dumps(as_text, default=str)  # CUSTOM_ACTION's authenticationValue


# --- DialNexa: which id is the call's --------------------------------------------------------------------


# dialnexa-call-logs.txt: a log carries `call_id` beside its own `log_...` id, or only `id`, which
# is then the call id. A `log_...` id is never a call id: a log without its `call_id` is
# quarantined, not made into a call of its own that no `/calls` record would ever merge with.
@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ({"id": "log_abc123", "call_id": "call_abc123"}, ("call", "call_abc123")),
        ({"id": "call_abc123"}, ("call", "call_abc123")),
        ({"id": "call_abc123", "call_id": None}, ("call", "call_abc123")),
        ({"id": "call_abc123", "call_id": ""}, ("call", "call_abc123")),
        ({"id": "log_abc123"}, ("missing_id", "log_abc123")),
        ({"id": "log_abc123", "call_id": ""}, ("missing_id", "log_abc123")),
        ({"id": "LOG_abc123", "call_id": None}, ("missing_id", "LOG_abc123")),
    ],
)
def test_dialnexa_a_log_id_is_never_taken_for_a_call_id(ids, expected):
    log = {k: v for k, v in fixture("dialnexa_call_logs.json")[0].items() if k not in ("id", "call_id")}
    tables = run(dialnexa, {"call_logs": [log | ids]})
    rows = [("call", r["call_id"]) for r in tables["calls"]]
    rows += [(q["reason"], q["record_id"]) for q in tables["quarantine"]]
    assert rows == [expected]


# --- integers sent as text ---------------------------------------------------------------------------------


# Amounts already read from text ("0.123"); counts and codes read the same way, and turns numbered
# by text are ordered by number, not as text ("10" after "9").
def test_omnidimension_integers_sent_as_text():
    record = copy.deepcopy(fixture("omnidimension_call_logs.json")[0])
    record["post_call_actions"]["call_recording_webhook_ids"][0]["response_code"] = "502"
    turns = record["interactions"]
    for turn, sequence in zip(turns, ["9", 10, "11", "12"], strict=True):
        turn["interaction_sequence"] = sequence
    record["interactions"] = list(reversed(turns))
    tables = run(omnidimension, {"call_logs": [record | {"total_tokens": "31822"}]}, {"timezone": "UTC"})
    (call,) = tables["calls"]
    assert call["tokens"] == 31822 and "_invalid" not in call["extra"]
    assert [a["succeeded"] for a in tables["actions"] if a["action_type"] == "webhook"] == [False]
    texts = [t["text"] for t in tables["interactions"]]
    assert texts[0].startswith("Hello, I am Kevin") and texts[-1].startswith("Great, you can book")
