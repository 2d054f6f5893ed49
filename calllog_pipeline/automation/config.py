"""The automation's own settings, read from the environment when the definitions load."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from calllog_pipeline.settings import SettingsError


@dataclass(frozen=True)
class AutomationSettings:
    schedule_hour: int = 1  # the nightly refresh runs at HH:30 in CALLLOG_TIMEZONE
    freshness_deadline_hour: int = 7  # by HH:00 yesterday must have landed, else a stale-day alert
    change_poll_s: int = 900  # how often the ETag sensor asks whether recent days changed
    change_poll_max_requests: int = 200  # pages it asks per tick (a sweep resumes next tick)
    step_retries: int = 3  # retries of a raw step after a provider outage (ProviderUnavailable)
    retry_delay_s: float = 60.0  # first retry's delay; doubles each time, with jitter

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AutomationSettings:
        hour = _int(env, "CALLLOG_SCHEDULE_HOUR", cls.schedule_hour, 0, 23)
        return cls(
            schedule_hour=hour,
            freshness_deadline_hour=_int(env, "CALLLOG_FRESHNESS_DEADLINE_HOUR", (hour + 6) % 24, 0, 23),
            change_poll_s=_int(env, "CALLLOG_CHANGE_POLL_S", cls.change_poll_s, 30, 86_400),
            change_poll_max_requests=_int(
                env, "CALLLOG_CHANGE_POLL_MAX_REQUESTS", cls.change_poll_max_requests, 1, 100_000
            ),
            step_retries=_int(env, "CALLLOG_STEP_RETRIES", cls.step_retries, 0, 20),
            retry_delay_s=float(_int(env, "CALLLOG_RETRY_DELAY_S", int(cls.retry_delay_s), 0, 3600)),
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)
