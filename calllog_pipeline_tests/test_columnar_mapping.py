"""The column-at-a-time mapping reads every value as the value-by-value rules do.

Times are parsed in Arrow for the usual ISO layout and by ``timeutil.parse_iso_utc`` otherwise;
a call's start time, an action's time and what is quarantined must not depend on which path a
value took, nor on the other values of its batch."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fixtures.memory_raw import fixed_ingestion_time, run, utc  # noqa: F401

from calllog_pipeline import mapping, timeutil
from calllog_pipeline.providers.leadconnector.mapping import normalize as leadconnector

pytestmark = pytest.mark.usefixtures("fixed_ingestion_time")

TIMES = [
    "2026-03-08T06:59:59.123Z",
    "2026-03-08T06:59:59Z",
    "2026-03-08T06:59:59.5Z",
    "2026-03-08T06:59:59.123456Z",
    "2026-03-08T06:59:59.1234567Z",  # beyond microseconds
    "2026-03-08T12:29:59+05:30",
    "2026-03-08T01:59:59-05:00",
    "2026-03-08T19:44:59+13:45",  # Chatham
    "2026-03-08t06:59:59z",  # lower case (RFC 3339 allows it)
    "2026-03-08T06:59:59",  # no zone: documented as UTC
    "2026-03-08 06:59:59Z",
    "2026-03-08T06:59:59+0530",
    "2026-03-08T06:59:59.123+05:30:15",
    "0999-12-31T23:00:00Z",
    "9999-12-31T23:59:59-01:00",  # valid, but after 9999 in UTC
    "0001-01-01T00:00:00+01:00",  # valid, but before year 1 in UTC
    "2026-02-29T00:00:00Z",  # not a leap year
    "2024-02-29T00:00:00Z",
    "2026-03-08T24:00:00Z",
    "2026-03-08T06:59:60Z",  # a leap second
    "not-a-date",
    "",
    " ",
    None,
    7,
    False,
]


@pytest.mark.parametrize(
    "batch",
    [
        TIMES,
        [t for t in TIMES if t != "2026-02-29T00:00:00Z"],
        TIMES[:4],  # only the usual layout
        [*TIMES[:4], "2026-02-29T00:00:00Z"],  # the usual layout, one impossible date
    ],
)
def test_iso_times_of_a_column_equal_the_value_by_value_parse(batch):
    # With and without a value Arrow refuses for the whole batch (29 February 2026).
    assert mapping.iso_times(batch).to_pylist() == [timeutil.parse_iso_utc(v) for v in batch]


def _call(i: int, created_at, executed_at="2026-03-08T07:00:00Z") -> dict:
    return {
        "id": f"call_{i}",
        "createdAt": created_at,
        "duration": 30,
        "executedCallActions": [{"actionId": f"act_{i}", "actionType": "SMS", "executedAt": executed_at}],
    }


def test_leadconnector_times_of_one_batch_read_as_each_alone():
    """Each odd time in a batch of usual ones, and the same records mapped one per batch: the
    same calls, actions (an unreadable action time kept in ``extra._invalid``) and quarantine."""
    records = [_call(i, t, executed_at=t) for i, t in enumerate(TIMES)]
    together = run(leadconnector, {"call_logs": records})
    alone = run(leadconnector, {"call_logs": records}, batch_size=1)
    for table in together:
        key = lambda row: tuple(str(v) for v in row.values())  # noqa: E731
        assert sorted(together[table], key=key) == sorted(alone[table], key=key), table
    started = {row["call_id"]: row["started_at"] for row in together["calls"]}
    for i, t in enumerate(TIMES):
        expected = timeutil.parse_iso_utc(t)
        assert started.get(f"call_{i}") == expected, t
    actions = {row["call_id"]: row for row in together["actions"]}
    assert actions["call_9"]["executed_at"] == utc(2026, 3, 8, 6, 59, 59)  # no zone: UTC
    reasons = {row["record_id"]: row["reason"] for row in together["quarantine"]}
    assert reasons["call_20"] == "unparseable_time"  # "not-a-date"
    assert reasons["call_21"] == reasons["call_23"] == reasons["call_25"] == "missing_time"  # "", null, false
    assert reasons["call_24"] == "unparseable_time"  # a number


def test_leadconnector_invalid_action_time_is_kept_not_guessed():
    calls = run(leadconnector, {"call_logs": [_call(1, "2026-03-08T06:59:59Z", executed_at="soon")]})
    (action,) = calls["actions"]
    assert action["executed_at"] is None
    assert action["extra"] == {"_invalid": {"executedAt": "soon"}}


def test_dialnexa_duration_reads_the_second_spelling_only_when_the_first_gives_nothing():
    from calllog_pipeline.providers.dialnexa.mapping import normalize as dialnexa

    start = "2026-03-08T06:00:00Z"
    logs = [
        {"id": "c1", "created_at": start, "duration_seconds": "x", "duration_sec": 5},
        {"id": "c2", "created_at": start, "duration_seconds": 7, "duration_sec": "y"},
        {"id": "c3", "created_at": start, "ended_at": "2026-03-08T06:01:02.345678Z"},
        {"id": "c4", "created_at": start, "ended_at": "2026-03-08T05:59:00Z"},  # before the start
        {"id": "c5", "created_at": start, "duration_sec": "z"},
    ]
    calls = {row["call_id"]: row for row in run(dialnexa, {"call_logs": logs})["calls"]}
    assert calls["c1"]["duration_s"] == 5.0
    assert calls["c1"]["extra"] == {"_invalid": {"duration_seconds": "x"}}
    assert calls["c2"]["duration_s"] == 7.0
    assert calls["c2"]["extra"] is None  # duration_sec is not read: nothing invalid
    assert calls["c3"]["duration_s"] == 62.345678
    assert calls["c4"]["duration_s"] is None
    assert calls["c5"]["duration_s"] is None
    assert calls["c5"]["extra"] == {"_invalid": {"duration_sec": "z"}}


def test_omnidimension_fallback_fields_and_what_extra_keeps():
    """``agent_id`` is read only when ``bot_id`` gives nothing; words in a number field are kept
    beside the values no column could take, per record, whatever else is in the batch."""
    from calllog_pipeline.providers.omnidimension.mapping import normalize as omnidimension

    base = {"time_of_call": "03/08/2026 06:59:59", "call_status": "completed"}
    records = [
        {**base, "id": 1, "bot_id": 5.5, "agent_id": "a1", "from_number": "Chat", "channel_type": "Fax"},
        {**base, "id": 2, "bot_id": "b2", "agent_id": 7.5, "sentiment_score": "Happy", "note": "kept"},
        {**base, "id": 3, "bot_id": False, "agent_id": False, "from_number": False, "channel_type": "Web"},
    ]
    calls = {row["call_id"]: row for row in run(omnidimension, {"call_logs": records}, batch_size=3)["calls"]}
    assert calls["1"]["agent_id"] == "a1"
    assert calls["1"]["extra"] == {"from_number": "Chat", "_invalid": {"bot_id": 5.5, "channel_type": "Fax"}}
    assert calls["2"]["agent_id"] == "b2"
    assert calls["2"]["extra"] == {"note": "kept", "_invalid": {"sentiment_score": "Happy"}}
    assert calls["3"]["agent_id"] is None and calls["3"]["channel"] == "web_call"
    assert calls["3"]["extra"] is None
    assert {row["started_at"] for row in calls.values()} == {utc(2026, 3, 8, 6, 59, 59)}


@pytest.mark.parametrize("provider", ["dialnexa", "leadconnector", "omnidimension"])
def test_a_mapped_batch_leaves_no_cycles_behind(provider):
    """Quarantined records (an exception kept with its traceback holds its frames, and so the
    whole batch) must not keep a batch alive until the collector runs: with it off, mapping a day
    of odd records leaves nothing for it to find."""
    import gc

    from calllog_pipeline.providers import REGISTRY

    time_key, good = {
        "dialnexa": ("created_at", "2026-03-08T06:59:59Z"),
        "leadconnector": ("createdAt", "2026-03-08T06:59:59Z"),
        "omnidimension": ("time_of_call", "03/08/2026 06:59:59"),
    }[provider]
    odd = [None, "", "not-a-date", 7, good, good]
    records = [{"id": f"c{i % 5}", time_key: t, "status": f"s{i}"} for i, t in enumerate(odd * 4)]
    records += [[1], "text", {"no": "id", time_key: good}]
    endpoints = {e.name: records for e in REGISTRY[provider].endpoints}
    run(REGISTRY[provider].normalize, endpoints, batch_size=10)  # what a first run creates once
    gc.collect()
    gc.disable()
    try:
        tables = run(REGISTRY[provider].normalize, endpoints, batch_size=10)
        assert tables["quarantine"] and tables["calls"]
        assert gc.collect() == 0
    finally:
        gc.enable()


# --- OmniDimension's local times and nested lists, a batch at a time ----------------------------------

ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Australia/Lord_Howe"]
DST_DAYS = ["2026-03-08", "2026-04-05", "2026-09-27", "2026-10-04", "2026-11-01", "2026-12-31"]
ODD_LOCAL_TIMES = [
    " 11/01/2026 01:30:00 ",  # blanks around it
    "\u00a011/01/2026 01:30:00",
    "11/1/2026 1:30 AM",
    "11/01/2026 01:30:00.5",
    "2026-11-01 01:30:00",
    "2026-11-01T05:30:00Z",
    "13/45/2026 99:00:00",
    "02/30/2026 10:00:00",
    "01/01/2026 24:00:00",
    "01/01/2026 10:60:00",
    "01/01/2026 10:00:60",
    "01/01/2026 10:00:0\u0661",  # an Arabic-Indic digit
    "",
    " ",
    None,
    False,
    7,
]


@pytest.mark.parametrize("zone_name", ZONES)
def test_local_times_of_a_column_equal_the_value_by_value_read(zone_name):
    """Every 7 min 13 s across each 2026 DST change (Lord Howe moves by 30 minutes), in both
    layouts, and values in other layouts or none: the column reads what each value reads alone."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(zone_name)
    for fmt in ("%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        values = [
            (datetime.fromisoformat(day) + timedelta(seconds=step)).strftime(fmt)
            for day in DST_DAYS
            for step in range(0, 26 * 3600, 7 * 60 + 13)
        ]
        values += ODD_LOCAL_TIMES
        expected = [mapping.local_time(value, zone, fmt) for value in values]
        assert mapping.local_times(values, zone, fmt).to_pylist() == expected
        assert (
            mapping.local_times(ODD_LOCAL_TIMES, zone, fmt).to_pylist() == expected[-len(ODD_LOCAL_TIMES) :]
        )
    assert mapping.local_times([], zone, "%m/%d/%Y %H:%M:%S").to_pylist() == []


