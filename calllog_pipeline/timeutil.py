"""Timestamp parsing shared by provider modules: lenient input, aware UTC output."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo


def parse_iso_utc(value: object) -> datetime | None:
    """An ISO-8601 string (``...Z`` or with an offset) as aware UTC; None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:  # a bare ISO string from an API documented as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_local(value: object, fmt: str, timezone: str) -> datetime | None:
    """A zone-less local time string in ``fmt``, read in ``timezone``, as aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        naive = datetime.strptime(value, fmt)
    except ValueError:
        return None
    return naive.replace(tzinfo=zone(timezone)).astimezone(UTC)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def iso_z(moment: datetime) -> str:
    """``2024-03-01T10:00:00.000Z``: the form the providers' pages use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
