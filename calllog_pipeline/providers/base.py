"""The small interface every provider plugin fills in.

A provider is one package under ``calllog_pipeline.providers``: ``api.py`` says how to page its
endpoints (the connection resource and one ``Endpoint`` per raw asset), ``mapping.py`` says how its
records become canonical rows. Nothing outside that package knows a provider's quirks.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import dagster as dg

from calllog_pipeline.http import ApiClient, ClientSettings, FlakyAnswer, ProviderConfigError, ShapeChanged
from calllog_pipeline.mapping import RawDay, TableBatch


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end) of call creation times (timezone-aware)."""

    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


class Order(enum.Enum):
    """How a listing is sorted, which decides what new arrivals do to its pages."""

    OLDEST_FIRST = "oldest_first"  # arrivals append pages at the end: nothing shifts
    NEWEST_FIRST = "newest_first"  # arrivals push every record down: pages drift


class Paging(enum.Enum):
    """How the pages holding one window are found (see ``raw.fetch``)."""

    # The API filters by creation time (``Endpoint.window_params``): the listing *is* the window,
    # paged from 1 to its total, in either order.
    WINDOWED = "windowed"
    # No time filter, newest first: the window's pages are searched for from the top of the
    # listing, then read down until a page starts before the window.
    SEARCHED = "searched"


