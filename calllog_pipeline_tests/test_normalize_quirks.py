"""One test per provider quirk and per quarantine reason (the README's quirks list and the pages)."""

from __future__ import annotations

import copy
import json
import re

import pytest
from fixtures.memory_raw import fixed_ingestion_time, fixture, run, utc  # noqa: F401

from calllog_pipeline.mapping import dump_json, e164, split_turns
from calllog_pipeline.providers.dialnexa.mapping import normalize as dialnexa
from calllog_pipeline.providers.leadconnector.mapping import normalize as leadconnector
from calllog_pipeline.providers.omnidimension.mapping import normalize as omnidimension

pytestmark = pytest.mark.usefixtures("fixed_ingestion_time")


def dn_call(**changes) -> dict:
    record = copy.deepcopy(fixture("dialnexa_calls.json")[0])
    record.update(changes)
    return record


def dn_log(**changes) -> dict:
    record = copy.deepcopy(fixture("dialnexa_call_logs.json")[0])
    record.update(changes)
    return record


def lc_record(**changes) -> dict:
    record = copy.deepcopy(fixture("leadconnector_call_logs.json")[0])
    record.update(changes)
    return record


def omni_record(**changes) -> dict:
    record = copy.deepcopy(fixture("omnidimension_call_logs.json")[0])
    record.update(changes)
    return record


def only(rows: list[dict]) -> dict:
    assert len(rows) == 1, rows
    return rows[0]


def quarantined(tables: dict) -> list[tuple]:
    return [(q["endpoint"], q["record_id"], q["reason"]) for q in tables["quarantine"]]


# --- DialNexa -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["duration_seconds", "duration_sec"])
def test_dialnexa_reads_both_duration_spellings(field):
    record = {k: v for k, v in dn_call().items() if k != "duration_seconds"} | {field: 61}
    assert only(run(dialnexa, {"calls": [record]})["calls"])["duration_s"] == 61.0


def test_dialnexa_duration_falls_back_to_ended_minus_created():
    record = {k: v for k, v in dn_call().items() if k != "duration_seconds"}
    assert only(run(dialnexa, {"calls": [record]})["calls"])["duration_s"] == 145.0


def test_dialnexa_call_log_with_only_id_uses_it_as_the_call_id():
    log = {k: v for k, v in dn_log(id="call_abc123").items() if k != "call_id"}
    row = only(run(dialnexa, {"call_logs": [log]})["calls"])
    assert row["call_id"] == "call_abc123"
    assert row["extra"] is None  # no separate log id to keep


def test_dialnexa_merge_keeps_the_calls_status_when_the_log_has_none():
    log = {k: v for k, v in dn_log().items() if k != "status"}
    row = only(run(dialnexa, {"calls": [dn_call(status="busy")], "call_logs": [log]})["calls"])
    assert (row["status"], row["status_raw"]) == ("busy", "busy")


def test_dialnexa_merge_prefers_the_log_and_keeps_calls_without_a_log():
    calls = [dn_call(id=f"call_{i}", status="created") for i in range(5)]
    logs = [dn_log(call_id=f"call_{i}", id=f"log_{i}", status="completed") for i in (3, 1, 9)]
    tables = run(dialnexa, {"calls": calls, "call_logs": logs}, batch_size=2)  # joins across batches
    rows = sorted(tables["calls"], key=lambda r: r["call_id"])  # the out-of-core join keeps no order
    assert [(r["call_id"], r["status"]) for r in rows] == [
        ("call_0", "queued"),  # /calls records without a log
        ("call_1", "completed"),
        ("call_2", "queued"),
        ("call_3", "completed"),
        ("call_4", "queued"),
        ("call_9", "completed"),  # a log without a /calls record
    ]
    merged = rows[3]
    assert merged["ended_at"] == utc(2024, 3, 1, 10, 2, 25)  # only /calls has it
    assert merged["end_reason"] == "user_disconnected"  # only the log has it
    assert merged["extra"]["log_id"] == "log_3" and merged["extra"]["agent_version_number"] == 1


