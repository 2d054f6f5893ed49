"""OmniDimension's listing has no date filter: the day's pages are read as the search finds them
(``raw.locate``). Served on loopback as the reference page describes it (newest first, ``pageno`` /
``pagesize``, ``total_records``), with the day's edges placed on and off page edges, and with calls
arriving while it is read. Every call of the day lands once; no page is read twice."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from loopback import Listing

from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.providers.base import Paging
from calllog_pipeline.raw.assets import build_raw_asset

PROVIDER, ENDPOINT = next(
    (p.name, e.name) for p in REGISTRY.values() for e in p.endpoints if e.paging is Paging.SEARCHED
)
SIZE = REGISTRY[PROVIDER].endpoint(ENDPOINT).page_size
DAY = "2026-03-02"
START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=1)


class History:
    """``above`` calls newer than the day, ``inside`` of the day, ``below`` older, spread evenly
    over a day each; every request first adds ``arrivals`` calls at the head (newer than all)."""

    def __init__(self, above: int, inside: int, below: int, arrivals: int = 0):
        def spread(count: int, start: datetime, prefix: str) -> list[dict]:
            step = timedelta(days=1) / max(count, 1)
            return [_call(f"{prefix}{i}", start + step * i) for i in range(count)]

        # Oldest first here; the listing reverses it.
        self.calls = spread(below, START - timedelta(days=1), "old") + spread(inside, START, "day")
        self.calls += spread(above, END, "new")
        self.day = {c["id"] for c in self.calls if c["id"].startswith("day")}
        self.arrivals = arrivals
        self.arrived = 0
        self.lock = threading.Lock()

    def answer(self, path: str, query: dict[str, str]) -> dict:
        with self.lock:
            for _ in range(self.arrivals):
                self.arrived += 1
                self.calls.append(
                    _call(f"arrival{self.arrived}", END + timedelta(days=2, seconds=self.arrived))
                )
            number, size = int(query["pageno"]), int(query["pagesize"])
            count = len(self.calls)
            newest_first = self.calls[count - number * size : count - (number - 1) * size][::-1]
            if number * size > count:
                newest_first = self.calls[: max(count - (number - 1) * size, 0)][::-1]
            return {"call_log_data": newest_first, "total_records": count}


def _call(call_id: str, moment: datetime) -> dict:
    return {"id": call_id, "time_of_call": moment.strftime("%m/%d/%Y %H:%M:%S"), "call_status": "completed"}


def land(history: History, tmp_path: Path, concurrency: int = 4) -> tuple[list[str], list[int]]:
    """Materialize the day; the ids stored and the page numbers asked for."""
    with Listing(history.answer) as server:
        api = type(REGISTRY[PROVIDER].api())(
            base_url=server.url, api_key="k-test-key", rate_limit_requests=1000, max_concurrency=concurrency
        )
        part = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")
        asset = build_raw_asset(REGISTRY[PROVIDER], REGISTRY[PROVIDER].endpoint(ENDPOINT), part)
        dg.materialize(
            [asset], resources={"lake": Lake(root=str(tmp_path)), PROVIDER: api}, partition_key=DAY
        )
        asked = [int(q["pageno"]) for q in server.queries]
    path = tmp_path / "raw" / PROVIDER / ENDPOINT / f"date={DAY}" / "data.parquet"
    return [r[0] for r in duckdb.sql(f"select record_id from '{path}'").fetchall()], asked


# (calls newer than the day, of the day, older): the day's edges on and off page edges, a day at
# the top of the listing, at its bottom, alone in it, and an empty day.
SHAPES = {
    "edges_inside_pages": (7 * SIZE + 40, 5 * SIZE + 30, 9 * SIZE),
    "top_on_a_page_edge": (7 * SIZE, 5 * SIZE + 30, 9 * SIZE),
    "bottom_on_a_page_edge": (7 * SIZE + 40, 5 * SIZE - 40, 9 * SIZE),
    "both_on_page_edges": (7 * SIZE, 5 * SIZE, 9 * SIZE),
    "top_of_the_listing": (0, 5 * SIZE + 30, 9 * SIZE),
    "bottom_of_the_listing": (7 * SIZE + 40, 5 * SIZE + 30, 0),
    "alone_in_the_listing": (0, 3 * SIZE + 1, 0),
    "empty_day": (7 * SIZE + 40, 0, 9 * SIZE),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_the_day_is_read_whole_and_no_page_twice(shape, tmp_path):
    history = History(*shape)
    landed, asked = land(history, tmp_path)
    assert sorted(landed) == sorted(history.day)
    twice = [number for number, times in Counter(asked).items() if times > 1]
    assert not twice, f"pages read twice: {twice}"
    day_pages = -(-shape[1] // SIZE) + 1  # the day's pages, plus one its edges may straddle
    assert len(asked) <= day_pages + 4, asked  # page 1 and a few guesses at the edges


@pytest.mark.parametrize(
    "arrivals", [7, SIZE // 4 + 3, SIZE - 20], ids=["few", "a_quarter_page", "most_of_a_page"]
)
@pytest.mark.parametrize("shape", ["edges_inside_pages", "top_on_a_page_edge", "both_on_page_edges"])
def test_calls_arriving_on_every_request_shift_the_pages_and_each_call_lands_once(shape, arrivals, tmp_path):
    """Each request finds ``arrivals`` new calls at the head, so every page has moved since the
    last one was read: the day's pages are found by guesses made on shifting numbers, and the
    gaps and edges the shifts open are read again. (A page or more of arrivals per request never
    settles: the day fails with a message to re-run it, as before.)"""
    history = History(*SHAPES[shape], arrivals=arrivals)
    landed, _ = land(history, tmp_path)
    assert len(landed) == len(set(landed)), "a call landed twice"
    assert set(landed) == history.day
