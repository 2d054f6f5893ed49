"""Helpers shared by the provider renderers: errors, replies, parameter parsing, paging."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson

from .world import Call, World


class ApiError(Exception):
    """A client error answered before any fault injection (400/401/403/422)."""

    def __init__(self, status: int, body: object, headers: Mapping[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(payload: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, orjson.dumps(payload), dict(headers or {}))


def parse_int(
    params: Mapping[str, str],
    name: str,
    default: int | None,
    error: Callable[[str], ApiError],
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise error(f"{name} must be an integer") from None
    if minimum is not None and value < minimum:
        raise error(f"{name} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise error(f"{name} must be <= {maximum}")
    return value


def select(
    world: World,
    provider: str,
    lo_ms: int,
    hi_ms: int,
    clock_ms: int,
    *,
    offset: int,
    limit: int,
    newest_first: bool = True,
    match: Callable[[Call], bool] | None = None,
    sort_key: Callable[[Call], object] | None = None,
) -> tuple[int, list[Call]]:
    """(total, calls of the page) for calls created in [lo_ms, hi_ms) visible at clock_ms.

    Without a filter or custom sort this is O(log n + page): the page is an index range. A filter
    scans the window once (O(window), O(page) memory); a custom sort (duration) holds the
    window's (key, index) pairs.
    """
    window = world.visible_range(provider, lo_ms, hi_ms, clock_ms)
    ordered = window[::-1] if newest_first else window
    if sort_key is not None:
        keyed = []
        for g in ordered:
            call = world.call(provider, g)
            if match is None or match(call):
                keyed.append((sort_key(call), g))
        keyed.sort(key=lambda kg: kg[0])
        page = [world.call(provider, g) for _, g in keyed[offset : offset + limit]]
        return len(keyed), page
    if match is None:
        return len(window), [world.call(provider, g) for g in ordered[offset : offset + limit]]
    total, page = 0, []
    for g in ordered:
        call = world.call(provider, g)
        if match(call):
            if offset <= total < offset + limit:
                page.append(call)
            total += 1
    return total, page
