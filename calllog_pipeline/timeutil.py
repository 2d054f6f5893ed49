"""Timestamp parsing shared by provider modules: lenient input, aware UTC output."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

# Key of a raw file's ``source_context`` listing the ids of records whose zone-less local time the
# fetch placed in the later pass of a repeated (DST fall-back) hour, by the listing's order.
LATER_PASS_IDS = "repeated_hour_later_ids"


# An API that sends epoch numbers instead of ISO text sends seconds or milliseconds; only numbers
# within these years are read as times, so a stray 0 or -1 is refused rather than taken for 1970.
_EPOCH_SECONDS = (946_684_800, 4_102_444_800)  # 2000-01-01 .. 2100-01-01 UTC
# Nine digits or more: fromisoformat reads eight (``20240301``) as a date, and no epoch second of
# those years has fewer.
_EPOCH_TEXT = re.compile(r"[0-9]{9,13}(\.[0-9]+)?")


def parse_iso_utc(value: object) -> datetime | None:
    """An ISO-8601 string (``...Z`` or with an offset) as aware UTC, also a number of epoch seconds
    or milliseconds (years 2000-2099); None if it is neither."""
    if type(value) in (int, float):
        return from_epoch(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        if _EPOCH_TEXT.fullmatch(value):  # the epoch number sent as text, as numbers often are
            return from_epoch(float(value))
        if (moment := _other_instant(value)) is None:
            return None
    if moment.tzinfo is None:  # a bare ISO string from an API documented as UTC
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # a valid time that is before year 1 or after 9999 in UTC
        return None


# A zone written as its name after the time: Ruby's ``Time#to_s`` ("... UTC"), Go's ``Time.String``
# ("... +0000 UTC"), SQL engines' text casts.
_ZONE_NAME = re.compile(r"\s*(?:UTC|GMT)$")
# A blank before the offset (Go's "... +0530"), which fromisoformat takes only after some layouts.
_BLANK_OFFSET = re.compile(r"\s+([+-][0-9]{2}:?[0-9]{2})$")
# RFC 2822 with a numeric zone or GMT/UTC (``email.utils`` reads "GMT+0530" as GMT, so only these).
_RFC_2822 = re.compile(
    r"(?:[A-Za-z]{3}, )?[0-9]{1,2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}(?::[0-9]{2})? "
    r"(?:GMT|UTC|[+-][0-9]{4})"
)


def _other_instant(value: str) -> datetime | None:
    """The instant forms ``fromisoformat`` refuses that still say one thing (rare: tried last):
    RFC 3339's lower-case ``t`` and ``z``, blanks around the text, a zone named UTC or GMT after the
    time, and RFC 2822 (``Mon, 02 Mar 2026 10:00:00 GMT``: JavaScript's ``toUTCString``)."""
    text = _BLANK_OFFSET.sub(r"\1", _ZONE_NAME.sub("", value.strip().upper()))
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)  # naive (no offset, or the zone named UTC): read as UTC
    except ValueError:
        pass
    if _EPOCH_TEXT.fullmatch(text):
        return from_epoch(float(text))
    if not _RFC_2822.fullmatch(value.strip()):  # the parser below guesses at anything else
        return None
    try:
        return email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None


def from_epoch(number: float) -> datetime | None:
    low, high = _EPOCH_SECONDS
    for scale in (1, 1000):
        if low * scale <= number < high * scale:
            return datetime.fromtimestamp(number / scale, UTC)
    return None


def parse_local(value: object, fmt: str, timezone: str | tzinfo) -> datetime | None:
    """A zone-less local time string in ``fmt``, read in ``timezone``, as aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = _parse_naive(value.strip(), fmt)
    except ValueError:
        if (moment := _other_layout(value.strip(), fmt)) is None:
            return None
    try:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone(timezone) if isinstance(timezone, str) else timezone)
        return moment.astimezone(UTC)
    except OverflowError:  # a valid local time that is before year 1 or after 9999 in UTC
        return None


def later_reading(moment: datetime, timezone: str | tzinfo) -> datetime | None:
    """When ``moment`` (an aware instant read from a zone-less local time in the *earlier* pass)
    falls in an hour that a DST fall-back repeats, the instant of the same local time in the later
    pass; None otherwise. Costs a cache lookup and a comparison: it runs for every record."""
    if not 1 < moment.year < 9999:  # the edges of the calendar: no transitions worth the overflow
        return None
    tz = zone(timezone) if isinstance(timezone, str) else timezone
    for transition, step in fall_backs(tz, moment.year):
        if transition - step <= moment < transition:
            return moment + step
    return None


def during_call(moment: datetime, started_at: datetime | None, timezone: str | tzinfo) -> datetime:
    """``moment`` (read in the earlier pass) of something that happened during a call whose own time
    is ``started_at``: when its local time is repeated, the reading nearer the call's. The two
    readings are an hour apart and a call lasts minutes, so this holds whether the provider's call
    time is its start or the time its log was written (after the turns)."""
    later = later_reading(moment, timezone)
    if later is None or started_at is None:
        return moment
    return later if abs(later - started_at) < abs(moment - started_at) else moment


def in_later_hour(moment: datetime, timezone: str | tzinfo) -> datetime:
    """``moment`` moved to the later pass of its repeated local hour (unchanged if it has none)."""
    return later_reading(moment, timezone) or moment


@lru_cache(maxsize=256)
def fall_backs(tz: tzinfo, year: int) -> tuple[tuple[datetime, timedelta], ...]:
    """(UTC instant, size) of each time ``tz``'s clocks go back during ``year`` (and on the first
    days of the next, so a repeated hour at New Year is not missed)."""
    found = []
    hour = timedelta(hours=1)
    t, end = datetime(year, 1, 1, tzinfo=UTC) - hour, datetime(year + 1, 1, 2, tzinfo=UTC)
    offset = t.astimezone(tz).utcoffset()
    while t < end:
        after = t + hour
        next_offset = after.astimezone(tz).utcoffset()
        if next_offset < offset:
            lo, hi = t, after  # the change happens in (lo, hi]: narrow it to the second
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            found.append((hi.replace(microsecond=0), offset - next_offset))
        t, offset = after, next_offset
    return tuple(found)


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


# The month-first layout's relatives: one-digit fields, no seconds, a fraction of any length, a
# 12-hour clock.
_MDY_LOOSE = re.compile(
    r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"\s*([AaPp][Mm])?"
)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _other_layout(text: str, fmt: str) -> datetime | None:
    """A time in a layout other than the documented ``fmt`` that still says one thing: ISO 8601
    (``YYYY-MM-DD HH:MM:SS``, as OmniDimension's own webhook payload writes its times, or with a
    ``T``, a fraction, an offset: then an instant, whatever the zone), or, for a month-first
    ``fmt``, the same order with the variations above. None for anything else."""
    try:
        if _ISO_DATE.match(text):
            return datetime.fromisoformat(text if "t" not in text and "z" not in text else text.upper())
        if not fmt.startswith("%m/%d/%Y") or (found := _MDY_LOOSE.fullmatch(text)) is None:
            return None
        month, day, year, hour, minute, second, fraction, half = found.groups()
        hour = int(hour)
        if half is not None:  # 12 AM is midnight, 12 PM noon
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if half.lower() == "pm" else 0)
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        return datetime(int(year), int(month), int(day), hour, int(minute), int(second or 0), micro)
    except ValueError:
        return None


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def iso_z(moment: datetime) -> str:
    """``2024-03-01T10:00:00.000Z``: the form the providers' pages use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
