"""Which pages of a newest-first listing with no date filter hold a window, read as they are found.

OmniDimension lists every call ever made, newest first, with no way to ask for a day. The window's
pages are [T, L]: T the first page holding anything older than the window's end, L the first holding
anything older than its start (the window's last page: a day ends on it, or it is the page just
below a day that ends exactly on a page's edge). Each is bracketed by the pages read so far
(``Boundary``), and ``WindowPlan.next`` says what to read now:

* a guess at an unsettled boundary (one at a time per boundary), placed by the pace of the records
  read so far: interpolated between the nearest records newer and older than the target, or
  extrapolated at that pace until something older is known (and then at the pace on the page
  nearest the target, when that is the more cautious), or bisected when two guesses in a row miss
  the window and fail to halve the bracket, which bounds the guesses at about 3·log2(pages).
  Guesses lean into the window, where a guess is a page the fetch needs anyway. Until a page holding
  the window's records is known, there is one guess at a time, aimed at the window's middle;
* otherwise a page already known to lie between the boundaries.

So the window's pages are read as soon as one is known, concurrently with the guesses that settle
its edges, and no page is read twice. Page numbers are compared as they were answered: calls that
arrive meanwhile shift the pages, which the fetch repairs afterwards by stable positions
(``raw.coverage``); the plan itself only has to end, which it does because every read narrows a
bracket.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from calllog_pipeline.providers.base import Window
from calllog_pipeline.raw.coverage import Page

# How far a guess leans into the window, as a share of its distance from the nearest record known
# inside: between two known records, and beyond the last (an extrapolation, less sure). Chosen by
# counting the requests of days 1, 7 and 30 back in simulated listings (docs/benchmarks.md).
LEAN_BETWEEN, LEAN_BEYOND = 0.25, 0.75
GALLOP = 8  # until the window is found, each guess goes at least 1/GALLOP deeper than the last


@dataclass
class Boundary:
    """The first page holding anything older than ``target`` lies in [low, high]; high = pages + 1
    means no page does. Settled when the bracket is one page or its high page straddles the target
    (the page above it, newest first, is then wholly newer)."""

    target: datetime
    aim: datetime  # where guesses go until something older than the target is known
    toward: int  # which way the window lies from the target, in ranks: +1 (older) or -1 (newer)
    low: int
    high: int
    straddles: int | None = None  # a page read holding records on both sides of the target
    guessing: int | None = None  # the guess in flight
    gallop_from: int | None = None  # ``low`` when the first guess went
    slow: int = 0  # interpolated guesses in a row that failed to halve the bracket

    @property
    def settled(self) -> bool:
        return self.low >= self.high or self.straddles == self.high

    def note(self, number: int, times: list[datetime]) -> None:
        # A page with no readable time counts as older, and as straddling: it ends the search
        # where it is (its records keep their neighbours' times in the fetch).
        if not times or min(times) < self.target:
            if number <= self.high:
                self.high = number
                if max(times, default=self.target) >= self.target:
                    self.straddles = number
            self.low = min(self.low, self.high)
        elif number >= self.low:
            self.low = number + 1
            self.high = max(self.high, self.low)


class WindowPlan:
    """What to read next to fetch the window's pages of a newest-first listing, given the first."""

    def __init__(self, times: Callable[[Page], list[datetime]], page_size: int, window: Window, first: Page):
        self.times, self.size, self.window = times, page_size, window
        self.pages = max(1, math.ceil(first.total / page_size))
        middle = window.start + (window.end - window.start) / 2
        self.top = Boundary(window.end, middle, +1, 1, self.pages + 1)
        self.bottom = Boundary(window.start, window.start, -1, 1, self.pages + 1)
        self.read: dict[int, Page] = {}  # read and not yet handed over
        self.handed: set[int] = set()
        self.in_flight: set[int] = set()
        self._newest: dict[int, datetime] = {}  # newest readable record time per page read
        self._oldest: dict[int, datetime] = {}
        self._count: dict[int, int] = {}  # records listed per page read
        self.inside = False  # whether a page read holds a record of the window
        self.probes = 0  # pages read that hold none of the window's records
        self.note(first)

    # -- what to read ---------------------------------------------------------------------------

    def next(self) -> int | None:
        """A page to read now; None when nothing can be decided before a page in flight answers."""
        for boundary in self._boundaries_to_guess():
            if boundary.guessing is None and not boundary.settled:
                guess = self._guess(boundary)
                if guess is not None:
                    boundary.guessing = guess
                    return self._send(guess)
        first, last = self.certain()
        for number in range(first, last + 1):
            if number not in self.read and number not in self.handed and number not in self.in_flight:
                return self._send(number)
        return None

    def _boundaries_to_guess(self) -> tuple[Boundary, ...]:
        # Until a page holding the window's records is known, one guess at a time, at the window's
        # middle, where it most likely lands on a needed page; then each edge is guessed from the
        # records nearest it, inside the window.
        return (self.top, self.bottom) if self.inside or self.top.settled else (self.top,)

    def certain(self) -> tuple[int, int]:
        """Pages known to be needed: from the top's high down to the page above the bottom's low,
        or to the bottom itself once settled (an empty range when none is known)."""
        first = min(self.top.high, self.pages)
        if self.top.high > self.pages and not self.top.settled:
            return 1, 0
        last = min(self.bottom.high, self.pages) if self.bottom.settled else self.bottom.low - 1
        return first, min(last, self.pages)

    def _send(self, number: int) -> int:
        self.in_flight.add(number)
        return number

    # -- what was read --------------------------------------------------------------------------

    def note(self, page: Page) -> None:
        """A page has been read (guessed or needed)."""
        self.in_flight.discard(page.number)
        times = self.times(page)
        for boundary in (self.top, self.bottom):
            width, bracketed = boundary.high - boundary.low, boundary.high <= self.pages
            boundary.note(page.number, times)
            if boundary.guessing != page.number:
                continue
            boundary.guessing = None
            # Bisection takes over when two interpolated guesses in a row miss the window and fail
            # to halve the bracket (and hands back to interpolation after one step). A guess that
            # lands inside the window is no failure: it leans there on purpose, and is needed.
            missed = not any(moment in self.window for moment in times)
            if missed and bracketed and boundary.slow < 2 and boundary.high - boundary.low > width // 2:
                boundary.slow += 1
            else:
                boundary.slow = 0
        self.read[page.number] = page
        self._reach_past_total(page)
        holds_window = any(moment in self.window for moment in times)
        self.inside = self.inside or holds_window
        self.probes += not holds_window
        self._count[page.number] = len(page.records)
        if times:
            self._newest[page.number], self._oldest[page.number] = max(times), min(times)

    def _reach_past_total(self, page: Page) -> None:
        """A full page at or past the last page by the total: the total counts short (capped,
        cached, "-1" for unknown; nothing promises it is exact), and the listing goes on. The search
        may then look twice as deep: a boundary that found nothing older within the old count is
        open again."""
        if page.number < self.pages or len(page.records) < self.size:
            return
        pages, self.pages = self.pages, 2 * max(self.pages, page.number)
        for boundary in (self.top, self.bottom):
            if boundary.high == pages + 1:
                boundary.high = self.pages + 1
                boundary.straddles = None if boundary.straddles == pages + 1 else boundary.straddles

    def ready(self) -> list[Page]:
        """Pages read that are now known to be needed, each handed over once."""
        first, last = self.certain()
        numbers = [n for n in self.read if first <= n <= last]
        if self.done_guessing() and first - 1 in self.read:
            # The wholly newer page just above the window, read while settling its top: kept, so
            # the fetch's coverage shows the window's newest end met however the pages shifted.
            numbers.append(first - 1)
        for number in numbers:
            self.handed.add(number)
        return [self.read.pop(n) for n in sorted(numbers)]

    def done_guessing(self) -> bool:
        return self.top.settled and self.bottom.settled

    @property
    def done(self) -> bool:
        first, last = self.certain()
        return self.done_guessing() and all(n in self.handed for n in range(first, last + 1))

    # -- guessing -------------------------------------------------------------------------------

    def _guess(self, boundary: Boundary) -> int | None:
        """A page in the boundary's bracket that is neither read nor in flight, or None."""
        low, high = boundary.low, boundary.high
        bracketed = high <= self.pages
        if boundary.gallop_from is None:
            boundary.gallop_from = low
        if boundary.slow >= 2:
            guess = (low + high) // 2
        else:
            target = boundary.target if self.inside else boundary.aim
            guess = self._estimate_page(target, low, high, boundary.toward)
            if not bracketed and not self.inside:
                # A gallop: each guess goes deeper by a share of the depth reached, however slow
                # the pace read so far says the listing is. (Once inside the window, a guess that
                # falls short is a page needed anyway, and one forced deeper would overshoot.)
                guess = min(max(guess, low + (low - boundary.gallop_from) // GALLOP), high - 1)
        guess = min(max(guess, low), min(high, self.pages + 1) - 1)
        if guess < low:
            return None
        # Nearest free page to the guess (the other boundary's guess may hold it).
        for step in range(0, high - low + 1):
            for candidate in (guess + step, guess - step):
                if low <= candidate < high and candidate <= self.pages and self._free(candidate):
                    return candidate
            if step > 8:
                break
        return None

    def _free(self, number: int) -> bool:
        return number not in self.in_flight and number not in self.read and number not in self.handed

    def _estimate_page(self, target: datetime, low: int, high: int, toward: int = 0) -> int:
        """The page where ``target`` should sit, interpolated between the nearest records read newer
        and older than it; with nothing older read yet, extrapolated at the pace of the records read
        so far; the middle of [low, high) when there is nothing to go by.

        The guess leans ``toward`` the window by half a page plus a share of its distance from the
        nearest record known on the window's side: the pace of calls is not steady (a day has quiet
        hours), and a guess that falls short is a page the fetch needs anyway, one that overshoots
        is a request wasted."""
        newest, newer, older = None, None, None  # (rank in the listing, time, page)
        for number, newest_time in self._newest.items():
            for offset, moment in ((0, newest_time), (self._count[number] - 1, self._oldest[number])):
                rank = (number - 1) * self.size + offset
                if moment >= target and (newer is None or rank > newer[0]):
                    newer = (rank, moment, number)
                elif moment < target and (older is None or rank < older[0]):
                    older = (rank, moment, number)
                if newest is None or rank < newest[0]:
                    newest = (rank, moment, number)
        if newer is not None and older is None and newest is not None and newest[1] > newer[1]:
            pace = (newer[0] - newest[0]) / (newest[1] - newer[1]).total_seconds()  # records/s
            rank = newer[0] + pace * (newer[1] - target).total_seconds()
        elif newer is None or older is None or older[1] >= newer[1]:
            return (low + high) // 2
        else:
            share = (newer[1] - target) / (newer[1] - older[1])
            rank = newer[0] + share * (older[0] - newer[0])
        inside = older if toward > 0 else newer  # the nearest record known on the window's side
        if inside is not None:
            # The pace on the page that record is on, carried to the target: calls come faster in
            # some hours than others, and the nearest page knows the pace nearest the target.
            number = inside[2]
            seconds = (self._newest[number] - self._oldest[number]).total_seconds()
            if seconds > 0 and self._count[number] > 1:
                local = inside[0] + (self._count[number] - 1) / seconds * (inside[1] - target).total_seconds()
                rank = min(rank, local, key=lambda r: abs(r - inside[0]))
            share = LEAN_BETWEEN if newer is not None and older is not None else LEAN_BEYOND
            rank += toward * (self.size / 2 + share * abs(rank - inside[0]))
        return min(max(int(rank // self.size) + 1, low), high - 1)
