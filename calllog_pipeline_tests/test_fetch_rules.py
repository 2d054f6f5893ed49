"""The rules an endpoint definition must obey, and the repeated-hour rule on its own."""

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.providers.base import Order, Paging
from calllog_pipeline.raw.coverage import Page
from calllog_pipeline.raw.repeated_hour import Held, resolve
from calllog_pipeline.timeutil import during_call, in_later_hour, later_reading, parse_local

ENDPOINTS = [e for p in REGISTRY.values() for e in p.endpoints]
SEARCHED = next(e for e in ENDPOINTS if e.paging is Paging.SEARCHED)
WINDOWED = next(e for e in ENDPOINTS if e.paging is Paging.WINDOWED)


def test_every_registered_endpoint_states_a_valid_paging_strategy():
    for endpoint in ENDPOINTS:
        assert (endpoint.window_params is None) == (endpoint.paging is Paging.SEARCHED), endpoint.path


@pytest.mark.parametrize(
    "base,changes,complaint",
    [
        (SEARCHED, {"order": Order.OLDEST_FIRST}, "oldest-first listing is not supported"),
        (SEARCHED, {"window_params": WINDOWED.window_params}, "Paging.WINDOWED"),
        (WINDOWED, {"window_params": None}, "needs window_params"),
        (SEARCHED, {"conditional": True}, "oldest-first listing"),
    ],
)
def test_an_endpoint_that_would_lose_days_is_refused_when_defined(base, changes, complaint):
    with pytest.raises(ValueError, match=complaint):
        dataclasses.replace(base, **changes)


NY = "America/New_York"
FMT = "%m/%d/%Y %H:%M:%S"


def held(local: str, position: int) -> Held:
    early = parse_local(f"11/01/2026 {local}", FMT, NY)
    page = Page(1, [], 0, datetime.now(UTC))
    return Held(position, early, later_reading(early, NY), {"id": position}, page)


def test_the_jump_in_local_time_splits_the_two_passes():
    # Newest first: 01:40 and 01:05 EST (later pass), then back up to 01:50 and 01:10 EDT.
    listing = [held("01:40:00", 4), held("01:05:00", 3), held("01:50:00", 2), held("01:10:00", 1)]
    placed, undecided = resolve(list(reversed(listing)))  # the order handed in does not matter
    instants = {h.position: at for h, at in placed}
    assert undecided == 0
    assert instants == {
        4: datetime(2026, 11, 1, 6, 40, tzinfo=UTC),
        3: datetime(2026, 11, 1, 6, 5, tzinfo=UTC),
        2: datetime(2026, 11, 1, 5, 50, tzinfo=UTC),
        1: datetime(2026, 11, 1, 5, 10, tzinfo=UTC),
    }
    ordered = [instants[p] for p in (4, 3, 2, 1)]
    assert ordered == sorted(ordered, reverse=True), "placed instants follow the listing's order"


def test_without_a_jump_the_order_cannot_decide_and_the_earlier_pass_is_kept():
    listing = [held("01:40:00", 2), held("01:05:00", 1)]
    placed, undecided = resolve(listing)
    assert undecided == 2
    assert all(at == h.earlier for h, at in placed)


def later(local: str, tz: str = NY):
    return later_reading(parse_local(local, FMT, tz), tz)


def test_only_repeated_local_times_have_a_later_reading():
    assert later("11/01/2026 00:59:59") is None
    assert later("11/01/2026 02:00:00") is None
    assert later("03/08/2026 02:30:00") is None  # skipped by spring-forward
    assert later("11/01/2026 01:00:00") == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 01:00 EST
    assert later("11/01/2026 01:59:59") == datetime(2026, 11, 1, 6, 59, 59, tzinfo=UTC)
    early = parse_local("11/01/2026 01:30:00", FMT, NY)
    assert in_later_hour(early, NY) == early + timedelta(hours=1)
    # Chatham falls back from 03:45 to 02:45 (+13:45 -> +12:45); Kolkata and UTC never do.
    assert later("04/05/2026 03:00:00", "Pacific/Chatham") == parse_local(
        "04/05/2026 03:00:00", FMT, "Pacific/Chatham"
    ) + timedelta(hours=1)
    assert later("04/05/2026 02:44:59", "Pacific/Chatham") is None
    assert (
        later("11/01/2026 01:30:00", "Asia/Kolkata") is None and later("11/01/2026 01:30:00", "UTC") is None
    )


@pytest.mark.parametrize("turn_offset_min", [-4, 3])  # turns logged before the call's time, or after it
@pytest.mark.parametrize("call_pass", ["earlier", "later"])
def test_a_calls_turns_are_read_in_the_pass_nearest_the_call(turn_offset_min, call_pass):
    ny = "America/New_York"  # 2026-11-01 01:00-01:59 happens twice: 05:00-06:00 UTC, then 06:00-07:00
    call = datetime(2026, 11, 1, 5 if call_pass == "earlier" else 6, 30, tzinfo=UTC)
    turn = call + timedelta(minutes=turn_offset_min)
    fmt = "%Y-%m-%d %H:%M:%S"
    as_earlier = parse_local(turn.astimezone(ZoneInfo(ny)).strftime(fmt), fmt, ny)
    assert during_call(as_earlier, call, ny) == turn
    ordinary = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)  # not a repeated hour: left as read
    assert during_call(ordinary, call, ny) == ordinary
