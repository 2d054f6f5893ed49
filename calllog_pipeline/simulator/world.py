"""The simulated world: which calls exist, when they happen and how they turn out.

The world has structure worth scoring: weekends are quieter than weekdays and days have office
hours; agents differ (one is clearly worse: fewer connects, slower, more transfers and unhappy
callers); response latency has a long tail; fields agree with each other (voicemails carry no
conversation, satisfaction follows sentiment, summaries follow what happened). Incidents
(``SimulatorConfig.incidents``) plant a bad day on purpose.

Nothing is stored per call. Call ``i`` (0-based) of a provider's UTC day is a pure function of
``(seed, provider, day, i)``; its created time is strictly increasing in ``i``, so a time window maps
to an index range by binary search. Calls of all days form one global sequence ``g`` (counted from
2000-01-01), which also gives OmniDimension its increasing integer ids.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from hashlib import blake2b
from statistics import NormalDist

from .config import PROVIDERS, Incident, SimulatorConfig

DAY_MS = 86_400_000
ORIGIN_DAY = 10_957  # 2000-01-01 as days since the Unix epoch; no call exists before it
MAX_CALLS_PER_DAY = DAY_MS  # one call per millisecond at most keeps created times distinct

# Canonical outcomes and their shares (voice calls). Providers render them in their own words.
OUTCOMES = (
    ("completed", 0.64),
    ("no_answer", 0.13),
    ("busy", 0.07),
    ("failed", 0.07),
    ("voicemail", 0.05),
    ("cancelled", 0.03),
    ("retry_expired", 0.01),
)
SENTIMENTS = (("positive", 0.45), ("neutral", 0.38), ("negative", 0.17))
_NORMAL = NormalDist()
# Calls per weekday relative to calls_per_day (Monday first; 1970-01-01 was a Thursday).
WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 1.0, 1.0, 0.7, 0.6)
# Relative call volume per UTC hour: office hours, quieter nights (never empty).
HOUR_WEIGHTS = (
    0.35, 0.35, 0.35, 0.35, 0.4, 0.5, 0.7, 0.9, 1.3, 1.6, 1.7, 1.6,
    1.4, 1.5, 1.6, 1.6, 1.5, 1.3, 1.1, 0.9, 0.7, 0.55, 0.45, 0.4,
)  # fmt: skip
_HOUR_CDF = [sum(HOUR_WEIGHTS[:h]) / sum(HOUR_WEIGHTS) for h in range(25)]
HOUR_MS = 3_600_000
WORST_AGENT = 1  # the second-busiest agent is the clearly worse one
BASE_TRANSFER = 0.1  # share of conversations handed to a person
TECHNICAL_REASONS = ("network_failure", "system_failure", "system_at_capacity")


def digest(*parts: object, size: int = 32) -> bytes:
    return blake2b("|".join(str(p) for p in parts).encode(), digest_size=size).digest()


def rng_for(*parts: object) -> random.Random:
    return random.Random(int.from_bytes(digest(*parts, size=16), "big"))


def unit(data: bytes) -> float:
    """A float in [0, 1) from (up to) 4 bytes."""
    return int.from_bytes(data[:4], "big") / 2**32


def pick(weighted: tuple[tuple[str, float], ...], u: float) -> str:
    acc = 0.0
    for value, weight in weighted:
        acc += weight
        if u < acc:
            return value
    return weighted[-1][0]


def to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def iso_ms(ms: int) -> str:
    """`2024-03-01T10:00:00.000Z`, the timestamp format of DialNexa and LeadConnector."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True)
class Agent:
    index: int
    name: str
    number: int  # numeric id (OmniDimension), also seeds string ids
    deleted: bool
    version: int
    skill: float = 1.0  # < 1: fewer connects, more transfers, unhappier callers
    slowness: float = 1.0  # response-latency multiplier


