"""Fetch every record of one endpoint created in a window, exactly once.

Pages are fetched concurrently while new calls keep arriving. On a listing sorted **oldest
first** an arrival is appended after everything else: fetched pages stay valid and only the tail
grows. On a listing sorted **newest first** each arrival pushes every record one place down, so
pages fetched at different moments may not meet, and records can fall between them.

Each page answer carries the listing's total at that moment, which turns the page into a span of
*stable* positions, counted from the end where nothing is added. Holes between the spans are the
only places records can hide; the page holding a hole now is fetched again until none is left.
Records seen twice are dropped by id.

Where the API filters by time (``Endpoint.window_params``) the listing is the window itself.
OmniDimension has no time filter: we search its newest-first listing for the pages that hold the
window (interpolation, safeguarded by bisection), fetch those, and read on until the oldest page
read starts before the window."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from calllog_pipeline.http import ApiClient, Response
from calllog_pipeline.providers.base import Endpoint, Order, Window

MAX_REPAIR_ROUNDS = 50


@contextlib.asynccontextmanager
async def first_error():
    """Re-raise the first real error out of a TaskGroup's ExceptionGroup, so the user reads
    "DialNexa refused the credentials ..." rather than "unhandled errors in a TaskGroup"."""
    try:
        yield
    except BaseExceptionGroup as group:
        while isinstance(group, BaseExceptionGroup):
            group = group.exceptions[0]
        raise group from None


@dataclass
class Page:
    number: int
    records: list[dict]
    total: int
    fetched_at: datetime
    etag: str | None = None
    not_modified: bool = False
    # How many records the provider listed on the page. A 304 page is read back from the stored
    # file, which kept only the window's records, so its records alone understate the page.
    served: int | None = None

    @property
    def length(self) -> int:
        return len(self.records) if self.served is None else self.served


class Span(NamedTuple):
    start: int  # positions [start, end) counted from the listing's fixed end
    end: int
    oldest: datetime | None  # the page's oldest readable record time


@dataclass
class FetchStats:
    pages: int = 0
    records: int = 0
    duplicates: int = 0
    out_of_window: int = 0
    drift_refetches: int = 0
    probes: int = 0  # pages read only to locate the window (OmniDimension)
    not_modified_pages: int = 0
    total: int = 0  # the largest total the listing reported
    etags: dict[str, str] = field(default_factory=dict)


# Receives each page's new, in-window records.
Sink = Callable[[Page, list[dict]], None]
# Given a page number answered 304, returns that page's records as stored last time.
StoredPage = Callable[[int], list[dict]]


class WindowFetch:
    """One endpoint, one window: page through it and hand each new record to ``sink`` once."""

    def __init__(
        self,
        client: ApiClient,
        endpoint: Endpoint,
        window: Window,
        source_context: Mapping[str, str],
        sink: Sink,
        *,
        default_params: Mapping[str, Any] | None = None,
        concurrency: int = 4,
        page_size: int | None = None,
        known_etags: Mapping[str, str] | None = None,
        known_total: int = 0,
        stored_page: StoredPage | None = None,
        progress: Callable[[str], None] = lambda _msg: None,
    ):
        self.client, self.endpoint, self.window = client, endpoint, window
        self.context = source_context
        self.default_params = dict(default_params or {})
        self.sink = sink
        self.concurrency = max(1, concurrency)
        self.size = page_size or endpoint.page_size
        self.known_etags = dict(known_etags or {}) if endpoint.conditional and stored_page else {}
        self.stored_page = stored_page
        self.known_total = known_total  # the listing's total when the stored ETags were taken
        self.progress = progress
        self.stats = FetchStats()
        self._seen: set[str] = set()
        self._covered: list[Span] = []  # what each accepted page covered, see ``_positions``
        self._probed: dict[int, Page] = {}
        self._newest: dict[int, datetime] = {}  # newest readable record time per probed page
        self._oldest: dict[int, datetime] = {}  # oldest, for probed pages

    # -- public -----------------------------------------------------------------------------

    async def run(self) -> FetchStats:
        started = time.monotonic()
        if self.endpoint.window_params is not None:
            first = await self._fetch(1)
            self._accept(first)
            await self._fetch_all(range(2, self._page_count(first.total) + 1))
            await self._repair()
        else:
            lo, hi = await self._locate()
            await self._fetch_all(range(lo, hi + 1))
            await self._repair()
            await self._widen()
        self.progress(
            f"done: {self.stats.records} records from {self.stats.pages} pages in "
            f"{time.monotonic() - started:.1f}s"
        )
        return self.stats

    # -- paging -----------------------------------------------------------------------------

    def _params(self, number: int) -> dict[str, Any]:
        params = {**self.default_params, **self.endpoint.page_params(number, self.size)}
        if self.endpoint.window_params is not None:
            params.update(self.endpoint.window_params(self.window))
        return params

    def _etag_key(self, number: int) -> str:
        return f"{number}/{self.size}"

    async def _fetch(self, number: int) -> Page:
        if number in self._probed:
            return self._probed.pop(number)
        headers = {}
        if etag := self.known_etags.get(self._etag_key(number)):
            headers["If-None-Match"] = etag
        response: Response = await self.client.get(
            self.endpoint.path, self._params(number), headers, parse=self.endpoint.read_page
        )
        fetched_at = datetime.fromtimestamp(response.fetched_at, UTC)
        if response.not_modified:
            records = self.stored_page(number) if self.stored_page else []
            served = min(self.size, max(0, self.known_total - (number - 1) * self.size))
            return Page(number, records, self.known_total, fetched_at, etag, True, served)
        records, total = response.body
        return Page(number, records, total, fetched_at, response.headers.get("etag"))

    async def _fetch_all(self, numbers: Iterable[int]) -> None:
        """Fetch pages with bounded concurrency, accepting each as it arrives."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in numbers:
            queue.put_nowait(n)
        total = queue.qsize()

        async def worker() -> None:
            while not queue.empty():
                page = await self._fetch(queue.get_nowait())
                self._accept(page)
                if self.stats.pages % 25 == 0:
                    self.progress(f"{self.stats.pages} pages, {self.stats.records} records ({total} queued)")

        async with first_error(), asyncio.TaskGroup() as group:
            for _ in range(min(self.concurrency, total)):
                group.create_task(worker())

    def _accept(self, page: Page) -> None:
        self.stats.pages += 1
        self.stats.not_modified_pages += page.not_modified
        self.stats.total = max(self.stats.total, page.total)
        if page.etag:
            self.stats.etags[self._etag_key(page.number)] = page.etag
        fresh = []
        timed = self._timed(page.records)
        times = [t for _, t in timed if t is not None]
        if page.length:
            self._covered.append(Span(*self._positions(page), min(times) if times else None))
        for record, moment in timed:
            if moment is not None and moment not in self.window:
                self.stats.out_of_window += 1
                continue
            rid = self.endpoint.record_id(record)
            if rid is not None:
                if rid in self._seen:
                    self.stats.duplicates += 1
                    continue
                self._seen.add(rid)
            fresh.append(record)
        self.stats.records += len(fresh)
        if fresh:
            self.sink(page, fresh)

    def _timed(self, records: list[dict]) -> list[tuple[dict, datetime | None]]:
        """Pair records with their creation time; an unreadable time borrows its neighbour's.

        A record with a broken timestamp still sits in the listing's order, so the time of the
        record before it decides its window (the mapping quarantines it later, with the reason).
        """
        out, previous = [], None
        for record in records:
            moment = self.endpoint.record_time(record, self.context)
            if moment is None:
                moment = previous
            out.append((record, moment))
            previous = moment
        return out

    def _page_count(self, total: int) -> int:
        return max(1, math.ceil(total / self.size))

    # -- drift ------------------------------------------------------------------------------

    def _positions(self, page: Page) -> tuple[int, int]:
        """The page's records as positions counted from the listing's fixed end.

        Arrivals never move a record relative to the end they are not added at: the oldest end of
        a newest-first listing, the start of an oldest-first one. Positions measured from there
        are stable, so pages fetched at different moments can be compared.
        """
        first_rank = (page.number - 1) * self.size
        last_rank = first_rank + page.length
        if self.endpoint.order is Order.NEWEST_FIRST:
            return page.total - last_rank, page.total - first_rank
        return first_rank, last_rank

    def _page_holding(self, position: int) -> int:
        """The page that holds ``position`` now, judging by the latest total seen."""
        rank = position if self.endpoint.order is Order.OLDEST_FIRST else self.stats.total - 1 - position
        return max(1, rank // self.size + 1)

    def _missing_position(self) -> int | None:
        """The first position no fetched page covered, between or around what was covered."""
        spans = sorted(self._covered)
        if not spans:
            return None
        reach = spans[0].end
        for span in spans[1:]:
            if span.start > reach:
                return reach  # a hole between two fetched pages
            reach = max(reach, span.end)
        if self.endpoint.window_params is None:
            return None  # an unfiltered listing is bounded by ``_widen``
        if spans[0].start > 0:
            return 0  # the oldest records were pushed past the last page we read
        if self.endpoint.order is Order.OLDEST_FIRST and reach < self.stats.total:
            return reach  # the listing grew past the pages we read
        return None

    async def _repair(self) -> None:
        """Fetch again wherever arrivals may have hidden records from the pages we read."""
        for _ in range(MAX_REPAIR_ROUNDS):
            position = self._missing_position()
            if position is None:
                return
            number = self._page_holding(position)
            self.stats.drift_refetches += 1
            self.progress(f"drift: the listing moved while paging, reading page {number} again")
            self._accept(await self._fetch(number))
        raise RuntimeError(
            f"{self.endpoint.path}: the listing kept changing through {MAX_REPAIR_ROUNDS} re-reads; "
            "re-run the partition when traffic is lower"
        )

    # -- locating a window in an unfiltered newest-first listing -------------------------------

    async def _probe(self, number: int) -> Page:
        if number not in self._probed:
            page = await self._fetch(number)
            self._probed[number] = page
            if times := self._times(page):
                self._newest[number], self._oldest[number] = max(times), min(times)
            self.stats.probes += 1
        return self._probed[number]

    def _times(self, page: Page) -> list[datetime]:
        return [t for t in (self.endpoint.record_time(r, self.context) for r in page.records) if t]

    async def _locate(self) -> tuple[int, int]:
        """Pages [lo, hi] of a newest-first listing that hold the window.

        Calls arrive at a roughly steady rate, so a time's position in the listing can be
        estimated from the pages already read (interpolation); bisection takes over whenever a
        guess fails to halve the range, which bounds the probes at about 2·log2(pages).
        """
        first = await self._probe(1)
        pages = self._page_count(first.total)

        async def first_page_where(predicate, target: datetime, low: int) -> int:
            high = pages + 1  # the answer is in [low, high]; pages + 1 means "none"
            if low in self._probed:  # e.g. the newest day sits at the top of the listing
                times = self._times(self._probed[low])
                if not times or predicate(times):
                    return low
            bisect = False
            while low < high:
                width = high - low
                guess = (low + high) // 2 if bisect else self._estimate_page(target, low, high)
                times = self._times(await self._probe(guess))
                if not times or predicate(times):
                    high = guess
                else:
                    low = guess + 1
                bisect = high - low > width // 2
            return low

        # First page holding anything older than the window's end, and first page wholly older
        # than its start; the window lies between.
        lo = await first_page_where(lambda times: min(times) < self.window.end, self.window.end, 1)
        past = await first_page_where(lambda times: max(times) < self.window.start, self.window.start, lo)
        return min(lo, pages), max(min(past, pages), lo)

    def _estimate_page(self, target: datetime, low: int, high: int) -> int:
        """The page where ``target`` should sit, interpolated between the nearest probed records
        newer and older than it; the middle of [low, high) when there is nothing to go by."""
        newer, older = None, None  # (rank in the listing, time)
        for number, page in self._probed.items():
            for offset, moment in (
                (0, self._newest.get(number)),
                (len(page.records) - 1, self._oldest.get(number)),
            ):
                if moment is None:
                    continue
                rank = (number - 1) * self.size + offset
                if moment >= target and (newer is None or rank > newer[0]):
                    newer = (rank, moment)
                elif moment < target and (older is None or rank < older[0]):
                    older = (rank, moment)
        if newer is None or older is None or older[1] >= newer[1]:
            return (low + high) // 2
        share = (newer[1] - target) / (newer[1] - older[1])
        rank = newer[0] + share * (older[0] - newer[0])
        return min(max(int(rank // self.size) + 1, low), high - 1)

    async def _widen(self) -> None:
        """Read further down until the oldest page read lies before the window's start."""
        for _ in range(MAX_REPAIR_ROUNDS):
            if not self._covered:
                return  # an empty listing
            bottom = min(self._covered)
            if bottom.start <= 0 or (bottom.oldest is not None and bottom.oldest < self.window.start):
                return
            self.stats.drift_refetches += 1
            self._accept(await self._fetch(self._page_holding(bottom.start - 1)))
            await self._repair()