def test_dialnexa_transcript_becomes_turns():
    log = dn_log(
        transcript="Agent: Hi, this is Asha.\nUser: Hello?\nwho is this\nAgent: Calling about your order."
    )
    tables = run(dialnexa, {"call_logs": [log]})
    assert [(t["turn_index"], t["speaker"], t["text"]) for t in tables["interactions"]] == [
        (0, "agent", "Hi, this is Asha."),
        (1, "user", "Hello?\nwho is this"),  # an unlabelled line continues the turn
        (2, "agent", "Calling about your order."),
    ]
    assert {t["source"] for t in tables["interactions"]} == {"transcript"}


def test_dialnexa_unknown_end_reason_and_wrong_types_are_kept_in_extra():
    log = dn_log(end_reason="aliens", duration_seconds="long", agent_id={"id": 1})
    row = only(run(dialnexa, {"call_logs": [log]})["calls"])
    assert (row["end_reason"], row["duration_s"], row["agent_id"]) == (None, None, None)
    assert row["extra"]["_invalid"] == {
        "end_reason": "aliens",
        "duration_seconds": "long",
        "agent_id": {"id": 1},
    }


def test_dialnexa_null_created_at_is_quarantined_as_missing_time():
    tables = run(dialnexa, {"calls": [dn_call(created_at=None)], "call_logs": [dn_log(created_at=None)]})
    assert tables["calls"] == []
    assert quarantined(tables) == [
        ("calls", "call_abc123", "missing_time"),
        ("call_logs", "call_abc123", "missing_time"),
    ]


def test_dialnexa_not_a_date_is_quarantined_as_unparseable_time():
    tables = run(dialnexa, {"calls": [dn_call(created_at="not-a-date")]})
    assert quarantined(tables) == [("calls", "call_abc123", "unparseable_time")]
    assert tables["quarantine"][0]["payload"] == dn_call(created_at="not-a-date")  # the record, whole


def test_dialnexa_record_without_id_is_quarantined_as_missing_id():
    record = {k: v for k, v in dn_call().items() if k != "id"}
    assert quarantined(run(dialnexa, {"calls": [record]})) == [("calls", None, "missing_id")]


def test_a_record_that_is_not_an_object_is_quarantined_as_wrong_shape():
    tables = run(dialnexa, {"calls": [["call_abc123"]]})
    assert quarantined(tables) == [("calls", None, "wrong_shape")]
    assert tables["quarantine"][0]["payload"] == ["call_abc123"]


def test_identical_copies_are_dropped_and_conflicting_ones_quarantined_as_duplicate_id():
    tables = run(dialnexa, {"calls": [dn_call(), dn_call(), dn_call(status="busy")]})
    assert [r["status"] for r in tables["calls"]] == ["completed"]
    assert quarantined(tables) == [("calls", "call_abc123", "duplicate_id")]


# --- LeadConnector --------------------------------------------------------------------------------------


def test_leadconnector_missing_id_is_quarantined():
    record = {k: v for k, v in lc_record().items() if k != "id"}
    tables = run(leadconnector, {"call_logs": [record]})
    assert quarantined(tables) == [("call_logs", None, "missing_id")]
    assert tables["actions"] == [] and tables["interactions"] == []


def test_leadconnector_null_created_at_is_quarantined():
    tables = run(leadconnector, {"call_logs": [lc_record(createdAt=None)]})
    assert quarantined(tables) == [("call_logs", "507f1f77bcf86cd799439011", "missing_time")]


@pytest.mark.parametrize(("duration", "status"), [(180, "completed"), (0, "unknown"), (None, "unknown")])
def test_leadconnector_has_no_status_so_it_is_derived_from_duration(duration, status):
    row = only(run(leadconnector, {"call_logs": [lc_record(duration=duration)]})["calls"])
    assert (row["status"], row["status_raw"], row["sentiment"], row["cost_usd"]) == (status, None, None, None)


def test_leadconnector_trial_call_is_a_test_call():
    assert only(run(leadconnector, {"call_logs": [lc_record(trialCall=True)]})["calls"])["is_test"] is True


def test_leadconnector_unknown_action_type_is_other():
    actions = [{"actionId": "a1", "actionType": "SEND_FAX", "executedAt": "2024-01-15T10:31:00Z"}]
    action = only(run(leadconnector, {"call_logs": [lc_record(executedCallActions=actions)]})["actions"])
    assert (action["action_type"], action["action_type_raw"]) == ("other", "SEND_FAX")
    assert action["executed_at"] == utc(2024, 1, 15, 10, 31)


