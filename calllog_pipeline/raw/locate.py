"""Where does a window start and end in a newest-first listing with no date filter?

OmniDimension lists every call ever made, newest first, with no way to ask for a day. Calls arrive
at a roughly steady rate, so a time's place in the listing can be estimated from the pages already
read (interpolation); bisection takes over whenever a guess fails to halve the range, which bounds
the probes at about 2·log2(pages). Probed pages are kept so the fetch reuses them.
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

    async def _probe(self, number: int) -> Page:
        if number not in self._probed:
            page = await self.fetch(number)
            self._probed[number] = page
            if times := self.times(page):
                self._newest[number], self._oldest[number] = max(times), min(times)
            self.probes += 1
        return self._probed[number]

    async def locate(self) -> tuple[int, int]:
        first = await self._probe(1)
        pages = max(1, math.ceil(first.total / self.size))

        async def first_page_where(predicate, target: datetime, low: int) -> int:
            high = pages + 1  # the answer is in [low, high]; pages + 1 means "none"
            if low in self._probed:  # e.g. the newest day sits at the top of the listing
                times = self.times(self._probed[low])
                if not times or predicate(times):
                    return low
            bisect = False
            while low < high:
                width = high - low
                guess = (low + high) // 2 if bisect else self._estimate_page(target, low, high)
                times = self.times(await self._probe(guess))
                if not times or predicate(times):
                    high = guess
                else:
                    low = guess + 1
                bisect = high - low > width // 2
            return low

        # First page holding anything older than the window's end, and first page wholly older
        # than its start; the window lies between.
        window = self.window
        lo = await first_page_where(lambda times: min(times) < window.end, window.end, 1)
        past = await first_page_where(lambda times: max(times) < window.start, window.start, lo)
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
