"""Which pass of a repeated local hour does a record belong to?

When clocks fall back, an hour of local times happens twice (01:00-02:00 in New York on the first
Sunday of November). A provider that sends zone-less local times (OmniDimension's
``time_of_call``) gives no way to tell the two passes apart from the record alone, but its listing
is sorted by time, newest first: walking down it, the records of the later pass come first with
their local times falling, then the local time jumps *up* by about an hour where the earlier pass
begins. That jump is where the two passes meet.

When the records read show no such jump (only one pass had calls, or the passes do not overlap in
local time), the order cannot decide: every record is read in the earlier pass, as ``record_time``
does, and the fetch counts them as undecided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from calllog_pipeline.raw.coverage import Page


@dataclass
class Held:
    """A record whose local time falls in a repeated hour, held back until the passes are told apart."""

    position: int  # stable position in the listing (higher is newer)
    earlier: datetime  # the instant if its local time is read in the earlier pass
    later: datetime  # ... in the later pass
    record: dict
    page: Page


def resolve(held: list[Held]) -> tuple[list[tuple[Held, datetime]], int]:
    """Each held record with its instant, and how many the listing's order could not decide."""
    newest_first = sorted(held, key=lambda h: h.position, reverse=True)
    boundary = next(
        (i for i in range(1, len(newest_first)) if newest_first[i].earlier > newest_first[i - 1].earlier),
        None,
    )
    if boundary is None:
        return [(h, h.earlier) for h in newest_first], len(newest_first)
    return [(h, h.later if i < boundary else h.earlier) for i, h in enumerate(newest_first)], 0