def test_leadconnector_actions_of_the_wrong_type_are_kept_as_invalid():
    tables = run(leadconnector, {"call_logs": [lc_record(executedCallActions="none")]})
    assert tables["actions"] == []
    assert only(tables["calls"])["extra"]["_invalid"] == {"executedCallActions": "none"}


def test_leadconnector_credentials_in_action_parameters_never_reach_the_table():
    record = lc_record()
    details = record["executedCallActions"][5]["actionParameters"]["apiDetails"]
    details["headers"].append({"key": "Authorization", "value": "Bearer abc.def-123"})
    details["url"] += "?token=tok-0042"
    text = json.dumps(run(leadconnector, {"call_logs": [record]})["actions"], default=str)
    assert "token123" not in text and "abc.def-123" not in text and "tok-0042" not in text
    assert "orders?token=[REDACTED]" in text
    assert '{"key": "Authorization", "value": "[REDACTED]"}' in text


# --- OmniDimension --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [("", "missing_time"), (False, "missing_time"), ("13/45/2026 99:00:00", "unparseable_time")],
)
def test_omnidimension_bad_time_of_call_is_quarantined(value, reason):
    tables = run(omnidimension, {"call_logs": [omni_record(time_of_call=value)]})
    assert quarantined(tables) == [("call_logs", "50958", reason)]
    assert tables["calls"] == tables["actions"] == tables["interactions"] == []


def test_omnidimension_quarantined_payload_has_no_credentials():
    tables = run(omnidimension, {"call_logs": [omni_record(time_of_call="")]})
    payload = tables["quarantine"][0]["payload"]
    assert "secret_key_" not in json.dumps(payload)
    assert payload["post_call_actions"]["call_recording_webhook_ids"][0]["webhook_method"] == "POST"


def test_omnidimension_local_time_is_read_in_the_source_timezone():
    tables = run(omnidimension, {"call_logs": [omni_record()]}, {"timezone": "America/New_York"})
    assert only(tables["calls"])["started_at"] == utc(2026, 5, 4, 18, 46, 15)  # EDT is UTC-4
    assert tables["interactions"][0]["at"] == utc(2026, 5, 4, 18, 43, 0)


def test_omnidimension_timezone_defaults_to_utc():
    assert only(run(omnidimension, {"call_logs": [omni_record()]})["calls"])["started_at"] == utc(
        2026, 5, 4, 14, 46, 15
    )


def test_omnidimension_invalid_timezone_fails_loudly():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        run(omnidimension, {"call_logs": [omni_record()]}, {"timezone": "Mars/Olympus"})


def test_omnidimension_false_means_null():
    record = omni_record(
        recording_url=False, aggregated_estimated_cost=False, bot_name=False, sentiment_score=""
    )
    row = only(run(omnidimension, {"call_logs": [record]})["calls"])
    assert (row["recording_url"], row["cost_usd"], row["agent_name"], row["sentiment"]) == (
        None,
        None,
        None,
        None,
    )
    assert "_invalid" not in row["extra"]


@pytest.mark.parametrize(
    ("seconds", "text", "expected"), [(None, "2:5", 125.0), (False, "1:02:03", 3723.0), (42, "9:9", 42.0)]
)
def test_omnidimension_duration_from_seconds_else_the_m_s_string(seconds, text, expected):
    record = omni_record(call_duration=text, call_duration_in_seconds=seconds)
    assert only(run(omnidimension, {"call_logs": [record]})["calls"])["duration_s"] == expected


@pytest.mark.parametrize(
    ("changes", "end_reason"),
    [
        ({"is_voicemail": True, "hangup_source": "agent"}, "voicemail_detected"),
        ({"hangup_source": "user"}, "user_disconnected"),
        ({"hangup_source": "agent"}, "agent_disconnected"),
        (
            {"hangup_source": "system", "hangup_reason": "no_answer", "call_status": "no-answer"},
            "user_did_not_pick_up",
        ),
        ({"call_status": "busy"}, "user_busy"),
        ({}, None),
    ],
)
def test_omnidimension_end_reason_from_its_own_fields(changes, end_reason):
    row = only(run(omnidimension, {"call_logs": [omni_record(**changes)]})["calls"])
    assert row["end_reason"] == end_reason


