"""Timestamp parsing shared by provider modules: lenient input, aware UTC output."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

# Key of a raw file's ``source_context`` listing the ids of records whose zone-less local time the
# fetch placed in the later pass of a repeated (DST fall-back) hour, by the listing's order.
LATER_PASS_IDS = "repeated_hour_later_ids"


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


def parse_local(value: object, fmt: str, timezone: str | tzinfo) -> datetime | None:
    """A zone-less local time string in ``fmt``, read in ``timezone``, as aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        naive = _parse_naive(value.strip(), fmt)
    except ValueError:
        return None
    return naive.replace(tzinfo=zone(timezone) if isinstance(timezone, str) else timezone).astimezone(UTC)


def parse_local_later(value: object, fmt: str, timezone: str | tzinfo) -> datetime | None:
    """The later reading of a zone-less local time that a DST fall-back repeats, as aware UTC;
    None when the time is unambiguous (or unreadable). ``parse_local`` gives the earlier one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        naive = _parse_naive(value.strip(), fmt)
    except ValueError:
        return None
    return _later_reading(naive, zone(timezone) if isinstance(timezone, str) else timezone)


def in_later_hour(moment: datetime, timezone: str | tzinfo) -> datetime:
    """``moment`` (the earlier reading of a repeated local time) moved to the later reading; an
    unambiguous moment is returned unchanged."""
    tz = zone(timezone) if isinstance(timezone, str) else timezone
    naive = moment.astimezone(tz).replace(tzinfo=None)
    return _later_reading(naive, tz) or moment


def _later_reading(naive: datetime, tz: tzinfo) -> datetime | None:
    early = naive.replace(tzinfo=tz, fold=0)
    late = naive.replace(tzinfo=tz, fold=1)
    if early.utcoffset() == late.utcoffset():
        return None
    later = late.astimezone(UTC)
    # A time skipped by a spring-forward gap also has two offsets, but neither reading maps back
    # to it; only a repeated time survives the round trip with both.
    if later.astimezone(tz).replace(tzinfo=None) != naive or later <= early.astimezone(UTC):
        return None
    return later


# The two zero-padded layouts providers send, checked before the fast ISO rewrite below.
_MDY_HMS = re.compile(r"[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_YMD_HMS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def _parse_naive(text: str, fmt: str) -> datetime:
    """``datetime.strptime`` with a fast path for the zero-padded layouts providers send
    (strptime costs ~10 µs a call, and OmniDimension sends a local time per interaction)."""
    if fmt == "%m/%d/%Y %H:%M:%S" and _MDY_HMS.fullmatch(text):
        return datetime.fromisoformat(f"{text[6:10]}-{text[:2]}-{text[3:5]}T{text[11:]}")
    if fmt == "%Y-%m-%d %H:%M:%S" and _YMD_HMS.fullmatch(text):
        return datetime.fromisoformat(text)
    return datetime.strptime(text, fmt)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def iso_z(moment: datetime) -> str:
    """``2024-03-01T10:00:00.000Z``: the form the providers' pages use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
