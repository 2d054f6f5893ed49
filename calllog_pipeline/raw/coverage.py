"""Which positions of a listing have the pages we read covered?

Pages are fetched concurrently while new calls keep arriving. On a listing sorted **oldest
first** an arrival is appended after everything else: fetched pages stay valid and only the tail
grows. On a listing sorted **newest first** each arrival pushes every record one place down, so
pages fetched at different moments may not meet, and records can fall between them.

Each page answer carries the listing's total at that moment, which turns the page into a span of
*stable* positions, counted from the end where nothing is added. Holes between the spans are the
only places records can hide; ``Coverage.missing`` names the first one, ``page_holding`` the page
that holds it now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from calllog_pipeline.providers.base import Order


@dataclass
class Page:
    """One page as the provider listed it."""

    number: int
    records: list[dict]  # for a 304 page: the records stored from it last time
    total: int  # the listing's total when the page was answered
    fetched_at: datetime
    etag: str | None = None
    not_modified: bool = False
    # How many records the provider listed on the page. A 304 page is rebuilt from the stored
    # file, which holds only its new in-window records, so its count comes from the footer.
    listed: int | None = None
    oldest: datetime | None = None  # the page's oldest readable record time, likewise
    # Its newest readable record time when its records are listed oldest first, likewise; None
    # when they are not (such a page cannot tell that the listing has passed the window).
    newest_in_order: datetime | None = None

    def __post_init__(self) -> None:
        if self.listed is None:
            self.listed = len(self.records)


class Span(NamedTuple):
    start: int  # positions [start, end) counted from the listing's fixed end
    end: int
    oldest: datetime | None  # the page's oldest readable record time


class Coverage:
    """The spans of stable positions covered by the pages read so far."""

    def __init__(self, order: Order, page_size: int):
        self.order, self.size = order, page_size
        self.spans: list[Span] = []
        self.total = 0  # the largest total the listing reported
        # From this position on, an oldest-first listing lies after the window (``after_window``).
        self.window_end: int | None = None

    def add(self, page: Page) -> None:
        self.total = max(self.total, page.total)
        if page.listed:
            self.spans.append(Span(*self.positions(page), page.oldest))

    def positions(self, page: Page) -> tuple[int, int]:
        """The page's records as positions counted from the listing's fixed end.

        Arrivals never move a record relative to the end they are not added at: the oldest end of
        a newest-first listing, the start of an oldest-first one. Positions measured from there
        are stable, so pages fetched at different moments can be compared.
        """
        first_rank = (page.number - 1) * self.size
        last_rank = first_rank + page.listed
        if self.order is Order.NEWEST_FIRST:
            return page.total - last_rank, page.total - first_rank
        return first_rank, last_rank

    def position_of(self, page: Page, index: int) -> int:
        """The stable position of the page's ``index``-th record."""
        rank = (page.number - 1) * self.size + index
        return page.total - 1 - rank if self.order is Order.NEWEST_FIRST else rank

    def page_holding(self, position: int) -> int:
        """The page that holds ``position`` now, judging by the latest total seen."""
        rank = position if self.order is Order.OLDEST_FIRST else self.total - 1 - position
        return max(1, rank // self.size + 1)

    def missing(self, *, bounded_listing: bool) -> int | None:
        """The first position no page read covered, between or around what was covered.

        ``bounded_listing``: the listing is the window itself (a time-filtered API), so its oldest
        end and its grown tail must be covered too; an unfiltered listing is bounded by the search.
        """
        spans = sorted(self.spans)
        if not spans:
            return None
        reach = spans[0].end
        for span in spans[1:]:
            if span.start > reach:
                return reach  # a hole between two fetched pages
            reach = max(reach, span.end)
        if not bounded_listing:
            return None
        if spans[0].start > 0:
            return 0  # the oldest records were pushed past the last page we read
        if self.order is Order.OLDEST_FIRST and reach < self._listed_end():
            return reach  # the listing grew past the pages we read
        return None

    def after_window(self, page: Page) -> None:
        """The page ends past the window on an oldest-first listing: every later position lies
        after the window too, so none of them needs reading (a day-granular filter lists more than
        the window; DialNexa ``/call-logs`` lists a whole day more)."""
        end = self.positions(page)[1]
        self.window_end = end if self.window_end is None else min(self.window_end, end)

    def beyond_window(self, number: int) -> bool:
        """Page ``number`` lies wholly after the window."""
        return self.window_end is not None and (number - 1) * self.size >= self.window_end

    def unread_after_window(self) -> int:
        """Listed positions after the window that no page read: records outside the window."""
        if self.window_end is None:
            return 0
        unread, reach = 0, self.window_end
        for span in sorted(self.spans):
            if span.end > reach:
                unread += max(0, span.start - reach)
                reach = span.end
        return unread + max(0, self.total - reach)

    def _listed_end(self) -> int:
        """Where the positions to read end: the total, or where the listing passed the window."""
        return self.total if self.window_end is None else min(self.total, self.window_end)

    def bottom(self) -> Span | None:
        """The covered span nearest the listing's fixed end."""
        return min(self.spans) if self.spans else None
