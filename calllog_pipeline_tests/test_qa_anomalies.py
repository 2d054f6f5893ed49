"""Anomaly rules on scorecard rows: baselines, Wilson intervals, robust z, directions, attribution."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from calllog_pipeline.qa.anomalies import (
    Thresholds,
    attribute,
    baseline_rows,
    judge_row,
    robust_scale,
    wilson,
)

DAY = "2026-04-29"  # a Wednesday
T = Thresholds()


def history(days: int = 28, calls: int = 200, seed: int = 1, **metrics) -> dict[str, dict]:
    """Rows of the ``days`` before DAY with a little noise around ``metrics``."""
    rnd = random.Random(seed)
    rows = {}
    for k in range(1, days + 1):
        d = (date.fromisoformat(DAY) - timedelta(days=k)).isoformat()
        row = {"date": d, "calls": calls + rnd.randint(-20, 20)}
        for name, value in metrics.items():
            row[name] = value * (1 + rnd.uniform(-0.04, 0.04))
        row["tool_calls_with_outcome"] = row["connected_calls"] = row["calls"]
        rows[d] = row
    return rows


def today(**values) -> dict:
    row = {"calls": 200, "connected_calls": 120, "tool_calls_with_outcome": 200}
    row.update(values)
    return row


def test_wilson_interval():
    lo, hi = wilson(60, 100)
    assert lo == pytest.approx(0.5020, abs=1e-4) and hi == pytest.approx(0.6906, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)


def test_robust_scale_survives_a_flat_history():
    median, scale = robust_scale([2.0] * 10, 0.1)
    assert median == 2.0 and scale == pytest.approx(0.2)  # MAD = 0: 10% of the median instead


def test_connect_rate_drop_is_an_error_and_a_rise_is_not_an_incident():
    past = history(connect_rate=0.62, latency_p90_s=2.0)
    drop = judge_row("p", None, DAY, today(connect_rate=0.35, latency_p90_s=2.0), past, T)
    assert [(f.metric, f.severity, f.direction) for f in drop.findings] == [("connect_rate", "ERROR", "drop")]
    finding = drop.findings[0]
    assert finding.baseline == pytest.approx(0.62, abs=0.03) and finding.interval[1] < finding.baseline
    assert judge_row("p", None, DAY, today(connect_rate=0.80), past, T).findings == []


def test_a_small_rate_drop_is_a_warning_and_noise_is_nothing():
    past = history(connect_rate=0.62)
    warn = judge_row("p", None, DAY, today(connect_rate=0.48), past, T)
    assert [(f.metric, f.severity) for f in warn.findings] == [("connect_rate", "WARN")]
    assert judge_row("p", None, DAY, today(connect_rate=0.59), past, T).findings == []


def test_latency_spike_severity_by_robust_z():
    past = history(latency_p90_s=2.0)
    assert [f.severity for f in judge_row("p", "a", DAY, today(latency_p90_s=4.0), past, T).findings] == [
        "ERROR"
    ]
    assert [f.severity for f in judge_row("p", "a", DAY, today(latency_p90_s=2.9), past, T).findings] == [
        "WARN"
    ]
    assert judge_row("p", "a", DAY, today(latency_p90_s=2.2), past, T).findings == []
    assert judge_row("p", "a", DAY, today(latency_p90_s=0.5), past, T).findings == []  # faster is fine


def test_fewer_than_14_days_of_history_is_not_judged():
    verdict = judge_row("p", None, DAY, today(connect_rate=0.1), history(days=13, connect_rate=0.6), T)
    assert verdict.findings == [] and verdict.status.startswith("not enough data: 13 days")


def test_fewer_than_30_calls_is_not_judged():
    verdict = judge_row("p", "new", DAY, today(calls=29, connect_rate=0.1), history(connect_rate=0.6), T)
    assert verdict.findings == [] and "29 calls" in verdict.status


def test_zero_calls_on_a_busy_day_is_an_error():
    verdict = judge_row("p", None, DAY, None, history(connect_rate=0.6), T)
    assert [(f.metric, f.severity, f.value) for f in verdict.findings] == [("calls", "ERROR", 0)]
    quiet = judge_row("p", None, DAY, None, history(calls=5, connect_rate=0.6), T)
    assert quiet.findings == []


def test_same_weekday_baseline_when_there_are_four():
    past = history()
    base = baseline_rows(DAY, past, T)
    assert len(base) == 4 and {date.fromisoformat(r["date"]).weekday() for r in base} == {2}
    assert len(baseline_rows(DAY, history(days=20), T)) == 20  # only 2 Wednesdays: the whole window


def test_thresholds_are_configurable():
    past = history(connect_rate=0.62)
    strict = Thresholds(min_rate_change=0.01, error_rate_change=0.5, z_warn=2.0)
    assert [
        f.severity for f in judge_row("p", None, DAY, today(connect_rate=0.50), past, strict).findings
    ] == ["WARN"]


def test_attribution_one_agent_or_provider_wide():
    past = history(latency_p90_s=2.0, connect_rate=0.62)
    provider = judge_row("p", None, DAY, today(latency_p90_s=3.5, connect_rate=0.3), past, T)
    spiky = judge_row("p", "a", DAY, today(latency_p90_s=6.0, connect_rate=0.3), past, T)
    calm = judge_row("p", "b", DAY, today(latency_p90_s=2.0, connect_rate=0.3), past, T)
    kept_provider, kept_agents, explained = attribute(provider, [spiky, calm])
    # connect rate fell for both agents: one provider-wide finding naming them
    assert [(f.metric, f.agents) for f in kept_provider] == [("connect_rate", ["a", "b"])]
    # latency moved for agent a only: reported for that agent, not for the provider
    assert [(f.metric, f.agent) for f in kept_agents] == [("latency_p90_s", "a")]
    assert sorted(f.agent for f in explained) == ["a", "b"]
    assert set(kept_provider[0].payload()) >= {"metric", "provider", "agent", "date", "value", "baseline",
                                               "severity", "direction"}  # fmt: skip


def test_an_agent_seen_for_the_first_time_is_not_judged():
    verdict = judge_row("p", "new-agent", DAY, today(connect_rate=0.1, latency_p90_s=9.0), {}, T)
    assert verdict.findings == [] and verdict.status == "not enough data: 0 days of history (need 14)"


def test_tool_success_is_judged_over_the_tool_calls_that_report_an_outcome():
    """400 tool calls but only 40 say whether they worked: the interval is that of 40 trials."""
    past = history(tool_success_rate=0.95)
    row = today(tool_success_rate=0.80, tool_calls=400, tool_calls_with_outcome=40)
    (detail,) = [
        d for d in judge_row("p", None, DAY, row, past, T).details if d["metric"] == "tool_success_rate"
    ]
    assert detail["n"] == 40 and detail["interval"] == pytest.approx(list(wilson(32, 40)))


def test_baseline_days_with_few_tool_calls_do_not_set_the_norm():
    """200 calls a day but 3 tool calls with an outcome: those days' 100% says nothing about today's
    80% of 200 tool calls (the baseline would otherwise read a 20-point drop)."""
    past = history(tool_success_rate=1.0)
    for row in past.values():
        row["tool_calls_with_outcome"] = 3
    verdict = judge_row("p", None, DAY, today(tool_success_rate=0.80, tool_calls_with_outcome=200), past, T)
    assert verdict.findings == [] and "tool_success_rate" not in {d["metric"] for d in verdict.details}