AGENT_NAMES = (
    "Customer Support Agent", "Appointment Setter", "Sales Qualifier", "Renewal Reminder",
    "Collections Assistant", "Survey Bot", "Front Desk", "Lead Follow-up", "Order Status Agent",
    "Onboarding Guide", "Feedback Collector", "Booking Assistant", "Billing Helper",
    "After-hours Line", "Demo Scheduler", "Claims Intake", "Dispatch Agent", "Retention Agent",
    "Event RSVP", "Technical Support",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Call:
    """Provider-neutral facts about one call; the provider modules render it."""

    provider: str
    day: int
    i: int
    g: int  # global index over all days of this provider
    created_ms: int
    key: bytes  # 32-byte digest all other facts derive from
    agent: Agent
    outcome: str
    ring_s: int
    duration_s: int  # talk time; 0 when unanswered
    analysis_delay_s: int
    sentiment: str
    bad: bool
    transferred: bool = False  # handed to a person during the conversation
    latency_factor: float = 1.0  # incident: responses this many times slower
    cost_factor: float = 1.0  # incident: costs this many times higher
    platform_failure: bool = False  # incident: failed on the provider's side

    @property
    def conversed(self) -> bool:
        """A conversation took place (voicemails and unanswered calls have none)."""
        return self.outcome == "completed" and self.duration_s > 0

    @property
    def answered_ms(self) -> int:
        return self.created_ms + self.ring_s * 1000

    @property
    def ended_ms(self) -> int:
        return self.answered_ms + self.duration_s * 1000

    @property
    def analyzed_ms(self) -> int:
        return self.ended_ms + self.analysis_delay_s * 1000

    def phase(self, clock_ms: int) -> str:
        """ringing -> in_progress (answered calls only) -> ended -> analyzed."""
        if clock_ms < self.answered_ms:
            return "ringing"
        if clock_ms < self.ended_ms:
            return "in_progress"
        if clock_ms < self.analyzed_ms:
            return "ended"
        return "analyzed"

    def rng(self, salt: str = "") -> random.Random:
        return random.Random(int.from_bytes(self.key[16:], "big") ^ hash_salt(salt))

    def byte(self, n: int) -> int:
        return self.key[n]


def hash_salt(salt: str) -> int:
    return int.from_bytes(digest("salt", salt, size=16), "big") if salt else 0


class Clock:
    """Sim clock = start + wall elapsed (unless frozen) + requests served * clock_step_s."""

    def __init__(self, config: SimulatorConfig):
        start = config.now or datetime.now(UTC)
        self.start_ms = to_ms(start)
        self.step_ms = config.clock_step_s * 1000
        self._t0 = time.monotonic()
        self.frozen = config.frozen_clock
        self.served = 0
        self.extra_ms = 0.0
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        elapsed = 0 if self.frozen else (time.monotonic() - self._t0) * 1000
        return int(self.start_ms + elapsed + self.served * self.step_ms + self.extra_ms)

    def tick(self) -> int:
        """The clock as seen by the request being served; then advance by one request."""
        with self._lock:
            now = self.now_ms()
            self.served += 1
            return now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.extra_ms += seconds * 1000


class World:
    def __init__(self, config: SimulatorConfig):
        self.config = config
        self.seed = config.seed
        self.clock = Clock(config)
        self.history_start_ms = max(self.clock.start_ms - config.history_days * DAY_MS, ORIGIN_DAY * DAY_MS)
        self._counts: dict[tuple[str, int], int] = {}
        self._prefix: dict[str, list[int]] = {p: [0] for p in PROVIDERS}  # calls before ORIGIN_DAY+k
        self._lock = threading.Lock()
        self.agents = {p: self._make_agents(p) for p in PROVIDERS}
        today = datetime.fromtimestamp(self.clock.start_ms / 1000, tz=UTC).date()
        self.incidents: dict[tuple[str, int], list[Incident]] = {}
        for incident in config.incidents:
            day = (incident.resolve_day(today) - date(1970, 1, 1)).days
            self.incidents.setdefault((incident.provider, day), []).append(incident)

    # -- agents -------------------------------------------------------------------------------
    def _make_agents(self, provider: str) -> list[Agent]:
        rnd = rng_for(self.seed, provider, "agents")
        count = rnd.randint(5, 20)
        names = rnd.sample(AGENT_NAMES, k=count)
        agents = []
        for index, name in enumerate(names):
            number = 6000 + rnd.randint(0, 3999)
            deleted = index == count - 1 and rnd.random() < 0.7  # one retired agent, usually
            skill = 0.7 if index == WORST_AGENT else 0.95 + 0.1 * rnd.random()
            slowness = 1.5 if index == WORST_AGENT else 0.85 + 0.3 * rnd.random()
            agents.append(Agent(index, name, number, deleted, rnd.randint(1, 9), skill, slowness))
        return agents

    # -- counting -----------------------------------------------------------------------------
    def day_count(self, provider: str, day: int) -> int:
        """Calls on a UTC day: calls_per_day (less at weekends) with a deterministic +-10% jitter."""
        key = (provider, day)
        n = self._counts.get(key)
        if n is None:
            mean = self.config.calls_per_day
            if self.config.seasonality:
                mean *= WEEKDAY_FACTOR[(day + 3) % 7]
            jitter = 0.9 + 0.2 * unit(digest(self.seed, provider, day, "count"))
            n = min(MAX_CALLS_PER_DAY, max(0, round(mean * jitter)))
            self._counts[key] = n
        return n

    def _prefix_upto(self, provider: str, day: int) -> list[int]:
        """Prefix sums so that prefix[k] = calls on days [ORIGIN_DAY, ORIGIN_DAY + k)."""
        prefix = self._prefix[provider]
        need = day - ORIGIN_DAY + 1
        if len(prefix) <= need:
            with self._lock:
                while len(prefix) <= need:
                    d = ORIGIN_DAY + len(prefix) - 1
                    prefix.append(prefix[-1] + self.day_count(provider, d))
        return prefix

    def calls_before_day(self, provider: str, day: int) -> int:
        if day <= ORIGIN_DAY:
            return 0
        return self._prefix_upto(provider, day)[day - ORIGIN_DAY]

    def _call_key(self, provider: str, day: int, i: int) -> bytes:
        return digest(self.seed, provider, day, i)

    def _created_ms(self, provider: str, day: int, i: int, n: int, key: bytes | None = None) -> int:
        # Slot i of the day is [t(i/n), t((i+1)/n)), t the day's hour profile (more calls in office
        # hours); the call lands at a hashed point inside it, so created times are strictly
        # increasing in i. Slots are >= 1 ms wide: at the busiest hour 86.4e6 / n * 0.35 / 1.7 ms
        # (beyond ~17M calls a day the profile is dropped to keep that true).
        if n > DAY_MS // 6 or not self.config.seasonality:
            lo, hi = i * DAY_MS // n, (i + 1) * DAY_MS // n
        else:
            lo, hi = _time_of_day(i / n), _time_of_day((i + 1) / n)
        key = key or self._call_key(provider, day, i)
        return day * DAY_MS + lo + int(unit(key) * (hi - lo))

    def rank(self, provider: str, t_ms: int) -> int:
        """Global index of the first call created at or after t_ms (O(log n))."""
        day = t_ms // DAY_MS
        if day < ORIGIN_DAY:
            return 0
        base = self.calls_before_day(provider, day)
        n = self.day_count(provider, day)
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if self._created_ms(provider, day, mid, n) < t_ms:
                lo = mid + 1
            else:
                hi = mid
        return base + lo

    def locate(self, provider: str, g: int) -> tuple[int, int]:
        """(day, i) of global index g."""
        prefix = self._prefix[provider]
        if g >= prefix[-1]:
            raise IndexError(g)
        k = bisect.bisect_right(prefix, g) - 1
        return ORIGIN_DAY + k, g - prefix[k]

    def visible_range(self, provider: str, lo_ms: int, hi_ms: int, clock_ms: int) -> range:
        """Global indexes of calls created in [lo_ms, hi_ms) that exist as of clock_ms."""
        lo_ms = max(lo_ms, self.history_start_ms)
        hi_ms = min(hi_ms, clock_ms + 1)
        if hi_ms <= lo_ms:
            return range(0)
        self._prefix_upto(provider, hi_ms // DAY_MS + 1)
        return range(self.rank(provider, lo_ms), self.rank(provider, hi_ms))

    # -- one call -----------------------------------------------------------------------------
    def call(self, provider: str, g: int) -> Call:
        day, i = self.locate(provider, g)
        n = self.day_count(provider, day)
        key = self._call_key(provider, day, i)
        created = self._created_ms(provider, day, i, n, key)
        agents = self.agents[provider]
        # Skewed agent choice: a few agents take most calls.
        agent = agents[min(len(agents) - 1, int(len(agents) * unit(key[4:8]) ** 1.7))]
        incidents = self.incidents.get((provider, day), ())
        outcome = pick(_outcomes(agent.skill), unit(key[8:12]))
        platform_failure = False
        for incident in incidents:
            # a fixed share of would-be conversations fail on the platform's side that day
            if (
                incident.kind == "connect_drop"
                and outcome == "completed"
                and unit(digest(key, "incident")) < incident.strength
            ):
                outcome, platform_failure = "failed", True
        u_dur = min(max(unit(key[12:16]), 1e-6), 1 - 1e-6)
        if outcome == "completed":
            duration = int(min(1800, max(4, 95 * 2.718281828 ** (0.8 * _NORMAL.inv_cdf(u_dur)))))
            ring = 2 + key[16] % 20
        elif outcome == "voicemail":
            duration, ring = 15 + key[16] % 30, 20 + key[17] % 10
        elif outcome == "no_answer":
            duration, ring = 0, 30 + key[16] % 16
        else:
            duration, ring = 0, 1 + key[16] % 8
        sentiment = pick(_sentiments(agent.skill), key[18] / 256) if outcome == "completed" else "neutral"
        bad = int.from_bytes(key[19:22], "big") / 2**24 < self.config.bad_record_rate
        # unhappy callers and weaker agents end up with a person more often
        transfer_odds = BASE_TRANSFER / agent.skill**2 * (2.0 if sentiment == "negative" else 1.0)
        transferred = outcome == "completed" and unit(digest(key, "transfer")) < transfer_odds
        latency_factor = cost_factor = 1.0
        for incident in incidents:
            if incident.kind == "latency_spike" and agent.index == (incident.agent or 0):
                latency_factor *= incident.strength
            elif incident.kind == "cost_jump":
                cost_factor *= incident.strength
        return Call(
            provider=provider,
            day=day,
            i=i,
            g=g,
            created_ms=created,
            key=key,
            agent=agent,
            outcome=outcome,
            ring_s=ring,
            duration_s=duration,
            analysis_delay_s=60 + (key[22] << 8 | key[23]) % 840,
            sentiment=sentiment,
            bad=bad,
            transferred=transferred,
            latency_factor=latency_factor,
            cost_factor=cost_factor,
            platform_failure=platform_failure,
        )

    def contact_number(self, call: Call, country: str) -> str:
        """The other party's number, from a pool of about 50 days' calls: some people are called
        again within a week (repeat contacts)."""
        pool = max(100, 50 * self.config.calls_per_day)
        index = int.from_bytes(digest(call.key, "contact", size=8), "big") % pool
        return phone(rng_for(self.seed, call.provider, "contact", index), country)

    def response_seconds(self, call: Call, rnd: random.Random) -> float:
        """The LLM part of one agent response: log-normal around 0.9 s scaled by the agent's
        slowness, and now and then (2%) a stall of 3-6 times that: a long tail, as in real systems."""
        seconds = 0.9 * call.agent.slowness * math.exp(0.35 * rnd.gauss(0.0, 1.0))
        if rnd.random() < 0.02:
            seconds *= rnd.uniform(3.0, 6.0)
        return seconds * call.latency_factor


def _time_of_day(u: float) -> int:
    """Milliseconds into the day by which a share ``u`` of the day's calls has started."""
    hour = min(23, bisect.bisect_right(_HOUR_CDF, u) - 1)
    inside = (u - _HOUR_CDF[hour]) / (_HOUR_CDF[hour + 1] - _HOUR_CDF[hour])
    return int((hour + inside) * HOUR_MS)


def _outcomes(skill: float) -> tuple[tuple[str, float], ...]:
    """Outcome shares for an agent: a weaker one connects less and fails more."""
    weights = [(o, w * (skill if o == "completed" else 1 / skill)) for o, w in OUTCOMES]
    total = sum(w for _, w in weights)
    return tuple((o, w / total) for o, w in weights)


def _sentiments(skill: float) -> tuple[tuple[str, float], ...]:
    weights = [
        (s, w * {"positive": skill, "neutral": 1.0, "negative": 1 / skill**2}[s]) for s, w in SENTIMENTS
    ]
    total = sum(w for _, w in weights)
    return tuple((s, w / total) for s, w in weights)


# -- shared phrase lists for transcripts --------------------------------------------------------
GREETINGS = (
    "Hello, how can I help you today?",
    "Hi, this is {agent}. Is this a good time to talk?",
    "Good afternoon, thanks for calling. How may I help you?",
    "Hello! I'm calling about your recent enquiry.",
)
USER_LINES = (
    "I would like to know about your pricing.",
    "I want to book an appointment for next week.",
    "Can you check the status of my order?",
    "I need to change my delivery address.",
    "Yes, now is fine.",
    "I'm not interested, thanks.",
    "Could you call me back later?",
    "My email is {email}.",
    "What are your opening hours?",
    "I was charged twice on my last bill.",
)
AGENT_LINES = (
    "Sure, I can help with that.",
    "Let me check that for you.",
    "Could you please confirm your name and email address?",
    "Thank you, I've noted that down.",
    "I can offer Tuesday at 2 PM or Wednesday at 10 AM.",
    "Your order is on its way and should arrive tomorrow.",
    "I'll send you a confirmation text.",
)
TRANSFER_LINE = "Let me transfer you to a manager right away."
CLOSINGS = ("Is there anything else I can help with?", "Thanks for your time, goodbye!")
FIRST_NAMES = ("Priya", "John", "Maria", "Wei", "Aisha", "Carlos", "Emma", "Ravi", "Sofia", "Liam")
LAST_NAMES = ("Sharma", "Doe", "Garcia", "Chen", "Khan", "Silva", "Brown", "Patel", "Rossi", "Smith")
SUMMARIES = (
    "Customer asked about pricing and was sent a quote.",
    "Caller booked an appointment for next week.",
    "Customer checked an order status; delivery confirmed for tomorrow.",
    "Caller was not interested and asked not to be contacted again.",
    "Customer reported a double charge; escalated to billing.",
    "Caller requested a callback later in the day.",
)
TRANSFER_SUMMARY = "Caller asked for a person and was transferred to a manager."
SUMMARY_BY_SENTIMENT = {
    "positive": (SUMMARIES[0], SUMMARIES[2]),
    "neutral": (SUMMARIES[5], SUMMARIES[0]),
    "negative": (SUMMARIES[3], SUMMARIES[4]),
}


def person(rnd: random.Random) -> tuple[str, str]:
    first, last = rnd.choice(FIRST_NAMES), rnd.choice(LAST_NAMES)
    return f"{first} {last}", f"{first.lower()}.{last.lower()}@example.com"


def conversation(call: Call, rnd: random.Random) -> list[tuple[str, str]]:
    """A few (speaker, text) turns, speaker 'agent' or 'user'; longer calls get more turns."""
    if not call.conversed:
        return []
    name, email = person(rnd)
    turns = [("agent", rnd.choice(GREETINGS).format(agent=call.agent.name))]
    for _ in range(min(6, 1 + call.duration_s // 45)):
        turns.append(("user", rnd.choice(USER_LINES).format(email=email)))
        turns.append(("agent", rnd.choice(AGENT_LINES)))
    if call.transferred:
        turns.append(("agent", TRANSFER_LINE))
    else:
        turns.append(("agent", rnd.choice(CLOSINGS)))
    return turns


def summary(call: Call, rnd: random.Random, booked: bool = False) -> str:
    """A summary that agrees with what happened on the call."""
    if call.transferred:
        return TRANSFER_SUMMARY
    if booked:
        return SUMMARIES[1]
    return rnd.choice(SUMMARY_BY_SENTIMENT[call.sentiment])


def phone(rnd: random.Random, country: str) -> str:
    if country == "+91":
        return "+91" + str(rnd.randint(7, 9)) + "".join(str(rnd.randint(0, 9)) for _ in range(9))
    return "+1" + str(rnd.randint(2, 9)) + "".join(str(rnd.randint(0, 9)) for _ in range(9))


def hex_id(*parts: object) -> str:
    """A 24-hex-digit id (MongoDB ObjectId-like)."""
    return digest(*parts, size=12).hex()


def object_id(ms: int, *parts: object) -> str:
    """ObjectId whose first 4 bytes are the creation second, as real ObjectIds."""
    return f"{ms // 1000:08x}" + digest(*parts, size=8).hex()
