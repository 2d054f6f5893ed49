"""Every status spelling a provider is documented (or simulated) to send maps to the right canonical status.

The expectations are written out here, independently of the mappings' tables: dropping or changing
one table entry fails its case below, and a new table entry without an expectation fails the
coverage tests.
"""

from __future__ import annotations

import copy

import pytest
from fixtures.memory_raw import fixed_ingestion_time, fixture, run  # noqa: F401

from calllog_pipeline import schemas
from calllog_pipeline.providers.dialnexa import mapping as dialnexa
from calllog_pipeline.providers.omnidimension import mapping as omnidimension
from calllog_pipeline.simulator import dialnexa as dialnexa_simulator
from calllog_pipeline.simulator import omnidimension as omnidimension_simulator

pytestmark = pytest.mark.usefixtures("fixed_ingestion_time")

# dialnexa-calls.txt (status filter: initiated, in-progress, completed, failed, busy, no-answer; the enum:
# created, initiated, sent, received, completed, did_not_pick, busy, no_answer, failed, cancelled,
# retry_expired), dialnexa-call-logs.txt (examples: "completed", "no-answer"), and the variants a
# live call passes through ("ringing") or American spelling ("canceled").
DIALNEXA = {
    "completed": ("completed", "outbound"),
    "received": ("completed", "inbound"),  # an answered inbound call
    "no-answer": ("no_answer", "outbound"),
    "no_answer": ("no_answer", "outbound"),
    "did_not_pick": ("no_answer", "outbound"),
    "busy": ("busy", "outbound"),
    "failed": ("failed", "outbound"),
    "sent": ("failed", "outbound"),
    "retry_expired": ("failed", "outbound"),
    "cancelled": ("cancelled", "outbound"),
    "canceled": ("cancelled", "outbound"),
    "initiated": ("in_progress", "outbound"),
    "in-progress": ("in_progress", "outbound"),
    "in_progress": ("in_progress", "outbound"),
    "ringing": ("in_progress", "outbound"),
    "created": ("queued", "outbound"),
    # Case and separators vary between the pages; the meaning does not.
    "No-Answer": ("no_answer", "outbound"),
    "IN PROGRESS": ("in_progress", "outbound"),
    " Completed ": ("completed", "outbound"),
    "teleported": ("unknown", "outbound"),  # an unknown word is kept in status_raw, never guessed
}

# omnidimension-call-logs.txt (call_status filter: "completed" | "busy" | "failed" | "no-answer"),
# the underscore form, live calls ("in-progress", as the simulator lists them) and queue states.
OMNIDIMENSION = {
    "completed": "completed",
    "busy": "busy",
    "failed": "failed",
    "no-answer": "no_answer",
    "no_answer": "no_answer",
    "in-progress": "in_progress",
    "in_progress": "in_progress",
    "ongoing": "in_progress",
    "initiated": "in_progress",
    "queued": "queued",
    "scheduled": "queued",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "No-Answer": "no_answer",
    "teleported": "unknown",
}


def _key(spelling: str) -> str:
    return spelling.strip().lower().replace("-", "_").replace(" ", "_")


def dialnexa_record(endpoint: str, status: str) -> dict:
    name = "dialnexa_calls.json" if endpoint == "calls" else "dialnexa_call_logs.json"
    return copy.deepcopy(fixture(name)[0]) | {"status": status}


@pytest.mark.parametrize("endpoint", ["calls", "call_logs"])
@pytest.mark.parametrize(("spelling", "expected"), DIALNEXA.items(), ids=list(DIALNEXA))
def test_dialnexa_status(endpoint, spelling, expected):
    (row,) = run(dialnexa.normalize, {endpoint: [dialnexa_record(endpoint, spelling)]})["calls"]
    assert (row["status"], row["direction"]) == expected
    assert row["status_raw"] == spelling


@pytest.mark.parametrize(("spelling", "expected"), OMNIDIMENSION.items(), ids=list(OMNIDIMENSION))
def test_omnidimension_status(spelling, expected):
    record = copy.deepcopy(fixture("omnidimension_call_logs.json")[0]) | {"call_status": spelling}
    (row,) = run(omnidimension.normalize, {"call_logs": [record]}, {"timezone": "UTC"})["calls"]
    assert (row["status"], row["status_raw"]) == (expected, spelling)


@pytest.mark.parametrize(
    ("table", "expected", "simulated"),
    [
        (dialnexa.STATUS, DIALNEXA, dialnexa_simulator.KNOWN_STATUSES),
        (omnidimension.STATUS, OMNIDIMENSION, omnidimension_simulator.CALL_STATUSES + ("in-progress",)),
    ],
    ids=["dialnexa", "omnidimension"],
)
def test_every_status_the_mapping_or_the_simulator_knows_is_expected_here(table, expected, simulated):
    tested = {_key(spelling) for spelling in expected}
    assert set(table) <= tested, "a status table entry has no expectation in this file"
    assert {_key(s) for s in simulated} <= tested, "the simulator sends a spelling this file does not test"
    assert set(table.values()) <= set(schemas.CALL_STATUSES)
    meaning = {_key(s): v[0] if isinstance(v, tuple) else v for s, v in expected.items()}
    assert "unknown" not in {meaning[_key(s)] for s in simulated}, "a simulated status maps to unknown"