def test_omnidimension_simulation_is_a_test_call():
    assert (
        only(run(omnidimension, {"call_logs": [omni_record(is_simulation=True)]})["calls"])["is_test"] is True
    )


def test_omnidimension_phone_numbers_and_chat_words():
    record = omni_record(from_number="+1 (415) 555-0100", to_number="Assistant", channel_type="Phone-Call")
    row = only(run(omnidimension, {"call_logs": [record]})["calls"])
    assert (row["from_number"], row["to_number"], row["channel"]) == ("+14155550100", None, "phone")
    assert row["extra"]["to_number"] == "Assistant"


def test_omnidimension_conversation_is_used_when_there_are_no_interactions():
    tables = run(omnidimension, {"call_logs": [omni_record(interactions=False)]})
    turns = [(t["speaker"], t["text"], t["source"]) for t in tables["interactions"]]
    assert turns[:3] == [
        ("agent", "Hello, I am Kevin from OmniDimension support. How may I help you?", "transcript"),
        ("user", "i awnt ti book a meetig", "transcript"),
        (
            "agent",
            "Sure, I can help with that. Could you please provide me with your name and email address?",
            "transcript",
        ),
    ]
    assert len(turns) == 7  # the empty first "user:" is skipped
    assert [a["action_type"] for a in tables["actions"]] == ["webhook"]  # no interactions, no tool calls


def test_omnidimension_failed_tool_call_and_failed_webhook():
    record = omni_record()
    record["interactions"][3]["function_call_data"][0]["success"] = False
    record["post_call_actions"]["call_recording_webhook_ids"][0]["response_code"] = 500
    actions = run(omnidimension, {"call_logs": [record]})["actions"]
    assert [(a["action_type"], a["succeeded"]) for a in actions] == [
        ("function_call", False),
        ("webhook", False),
    ]


def test_omnidimension_webhook_credential_never_reaches_any_table():
    tables = run(omnidimension, {"call_logs": [omni_record()]})
    assert "secret_key_" not in json.dumps(tables, default=str)


# --- shared helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+919876543210", "+919876543210"),
        ("+1 (234) 567-890", "+1234567890"),
        ("0044 20 7946 0958", "+442079460958"),
        ("9876543210", None),  # no country code: not guessed
        ("Chat", None),
        ("+0123456789", None),
        (919876543210, None),
        ("+1234567", "+1234567"),  # 7 to 15 digits
        ("+123456", None),
        ("+123456789012345", "+123456789012345"),
        ("+1234567890123456", None),
        ("+\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", None),  # digits, not ASCII ones
        (" +919876543210\u00a0", "+919876543210"),
    ],
)
def test_e164(value, expected):
    assert e164(value) == expected


def test_split_turns_ignores_unknown_preamble_and_empty_labels():
    turns = split_turns(
        "[call start]\nbot: Hi\nhuman:\nbot: Still there?",
        {"bot": "agent", "human": "user"},
        re.compile("\n"),
    )
    assert turns == [("agent", "Hi"), ("agent", "Still there?")]


def test_dump_json_redacts_credential_fields_but_not_token_counts():
    text = dump_json(
        {"api_key": "k", "nested": [{"password": "p"}], "total_tokens": 12, "note": "secret_key_ab_12"}
    )
    assert json.loads(text) == {
        "api_key": "[REDACTED]",
        "nested": [{"password": "[REDACTED]"}],
        "total_tokens": 12,
        "note": "[REDACTED]",
    }


def test_duplicates_are_found_after_the_seen_ids_are_compacted(monkeypatch):
    # Older ids move from a dict to sorted arrays every SeenIds.RECENT ids: copies and conflicts of
    # calls seen long before (a big day) are still recognised.
    from calllog_pipeline.mapping import SeenIds

    monkeypatch.setattr(SeenIds, "RECENT", 2)
    calls = [dn_call(id=f"call_{i}") for i in range(7)]
    tables = run(dialnexa, {"calls": [*calls, dn_call(id="call_0"), dn_call(id="call_3", status="busy")]})
    assert sorted(r["call_id"] for r in tables["calls"]) == [f"call_{i}" for i in range(7)]
    assert quarantined(tables) == [("calls", "call_3", "duplicate_id")]