@pytest.mark.parametrize(
    ("zone_name", "day"),
    [
        ("America/New_York", "11/01/2026"),
        ("Pacific/Chatham", "04/05/2026"),
        ("Australia/Lord_Howe", "04/05/2026"),
    ],
)
def test_times_during_calls_and_in_later_hours_equal_the_value_by_value_rules(zone_name, day):
    """Around a fall-back, each time (read in the earlier pass) against call starts before, inside
    and after the repeated hour, or unknown; and moved to the later pass where asked."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    import pyarrow as pa

    from calllog_pipeline import schemas

    zone = ZoneInfo(zone_name)
    times = [
        mapping.local_time(f"{day} {h:02d}:{m:02d}:{s:02d}", zone, "%m/%d/%Y %H:%M:%S")
        for h in range(0, 6)
        for m in range(0, 60, 7)
        for s in (0, 59)
    ]
    times += [None, mapping.local_time("12/31/2026 23:30:00", zone, "%m/%d/%Y %H:%M:%S")]
    shifts = [timedelta(minutes=m) for m in (-95, -40, -1, 0, 3, 40, 61, 95)]
    starts = [None if i % 9 == 0 else t and t + shifts[i % len(shifts)] for i, t in enumerate(times)]
    column = pa.array(times, schemas.TIMESTAMP)
    expected = [t and timeutil.during_call(t, s, zone) for t, s in zip(times, starts, strict=True)]
    assert mapping.during_calls(column, pa.array(starts, schemas.TIMESTAMP), zone).to_pylist() == expected
    assert expected != times  # the day has a repeated hour, and some times were moved
    which = [i % 2 == 0 for i in range(len(times))]
    later = [t and timeutil.in_later_hour(t, zone) if w else t for t, w in zip(times, which, strict=True)]
    assert mapping.in_later_hours(column, zone, which).to_pylist() == later


def _omni(i: int, **changes) -> dict:
    import copy

    from fixtures.memory_raw import fixture

    record = copy.deepcopy(fixture("omnidimension_call_logs.json")[0])
    return record | {"id": i} | changes


def _odd_nested_calls() -> list[dict]:
    import json

    calls = []
    reversed_turns = _omni(1)
    reversed_turns["interactions"].reverse()
    calls.append(reversed_turns)
    as_text = _omni(2)  # numbered by text, in reverse: "10" comes after "9"
    for turn, sequence in zip(as_text["interactions"], ["9", 10, "11", " 12 "], strict=True):
        turn["interaction_sequence"] = sequence
    as_text["interactions"].reverse()
    calls.append(as_text)
    unnumbered = _omni(3)  # one interaction without a number: the order they were sent in
    unnumbered["interactions"].reverse()
    unnumbered["interactions"][1]["interaction_sequence"] = "second"
    calls.append(unnumbered)
    tools = _omni(4)
    tools["interactions"][0]["function_call_data"] = {"function_name": "lookup", "args": {"q": 1}}
    tools["interactions"][1]["function_call_data"] = json.dumps(
        [{"function_name": "book", "success": "false"}]
    )
    tools["interactions"][2]["function_call_data"] = "offer()"  # unreadable: kept in _invalid
    tools["interactions"][2]["time_of_call"] = "soon"
    tools["interactions"].append("not a turn")
    calls.append(tools)
    calls.append(_omni(5, interactions=json.dumps(_omni(5)["interactions"])))
    calls.append(_omni(6, interactions=False))  # the conversation text instead
    calls.append(_omni(7, interactions={"not": "a list"}))
    deliveries = _omni(8)
    hooks = deliveries["post_call_actions"]
    hooks["email_service_ids"] = {
        "id": 81,
        "name": "mail",
        "status": "failed",
        "create_date": "2026-05-04 14:47:00",
    }
    hooks["slack_service_ids"] = json.dumps([{"id": 82, "response_code": "204"}])
    hooks["hubspot_service_ids"] = 7  # unreadable
    hooks["new_service_ids"] = [{"id": 83, "create_date": "later"}, "not a delivery"]
    calls.append(deliveries)
    calls.append(_omni(9, post_call_actions="sent"))
    calls.append(_omni(10, post_call_actions=json.dumps(_omni(10)["post_call_actions"])))
    return calls


def test_omnidimension_turns_and_actions_of_a_batch_map_as_each_call_alone():
    """Nested lists of odd shapes in one batch, and the same calls one per batch: the same rows,
    each call's turns in order, unreadable nested values kept, no credential in any table."""
    import json

    from calllog_pipeline.providers.omnidimension.mapping import normalize as omnidimension

    records = _odd_nested_calls()
    context = {"timezone": "America/New_York"}
    together = run(omnidimension, {"call_logs": records}, context)
    alone = run(omnidimension, {"call_logs": records}, context, batch_size=1)
    for table in together:
        key = lambda row: (row.get("call_id") or "", json.dumps(row, default=str, sort_keys=True))  # noqa: E731
        assert sorted(together[table], key=key) == sorted(alone[table], key=key), table
    assert not together["quarantine"]
    assert "secret_key_" not in json.dumps(together, default=str)

    def turns(call_id: str) -> list[tuple]:
        return [
            (t["turn_index"], t["speaker"], t["text"][:12])
            for t in together["interactions"]
            if t["call_id"] == call_id
        ]

    in_order = turns("2")
    assert turns("1") == in_order and turns("5") == in_order
    assert in_order[0] == (0, "agent", "Hello, I am ")  # the greeting has no user query
    assert turns("3")[0] == (0, "user", "y")  # as sent: "second" is no number
    assert {t["source"] for t in together["interactions"] if t["call_id"] in ("6", "7")} == {"transcript"}
    calls = {c["call_id"]: c for c in together["calls"]}
    assert calls["4"]["extra"]["_invalid"] == {"interactions[88249].function_call_data": "offer()"}
    assert calls["7"]["extra"]["_invalid"] == {"interactions": {"not": "a list"}}
    assert calls["8"]["extra"]["_invalid"] == {"post_call_actions.hubspot_service_ids": 7}
    assert calls["9"]["extra"]["_invalid"] == {"post_call_actions": "sent"}
    tools = [(a["action_id"], a["name"], a["succeeded"]) for a in together["actions"] if a["call_id"] == "4"]
    assert tools[:3] == [
        ("88247:0", "lookup", None),
        ("88248:0", "book", False),
        ("88250:0", "offer_calendly_meeting", True),
    ]  # in interaction order, then the call's deliveries
    assert [a["action_type"] for a in together["actions"] if a["call_id"] == "4"][3:] == ["webhook"]
    kinds = [a["action_type"] for a in together["actions"] if a["call_id"] == "8"]
    assert kinds == ["function_call", "webhook", "email", "notification", "other"]
    at = {a["action_id"]: a["executed_at"] for a in together["actions"] if a["call_id"] == "8"}
    assert at["81"] == utc(2026, 5, 4, 18, 47) and at["83"] is None  # read in New York


