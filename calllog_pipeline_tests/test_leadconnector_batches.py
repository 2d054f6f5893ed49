"""LeadConnector batches mapped column by column give what each value's own rule gives: action types
read once per distinct spelling, actions kept with their own call when a list holds entries that
are not objects, and transcripts whose only odd characters are ASCII controls split as
``split_turns`` splits them."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest
from fixtures.memory_raw import MemoryRawDay, fixed_ingestion_time, run  # noqa: F401

from calllog_pipeline import mapping
from calllog_pipeline.mapping import split_turns, transcript_turns
from calllog_pipeline.providers.leadconnector.mapping import (
    ACTION_TYPES,
    LINE_BREAK,
    SPEAKERS,
    normalize,
)
from calllog_pipeline.redact import policy_fingerprint

pytestmark = pytest.mark.usefixtures("fixed_ingestion_time")

START = "2026-03-08T06:59:59.123Z"
SPELLINGS = [
    "SMS",
    " sms ",
    "Sms",
    "call_transfer",
    "IN_CALL_DATA_EXTRACTION",
    "KNOWLEDGE_BASE\n",
    "fax",
    None,
    "",
    " ",
    7,
]


def _call(i: int, actions) -> dict:
    return {"id": f"call_{i}", "createdAt": START, "duration": 30, "executedCallActions": actions}


def test_action_types_of_a_batch_read_as_each_spelling_alone():
    records = [
        _call(i, [{"actionId": f"act_{i}", "actionType": t, "executedAt": START}])
        for i, t in enumerate(SPELLINGS)
    ]
    together = run(normalize, {"call_logs": records})
    alone = run(normalize, {"call_logs": records}, batch_size=1)
    assert together["actions"] == alone["actions"]  # same rows, in call order
    types = {row["action_id"]: (row["action_type"], row["action_type_raw"]) for row in together["actions"]}
    for i, spelling in enumerate(SPELLINGS):
        raw = (
            str(spelling)
            if isinstance(spelling, int)
            else spelling
            if spelling and spelling.strip()
            else None
        )
        expected = ACTION_TYPES.get((raw or "").strip().upper(), "other")
        assert types[f"act_{i}"] == (expected, raw), spelling


def test_actions_stay_with_their_call_when_a_list_holds_other_entries():
    records = [
        _call(1, [{"actionId": "a1", "actionType": "SMS"}, "not an object", {"actionId": "a2"}]),
        _call(2, [None, 3]),
        _call(3, [{"actionId": "a3"}]),
        _call(4, '[{"actionId": "a4"}, []]'),  # its JSON text
        _call(5, []),
    ]
    actions = run(normalize, {"call_logs": records})["actions"]
    assert [(row["call_id"], row["action_id"]) for row in actions] == [
        ("call_1", "a1"),
        ("call_1", "a2"),
        ("call_3", "a3"),
        ("call_4", "a4"),
    ]


@pytest.mark.parametrize("control", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f"])
def test_ascii_transcripts_with_a_control_character_split_as_split_turns(control):
    # Only an ASCII control character marks these (no other byte is odd): ``str.strip`` removes
    # it and Arrow's trim does not, so the batch must go to the reference for that transcript.
    texts = ["bot: hello\nhuman: hi", f"bot:{control} a{control}\nhuman: b{control}\n{control}", "human: x"]
    call_ids = [f"call_{i}" for i in range(len(texts))]
    arrays = transcript_turns(pa.array(call_ids), pa.array(texts, pa.string()), SPEAKERS, LINE_BREAK)
    # (call, turn_index) per row: the same set means the same turns in the same order per call.
    assert sorted(zip(*(a.to_pylist() for a in arrays), strict=True)) == sorted(
        [
            (call_id, i, speaker, text)
            for call_id, transcript in zip(call_ids, texts, strict=True)
            for i, (speaker, text) in enumerate(split_turns(transcript, SPEAKERS, LINE_BREAK))
        ]
    )


def test_json_of_records_redacted_at_ingest_is_the_text_any_key_gives():
    # Decoded JSON has only text keys; a value built otherwise (a number as a key) keeps its text.
    values = [{"k": [1, {"x": None}], "é": 'ü\n"', "t": True}, None, {1: "a", "b": 2.5}, [], {}]
    raw = MemoryRawDay({})
    raw.redacted_under = policy_fingerprint()
    with mapping.json_redacted_at_ingest(raw, "call_logs") as trusted:
        assert trusted
        assert mapping.json_column(values) == [
            None if v is None else orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode() for v in values
        ]
        assert mapping.json_column(values[:2]) == [orjson.dumps(values[0]).decode(), None]
