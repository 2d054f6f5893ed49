"""OmniDimension: ``GET /calls/logs``.

From the reference page (shared/provider-api/omnidimension-call-logs.txt):
* ``pageno``/``pagesize`` (at most 150), answer ``{"call_log_data": [...], "total_records": N}``;
* no date filter at all and always newest first: the pages holding a day are found by binary
  search and read as a range, which new calls keep shifting (see ``raw.fetch``);
* ``time_of_call`` is ``MM/DD/YYYY HH:MM:SS`` local time with no zone, read in ``OMNIDIM_TIMEZONE``;
  on a DST fall-back day one hour of local times occurs twice, told apart by the listing's order
  (the fetch records which records are in the later pass; see docs/ingestion.md).
A 429 carries no headers and means "back off about a minute".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

from calllog_pipeline.providers.base import Endpoint, Order, Paging, ProviderApi, id_field, json_listing
from calllog_pipeline.timeutil import later_reading, parse_local

TIME_FORMAT = "%m/%d/%Y %H:%M:%S"


class OmniDimensionApi(ProviderApi):
    """OmniDimension connection: ``OMNIDIM_API_KEY``, ``OMNIDIM_BASE_URL``, ``OMNIDIM_TIMEZONE``."""

    title: ClassVar[str] = "OmniDimension"
    env_prefix: ClassVar[str] = "OMNIDIM"

    base_url: str = "https://backend.omnidim.io/api/v1"
    timezone: str = "UTC"
    rate_limit_requests: int = 60
    rate_limit_period_s: float = 60.0
    throttle_wait_s: float | None = 60.0

    def source_context(self) -> dict[str, str]:
        return {"timezone": self.timezone}


def _time_of_call(record: dict, context: Mapping[str, str]) -> datetime | None:
    return parse_local(record.get("time_of_call"), TIME_FORMAT, context.get("timezone", "UTC"))


def _later_time_of_call(moment: datetime, context: Mapping[str, str]) -> datetime | None:
    return later_reading(moment, context.get("timezone", "UTC"))


CALL_LOGS = Endpoint(
    name="call_logs",
    path="/calls/logs",
    description="OmniDimension GET /calls/logs: call logs with turns, tool calls and post-call actions.",
    page_size=150,
    order=Order.NEWEST_FIRST,
    paging=Paging.SEARCHED,
    page_params=lambda number, size: {"pageno": number, "pagesize": size},
    read_page=json_listing("call_log_data", "total_records"),
    record_id=id_field,
    record_time=_time_of_call,
    time_field="time_of_call",
    # On a DST fall-back day an hour of local times repeats; the listing's order tells which.
    later_time=_later_time_of_call,
)
