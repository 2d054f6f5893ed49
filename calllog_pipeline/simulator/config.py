"""Configuration of the provider simulator (plain dataclasses, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

PROVIDERS = ("dialnexa", "leadconnector", "omnidimension")


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` requests per sliding window of `per_seconds` seconds."""

    requests: int
    per_seconds: float


@dataclass(frozen=True)
class Faults:
    """Probability per request of each injected fault (decided by a seeded per-request RNG)."""

    server_error: float = 0.0
    stall: float = 0.0
    truncated: float = 0.0
    malformed: float = 0.0


def _default_api_keys() -> dict[str, str]:
    return {
        "dialnexa": "sim-dialnexa-key",
        "leadconnector": "sim-leadconnector-key",
        "omnidimension": "sim-omnidim-key",
    }


@dataclass
class SimulatorConfig:
    seed: int = 7
    calls_per_day: int = 200
    latency_ms: float = 0.0
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    stall_s: float = 30.0
    now: datetime | None = None
    clock_step_s: float = 0.0
    frozen_clock: bool = False  # ignore wall time: the clock moves only by clock_step_s and advance()
    omni_timezone: str = "UTC"
    bad_record_rate: float = 0.002
    history_days: int = 3650
    api_keys: dict[str, str] = field(default_factory=_default_api_keys)
    location_id: str = "sim-location"
