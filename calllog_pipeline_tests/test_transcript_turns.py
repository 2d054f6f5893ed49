"""The column-at-once transcript splitter gives exactly the turns ``split_turns`` gives, call by call."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from calllog_pipeline.mapping import split_turns, transcript_turns
from calllog_pipeline.providers.dialnexa.mapping import LINE_BREAK, SPEAKERS
from calllog_pipeline.providers.omnidimension.mapping import HTML_BREAK
from calllog_pipeline.providers.omnidimension.mapping import SPEAKERS as OMNI_SPEAKERS

EDGE_CASES = [
    "Agent: hi\nUser: yo\n more\n\nagent:\nfoo\nbar\nUser:   \nAgent: x:y",  # continuation, empty labels
    None,
    "",
    "preamble before any label\nuser: a",
    "no labels at all",
    " \t\r\n",
    "agent: a\r\nagent:\r\n\r\nzz",
    "agent: a lone\rcarriage return\nuser: b\r",  # "\r" alone breaks no line
    "AGENT : hello ",
    "\u0130agent: dotted capital I is not a label\nagent: y",  # str.lower differs from Arrow's
    "a\x0bgent: q\nagent:\x0b p",  # whitespace str.strip removes and Arrow does not
    "user:\u00a0non-breaking space\nagent: \u3000ideographic space",
]
PIECES = ["agent:", "user:", "Agent :", "x", "hello world", "", " ", ":", "user: hi:there", "\t", "other: no"]


def expected(call_ids, texts, speakers, separator) -> list[tuple]:
    return [
        (call_id, i, speaker, text)
        for call_id, transcript in zip(call_ids, texts, strict=True)
        for i, (speaker, text) in enumerate(split_turns(transcript, speakers, separator))
    ]


def columnar(call_ids, texts, speakers, separator) -> list[tuple]:
    arrays = transcript_turns(pa.array(call_ids), pa.array(texts, pa.string()), speakers, separator)
    return list(zip(*(a.to_pylist() for a in arrays), strict=True))


def random_transcripts(n: int, glue: str) -> list[str]:
    rnd = random.Random(7)
    return [glue.join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 8))) for _ in range(n)]


@pytest.mark.parametrize(
    ("speakers", "separator", "glue"),
    [
        (SPEAKERS, LINE_BREAK, "\n"),
        (OMNI_SPEAKERS, HTML_BREAK, " <BR/> "),
        (OMNI_SPEAKERS, HTML_BREAK, "\r\n"),
        (SPEAKERS, LINE_BREAK, "\r\n"),
    ],
    ids=["label-lines", "html-breaks", "crlf", "label-lines-crlf"],
)
def test_same_turns_as_split_turns(speakers, separator, glue):
    texts = EDGE_CASES + random_transcripts(2000, glue)
    call_ids = [f"call_{i}" for i in range(len(texts))]
    # Rows carry (call, turn_index): the same set means the same turns in the same order per call.
    assert sorted(columnar(call_ids, texts, speakers, separator)) == sorted(
        expected(call_ids, texts, speakers, separator)
    )


def test_no_transcripts_no_turns():
    assert columnar([], [], SPEAKERS, LINE_BREAK) == []
    assert columnar(["a", "b"], [None, ""], SPEAKERS, LINE_BREAK) == []