# Values a text, number or phone field may hold: every branch of the per-value coercions.
ODD_VALUES = [
    None, "", " ", "\t\n", "\x1c", "\u3000", "\u200b", " padded ", "x", "İ", 0, 7, -3, 2**63, 12.5,
    float("nan"), True, False, {}, {"a": 1}, [], [1], "12.5", " 42 ", "1e3", "inf", "-0", "+16174753086",
    "+1 (617) 475-3086", "0044 20 7946 0958", "+0123456", "+1234567", "+1234567890123456", "＋16174753086",
    "+1617475308\u0661",
]  # fmt: skip
COLUMNS = [
    (mapping.text_column, mapping.as_str, pa.string()),
    (mapping.number_column, mapping.as_float, pa.float64()),
    (mapping.phone_column, mapping.e164, pa.string()),
]


@pytest.mark.parametrize(("column", "coerce", "arrow_type"), COLUMNS)
@pytest.mark.parametrize("value", ODD_VALUES)
def test_arrow_columns_read_each_value_as_take_column(column, coerce, arrow_type, value):
    # Alone, among values of the column's usual type, and where the field is missing.
    usual = {pa.string(): "+16174753086", pa.float64(): 30}[arrow_type]
    # After a float too: Arrow reads [0.5, true] as the doubles [0.5, 1.0].
    for values in ([value], [usual, value, None], [usual, value, "", value], [0.5, value]):
        records = [{"k": v} for v in values] + [{}]
        expected_invalid: mapping.Invalid = {}
        expected = mapping.take_column(records, "k", coerce, expected_invalid)
        invalid: mapping.Invalid = {}
        found = column(records, "k", invalid)
        assert found.type == arrow_type
        assert _same(found.to_pylist(), expected), values
        assert invalid == expected_invalid, values


