"""Every field of every reference-page example (nested ones too), replaced in turn by each odd
JSON value a real API has been seen to send: the day never fails; each record becomes a call row
or a quarantine row with a reason; nothing else happens to it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fixtures.memory_raw import fixed_ingestion_time, fixture, run  # noqa: F401

from calllog_pipeline import schemas
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.providers.dialnexa.mapping import normalize as dialnexa
from calllog_pipeline.providers.leadconnector.mapping import normalize as leadconnector
from calllog_pipeline.providers.omnidimension.mapping import normalize as omnidimension

pytestmark = pytest.mark.usefixtures("fixed_ingestion_time")

ODD = [
    None, False, True, "", " ", 0, -1, 1.5, 1e308, "x", "NaN", "12:99", "7", "+-5",
    2**63,  # JSON has no integer limit; a decoder keeps up to 2**64 - 1 as an integer, beyond int64
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",  # valid ISO, but out of range in UTC
    "12/31/9999 23:59:59", "01/01/0001 00:00:00",  # the last and first local times there are
    [], {}, [None], [1], {"a": 1}, "[", "{", "[1]", '{"a": 1}',
]  # fmt: skip


def paths(value, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key and (first two) list positions under ``value``."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = list(enumerate(value))[:2]
    else:
        return
    for key, inner in items:
        yield (*prefix, key)
        yield from paths(inner, (*prefix, key))


def variants(record: dict, id_key: str) -> list[dict]:
    """One copy of ``record`` per (path, odd value), each with its own call id (unless the id is
    the field being replaced)."""
    out = []
    for path in paths(record):
        for value in ODD:
            changed = copy.deepcopy(record)
            if path != (id_key,):
                changed[id_key] = f"odd_{len(out)}" if isinstance(record[id_key], str) else 10**6 + len(out)
            target = changed
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            out.append(changed)
    return out


@pytest.mark.parametrize(
    ("normalize", "name", "endpoint", "id_key"),
    [
        (dialnexa, "dialnexa_calls.json", "calls", "id"),
        (dialnexa, "dialnexa_call_logs.json", "call_logs", "call_id"),
        (leadconnector, "leadconnector_call_logs.json", "call_logs", "id"),
        (omnidimension, "omnidimension_call_logs.json", "call_logs", "id"),
    ],
    ids=["dialnexa-calls", "dialnexa-call_logs", "leadconnector", "omnidimension"],
)
def test_odd_values_anywhere_never_fail_the_day(normalize, name, endpoint, id_key):
    records = variants(fixture(name)[0], id_key)
    tables = run(normalize, {endpoint: records}, {"timezone": "UTC"})
    assert len(tables["calls"]) + len(tables["quarantine"]) == len(records)
    assert {q["reason"] for q in tables["quarantine"]} <= set(schemas.QUARANTINE_REASONS)
    assert all(q["detail"] for q in tables["quarantine"])


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "12/31/9999 23:59:59"]
)
def test_a_time_out_of_range_in_utc_has_no_time_in_the_raw_fetch(value):
    # The fetch keeps such a record in its neighbour's window; normalization quarantines it.
    context = {"timezone": "America/New_York"}
    for provider in REGISTRY.values():
        for endpoint in provider.endpoints:
            record = {"created_at": value, "createdAt": value, "time_of_call": value}
            assert endpoint.record_time(record, context) is None, (provider.name, endpoint.name)


def test_the_last_local_time_there_is_has_no_later_reading():
    (endpoint,) = REGISTRY["omnidimension"].endpoints
    moment = endpoint.record_time({"time_of_call": "12/31/9999 23:59:59"}, {"timezone": "UTC"})
    assert endpoint.later_time(moment, {"timezone": "UTC"}) is None


@pytest.mark.parametrize(
    ("normalize", "name", "field"),
    [
        (leadconnector, "leadconnector_call_logs.json", "trialCall"),
        (omnidimension, "omnidimension_call_logs.json", "is_simulation"),
    ],
    ids=["leadconnector", "omnidimension"],
)
def test_a_test_call_flag_sent_as_text_is_read(normalize, name, field):
    records = []
    for i, flag in enumerate(["true", "False", " TRUE ", "maybe"]):
        record = {**fixture(name)[0], field: flag, "id": f"flag_{i}"}
        records.append(record)
    tables = run(normalize, {"call_logs": records}, {"timezone": "UTC"})
    by_id = {row["call_id"]: row["is_test"] for row in tables["calls"]}
    assert by_id == {"flag_0": True, "flag_1": False, "flag_2": True, "flag_3": None}


@pytest.mark.parametrize(
    ("normalize", "name", "endpoint", "field"),
    [
        (dialnexa, "dialnexa_calls.json", "calls", "created_at"),
        (leadconnector, "leadconnector_call_logs.json", "call_logs", "createdAt"),
    ],
    ids=["dialnexa", "leadconnector"],
)
def test_a_start_time_sent_as_epoch_seconds_or_milliseconds_is_read(normalize, name, endpoint, field):
    """An API sending epoch numbers instead of ISO text; a stray 0 or -1 is not taken for 1970."""
    sent = {"s": 1_772_451_000, "ms": 1_772_451_000_250, "float": 1_772_451_000.5, "zero": 0, "neg": -1}
    records = [{**fixture(name)[0], field: value, "id": f"epoch_{k}"} for k, value in sent.items()]
    tables = run(normalize, {endpoint: records}, {"timezone": "UTC"})
    started = {row["call_id"]: row["started_at"] for row in tables["calls"]}
    assert started == {
        "epoch_s": datetime(2026, 3, 2, 11, 30, tzinfo=UTC),
        "epoch_ms": datetime(2026, 3, 2, 11, 30, 0, 250_000, tzinfo=UTC),
        "epoch_float": datetime(2026, 3, 2, 11, 30, 0, 500_000, tzinfo=UTC),
    }
    assert {q["reason"] for q in tables["quarantine"]} == {"unparseable_time"}
    assert len(tables["quarantine"]) == 2
