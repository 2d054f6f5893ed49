"""Variants the providers' reference pages allow (shared/provider-api/*.txt) beyond their literal
examples: each normalizes to the canonical value a user would expect, and no record is lost."""

from __future__ import annotations

import copy

import pytest
from fixtures.memory_raw import fixed_ingestion_time, fixture, run  # noqa: F401

from calllog_pipeline.providers.omnidimension.mapping import normalize as omnidimension

pytestmark = pytest.mark.usefixtures("fixed_ingestion_time")


def omni_call(**changes) -> dict:
    record = copy.deepcopy(fixture("omnidimension_call_logs.json")[0]) | changes
    (row,) = run(omnidimension, {"call_logs": [record]}, {"timezone": "UTC"})["calls"]
    return row


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