@pytest.mark.parametrize("value", ODD_VALUES)
def test_word_column_reads_each_value_as_take_column(value):
    def word(v):
        text = mapping.as_str(v)
        return text.strip().lower() if text else None

    for values in ([value], ["Completed", value, None, "completed"], [value, value]):
        records = [{"k": v} for v in values]
        expected_invalid: mapping.Invalid = {}
        expected = mapping.take_column(records, "k", word, expected_invalid)
        invalid: mapping.Invalid = {}
        assert mapping.word_column(records, "k", word, invalid) == expected
        assert invalid == expected_invalid


def _same(found: list, expected: list) -> bool:
    return len(found) == len(expected) and all(
        f == e or (f != f and e != e) for f, e in zip(found, expected, strict=True)
    )


def test_arrow_whitespace_is_python_whitespace():
    # ``text_column`` finds blank values with Arrow's ``utf8_is_space``, ``str.strip`` with
    # ``str.isspace``: they must agree on every code point (a pyarrow upgrade could change one).
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    arrow = pc.utf8_is_space(pa.array(chars)).to_pylist()
    assert [c for c, space in zip(chars, arrow, strict=True) if space != c.isspace()] == []


def test_millisecond_layout_is_read_as_the_regular_expression_reads_it():
    # The NumPy check of the usual layout accepts exactly what ``_ISO_USUAL`` accepts among
    # 24-character values: every byte of a good value replaced by each printable ASCII byte.
    good = "2026-03-08T06:59:59.123Z"
    pattern = re.compile(mapping._ISO_USUAL)
    for at in range(len(good)):
        for byte in range(32, 127):
            value = good[:at] + chr(byte) + good[at + 1 :]
            for batch in ([value], [None, value, good]):
                expected = [v is not None and pattern.fullmatch(v) is not None for v in batch]
                assert mapping._in_millisecond_layout(pa.array(batch, pa.string())).to_pylist() == expected
            assert mapping.iso_times([value, good, None]).to_pylist() == [
                timeutil.parse_iso_utc(v) for v in (value, good, None)
            ]
    for value in ("2026-02-30T00:00:00.000Z", "2026-12-31T23:59:59.999Z", "1000-01-01T00:00:00.000Z"):
        assert mapping.iso_times([value]).to_pylist() == [timeutil.parse_iso_utc(value)]


def test_seen_ids_of_a_batch_are_judged_as_one_at_a_time():
    calls = ["a", "b", "a", "c", "b", "d", "a"]
    digests = [1, 2, 1, 3, 9, 4, 5]
    one_by_one, batch = mapping.SeenIds(), mapping.SeenIds()
    expected = [one_by_one._verdict(c, d) for c, d in zip(calls, digests, strict=True)]
    found = batch.check_all(calls, digests)
    assert (
        [v if isinstance(v, bool) else v.reason for v in found]
        == [v if isinstance(v, bool) else v.reason for v in expected]
        == [True, True, False, True, "duplicate_id", True, "duplicate_id"]
    )
    # Ids new to the batch but seen in an earlier one (kept in the sorted arrays, too).
    batch.RECENT = one_by_one.RECENT = 2
    assert batch.check_all(["e", "f", "g"], [6, 7, 8]) == [True, True, True]
    assert [v if isinstance(v, bool) else v.reason for v in batch.check_all(["a", "x", "e"], [1, 0, 9])] == [
        False,
        True,
        "duplicate_id",
    ]
