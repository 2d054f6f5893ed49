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
