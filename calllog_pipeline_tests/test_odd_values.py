"""Every field of every reference-page example (nested ones too), replaced in turn by each odd
JSON value a real API has been seen to send: the day never fails; each record becomes a call row
or a quarantine row with a reason; nothing else happens to it."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from fixtures.memory_raw import fixed_ingestion_time, fixture, run  # noqa: F401

from calllog_pipeline import schemas
from calllog_pipeline.providers.dialnexa.mapping import normalize as dialnexa
from calllog_pipeline.providers.leadconnector.mapping import normalize as leadconnector
from calllog_pipeline.providers.omnidimension.mapping import normalize as omnidimension

pytestmark = pytest.mark.usefixtures("fixed_ingestion_time")

ODD = [
    None, False, True, "", " ", 0, -1, 1.5, 1e308, "x", "NaN", "12:99",
    2**63,  # JSON has no integer limit; a decoder keeps up to 2**64 - 1 as an integer, beyond int64
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
