"""The scorecard as people read it: Markdown in the UI, plain text in the terminal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

from calllog_pipeline.lake import Lake
from calllog_pipeline.qa.anomalies import Finding, Thresholds
from calllog_pipeline.qa.catalog import BY_NAME, HEADLINE, Metric
from calllog_pipeline.qa.judge import judge_stored_day, read_rows

AGENT_COLUMNS = ("calls", "connect_rate", "handle_time_mean_s", "transfer_rate", "latency_p90_s", "cost_usd")


def fmt(metric: Metric | str, value) -> str:
    """A value as a person reads it: shares in %, seconds with one decimal, money with cents."""
    m = BY_NAME[metric] if isinstance(metric, str) else metric
    if value is None:
        return "n/a"
    if m.unit == "share":
        return f"{100 * value:.1f}%"
    if m.unit.startswith("USD"):
        return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"


def describe(f: Finding) -> str:
    who = f"{f.provider}" + (f" agent {f.agent}" if f.agent else " (all agents)")
    return (
        f"{f.severity} {f.date} {who}: {BY_NAME[f.metric].title} {f.direction} to {fmt(f.metric, f.value)} "
        f"(usually {fmt(f.metric, f.baseline)})"
    )


def markdown(
    provider: str, day: str, provider_row: Mapping, agent_rows: Sequence[Mapping], findings: Sequence[Finding]
) -> str:
    lines = [f"### {provider} {day}", "", "| metric | value |", "|---|---|"]
    lines += [f"| {m.title} | {fmt(m, provider_row.get(m.name))} |" for m in HEADLINE]
    lines += ["", "| agent | " + " | ".join(BY_NAME[c].title for c in AGENT_COLUMNS) + " |"]
    lines += ["|---" * (len(AGENT_COLUMNS) + 1) + "|"]
    for row in sorted(agent_rows, key=lambda r: -(r.get("calls") or 0)):
        name = row.get("agent_name") or row["agent_id"]
        lines.append(f"| {name} | " + " | ".join(fmt(c, row.get(c)) for c in AGENT_COLUMNS) + " |")
    lines += ["", "**Anomalies:** " + ("none" if not findings else "")]
    lines += [f"- {describe(f)}" for f in findings]
    return "\n".join(lines)


def days(first: date, last: date) -> Iterable[str]:
    d = first
    while d <= last:
        yield d.isoformat()
        d += timedelta(days=1)


def print_scorecard(
    lake: Lake,
    providers: Sequence[str],
    first: date,
    last: date,
    thresholds: Thresholds | None = None,
    out=print,
) -> list[Finding]:
    """Print the last day's scorecard per provider and every anomaly of [first, last]; returns them."""
    t = thresholds or Thresholds()
    findings: list[Finding] = []
    cache: dict = {}
    for provider in providers:
        for day in days(first, last):
            judged = judge_stored_day(lake, provider, day, t, cache)
            if judged:
                findings += judged.findings
    out(f"\nQA scorecard, {last}:")
    # A metric a line (titles are too long for columns), a provider a column.
    scored = {p: (read_rows(lake, "qa_provider_daily", p, last.isoformat()) or [None])[0] for p in providers}
    labels = [m.title + (" (s)" if m.unit == "seconds" else "") for m in HEADLINE]
    title_width = max(map(len, labels))
    widths = [max(len(p), 9) for p in providers]
    out(f"  {'':<{title_width}}" + "".join(f"  {p:>{w}}" for p, w in zip(providers, widths, strict=True)))
    for m, label in zip(HEADLINE, labels, strict=True):
        values = [fmt(m, row.get(m.name)) if row else "-" for row in scored.values()]
        out(f"  {label:<{title_width}}" + "".join(f"  {v:>{w}}" for v, w in zip(values, widths, strict=True)))
    for provider, row in scored.items():
        if row is None:
            out(f"  ({provider}: no scorecard for {last})")
    out(f"\nAnomalies {first} .. {last}: {len(findings) or 'none'}")
    for f in findings:
        out(f"  {describe(f)}")
    return findings


# What each kind of simulated incident moves (calllog_pipeline.simulator incidents).
INCIDENT_METRICS = {
    "connect_drop": {"connect_rate", "technical_failure_rate"},
    "latency_spike": {"latency_p90_s"},
    "cost_jump": {"cost_per_connected_minute_usd"},
}


def explain(findings: Sequence[Finding], planted: Sequence[tuple[str, str, str]]) -> tuple[list, list]:
    """Split findings into those a planted ``(kind, provider, day)`` incident accounts for and the rest."""
    explained, unexplained = [], []
    for f in findings:
        cause = next(
            (
                p
                for p in planted
                if p[1] == f.provider and p[2] == f.date and f.metric in INCIDENT_METRICS[p[0]]
            ),
            None,
        )
        (explained if cause else unexplained).append(f)
    return explained, unexplained


def print_demo_scorecard(
    data_dir: str,
    providers: Sequence[str],
    first: date,
    last: date,
    planted: Sequence[tuple[str, str, str]],
    out=print,
) -> bool:
    """The demo's closing words: the scorecard, the anomalies, and whether they are exactly the
    planted incidents (True) or something else moved too (False)."""
    findings = print_scorecard(Lake(root=data_dir), providers, first, last, out=out)
    explained, unexplained = explain(findings, planted)
    for kind, provider, day in planted:
        hits = [f for f in explained if (f.provider, f.date) == (provider, day)]
        verdict = "found: " + "; ".join(describe(f) for f in hits) if hits else "NOT found"
        out(f"\nPlanted incident {kind} on {provider} {day}: {verdict}")
    if unexplained:
        out(f"Also flagged ({len(unexplained)}), not planted: " + "; ".join(describe(f) for f in unexplained))
    return bool(explained) and not unexplained
