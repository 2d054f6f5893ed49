"""Where does a window start and end in a newest-first listing with no date filter?

OmniDimension lists every call ever made, newest first, with no way to ask for a day. Calls arrive
at a roughly steady rate, so a time's place in the listing can be estimated from the pages already
read (interpolation, or extrapolation at the pace read so far until a page older than the target
is found); bisection takes over whenever two interpolated guesses in a row fail to halve the
range, which bounds the probes at about 3·log2(pages). Probed pages are kept so the fetch reuses them: a probe
that lands in the window costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import datetime

from calllog_pipeline.providers.base import Window
from calllog_pipeline.raw.coverage import Page


class WindowSearch:
    """Finds the pages [lo, hi] of a newest-first listing that hold ``window``."""

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[Page]],
        times: Callable[[Page], list[datetime]],
        page_size: int,
        window: Window,
    ):
        self.fetch, self.times, self.size, self.window = fetch, times, page_size, window
        self.probes = 0  # pages read only to locate the window
        self._probed: dict[int, Page] = {}
        self._newest: dict[int, datetime] = {}  # newest readable record time per probed page
        self._oldest: dict[int, datetime] = {}  # oldest, likewise

    def take(self, number: int) -> Page | None:
        """A probed page, handed over once so the fetch need not read it again."""
        return self._probed.pop(number, None)

    def seed(self, page: Page) -> None:
        """A page already read (the first), so the search need not read it again."""
        self._probed[page.number] = page
        if times := self.times(page):
            self._newest[page.number], self._oldest[page.number] = max(times), min(times)
        self.probes += 1

    async def _probe(self, number: int) -> Page:
        if number not in self._probed:
            self.seed(await self.fetch(number))
        return self._probed[number]

    async def locate(self) -> tuple[int, int]:
        first = await self._probe(1)
        pages = max(1, math.ceil(first.total / self.size))

        async def first_page_where(predicate, target: datetime, low: int, lean: float, aim: datetime) -> int:
            """The first page from ``low`` on where ``predicate`` holds. Guesses lean towards the
            window by ``lean`` ranks, and aim at ``aim`` until a page is found where the predicate
            holds: a probe that lands in the window is a page the fetch needs anyway."""
            high, start = pages + 1, low  # the answer is in [low, high]; pages + 1 means "none"
            if low in self._probed:  # e.g. the newest day sits at the top of the listing
                times = self.times(self._probed[low])
                if not times or predicate(times):
                    return low
            slow = 0  # interpolated guesses in a row that failed to halve the bracket
            while low < high:
                width, bracketed = high - low, high <= pages
                if slow >= 2:
                    guess = (low + high) // 2
                else:
                    guess = self._estimate_page(target if bracketed else aim, low, high, lean)
                    if not bracketed:  # a gallop: each guess goes at least half as deep again
                        guess = min(max(guess, low + (low - start) // 2), high - 1)
                times = self.times(await self._probe(guess))
                if not times or predicate(times):
                    if max(times, default=target) >= target:
                        return guess  # the page straddles the target: the pages above miss it
                    high = guess
                else:
                    low = guess + 1
                # Bisection takes over when two interpolated guesses in a row fail to halve the
                # bracket (and hands back to interpolation after one step).
                slow = slow + 1 if bracketed and slow < 2 and high - low > width // 2 else 0
            return low

        # The first page holding anything older than the window's end, and the first holding
        # anything older than its start: the window's last page, read anyway (the page wholly
        # older than the window, which a search for it would probe, is never needed).
        window, half_page = self.window, self.size / 2
        middle = window.start + (window.end - window.start) / 2
        lo = await first_page_where(lambda times: min(times) < window.end, window.end, 1, half_page, middle)
        last = await first_page_where(
            lambda times: min(times) < window.start, window.start, lo, -half_page, window.start
        )
        return min(lo, pages), max(min(last, pages), lo)

    def _estimate_page(self, target: datetime, low: int, high: int, lean: float = 0.0) -> int:
        """The page where ``target`` (its rank plus ``lean``) should sit, interpolated between the
        nearest probed records newer and older than it; with nothing older read yet, extrapolated
        at the pace of the records read so far; the middle of [low, high) when there is nothing
        to go by."""
        newest, newer, older = None, None, None  # (rank in the listing, time)
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
                if newest is None or rank < newest[0]:
                    newest = (rank, moment)
        if newer is not None and older is None and newest is not None and newest[1] > newer[1]:
            pace = (newer[0] - newest[0]) / (newest[1] - newer[1]).total_seconds()  # records/s
            rank = newer[0] + pace * (newer[1] - target).total_seconds() + lean
            return min(max(int(rank // self.size) + 1, low), high - 1)
        if newer is None or older is None or older[1] >= newer[1]:
            return (low + high) // 2
        share = (newer[1] - target) / (newer[1] - older[1])
        rank = newer[0] + share * (older[0] - newer[0]) + lean
        return min(max(int(rank // self.size) + 1, low), high - 1)
