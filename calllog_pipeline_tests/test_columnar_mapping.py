"""The column-at-a-time mapping reads every value as the value-by-value rules do.

Times are parsed in Arrow for the usual ISO layout and by ``timeutil.parse_iso_utc`` otherwise;
a call's start time, an action's time and what is quarantined must not depend on which path a
value took, nor on the other values of its batch."""

from __future__ import annotations

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
