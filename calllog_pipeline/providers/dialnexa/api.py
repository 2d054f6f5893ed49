"""DialNexa: ``GET /calls`` (lightweight) and ``GET /call-logs`` (enriched, ETag-aware).

From the reference pages (shared/provider-api/dialnexa-*.txt):
* both take ``page``/``limit`` (max 100) and answer ``{"data": [...], "meta": {"total": ...}}``;
  ``meta.totalPages`` is only sometimes present, so the page count comes from ``total``.
* ``/calls`` is sorted newest first with no sort option; ``from``/``to`` (ISO 8601) bound
  ``created_at``, so a past day's listing is closed and stable. The page does not say which bound
  is inclusive: we ask for a second more on each side and keep the records inside the window.
* ``/call-logs`` takes ``start_date``/``end_date`` as whole ``YYYY-MM-DD`` days (read as UTC) and
  ``created_at=asc``: we ask for the UTC days that cover the window, ``end_date`` a day later
  (whether it is inclusive is not said), and keep the records inside the window. Being oldest
  first, the listing is not read past the first page that ends after the window (``raw.fetch``).
  It supports ``If-None-Match`` -> 304, which makes re-reading an unchanged day cheap.
* A call-log's own ``id`` is a ``log_...`` id or, in older records, the call id.
* Rate limits are per key and unpublished: 429 with ``Retry-After`` and ``X-RateLimit-*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
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
from calllog_pipeline.timeutil import iso_z, parse_iso_utc

PAGE_SIZE = 100


class DialNexaApi(ProviderApi):
    """DialNexa connection: ``DIALNEXA_API_KEY``, ``DIALNEXA_BASE_URL``."""

    title: ClassVar[str] = "DialNexa"
    env_prefix: ClassVar[str] = "DIALNEXA"

    base_url: str = "https://api.dialnexa.com/v1"
    # No published number: a conservative default, raise it if your plan allows.
    rate_limit_requests: int = 10
    rate_limit_period_s: float = 1.0


def _page_params(number: int, size: int) -> dict[str, Any]:
    return {"page": number, "limit": size}


def _created_at(record: dict, _context: Mapping[str, str]) -> datetime | None:
    return parse_iso_utc(record.get("created_at"))


# Widening a bound the page leaves open (inclusive or not, to the millisecond or the second): a
# call at the window's first instant is listed either way. The fetch drops what lies outside.
BOUND_MARGIN = timedelta(seconds=1)


def _calls_window(window: Window) -> dict[str, Any]:
    return {"from": iso_z(window.start - BOUND_MARGIN), "to": iso_z(window.end + BOUND_MARGIN)}


def _call_logs_window(window: Window) -> dict[str, Any]:
    """The UTC days covering the window, and one more: the page defines ``start_date`` ("on or
    after this date") but not ``end_date``, and a server reading it as exclusive would otherwise
    list none of the window's last UTC day. The fetch drops what lies outside the window."""
    last_day = (window.end - timedelta(microseconds=1)).astimezone(UTC).date()
    return {
        "start_date": window.start.astimezone(UTC).date().isoformat(),
        "end_date": (last_day + timedelta(days=1)).isoformat(),
    }


CALLS = Endpoint(
    name="calls",
    path="/calls",
    description="DialNexa GET /calls: every call placed, the lightweight scheduling view.",
    page_size=PAGE_SIZE,
    order=Order.NEWEST_FIRST,
    paging=Paging.WINDOWED,
    page_params=_page_params,
    read_page=json_listing("data", "meta", "total"),
    record_id=id_field,
    record_time=_created_at,
    time_field="created_at",
    window_params=_calls_window,
)

CALL_LOGS = Endpoint(
    name="call_logs",
    path="/call-logs",
    description="DialNexa GET /call-logs: enriched call logs (sentiment, analysis, end reason).",
    page_size=PAGE_SIZE,
    order=Order.OLDEST_FIRST,
    paging=Paging.WINDOWED,
    page_params=lambda number, size: {**_page_params(number, size), "created_at": "asc"},
    read_page=json_listing("data", "meta", "total"),
    record_id=id_field,
    record_time=_created_at,
    time_field="created_at",
    window_params=_call_logs_window,
    conditional=True,
)
