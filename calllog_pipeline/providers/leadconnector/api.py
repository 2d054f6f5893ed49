"""HighLevel / LeadConnector Voice AI: ``GET /voice-ai/dashboard/call-logs``.

From the reference page (shared/provider-api/leadconnector-voice-ai-call-logs.txt):
* every request needs a ``Version`` header and a ``locationId``;
* ``startDate``/``endDate`` are Unix epoch milliseconds, both or neither, start < end; the page's
  example ends a day at ``...199000``, its last second, but says neither bound's inclusiveness nor
  resolution, so we ask for a second more at the start and keep the records inside the window;
  the range is "interpreted in the provided IANA timezone" (none can be provided): the end is
  asked for a local day later, in case the server rounds it down to the start of its day;
* ``sortBy=createdAt&sort=ascend`` gives a listing that new calls only append to;
* ``pageSize`` is at most 50; the answer is ``{"total", "page", "pageSize", "callLogs"}``.
HighLevel's published limit is 100 requests per 10 s per location (and 200,000 a day); a 429
comes with ``X-RateLimit-*`` headers but no ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from calllog_pipeline.providers.base import (
    Endpoint,
    Order,
    Paging,
    ProviderApi,
    Window,
    id_field,
    json_listing,
)
from calllog_pipeline.timeutil import epoch_ms, parse_iso_utc


class LeadConnectorApi(ProviderApi):
    """LeadConnector connection: ``LEADCONNECTOR_API_KEY``, ``LEADCONNECTOR_LOCATION_ID``,
    ``LEADCONNECTOR_BASE_URL``, ``LEADCONNECTOR_API_VERSION``."""

    title: ClassVar[str] = "LeadConnector Voice AI"
    env_prefix: ClassVar[str] = "LEADCONNECTOR"

    base_url: str = "https://services.leadconnectorhq.com"
    location_id: str = ""  # required
    api_version: str = "2021-04-15"
    rate_limit_requests: int = 100
    rate_limit_period_s: float = 10.0
    # A bare 429 means the 10 s burst window is spent.
    throttle_wait_s: float | None = 10.0

    required_fields: ClassVar[tuple[str, ...]] = ("api_key", "location_id")

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Version": self.api_version}

    def default_params(self) -> dict[str, Any]:
        return {"locationId": self.location_id}

    def source_context(self) -> dict[str, str]:
        return {"location_id": self.location_id, "api_version": self.api_version}


def _created_at(record: dict, _context: Mapping[str, str]) -> datetime | None:
    return parse_iso_utc(record.get("createdAt"))


# Widening bounds the page leaves open (inclusive or not, to the millisecond or the second): calls
# at the window's first instant and in its last second are listed either way; the fetch drops
# what lies outside.
BOUND_MARGIN = timedelta(seconds=1)
# The page says the range is "interpreted in the provided IANA timezone" and names no timezone
# parameter: a server may round each bound to the start of its day in a zone of its own (the
# location's), the end one exclusive, which would cut up to a day off the window's end. Ending
# the request over a local day later (26 h: a DST day has 25) keeps the window inside whatever
# day it rounds to; the listing is oldest first, so the fetch stops at the first page past the
# window and the extra day costs at most the pages in flight. Rounding the start down can only
# list more.
END_MARGIN = timedelta(hours=26)


def _window(window: Window) -> dict[str, Any]:
    return {
        "startDate": epoch_ms(window.start - BOUND_MARGIN),
        "endDate": epoch_ms(window.end + END_MARGIN),
    }


CALL_LOGS = Endpoint(
    name="call_logs",
    path="/voice-ai/dashboard/call-logs",
    description="LeadConnector GET /voice-ai/dashboard/call-logs: Voice AI call logs with executed actions.",
    page_size=50,
    order=Order.OLDEST_FIRST,
    paging=Paging.WINDOWED,
    page_params=lambda number, size: {
        "page": number,
        "pageSize": size,
        "sortBy": "createdAt",
        "sort": "ascend",
    },
    read_page=json_listing("callLogs", "total"),
    record_id=id_field,
    record_time=_created_at,
    time_field="createdAt",
    window_params=_window,
)