def test_dialnexa_joins_the_same_way_in_memory_and_in_many_parts(monkeypatch):
    # A day that fits one part is joined in memory; a big day in parts of PART_ROWS records by
    # call-id hash, through DuckDB: every row of every table is the same either way.
    from calllog_pipeline.providers.dialnexa import mapping as dialnexa_mapping

    def day() -> dict:
        calls = [dn_call(id=f"call_{i}", status="busy", metadata={"n": i}) for i in range(9)]
        calls.append(dn_call(id="call_3"))  # the same id again, other content: quarantined
        logs = [
            dn_log(call_id=f"call_{i}", id=f"log_{i}", transcript=f"Agent: hi {i}\nUser: bye")
            for i in (*range(0, 9, 2), 11)  # call_11 has no /calls record
        ]
        return {"calls": calls, "call_logs": logs}

    def by_key(tables) -> dict:
        return {
            "calls": sorted(tables["calls"], key=lambda r: r["call_id"]),
            "interactions": sorted(tables["interactions"], key=lambda r: (r["call_id"], r["turn_index"])),
            "quarantine": tables["quarantine"],
        }

    whole = run(dialnexa, day())
    monkeypatch.setattr(dialnexa_mapping, "PART_ROWS", 2)
    monkeypatch.setattr(dialnexa_mapping, "PART_GROUP_ROWS", 2)
    parted = run(dialnexa, day())
    assert len(whole["calls"]) == 10
    assert len(whole["interactions"]) == 12
    assert [r["reason"] for r in whole["quarantine"]] == ["duplicate_id"]
    assert by_key(parted) == by_key(whole)
    merged = next(r for r in whole["calls"] if r["call_id"] == "call_2")
    assert merged["extra"]["metadata"] == {"n": 2} and merged["extra"]["log_id"] == "log_2"


@pytest.mark.parametrize(
    "zone_name", ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Australia/Lord_Howe"]
)
def test_local_times_read_through_the_hour_cache_match_the_zone_conversion(zone_name):
    # mapping.parse_local adds minutes and seconds to its local hour's cached start; across the
    # DST changes of 2026 (Lord Howe moves by 30 minutes) it reads what timeutil.parse_local reads.
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from calllog_pipeline import mapping, timeutil

    zone = ZoneInfo(zone_name)
    days = ["2026-03-08", "2026-04-05", "2026-09-27", "2026-10-04", "2026-11-01", "2026-12-31"]
    for fmt in ("%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        for day in days:
            start = datetime.fromisoformat(day)
            for step in range(0, 26 * 3600, 7 * 60 + 13):
                text = (start + timedelta(seconds=step)).strftime(fmt)
                read = mapping.parse_local(text, "time_of_call", zone, fmt)
                assert read == timeutil.parse_local(text, fmt, zone), text
                assert read.utcoffset() == timedelta(0)
    for bad in ("02/30/2026 10:00:00", "01/01/2026 24:00:00", "01/01/2026 10:60:00", "01/01/2026 10:00:60"):
        with pytest.raises(mapping.Reject):
            mapping.parse_local(bad, "time_of_call", zone, "%m/%d/%Y %H:%M:%S")


@pytest.mark.parametrize(
    "html",
    [
        "Agent: hi<br/>User: yo<br/><br/> more ",
        "a<BR/>b<br >c<bR\n/>d\r\n\re",  # other spellings of the break take the regex
        "x<br\t\t>y<br/ >z<brr>",
        "User: 1 < 2<br/>Agent: yes",  # a "<" that is no break
        " \u00a0<br/>\u3000",
        "",
    ],
)
def test_omnidimension_conversation_lines_are_the_same_on_the_fast_path(html):
    from calllog_pipeline.providers.omnidimension.mapping import HTML_BREAK, conversation_text

    reference = "\n".join(line.strip() for line in HTML_BREAK.split(html) if line.strip()) or None
    assert conversation_text(html) == reference
