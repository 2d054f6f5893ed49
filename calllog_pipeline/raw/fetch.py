"""Fetch every record of one endpoint created in a window, exactly once.

The endpoint's ``Paging`` decides how the window's pages are found: a time-filtered listing is the
window itself, paged from 1 to its total (an oldest-first one only until a page ends after the
window: a day-granular filter lists more than the window); an unfiltered newest-first listing
(OmniDimension) is searched for the window's pages (``raw.locate``), each read as soon as it is
known to be one, and then read further down until the oldest page read starts before the window.
Either way, pages are fetched concurrently while calls keep arriving, and the pages read are
compared by the stable positions they cover (``raw.coverage``): a hole is the only place a record
can hide, so the page holding it now is read again until none is left. Records seen twice are
dropped by id.

A page answered 304 (DialNexa ``/call-logs``) counts as exactly the page the provider would have
sent: its records come back from the stored file and its listed count, total and oldest time from
the footer (``PageNote``), so its span is the one it had when it was read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from calllog_pipeline.http import NO_CONTENT, ApiClient, ProviderRequestError, ProviderResponseError, Response
from calllog_pipeline.providers.base import Endpoint, Order, Paging, Window
from calllog_pipeline.raw import repeated_hour
from calllog_pipeline.raw.coverage import Coverage, Page
from calllog_pipeline.raw.locate import WindowPlan
from calllog_pipeline.redact import redact_text

MAX_REPAIR_ROUNDS = 50
MAX_SHRINK_PASSES = 4  # readings of a time-filtered listing whose total keeps falling
MAX_TIE_ROUNDS = 20
# How servers answer a page number past a listing's end, where most send an empty list.
PAST_END_STATUSES = frozenset({400, 404, 416, 422})
# Page numbers answering the same records before the listing is taken for one that ignores its page
# parameter. Two can: a listing that moved by exactly a page between two reads.
SAME_ANSWER_LIMIT = 3
# How often a running fetch reports its progress: each line is a Dagster event, one SQLite write
# (about 10 ms of CPU); every 25 pages cost 86 writes for a 100,000-call DialNexa day.
PROGRESS_EVERY_S = 30.0


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


class ListingShrank(Exception):
    """A page answered with a smaller total than one read before it: records were deleted."""

    def __init__(self, before: int, after: int):
        super().__init__(f"the listing's total fell from {before} to {after}")
        self.before, self.after = before, after


@dataclass(frozen=True)
class PageNote:
    """What a 304 needs to stand for the page it replaces, stored per page in the file's footer."""

    etag: str
    listed: int  # records the provider listed on the page (stored rows are only the new in-window ones)
    total: int  # the listing's total when the page was answered
    oldest: str | None  # the page's oldest readable record time (ISO 8601)
    newest_in_order: str | None = None  # see ``Page.newest_in_order`` (ISO 8601)

    @classmethod
    def of(cls, page: Page) -> PageNote:
        return cls(page.etag or "", page.listed, page.total, _iso(page.oldest), _iso(page.newest_in_order))

    @classmethod
    def read(cls, value: Any) -> PageNote | None:
        """A note from the footer; None for anything else (files written before notes existed)."""
        try:
            return cls(
                str(value["etag"]),
                int(value["listed"]),
                int(value["total"]),
                value.get("oldest"),
                value.get("newest_in_order"),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def _run(timed: list[tuple[dict, datetime | None]], indices: range) -> Iterable[int]:
    """The indices, in ``indices`` order, of the records with the same time as the first one."""
    first = timed[indices[0]][1]
    for index in indices:
        if timed[index][1] != first:
            return
        yield index


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass
class FetchStats:
    pages: int = 0
    records: int = 0
    duplicates: int = 0
    out_of_window: int = 0
    drift_refetches: int = 0
    probes: int = 0  # pages read that hold none of the window's records (unfiltered listings)
    not_modified_pages: int = 0
    total: int = 0  # the largest total the listing reported
    page_notes: dict[str, PageNote] = field(default_factory=dict)  # per ``WindowFetch.page_key``
    later_pass_ids: list[str] = field(default_factory=list)  # records in the later pass of a repeated hour
    repeated_hour_undecided: int = 0  # repeated-hour records the listing's order could not place


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
        known_pages: Mapping[str, PageNote] | None = None,
        stored_page: StoredPage | None = None,
        progress: Callable[[str], None] = lambda _msg: None,
    ):
        self.client, self.endpoint, self.window = client, endpoint, window
        self.context = source_context
        self.default_params = dict(default_params or {})
        self.sink = sink
        self.concurrency = max(1, concurrency)
        self.size = page_size or endpoint.page_size  # records a page holds: the pages' arithmetic
        self.asked = self.size  # the page size asked for
        self.known_pages = dict(known_pages or {}) if endpoint.conditional and stored_page else {}
        self.stored_page = stored_page
        self.progress = progress
        self.stats = FetchStats()
        # How the listing is read: as the endpoint declares it, unless an unfiltered listing turns
        # out to be sorted the other way (``_sorted_oldest_first``).
        self.order = endpoint.order
        self.bounded = endpoint.paging is Paging.WINDOWED  # read from one end to the other
        self.coverage = Coverage(self.order, self.size)
        self._seen: set[str] = set()
        self._held: list[repeated_hour.Held] = []
        self._listed: dict[int, int] = {}  # records each page number listed, as last read
        # Records sharing a creation time with a page's first or last record: the stable positions
        # that time holds and the ids seen at it (``_settle_ties``).
        self._ties: dict[datetime, tuple[set[int], set[str]]] = {}
        self._watch: set[datetime] = set()  # tie times still short, looked for anywhere on a page
        self._shrink_watched = False  # whether a falling total restarts the listing (``_fetch_windowed``)
        self._answered_total = 0  # the largest total any answer gave (the pages past it may be refused)
        # The page numbers that answered each page (its size, first and last ids): ``_same_answer``.
        self._answers: dict[tuple, set[int]] = {}

    # -- public -----------------------------------------------------------------------------

    async def run(self) -> FetchStats:
        started = time.monotonic()
        first = await self._fetch(1)
        self._fit_page_size(first)
        if not self.bounded and self._sorted_oldest_first(first):
            # An unfiltered listing the provider sorts oldest first (OmniDimension's page shows no
            # order; a server without an ORDER BY lists by id): searched as if newest first, the
            # window would be looked for at the wrong end and the day land short, successfully.
            # Read from its start instead, up to the first page past the window: every record, at
            # the cost of the pages before the window.
            self.progress(
                "the listing is sorted oldest first, not newest first as documented: reading it from "
                "page 1 to the window's end (every page before the window is read too)"
            )
            self.order, self.bounded = Order.OLDEST_FIRST, True
            self.coverage = Coverage(self.order, self.size)
        if self.bounded:
            await self._fetch_windowed(first)
            await self._settle_ties()
            if skipped := self.coverage.unread_after_window():
                self.stats.out_of_window += skipped
                self.progress(
                    f"{skipped} records listed after the window were not read (the listing is oldest first)"
                )
        else:
            await self._fetch_searched(first)
            await self._repair()
            await self._widen()
            await self._settle_ties()
        self._release_held()
        self.progress(
            f"done: {self.stats.records} records from {self.stats.pages} pages in "
            f"{time.monotonic() - started:.1f}s"
        )
        return self.stats

    async def _fetch_windowed(self, first: Page) -> None:
        """Page a time-filtered listing from 1 to its end; again from page 1 when its total falls
        while it is read (``ListingShrank``), at most ``MAX_SHRINK_PASSES`` times in all."""
        for passes in range(1, MAX_SHRINK_PASSES + 1):
            self._shrink_watched = passes < MAX_SHRINK_PASSES
            try:
                self._accept(first)
                await self._fetch_all(range(2, self._page_count(first.total) + 1))
                await self._repair()
                await self._read_past_total()
                self._shrink_watched = False  # later re-reads (ties) only add what they find
                return
            except ListingShrank as shrank:
                self.stats.drift_refetches += 1
                self.progress(
                    f"the listing's total fell from {shrank.before} to {shrank.after} while it was read "
                    "(records deleted): reading it again from page 1"
                )
                self.coverage = Coverage(self.order, self.size)
                self._listed, self._ties = {}, {}
                first = await self._fetch(1)
        self.progress(
            f"the listing kept losing records through {MAX_SHRINK_PASSES} readings; every record "
            "listed in the last one was kept"
        )

    def page_key(self, number: int) -> str:
        """A page's name in the footer: its number and the page size it was read with."""
        return f"{number}/{self.size}"

    # -- paging -----------------------------------------------------------------------------

    def _sorted_oldest_first(self, first: Page) -> bool:
        """Whether a listing declared newest first lists its first page oldest first: its times
        mostly rise. Only a listing longer than its first page matters (that page is all of a
        shorter one), and a falling listing rises once at most, where a DST fall-back repeats an
        hour of local times."""
        if self.order is not Order.NEWEST_FIRST or first.total <= first.listed:
            return False
        times = self._times(first)
        rises = sum(later > earlier for earlier, later in itertools.pairwise(times))
        falls = sum(later < earlier for earlier, later in itertools.pairwise(times))
        return rises >= 2 and rises > 2 * falls

    def _fit_page_size(self, first: Page) -> None:
        """Page by what the provider sends: a server that caps pages below the size asked for (a
        lower limit than its page documents) numbers its pages by its own size, and reading them
        as ours would leave holes no re-read fills. So does one that sends more than asked for (it
        ignores the size parameter, or its default is larger): counted by our size, its pages
        overlap, the listing looks several times longer than it is, and the search for a day in an
        unfiltered listing aims past its end. Such a server is still asked for the size page 1 was
        asked for (the request it answered with that size; never more than the documented maximum)."""
        shorter = 0 < first.listed < self.size and first.total > first.listed
        if shorter or first.listed > self.size:
            self.progress(
                f"the provider sent {first.listed} records on a page of {self.size} asked for; "
                f"paging by {first.listed}"
            )
            self.size = first.listed
            self.asked = min(self.asked, first.listed)
            self.coverage = Coverage(self.order, self.size)

    def _params(self, number: int) -> dict[str, Any]:
        params = {**self.default_params, **self.endpoint.page_params(number, self.asked)}
        if self.endpoint.paging is Paging.WINDOWED:
            params.update(self.endpoint.window_params(self.window))
        return params

    async def _fetch(self, number: int) -> Page:
        headers = {}
        known = self.known_pages.get(self.page_key(number))
        if known is not None:
            headers["If-None-Match"] = known.etag
        try:
            response: Response = await self.client.get(
                self.endpoint.path, self._params(number), headers, parse=self.endpoint.read_page
            )
        except ProviderRequestError as refused:
            if refused.status not in PAST_END_STATUSES:
                raise
            if number <= self._page_count(self._answered_total) and not await self._merged_into_previous(
                number
            ):
                raise
            # A page after the last one by the total, asked for in case the total counts short:
            # some servers answer it "Invalid page." (Django REST framework's 404) or "out of
            # range" (400) instead of an empty list. Page 1 worked, so that is the listing's end.
            self.progress(
                f"page {number}, past the listing's end, answered HTTP {refused.status}: read as empty"
            )
            return Page(number, [], self._answered_total, datetime.now(UTC), None)
        fetched_at = datetime.fromtimestamp(response.fetched_at, UTC)
        if response.not_modified and known is not None:
            # Exactly the page the provider would have sent: its span and times from the note,
            # its new in-window records from the stored file.
            records = self.stored_page(number)
            return Page(
                number,
                records,
                known.total,
                fetched_at,
                known.etag,
                True,
                listed=known.listed,
                oldest=_moment(known.oldest),
                newest_in_order=_moment(known.newest_in_order),
            )
        if response.not_modified:
            raise RuntimeError(
                f"{self.endpoint.path}: page {number} answered 304 to a request without an ETag"
            )
        if response.status == NO_CONTENT:
            # "No Content": a listing with nothing (more) in it, as some servers answer an empty
            # page instead of an empty list. Its total is the largest an answer gave, 0 on page 1.
            return Page(number, [], self._answered_total, fetched_at, None)
        records, total = response.body
        self._answered_total = max(self._answered_total, total)
        self._same_answer(number, records)
        return Page(number, records, total, fetched_at, response.headers.get("etag"))

    async def _merged_into_previous(self, number: int) -> bool:
        """Whether page ``number``, refused though the total counts it, is a short last page that
        the server listed on the page before it instead: Django's paginator with ``orphans`` does
        (a last page of few records joins the one before, which then holds more than the page size,
        and the page number the total implies is "Invalid page."). Asks for that page again."""
        remainder = self._answered_total - (number - 1) * self.size
        if number < 2 or not 0 < remainder < self.size:  # only the last page by the total joins
            return False
        previous = await self._fetch(number - 1)
        return (number - 2) * self.size + previous.listed >= self._answered_total

    def _same_answer(self, number: int, records: list) -> None:
        """Fail when several page numbers answer the same records: the provider, or a cache in front
        of it that ignores query strings, ignores the page parameter (or it was renamed). Each such
        page looks full and new, so reading on in case the total counts short would never end."""
        first, last = (records[0], records[-1]) if len(records) > 1 else (None, None)
        if not (isinstance(first, dict) and isinstance(last, dict)):
            return
        answer = (len(records), self.endpoint.record_id(first), self.endpoint.record_id(last))
        if None in answer:
            return
        numbers = self._answers.setdefault(answer, set())
        numbers.add(number)
        if len(numbers) >= SAME_ANSWER_LIMIT:
            settings = self.client.settings
            raise ProviderResponseError(
                f"{settings.provider_title} {self.endpoint.path} answered pages "
                f"{', '.join(map(str, sorted(numbers)))} with the same {len(records)} records: it ignores "
                "the page parameter, so the listing cannot be read to its end. Not retried: check that "
                f"{settings.base_url_env} points at the API itself, not at a cache or proxy that ignores "
                "query strings, and the provider's changelog for a renamed paging parameter."
            )

    async def _fetch_all(self, numbers: range) -> None:
        """Fetch pages ``numbers`` in order with bounded concurrency, accepting each as it arrives.

        The listing ends at a page that comes back empty twice (once may be a lagging replica):
        the pages after it are not asked for, however many the total claims (a placeholder or a
        count of records the listing does not hold; the repair reads on if the listing grows)."""
        pending = iter(numbers)
        end = math.inf  # the first page known to be past the listing's end
        reported = time.monotonic()

        async def worker() -> None:
            nonlocal reported, end
            for number in pending:  # shared: each number goes to one worker, in order
                if number >= end or self.coverage.beyond_window(number):
                    return
                page = await self._fetch(number)
                if page.listed == 0 and not page.not_modified:
                    page = await self._fetch(number)
                    if page.listed == 0:
                        end = min(end, number)
                self._accept(page)
                if time.monotonic() - reported >= PROGRESS_EVERY_S:
                    reported = time.monotonic()
                    self.progress(
                        f"{self.stats.pages} pages, {self.stats.records} records (to page {numbers.stop - 1})"
                    )

        async with first_error(), asyncio.TaskGroup() as group:
            for _ in range(min(self.concurrency, max(0, numbers.stop - numbers.start))):
                group.create_task(worker())

    async def _fetch_searched(self, first: Page) -> None:
        """Read an unfiltered newest-first listing's window as ``raw.locate`` finds it: guesses at
        its edges and its known pages go out together, with bounded concurrency, each page once."""
        plan = WindowPlan(self._times, self.size, self.window, first)
        changed = asyncio.Condition()
        reported = time.monotonic()

        async def worker() -> None:
            nonlocal reported
            while True:
                async with changed:
                    while (number := plan.next()) is None:
                        if plan.done:
                            return
                        if not plan.in_flight:
                            raise RuntimeError(f"{self.endpoint.path}: the window search stalled (a bug)")
                        await changed.wait()
                page = await self._fetch(number)
                async with changed:
                    plan.note(page)
                    ready = plan.ready()
                    changed.notify_all()
                for page in ready:
                    self._accept(page)
                if time.monotonic() - reported >= PROGRESS_EVERY_S:
                    reported = time.monotonic()
                    self.progress(f"{self.stats.pages} pages, {self.stats.records} records")

        for page in plan.ready():  # the first page, when it holds the window's top
            self._accept(page)
        async with first_error(), asyncio.TaskGroup() as group:
            for _ in range(self.concurrency):
                group.create_task(worker())
        self.stats.probes = plan.probes

    async def _read_past_total(self) -> None:
        """Read on while the last page is full: a total that counts short (a cached or capped
        count; no page promises it is exact) would otherwise end the listing early, unnoticed."""
        last = self._page_count(self.coverage.total)
        while self._listed.get(last, 0) >= self.size and not self.coverage.beyond_window(last + 1):
            last += 1
            self.progress(f"page {last - 1} is full although the total says it is the last: reading on")
            self._accept(await self._fetch(last))

    def _accept(self, page: Page) -> None:
        if self._shrink_watched and not page.not_modified and page.total < self.coverage.total:
            # Records were deleted from the listing while it was read. Positions no longer match
            # pages read earlier: on an oldest-first listing every later record moved up one,
            # past the pages read before (no hole shows), and on a newest-first one the positions
            # of the newer records moved down, leaving a hole no re-read fills.
            raise ListingShrank(self.coverage.total, page.total)
        self.stats.pages += 1
        self._listed[page.number] = page.listed
        self.stats.not_modified_pages += page.not_modified
        self.stats.total = max(self.stats.total, page.total)
        timed = [] if page.not_modified else self._timed(page.records)
        self._check_times(page, timed)
        if not page.not_modified:
            times = [t for _, t in timed if t is not None]
            page.oldest = min(times, default=None)
            page.newest_in_order = self._newest_in_order(times)
        if page.etag:
            self.stats.page_notes[self.page_key(page.number)] = PageNote.of(page)
        self.coverage.add(page)
        if self._ends_after_window(page):
            self.coverage.after_window(page)
        if page.not_modified:
            # Accepted last time: in the window, each once. The rest of what the page listed was
            # outside the window (records never change page where ETags are used).
            self.stats.out_of_window += page.listed - len(page.records)
            self._take(page, page.records)
            return
        if not self.endpoint.conditional:
            self._note_ties(page, timed)
        fresh = []
        later_time = self.endpoint.later_time
        for index, (record, moment) in enumerate(timed):
            later = later_time(moment, self.context) if later_time and moment is not None else None
            if (
                moment is not None
                and moment not in self.window
                and (later is None or later not in self.window)
            ):
                self.stats.out_of_window += 1
                continue
            if self._is_duplicate(record):
                continue
            if later is not None and moment is not None:
                position = self.coverage.position_of(page, index)
                self._held.append(repeated_hour.Held(position, moment, later, record, page))
                continue
            fresh.append(record)
        self._take(page, fresh)

    def _check_times(self, page: Page, timed: list[tuple[dict, datetime | None]]) -> None:
        """Fail when not one record of a page has a time that can be read: the listing's time
        format has changed, and the records can no longer be told from other days' (a listing
        wider than the window, or OmniDimension's unfiltered one, would file them under every day
        that reads the page). A lone record with a broken time is quarantined instead."""
        calls = [record for record, _ in timed if isinstance(record, dict)]
        if len(calls) < 2 or any(moment is not None for _, moment in timed):
            return
        field = self.endpoint.time_field
        example = next((r.get(field) for r in calls if r.get(field)), None)
        raise ProviderResponseError(
            f"{self.client.settings.provider_title} {self.endpoint.path}: none of the {len(calls)} records "
            f"on page {page.number} has a {field} the pipeline can read"
            f"{f' (e.g. {redact_text(str(example))[:60]!r})' if example is not None else ''}, so they "
            "cannot be placed in their days. The API's time format may have changed: nothing was "
            "written for this partition; update the endpoint's record_time (providers/<name>/api.py)."
        )

    def _note_ties(self, page: Page, timed: list[tuple[dict, datetime | None]]) -> None:
        """Remember the stable positions and ids of in-window records that share a time with the
        page's first or last record: a listing sorted by a time alone may order equal times
        differently on every request, and then a tie across a page boundary shows one record twice
        and hides another (OmniDimension's ``time_of_call`` has whole seconds). Only the runs of
        equal times at the page's two ends are looked at (a sorted page holds a tie together),
        and, while ties are being settled, the times still short anywhere on the page."""
        if not timed:
            return
        indices = {*_run(timed, range(len(timed))), *_run(timed, range(len(timed) - 1, -1, -1))}
        if self._watch:
            indices.update(i for i, (_, moment) in enumerate(timed) if moment in self._watch)
        for index in indices:
            record, moment = timed[index]
            if moment is not None and moment in self.window and (rid := self.endpoint.record_id(record)):
                positions, ids = self._ties.setdefault(moment, (set(), set()))
                positions.add(self.coverage.position_of(page, index))
                ids.add(rid)

    async def _settle_ties(self) -> None:
        """Read again the pages of a tie that showed fewer records than positions it holds, until
        every one has been seen (the listing's order of equal times changes between requests)."""
        for _ in range(MAX_TIE_ROUNDS):
            self._watch = {
                moment for moment, (positions, ids) in self._ties.items() if len(ids) < len(positions)
            }
            if not self._watch:
                return
            self.stats.drift_refetches += 1
            positions = self._ties[min(self._watch)][0]
            numbers = sorted({self.coverage.page_holding(p) for p in positions})
            self.progress(
                f"records with equal times listed in a changing order: reading pages {numbers} again"
            )
            for number in numbers:
                self._accept(await self._fetch(number))
        self._watch = set()
        self.progress(
            "records with equal times kept changing order: some may be missing; re-run the partition"
        )

    def _newest_in_order(self, times: list[datetime]) -> datetime | None:
        """The page's newest record time if the page shows its records oldest first. A server that
        ignored the asked-for order gives None (a single record shows no order), and its listing is
        read to the end."""
        if self.order is not Order.OLDEST_FIRST or len(times) < 2:
            return None
        if any(later < earlier for earlier, later in itertools.pairwise(times)):
            return None
        return times[-1]

    def _ends_after_window(self, page: Page) -> bool:
        """An oldest-first listing filtered by whole days lists past the window's end: once a page
        ends there, later pages hold nothing of the window."""
        return self.bounded and page.newest_in_order is not None and page.newest_in_order >= self.window.end

    def _is_duplicate(self, record: dict) -> bool:
        rid = self.endpoint.record_id(record)
        if rid is None:
            return False
        if rid in self._seen:
            self.stats.duplicates += 1
            return True
        self._seen.add(rid)
        return False

    def _take(self, page: Page, records: list[dict]) -> None:
        self.stats.records += len(records)
        if records:
            self.sink(page, records)

    def _release_held(self) -> None:
        """Place the records of a repeated local hour by the listing's order, then keep those in
        the window (see ``raw.repeated_hour``)."""
        if not self._held:
            return
        placed, self.stats.repeated_hour_undecided = repeated_hour.resolve(self._held)
        if self.stats.repeated_hour_undecided:
            self.progress(
                f"{self.stats.repeated_hour_undecided} records in a repeated local hour (DST fall-back) "
                "could not be placed by the listing's order; read in the earlier pass"
            )
        for held, moment in placed:
            if moment not in self.window:
                self.stats.out_of_window += 1
                continue
            if moment == held.later:
                self.stats.later_pass_ids.append(self.endpoint.record_id(held.record))
            self._take(held.page, [held.record])
        self._held = []

    def _times(self, page: Page) -> list[datetime]:
        return [t for t in map(self._time_of, page.records) if t]

    def _timed(self, records: list[dict]) -> list[tuple[dict, datetime | None]]:
        """Pair records with their creation time; an unreadable time borrows its neighbour's.

        A record with a broken timestamp still sits in the listing's order, so the time of the
        record before it decides its window (the mapping quarantines it later, with the reason).
        """
        out, previous = [], None
        for record in records:
            moment = self._time_of(record)
            if moment is None:
                moment = previous
            out.append((record, moment))
            previous = moment
        return out

    def _time_of(self, record: Any) -> datetime | None:
        # A listing entry that is not an object (null, a string) has no time: it is kept, and the
        # mapping quarantines it as wrong_shape, instead of failing the whole day.
        return self.endpoint.record_time(record, self.context) if isinstance(record, dict) else None

    def _page_count(self, total: int) -> int:
        return max(1, math.ceil(total / self.size))

    # -- drift ------------------------------------------------------------------------------

    async def _repair(self) -> None:
        """Fetch again wherever arrivals may have hidden records from the pages we read."""
        bounded = self.bounded
        short: tuple[int, int] | None = None  # (position, page) a short re-read left uncovered
        for _ in range(MAX_REPAIR_ROUNDS):
            position = self.coverage.missing(bounded_listing=bounded)
            if position is None:
                return
            number = self.coverage.page_holding(position)
            self.stats.drift_refetches += 1
            self.progress(f"drift: the listing moved while paging, reading page {number} again")
            page = await self._fetch(number)
            self._accept(page)
            if page.listed >= self.size or self.coverage.missing(bounded_listing=bounded) != position:
                short = None
            elif short == (position, number):
                # Twice the same short page, and still a hole: the listing ends before its total
                # says (a count that includes records it does not list). Nothing more to read.
                self.progress(
                    f"the listing ends before its total of {self.coverage.total}: taking it as an overcount"
                )
                return
            else:
                short = (position, number)
        raise RuntimeError(
            f"{self.endpoint.path}: the listing kept changing through {MAX_REPAIR_ROUNDS} re-reads; "
            "re-run the partition when traffic is lower"
        )

    async def _widen(self) -> None:
        """Read further down until the oldest page read lies before the window's start: arrivals
        keep pushing the window down an unfiltered newest-first listing while we read it."""
        for _ in range(MAX_REPAIR_ROUNDS):
            bottom = self.coverage.bottom()
            if bottom is None:
                return  # an empty listing
            if bottom.start <= 0 or (bottom.oldest is not None and bottom.oldest < self.window.start):
                return
            self.stats.drift_refetches += 1
            self._accept(await self._fetch(self.coverage.page_holding(bottom.start - 1)))
            await self._repair()