class ProviderApi(dg.ConfigurableResource):
    """Connection settings shared by every provider; subclasses add their own fields."""

    title: ClassVar[str]  # the provider's name in messages
    env_prefix: ClassVar[str]  # field ``x`` is read from ``<PREFIX>_X``, e.g. DIALNEXA_BASE_URL
    secret_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})
    required_fields: ClassVar[tuple[str, ...]] = ("api_key",)

    api_key: str = ""  # required: see ``missing_settings``
    base_url: str
    rate_limit_requests: int = 10  # client-side limit: this many requests ...
    rate_limit_period_s: float = 1.0  # ... per this many seconds
    max_concurrency: int = 4  # pages in flight at once
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    request_timeout_s: float = 300.0  # a whole request, first byte sent to last received
    max_attempts: int = 8
    max_backoff_s: float = 60.0
    throttle_wait_s: float | None = None  # how long to back off after a bare 429

    def default_params(self) -> dict[str, Any]:
        """Query parameters every request of this provider carries."""
        return {}

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}

    def secrets(self) -> list[str]:
        """Values that must never be logged, stored or raised."""
        return [self.api_key]

    def source_context(self) -> dict[str, str]:
        """Non-secret settings the mapping needs to read records (stored beside raw files)."""
        return {}

    @classmethod
    def env_var(cls, field_name: str) -> str:
        return f"{cls.env_prefix}_{field_name.upper()}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ProviderApi:
        """Every field from ``<PREFIX>_<FIELD>`` when set. Secrets stay ``EnvVar`` references, so
        their values never reach run config; a required one that is unset is left empty and fails
        only this provider's assets, naming the variable (not every run's config validation)."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            var = cls.env_var(name)
            if var in env:
                values[name] = dg.EnvVar(var) if name in cls.secret_fields else env[var]
        return cls(**values)

    def missing_settings(self) -> list[str]:
        return [self.env_var(name) for name in self.required_fields if not getattr(self, name)]

    def client(self, transport=None) -> ApiClient:
        if missing := self.missing_settings():
            raise ProviderConfigError(
                f"{self.title} is selected (CALLLOG_PROVIDERS) but {', '.join(missing)} is not set: set it, "
                f"or leave this provider out of CALLLOG_PROVIDERS."
            )
        return ApiClient(
            ClientSettings(
                provider_title=self.title,
                base_url=self.base_url,
                headers=self.headers(),
                secrets=tuple(self.secrets()),
                api_key_env=self.env_var("api_key"),
                base_url_env=self.env_var("base_url"),
                max_backoff_env=self.env_var("max_backoff_s"),
                connect_timeout_env=self.env_var("connect_timeout_s"),
                read_timeout_env=self.env_var("read_timeout_s"),
                request_timeout_env=self.env_var("request_timeout_s"),
                rate_limit_requests=self.rate_limit_requests,
                rate_limit_period_s=self.rate_limit_period_s,
                max_concurrency=self.max_concurrency,
                connect_timeout_s=self.connect_timeout_s,
                read_timeout_s=self.read_timeout_s,
                request_timeout_s=self.request_timeout_s,
                max_attempts=self.max_attempts,
                max_backoff_s=self.max_backoff_s,
                throttle_wait_s=self.throttle_wait_s,
            ),
            transport=transport,
        )


@dataclass(frozen=True)
class Endpoint:
    """One paginated listing of a provider, materialized as one raw asset."""

    name: str  # asset name part, e.g. "call_logs"
    path: str  # appended to the provider's base URL
    description: str
    page_size: int  # the documented maximum: fewer requests
    order: Order
    paging: Paging
    page_params: Callable[[int, int], dict[str, Any]]  # (page number, page size) -> query params
    read_page: Callable[[Any], tuple[list[dict], int]]  # decoded body -> (records, total count)
    record_id: Callable[[dict], str | None]
    record_time: Callable[[dict, Mapping[str, str]], datetime | None]  # (record, source_context)
    time_field: str  # the field ``record_time`` reads, named in messages
    # Query params restricting the listing to a window (``Paging.WINDOWED`` only).
    window_params: Callable[[Window], dict[str, Any]] | None = None
    conditional: bool = False  # answers ETag / If-None-Match with 304
    # Listings of zone-less local times: given the instant ``record_time`` read (the earlier pass
    # of a repeated DST fall-back hour), the instant of the later pass, or None when the local
    # time does not repeat. The fetch tells the two passes apart by the listing's order.
    later_time: Callable[[datetime, Mapping[str, str]], datetime | None] | None = None

    def __post_init__(self) -> None:
        if self.paging is Paging.WINDOWED and self.window_params is None:
            raise ValueError(f"{self.path}: Paging.WINDOWED needs window_params (the API's time filter)")
        if self.paging is Paging.SEARCHED and self.window_params is not None:
            raise ValueError(f"{self.path}: the API filters by time, so page it with Paging.WINDOWED")
        if self.paging is Paging.SEARCHED and self.order is not Order.NEWEST_FIRST:
            # The window search reads the listing from its newest end, and arrivals are what
            # push a day down it; an unfiltered oldest-first listing would need the opposite
            # search and is not supported rather than silently losing days.
            raise ValueError(
                f"{self.path}: an unfiltered oldest-first listing is not supported; "
                "use its time filter (Paging.WINDOWED) or its newest-first order"
            )
        if self.conditional and self.order is not Order.OLDEST_FIRST:
            # A 304 page is rebuilt from the rows stored under its number last time, which is
            # exact only where a record never changes page (arrivals append at the end).
            raise ValueError(f"{self.path}: conditional requests (ETag) need an oldest-first listing")


# Keys of the error objects the providers document (DialNexa ``{"error": {...}}``, LeadConnector's
# NestJS ``{"statusCode", "message", "error"}``, OmniDimension's FastAPI ``{"detail": [...]}``).
ERROR_KEYS = ("error", "errors", "detail", "statusCode")


def json_listing(records_key: str, *total_path: str) -> Callable[[Any], tuple[list[dict], int]]:
    """A ``read_page`` for bodies shaped ``{records_key: [...], ...}`` with the total at ``total_path``.

    An error object where a page should be (a flaky server answering 200) is ``FlakyAnswer``, which
    is retried; a well-formed answer without the fields the contract promises is ``ShapeChanged``,
    which fails at once: retrying cannot bring a field back.
    """

    def read_page(body: Any) -> tuple[list[dict], int]:
        if not isinstance(body, dict):
            raise ShapeChanged(records_key, f"the body is a JSON {type(body).__name__}, not an object")
        if records_key not in body and any(key in body for key in ERROR_KEYS):
            # Whole: the client redacts the API key (which error bodies may echo) before shortening.
            raise FlakyAnswer(f"an error object instead of a page: {body}")
        records = body.get(records_key, _MISSING)
        if records is _MISSING:
            raise ShapeChanged(records_key, "missing")
        if (records == [] or records is None) and _count_absent(body, total_path):
            return [], 0  # nothing listed and no count (null or left out): an empty listing
        total: Any = body
        for depth, key in enumerate(total_path):
            if not isinstance(total, dict) or key not in total:
                raise ShapeChanged(".".join(total_path[: depth + 1]), "missing")
            total = total[key]
        if isinstance(total, bool) or not isinstance(total, int | float | str):
            raise ShapeChanged(".".join(total_path), f"not a count: {total!r}"[:80])
        if (count := _whole_number(total)) is None:
            raise ShapeChanged(".".join(total_path), f"not a count: {total!r}"[:80])
        # A negative count ("unknown") or one no listing holds (a placeholder) is only a hint: the
        # fetch reads pages until they end, and the footer and metadata need a 64-bit integer.
        count = min(max(count, 0), MAX_TOTAL)
        if records is None and count == 0:
            return [], 0  # an empty list serialized as null: nothing to list, not a changed shape
        if not isinstance(records, list):
            raise ShapeChanged(records_key, f"a JSON {type(records).__name__}, not a list")
        return records, count

    return read_page


def _count_absent(body: dict, total_path: tuple[str, ...]) -> bool:
    """Whether the count at ``total_path`` is null or left out (some servers send no count
    with an empty page)."""
    for key in total_path:
        if not isinstance(body, dict) or body.get(key) is None:
            return True
        body = body[key]
    return False


def _whole_number(value: int | float | str) -> int | None:
    """A count as the JSON number or text it is sent as: ``150``, ``150.0``, ``"150"``, ``"150.0"``
    (a total from a float column, or serialized by a server that writes every number as a float);
    None for anything else (``"n/a"``, ``"150.5"``, ``"1e400"``)."""
    try:
        return int(value)
    except (ValueError, OverflowError):
        pass
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


_MISSING = object()
MAX_TOTAL = 2**53


def id_field(record: dict) -> str | None:
    """The record's ``id`` as text; None when absent or empty, or the record is not an object
    (the mapping quarantines it)."""
    if not isinstance(record, dict):
        return None
    value = record.get("id")
    return None if value in (None, "", False) else str(value)


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    api: Callable[[], ProviderApi]  # builds the resource from environment variables
    endpoints: tuple[Endpoint, ...]
    normalize: Callable[[RawDay], Iterator[TableBatch]]
    # Asset metadata shown in the UI.
    kinds: frozenset[str] = frozenset({"api"})

    def endpoint(self, name: str) -> Endpoint:
        return next(e for e in self.endpoints if e.name == name)
