"""Anomaly detection on the daily scorecard: is today's value far from this provider's (or agent's) normal?

The baseline is the trailing ``window_days`` (28) days before the day, the day itself excluded;
when at least ``min_same_weekday`` (4) of them fall on the same weekday only those are used, so a
quiet Sunday is compared with Sundays. Nothing is judged before ``min_history_days`` (14) days of
history and ``min_calls`` (30) calls on the day.

- Rates (``Kind.RATE``): flagged when the baseline (median of daily rates) lies outside the day's
  Wilson 95% interval, the change is at least ``min_rate_change`` (5 percentage points), the
  day's count is as unlikely under the baseline as a ``z_warn``-sigma event (exact binomial tail)
  and the change exceeds ``z_warn`` times the baseline's day-to-day spread (1.4826 MAD). The last
  two keep a small agent's ordinary luck (say 5 invalid numbers in 33 calls against a 3% norm,
  which the Wilson test alone flags about once in 40 agent-days) from raising alerts. ERROR from
  ``error_rate_change`` (15 pp), else WARN.
- Continuous values: robust z = (value - median) / (1.4826 * MAD); |z| > ``z_warn`` (3.5) WARN,
  > ``z_error`` (5) ERROR. The scale never falls below ``min_scale_fraction`` of the median (a
  flat history, MAD = 0, would otherwise flag any wiggle).
- Only the metric's bad direction counts (a connect rate that rises is not an incident).
- Zero calls on a day whose baseline median is at least ``busy_day_calls`` is an ERROR.

When a provider-level metric moves, the finding is reported once, for the provider (``agents``
lists the agents that moved with it), unless exactly one agent moved while the other judged agents
held (or moved far more, relatively, than the provider did): then the finding is that agent's, as
the provider moved because of it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from calllog_pipeline.qa.catalog import BY_NAME, JUDGED, Direction, Kind, Metric

Z95 = 1.959963984540054
_NORMAL = statistics.NormalDist()
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Thresholds:
    window_days: int = 28
    min_same_weekday: int = 4
    min_history_days: int = 14
    min_calls: int = 30
    min_rate_change: float = 0.05
    error_rate_change: float = 0.15
    z_warn: float = 3.5
    z_error: float = 5.0
    min_scale_fraction: float = 0.1
    busy_day_calls: float = 30.0


@dataclass
class Finding:
    """One anomaly: the payload helper "alerts" sends as one message."""

    metric: str
    provider: str
    agent: str | None  # None: the provider as a whole
    date: str
    value: float
    baseline: float
    severity: str  # "WARN" | "ERROR"
    direction: str  # "drop" | "rise"
    interval: list[float] | None = None  # Wilson 95% for rates; baseline +- z_warn * scale otherwise
    z: float | None = None
    agents: list[str] = field(default_factory=list)  # provider findings: agents that moved with it

    def payload(self) -> dict:
        data = asdict(self)
        if not self.agents:
            data.pop("agents")
        return data


@dataclass
class Verdict:
    """The judgement of one scorecard row (a provider or an agent) on one day."""

    key: str | None
    status: str  # "judged" | "not enough data: ..."
    findings: list[Finding] = field(default_factory=list)
    details: list[dict] = field(default_factory=list)  # per judged metric: value, baseline, interval


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def binomial_tail(k: int, n: int, p: float, upper: bool) -> float:
    """P(X >= k) (``upper``) or P(X <= k) for X ~ Binomial(n, p); exact up to 20,000 trials, then
    the normal approximation (with continuity correction), which is accurate there."""
    if p <= 0.0 or p >= 1.0:
        return 0.0 if (upper and k > n * p) or (not upper and k < n * p) else 1.0
    if n > 20_000:
        sd = math.sqrt(n * p * (1 - p))
        return _NORMAL.cdf((n * p - k + 0.5) / sd) if upper else _NORMAL.cdf((k + 0.5 - n * p) / sd)
    ks = range(k, n + 1) if upper else range(0, k + 1)
    log_p, log_q = math.log(p), math.log1p(-p)
    lg = math.lgamma(n + 1)
    return min(
        1.0,
        sum(
            math.exp(lg - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q)
            for i in ks
        ),
    )


def robust_scale(values: Sequence[float], floor_fraction: float) -> tuple[float, float]:
    """(median, scale) with scale = 1.4826 MAD, never below ``floor_fraction`` of |median|."""
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    scale = max(MAD_TO_SIGMA * mad, floor_fraction * abs(median), 1e-9)
    return median, scale


def baseline_rows(day: str, history: Mapping[str, dict], t: Thresholds) -> list[dict]:
    """History rows (date -> row) of the trailing window; same weekday when there are enough."""
    today = date.fromisoformat(day)
    window = [
        history[d]
        for d in sorted(history)
        if today - timedelta(days=t.window_days) <= date.fromisoformat(d) < today
    ]
    same = [r for r in window if date.fromisoformat(r["date"]).weekday() == today.weekday()]
    return same if len(same) >= t.min_same_weekday else window


def _bad(direction: Direction, change: float) -> bool:
    return (direction == Direction.DOWN_IS_BAD and change < 0) or (
        direction == Direction.UP_IS_BAD and change > 0
    )


def judge_metric(
    metric: Metric, row: Mapping, base: Sequence[Mapping], t: Thresholds
) -> tuple[dict | None, str | None]:
    """(detail, severity or None) for one metric; detail None when there is nothing to compare."""
    value = row.get(metric.name)
    # A baseline day counts when it had as many trials as the day must have: a rate of 3 tool calls
    # on a 200-call day is as noisy as the rate of a 3-call day.
    size = metric.denominator_column if metric.kind == Kind.RATE else "calls"
    past = [
        r[metric.name] for r in base if r.get(metric.name) is not None and (r.get(size) or 0) >= t.min_calls
    ]
    if value is None or len(past) < t.min_same_weekday:
        return None, None
    if metric.kind == Kind.RATE:
        n = row.get(metric.denominator_column) or 0
        if n < t.min_calls:
            return None, None
        baseline, spread = robust_scale(past, 0.0)
        lo, hi = wilson(value * n, n)
        change = value - baseline
        # As unlikely as a z_warn-sigma event if the baseline still held (exact binomial tail: small
        # shares have a heavier tail than the normal), and beyond the baseline's own day-to-day spread.
        tail = binomial_tail(round(value * n), n, baseline, upper=change > 0)
        flagged = (
            (baseline < lo or baseline > hi)
            and abs(change) >= t.min_rate_change
            and tail < _NORMAL.cdf(-t.z_warn)
            and abs(change) > t.z_warn * spread
            and _bad(metric.direction, change)
        )
        severity = ("ERROR" if abs(change) >= t.error_rate_change else "WARN") if flagged else None
        detail = {"value": value, "baseline": baseline, "interval": [lo, hi], "n": n, "change": change}
        detail["p_value"] = tail
    else:
        baseline, scale = robust_scale(past, t.min_scale_fraction)
        z = (value - baseline) / scale
        flagged = abs(z) > t.z_warn and _bad(metric.direction, z)
        severity = ("ERROR" if abs(z) > t.z_error else "WARN") if flagged else None
        interval = [baseline - t.z_warn * scale, baseline + t.z_warn * scale]
        detail = {"value": value, "baseline": baseline, "interval": interval, "z": z}
    detail.update(metric=metric.name, severity=severity, history_days=len(past))
    return detail, severity


def judge_row(
    provider: str,
    agent: str | None,
    day: str,
    row: Mapping | None,
    history: Mapping[str, dict],
    t: Thresholds,
) -> Verdict:
    """Judge one scorecard row (``row`` None: no row today, i.e. zero calls)."""
    row = row or {"calls": 0}
    base = baseline_rows(day, history, t)
    window_days = sum(
        1 for d in history if 0 < (date.fromisoformat(day) - date.fromisoformat(d)).days <= t.window_days
    )
    verdict = Verdict(agent, "judged")
    if window_days < t.min_history_days:
        verdict.status = f"not enough data: {window_days} days of history (need {t.min_history_days})"
        return verdict
    usual = statistics.median(r.get("calls") or 0 for r in base) if base else 0
    calls = row.get("calls") or 0
    if calls == 0 and usual >= t.busy_day_calls:
        verdict.findings.append(
            Finding("calls", provider, agent, day, 0, usual, "ERROR", Direction.DOWN_IS_BAD.value)
        )
        return verdict
    if calls < t.min_calls:
        verdict.status = f"not enough data: {calls} calls (need {t.min_calls})"
        return verdict
    for metric in JUDGED:
        detail, severity = judge_metric(metric, row, base, t)
        if detail is None:
            continue
        verdict.details.append(detail)
        if severity:
            verdict.findings.append(
                Finding(
                    metric.name, provider, agent, day, float(detail["value"]), float(detail["baseline"]),
                    severity, metric.direction.value, interval=[float(x) for x in detail["interval"]],
                    z=detail.get("z"),
                )
            )  # fmt: skip
    return verdict


def attribute(
    provider_verdict: Verdict, agent_verdicts: Iterable[Verdict]
) -> tuple[list[Finding], list[Finding], list[Finding]]:
    """(provider findings, agent findings, agent findings explained by a provider-wide move)."""
    agent_verdicts = list(agent_verdicts)
    agent_findings = [f for v in agent_verdicts for f in v.findings]
    judged = {}  # metric -> agents judged on it today
    for v in agent_verdicts:
        for d in v.details:
            judged[d["metric"]] = judged.get(d["metric"], 0) + 1
    by_metric: dict[str, list[Finding]] = {}
    for f in agent_findings:
        by_metric.setdefault(f.metric, []).append(f)
    kept_provider, kept_agents, explained = [], [], []
    for f in provider_verdict.findings:
        movers = by_metric.get(f.metric, [])
        if len(movers) == 1 and (judged.get(f.metric, 0) >= 2 or _relative(movers[0]) > 1.5 * _relative(f)):
            continue  # one agent moved (the others held, or it moved far more): report that agent
        f.agents = sorted(m.agent for m in movers if m.agent)
        kept_provider.append(f)
    for metric, movers in by_metric.items():
        if metric in {f.metric for f in kept_provider}:
            explained += movers
        else:
            kept_agents += movers
    return kept_provider, kept_agents, explained


def _relative(f: Finding) -> float:
    return abs(f.value - f.baseline) / abs(f.baseline) if f.baseline else math.inf


def catalog_entry(metric: str) -> dict:
    if metric == "calls":
        m = BY_NAME["calls"]
        return {"formula": "zero calls on a day that usually has them", "unit": m.unit}
    m = BY_NAME[metric]
    return {
        "title": m.title,
        "formula": m.formula,
        "unit": m.unit,
        "denominator": m.denominator,
        "calls": m.calls,
    }


def max_severity(findings: Iterable[Finding]) -> str | None:
    severities = {f.severity for f in findings}
    return "ERROR" if "ERROR" in severities else "WARN" if severities else None
