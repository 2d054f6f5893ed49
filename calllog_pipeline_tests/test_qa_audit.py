"""An audit of the QA scorecard: every number the QA layer writes equals docs/metrics.md's definition,
recomputed independently (``qa_reference``: plain Python from the catalog's words) from the
normalized tables, value by value: provider and agent rows, nulls vs 0, percentiles, denominators.

On simulated days of every provider, and on small hand-built days with the edge cases a reader of
the scorecard runs into: a day without calls, an agent with only test calls, a provider without the
source fields, zero and missing durations, a voicemail that "completed", a call over midnight in a
zone other than UTC, a machine whose local zone has DST.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from qa_lake import action, call, turn, write_day
from qa_reference import reference_day
from sim_lake import simulated_lake, world

from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.qa.anomalies import Finding, Thresholds
from calllog_pipeline.qa.assets import QaConfig, build_qa_assets, qa_asset_key
from calllog_pipeline.qa.catalog import HEADLINE, METRICS
from calllog_pipeline.qa.judge import history
from calllog_pipeline.qa.metrics import compute_day
from calllog_pipeline.qa.metrics import write_day as qa_write_day
from calllog_pipeline.qa.report import (
    Report,
    build_report,
    render_csv,
    render_html,
    render_json,
    render_table,
)
from calllog_pipeline.qa.scorecard import fmt

LAST = date(2026, 4, 29)
DAY = "2026-03-10"


def same(want, got) -> bool:
    if want is None or got is None:
        return want is None and got is None  # null is never 0
    if isinstance(want, dict):
        got = json.loads(got)
        return want.keys() == got.keys() and all(same(want[k], got[k]) for k in want)
    return math.isclose(want, got, rel_tol=1e-12, abs_tol=1e-12)


def differences(lake: Lake, provider: str, day: str) -> list[str]:
    """Every value where the QA tables and the reference disagree, as readable lines."""
    tables = compute_day(lake, provider, day)
    want_provider, want_agents, want_reasons = reference_day(lake.root, provider, day)
    out = []
    (got_provider,) = tables.provider.to_pylist()
    out += [
        f"{provider} {day} provider {m.name}: docs {want_provider[m.name]!r}, table {got_provider[m.name]!r}"
        for m in METRICS
        if not same(want_provider[m.name], got_provider[m.name])
    ]
    got_agents = {r["agent_id"]: r for r in tables.agent.to_pylist()}
    if set(got_agents) != set(want_agents):
        out.append(f"{provider} {day} agents: docs {sorted(want_agents)}, table {sorted(got_agents)}")
    for agent in set(got_agents) & set(want_agents):
        if got_agents[agent]["agent_name"] != want_agents[agent]["agent_name"]:
            out.append(f"{provider} {day} agent {agent} name: docs {want_agents[agent]['agent_name']!r}, "
                       f"table {got_agents[agent]['agent_name']!r}")  # fmt: skip
        out += [
            f"{provider} {day} agent {agent} {m.name}: docs {want_agents[agent][m.name]!r}, "
            f"table {got_agents[agent][m.name]!r}"
            for m in METRICS
            if not same(want_agents[agent][m.name], got_agents[agent][m.name])
        ]
    got_reasons = sorted(
        ((r["status"], r["end_reason"], r["calls"], r["share"]) for r in tables.end_reasons.to_pylist()),
        key=str,
    )
    if [r[:3] for r in got_reasons] != [r[:3] for r in want_reasons] or not all(
        same(w[3], g[3]) for w, g in zip(want_reasons, got_reasons, strict=True)
    ):
        out.append(f"{provider} {day} end reasons: docs {want_reasons}, table {got_reasons}")
    return out


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(root=str(tmp_path))


@pytest.mark.parametrize("provider", sorted(REGISTRY))
def test_simulated_days_match_the_catalog(provider, lake):
    """Four simulated days (three of history for repeat contacts and quiet agents), the last two audited."""
    w = world(LAST, calls_per_day=80)
    days = simulated_lake(lake, w, provider, LAST - timedelta(days=3), LAST)
    assert [d for day in days[-2:] for d in differences(lake, provider, day)] == []


ALPHA = {"agent_id": "a1", "agent_name": "Alpha", "direction": "outbound"}
BETA = {"agent_id": "b1", "agent_name": "Beta", "direction": "outbound"}
TESTER = {"agent_id": "t1", "agent_name": "Tester", "direction": "outbound"}
N1, N2, N3, N4, N5, N6, N9 = (f"+1555000000{k}" for k in (1, 2, 3, 4, 5, 6, 9))


def started(row: dict, at: datetime) -> dict:
    return {**row, "started_at": at}


def edge_day(lake: Lake, provider: str = "omnidimension") -> None:
    calls = [
        # connected; extraction: false and 0 are answers, placeholders in any case/spacing are not
        call("e1", DAY, 0, **ALPHA, duration_s=60.0, end_reason="user_disconnected", to_number=N1,
             cost_usd=0.3, tokens=100, sentiment="positive",
             extracted={"qualified": False, "count": 0, "name": " N/A ", "city": "Pune", "tags": [],
                        "info": {}, "x": None, "y": "Not Mentioned"},
             extra={"is_call_transfer": True, "cqs_score": 7}),
        # a voicemail the provider calls completed: not connected, but a voicemail
        call("e2", DAY, 1, **ALPHA, duration_s=25.0, end_reason="voicemail_detected", to_number=N2),
        # completed with duration 0, and completed without a duration: not connected
        call("e3", DAY, 2, **ALPHA, duration_s=0.0, end_reason="user_disconnected", to_number=N3),
        call("e4", DAY, 3, **ALPHA, end_reason="agent_disconnected", to_number=N4),
        # two calls to one contact at the same instant: neither is "before" the other
        call("e5", DAY, 4, **ALPHA, duration_s=14.0, end_reason="agent_disconnected", to_number=N5,
             extra={"cqs_score": 0}),
        call("e6", DAY, 4, **ALPHA, duration_s=16.0, to_number=N5, cost_usd=0.0),
        # Beta: only calls that did not connect (connected minutes 0, not null)
        call("e7", DAY, 5, **BETA, status="busy", duration_s=0.0, end_reason="user_busy",
             to_number=N1),
        # Tester: only test calls and a chat session
        call("e8", DAY, 6, **TESTER, is_test=True, duration_s=30.0, to_number=N9),
        call("e9", DAY, 7, **TESTER, channel="chat", duration_s=0.0),
        # no agent at all, an inbound call (its contact is the caller)
        call("e10", DAY, 8, direction="inbound", from_number=N6, duration_s=45.0,
             end_reason="user_disconnected"),
    ]  # fmt: skip
    actions = [
        action("e1", "function_call", succeeded=True, latency_s=0.2),
        action("e1", "function_call", succeeded=None, latency_s=None),  # outcome not reported
        action("e1", "webhook"),
        action("e5", "function_call", succeeded=False, latency_s=2.0),
        action("e7", "function_call", succeeded=True, latency_s=0.1),  # a call that did not connect
        action("e8", "function_call", succeeded=False, latency_s=9.0),  # a test call's: left out
    ]
    turns = [
        # the first agent turn has no latency: the call has no first-response time
        turn("e1", 0, "agent", "Héllo 👋", None),
        turn("e1", 1, "user", "hi"),
        turn("e1", 2, "agent", "Bye", 2.0),
        turn("e5", 0, "user", "hello?"),
        turn("e5", 1, "agent", "Yes", 1.0),
        turn("e8", 0, "agent", "test", 30.0),
    ]
    write_day(lake, provider, DAY, calls, actions, turns)
    # history: Gamma called 6 days ago (a zero-call row today), Delta 8 days ago (no row);
    # +...01 had a call 7 days and 1 second before e1 (not a repeat), +...02 exactly 7 days before e2
    e1_at = datetime(2026, 3, 10, 10, tzinfo=UTC)
    write_day(lake, provider, "2026-03-04", [call("g", "2026-03-04", 0, agent_id="g1", agent_name="Gamma")])
    # Alpha was called "Alpha v1" last week; Gamma had no name on its later call
    write_day(lake, provider, "2026-03-05", [call("r", "2026-03-05", 0, agent_id="a1", agent_name="Alpha v1"),
                                             call("s", "2026-03-05", 1, agent_id="g1")])  # fmt: skip
    write_day(lake, provider, "2026-03-02", [call("d", "2026-03-02", 0, agent_id="d1", agent_name="Delta")])
    write_day(lake, provider, "2026-03-03", [
        started(call("h1", "2026-03-03", **ALPHA, to_number=N1), e1_at - timedelta(days=7, seconds=1)),
        call("h2", "2026-03-03", 1, **ALPHA, to_number=N2),
    ])  # fmt: skip


def row_of(tables, agent: str | None = None) -> dict:
    if agent is None:
        return tables.provider.to_pylist()[0]
    return next(r for r in tables.agent.to_pylist() if r["agent_id"] == agent)


def test_edge_cases_match_the_catalog(lake):
    edge_day(lake)
    assert differences(lake, "omnidimension", DAY) == []
    tables = compute_day(lake, "omnidimension", DAY)
    p = row_of(tables)
    # the values a reader checks by eye, from the docs' words
    assert (p["calls"], p["test_calls"], p["connected_calls"]) == (8, 2, 4)
    assert p["voicemail_rate"] == 1 / 8 and p["connect_rate"] == 4 / 8
    assert p["extraction_fill_rate"] == 3 / 8  # qualified: false, count: 0, city
    assert p["first_response_s"] == 1.0  # e1's first agent turn has no latency; e5's has 1.0
    assert p["repeat_contact_rate"] == 2 / 8  # e2 (exactly 7 days) and e7 (e1 earlier today)
    assert p["tool_calls"] == 4 and p["tool_success_rate"] == 2 / 3
    assert json.loads(p["actions_by_type"]) == {"function_call": 3 / 4, "webhook": 1 / 4}
    assert p["transfer_rate"] == 1 / 4 and p["quality_score_mean"] == 7.0
    assert p["handle_time_p90_s"] == pytest.approx(45 + 0.7 * 15)  # 14, 16, 45, 60
    assert p["agent_talk_share"] == (7 + 3 + 3) / (7 + 3 + 3 + 2 + 6)  # characters, not bytes
    beta = row_of(tables, "b1")
    assert beta["connected_minutes"] == 0.0 and beta["handle_time_mean_s"] is None
    # sources the provider has, but none of Beta's calls filled: null (no denominator), never 0
    assert beta["positive_share"] is None and beta["latency_p90_s"] is None and beta["cost_usd"] is None
    assert beta["tool_calls"] == 1 and beta["tool_success_rate"] == 1.0  # tools of unconnected calls count
    tester = row_of(tables, "t1")
    assert (tester["calls"], tester["test_calls"], tester["connect_rate"]) == (0, 2, None)
    gamma = row_of(tables, "g1")
    assert (gamma["calls"], gamma["connected_minutes"], gamma["agent_name"]) == (0, 0.0, "Gamma")
    assert {r["agent_id"]: r["agent_name"] for r in tables.agent.to_pylist()} == {
        "a1": "Alpha", "b1": "Beta", "t1": "Tester", "g1": "Gamma", "(none)": None,
    }  # fmt: skip


def test_a_day_without_calls(lake):
    write_day(lake, "omnidimension", "2026-03-09", [call("p", "2026-03-09", 0, **ALPHA, duration_s=30.0)])
    write_day(lake, "omnidimension", DAY)
    assert differences(lake, "omnidimension", DAY) == []
    p = row_of(compute_day(lake, "omnidimension", DAY))
    assert (p["calls"], p["connected_minutes"], p["connect_rate"], p["cost_usd"]) == (0, 0.0, None, None)


def test_a_provider_without_the_source_fields_gets_nulls(lake):
    """LeadConnector and DialNexa lack many fields: null on every row, whatever the table holds."""
    edge_day(lake, "leadconnector")
    edge_day(lake, "dialnexa")
    assert differences(lake, "leadconnector", DAY) + differences(lake, "dialnexa", DAY) == []
    lc = row_of(compute_day(lake, "leadconnector", DAY))
    assert lc["connect_rate"] is None and lc["cost_usd"] is None and lc["user_ended_share"] is None
    assert lc["calls"] == 8 and lc["connected_minutes"] == (60 + 14 + 16 + 45) / 60
    dn = row_of(compute_day(lake, "dialnexa", DAY), "t1")
    assert dn["test_calls"] is None and dn["transfer_rate"] is None and dn["calls"] == 0


def test_a_call_over_midnight_in_new_york_belongs_to_the_day_it_started(lake):
    """CALLLOG_TIMEZONE America/New_York: the 2026-03-08 file (a DST day: 23 hours) holds the calls
    started that local day, 05:00 UTC .. 04:00 UTC next day; the QA asset scores that partition."""
    ny_day = "2026-03-08"
    last_minute = datetime(2026, 3, 9, 3, 50, tzinfo=UTC)  # 23:50 EDT, ends 00:10 on the 9th
    write_day(lake, "dialnexa", ny_day, [
        call("m1", ny_day, **ALPHA, duration_s=1200.0, end_reason="user_disconnected", to_number=N1)
        | {"started_at": last_minute},
        call("m2", ny_day, **ALPHA, duration_s=30.0, end_reason="user_disconnected", to_number=N1)
        | {"started_at": datetime(2026, 3, 8, 5, 0, tzinfo=UTC)},  # 00:00 EST
    ])  # fmt: skip
    write_day(lake, "dialnexa", "2026-03-09", [
        call("m3", "2026-03-09", **ALPHA, duration_s=10.0, to_number=N1)
        | {"started_at": datetime(2026, 3, 9, 4, 5, tzinfo=UTC)},  # 00:05 EDT
    ])  # fmt: skip
    partitions = dg.DailyPartitionsDefinition(start_date="2026-03-01", timezone="America/New_York")
    result = dg.materialize(
        [build_qa_assets("dialnexa", partitions)],
        resources={"lake": lake},
        run_config=dg.RunConfig({"dialnexa_qa": QaConfig()}),
        partition_key=ny_day,
    )
    assert result.success
    assert differences(lake, "dialnexa", ny_day) + differences(lake, "dialnexa", "2026-03-09") == []
    (row,) = pq.read_table(lake.table_path("qa_provider_daily", ny_day, "dialnexa")).to_pylist()
    assert row["calls"] == 2 and row["connected_minutes"] == 1230 / 60 and row["repeat_contact_rate"] == 1 / 2
    # the numbers on the materialization (the UI's Plots tab and its scorecard) are the stored ones
    (materialization,) = [
        m
        for m in result.asset_materializations_for_node("dialnexa_qa")
        if m.asset_key == qa_asset_key("dialnexa", "qa_provider_daily")
    ]
    shown = materialization.metadata
    assert {m.name: shown[m.name].value for m in HEADLINE if m.name in shown} == {
        m.name: row[m.name] for m in HEADLINE if row[m.name] is not None
    }
    for m in HEADLINE:
        assert f"| {m.title} | {fmt(m, row[m.name])} |" in shown["scorecard"].value


def test_repeat_contacts_are_seven_times_24_hours_whatever_the_machines_zone(lake, tmp_path):
    """A week across the DST change (2026-03-08 in New York): on a machine in New York, a call
    7 days and 30 minutes earlier is still outside the window, one 6 days 23.5 hours earlier inside."""
    at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    write_day(lake, "dialnexa", "2026-03-03", [
        started(call("o", "2026-03-03", **ALPHA, to_number=N1), at - timedelta(days=7, minutes=30)),
        started(call("i", "2026-03-03", **ALPHA, to_number=N2), at - timedelta(days=6, hours=23.5)),
    ])  # fmt: skip
    write_day(lake, "dialnexa", DAY, [
        call("a", DAY, **ALPHA, duration_s=5.0, to_number=N1) | {"started_at": at},
        call("b", DAY, **ALPHA, duration_s=5.0, to_number=N2) | {"started_at": at},
    ])  # fmt: skip
    script = (
        "import sys; from calllog_pipeline.lake import Lake;"
        "from calllog_pipeline.qa.metrics import compute_day;"
        "print(compute_day(Lake(root=sys.argv[1]), 'dialnexa', sys.argv[2]).provider.to_pylist()[0]"
        "['repeat_contact_rate'])"
    )
    env = {**os.environ, "TZ": "America/New_York", "PYTHONPATH": str(Path(__file__).parent.parent)}
    out = subprocess.run(
        [sys.executable, "-c", script, lake.root, DAY], env=env, capture_output=True, text=True, check=True
    )
    assert float(out.stdout) == 0.5
    assert differences(lake, "dialnexa", DAY) == []


def test_each_judged_rate_is_a_count_over_its_denominator_column(lake):
    """The anomaly checks build a rate's Wilson interval from ``denominator_column``: it must be the
    count the rate divides by (rate x denominator is a whole number of calls), on every row."""
    edge_day(lake)
    tables = compute_day(lake, "omnidimension", DAY)
    rates = [m for m in METRICS if m.judged and m.kind.value == "rate"]
    assert rates and all(m.denominator_column for m in rates)
    for row in tables.provider.to_pylist() + tables.agent.to_pylist():
        for m in rates:
            if row[m.name] is not None:
                successes = row[m.name] * row[m.denominator_column]
                assert successes == pytest.approx(round(successes), abs=1e-9), (row.get("agent_id"), m.name)


def test_the_report_shows_the_numbers_of_the_tables(lake):
    """table, csv, json and html: each number is the stored one (csv/json exactly, table/html as
    ``fmt`` rounds it for people), counts shown as counts in the charts too."""
    edge_day(lake)
    for day in ("2026-03-03", "2026-03-04", DAY):
        qa_write_day(lake, "omnidimension", day, compute_day(lake, "omnidimension", day))
    first, last = date(2026, 3, 3), date.fromisoformat(DAY)
    stored = {}
    for day in ("2026-03-03", "2026-03-04", DAY):
        (stored[day],) = pq.read_table(lake.table_path("qa_provider_daily", day, "omnidimension")).to_pylist()
    report = build_report(lake, first, last, "omnidimension")
    assert [r["date"] for r in report.rows] == sorted(stored)

    for row in csv.DictReader(io.StringIO(render_csv(report))):
        want = stored[row["date"]]
        for m in METRICS:
            cell = row[m.name]
            got = None if cell == "" else cell if m.kind.value == "json" else float(cell)
            assert got == want[m.name], (row["date"], m.name)
    for row in json.loads(render_json(report))["rows"]:
        assert {m.name: row[m.name] for m in METRICS} == {
            m.name: stored[row["date"]][m.name] for m in METRICS
        }

    table = render_table(report).splitlines()
    for day, want in stored.items():
        line = next(li for li in table if li.startswith(day))
        assert line.split()[2:] == [fmt(m, want[m.name]) for m in HEADLINE], day

    page = render_html(report)
    for day, want in stored.items():
        for m in HEADLINE:
            if want[m.name] is not None:
                assert f"omnidimension {day}: {fmt(m, want[m.name])}</title>" in page, (day, m.name)

    # one agent, by name: its rows of qa_agent_daily
    alpha = {}
    for day in stored:
        rows = pq.read_table(lake.table_path("qa_agent_daily", day, "omnidimension")).to_pylist()
        alpha[day] = next(r for r in rows if r["agent_id"] == "a1")
    agent_rows = json.loads(render_json(build_report(lake, first, last, "omnidimension", "Alpha")))["rows"]
    assert {r["date"]: {m.name: r[m.name] for m in METRICS} for r in agent_rows} == {
        day: {m.name: r[m.name] for m in METRICS} for day, r in alpha.items()
    }


def test_days_scored_before_a_metric_was_added_are_still_read_as_history(lake):
    edge_day(lake)
    old_day = "2026-03-04"
    path = lake.table_path("qa_provider_daily", old_day, "omnidimension")
    qa_write_day(lake, "omnidimension", old_day, compute_day(lake, "omnidimension", old_day))
    lake.write_table(path, pq.read_table(path).drop_columns(["tool_calls_with_outcome"]))
    past, _ = history(lake, "omnidimension", DAY, Thresholds())
    assert past[old_day]["calls"] == 1 and "tool_calls_with_outcome" not in past[old_day]


def test_repeat_contacts_in_the_week_new_york_clocks_go_forward(lake):
    """CALLLOG_TIMEZONE America/New_York: the 7 local days before 2026-03-15 are 167 hours (DST began
    on 03-08), so 7 x 24 h before a call at 00:30 reaches 23:30 on 03-07, the 8th day before."""
    at = datetime(2026, 3, 15, 4, 30, tzinfo=UTC)  # 00:30 EDT
    write_day(lake, "dialnexa", "2026-03-07", [
        started(call("w", "2026-03-07", **ALPHA, to_number=N1), at - timedelta(hours=167, minutes=30)),
    ])  # fmt: skip
    write_day(lake, "dialnexa", "2026-03-15", [started(call("x", "2026-03-15", **ALPHA, to_number=N1), at)])
    assert row_of(compute_day(lake, "dialnexa", "2026-03-15"))["repeat_contact_rate"] == 1.0
    assert differences(lake, "dialnexa", "2026-03-15") == []


def test_an_agents_anomaly_on_the_providers_chart_names_the_agent():
    row = {"date": DAY, "provider": "omnidimension", "calls": 100, "latency_p90_s": 2.5}
    finding = Finding("latency_p90_s", "omnidimension", "Alpha", DAY, 6.0, 2.0, "ERROR", "rise")
    page = render_html(Report(date.fromisoformat(DAY), date.fromisoformat(DAY), [row], [finding]))
    assert f"omnidimension {DAY}: 2.50 - ANOMALY (agent Alpha)</title>" in page
