"""Configuration of the provider simulator (plain dataclasses, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

# The simulated providers: each has a module of this name in this package (the simulator does not
# import the pipeline, so it keeps its own list; a test holds it equal to providers.REGISTRY).
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


INCIDENT_KINDS = {
    # kind: (what it does, default factor)
    "connect_drop": ("provider-wide: this share of would-be connected calls fail on the platform", 0.45),
    "latency_spike": ("one agent (default the busiest): every response is this many times slower", 2.5),
    "cost_jump": ("provider-wide: every call costs this many times more", 1.8),
}


@dataclass(frozen=True)
class Incident:
    """Something going wrong on one UTC day, planted so the QA checks have something real to find.

    ``day`` is ``YYYY-MM-DD`` or a day offset from the simulator clock's UTC day (``-1`` = yesterday).
    """

    kind: str
    provider: str
    day: str
    agent: int | None = None  # agent index (latency_spike); 0 is the busiest
    factor: float | None = None  # None: the kind's default

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            raise ValueError(f"unknown incident {self.kind!r}; one of {', '.join(INCIDENT_KINDS)}")
        if self.provider not in PROVIDERS:
            raise ValueError(f"unknown provider {self.provider!r}; one of {', '.join(PROVIDERS)}")
        self.resolve_day(date(2000, 1, 1))  # validates the day

    @property
    def strength(self) -> float:
        return self.factor if self.factor is not None else INCIDENT_KINDS[self.kind][1]

    def resolve_day(self, today: date) -> date:
        try:
            return date.fromordinal(today.toordinal() + int(self.day))
        except ValueError:
            pass
        try:
            return date.fromisoformat(self.day)
        except ValueError:
            raise ValueError(
                f"incident day must be YYYY-MM-DD or an offset like -1, got {self.day!r}"
            ) from None

    @classmethod
    def parse(cls, text: str) -> Incident:
        """``KIND:PROVIDER:DAY[:agent=N][:factor=F]``, e.g. ``connect_drop:dialnexa:-1``."""
        parts = text.split(":")
        if len(parts) < 3:
            raise ValueError(f"incident must be KIND:PROVIDER:DAY[:agent=N][:factor=F], got {text!r}")
        options = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
        unknown = set(options) - {"agent", "factor"}
        if unknown or len(options) != len(parts) - 3:
            raise ValueError(f"incident options are agent=N and factor=F, got {text!r}")
        return cls(
            parts[0],
            parts[1],
            parts[2],
            agent=int(options["agent"]) if "agent" in options else None,
            factor=float(options["factor"]) if "factor" in options else None,
        )


def _default_api_keys() -> dict[str, str]:
    return {provider: f"sim-{provider}-key" for provider in PROVIDERS}


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
    incidents: tuple[Incident, ...] = ()
    seasonality: bool = True  # quieter weekends and nights; False: every day and hour alike
