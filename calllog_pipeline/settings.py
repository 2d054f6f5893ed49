"""Settings that shape the asset graph, read once when the definitions load.

Secrets and endpoints are resources (see ``providers``); only what decides which assets and
partitions exist is read here, because Dagster needs it before any run starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calllog_pipeline.providers import REGISTRY

# The first daily partition when CALLLOG_START_DATE is unset. Fixed, not "today minus N days": a
# partition set that moved every day would drop the oldest partition, and its history in the UI,
# each night.
DEFAULT_START_DATE = date(2026, 1, 1)


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    data_dir: str
    start_date: date
    timezone: str
    providers: tuple[str, ...]
    lookback_days: int = 3

    @classmethod
    def from_env(cls, env: os._Environ[str] | dict[str, str] = os.environ) -> Settings:
        return cls(
            data_dir=env.get("CALLLOG_DATA_DIR") or "./data",
            start_date=_parse_start_date(env.get("CALLLOG_START_DATE")),
            timezone=_parse_timezone(env.get("CALLLOG_TIMEZONE") or "UTC"),
            providers=_parse_providers(env.get("CALLLOG_PROVIDERS")),
            lookback_days=_parse_positive_int("CALLLOG_LOOKBACK_DAYS", env.get("CALLLOG_LOOKBACK_DAYS"), 3),
        )


def _parse_start_date(value: str | None) -> date:
    if not value:
        return DEFAULT_START_DATE
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SettingsError(f"CALLLOG_START_DATE must be YYYY-MM-DD, got {value!r}") from None


def _parse_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"CALLLOG_TIMEZONE must be an IANA zone such as Europe/Berlin, got {value!r}"
        ) from None
    return value


def _parse_providers(value: str | None) -> tuple[str, ...]:
    if not value:
        return tuple(REGISTRY)
    names = tuple(dict.fromkeys(n.strip().lower() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in REGISTRY]
    if unknown or not names:
        raise SettingsError(
            f"CALLLOG_PROVIDERS has unknown provider(s) {unknown}; choose from {', '.join(REGISTRY)}"
        )
    return names


def _parse_positive_int(name: str, value: str | None, default: int) -> int:
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SettingsError(f"{name} must be a whole number of at least 1, got {value!r}")
    return int(value)
