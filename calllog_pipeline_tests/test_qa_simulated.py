"""Six weeks of the simulated world through the QA layer: structure a scorecard can see, planted
incidents flagged with the right severity, and ordinary noise raising nothing."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from sim_lake import simulated_lake, world

from calllog_pipeline import cli
from calllog_pipeline.lake import Lake
from calllog_pipeline.qa.anomalies import Thresholds
from calllog_pipeline.qa.assets import QaConfig, build_qa_assets, qa_asset_key
from calllog_pipeline.qa.catalog import HEADLINE
from calllog_pipeline.qa.judge import judge_day
from calllog_pipeline.qa.metrics import compute_day, write_day
from calllog_pipeline.qa.scorecard import print_demo_scorecard, print_scorecard
from calllog_pipeline.simulator import Incident, add_arguments, config_from_args
from calllog_pipeline.simulator.world import DAY_MS

LAST = date(2026, 4, 29)  # a Wednesday
FIRST = LAST - timedelta(days=27)  # 28 days: 14 to build a baseline, then 14 judged
PROVIDER = "omnidimension"  # the provider that reports latency, tools and cost as well as outcomes
INCIDENTS = (
    Incident("connect_drop", PROVIDER, LAST.isoformat()),
    Incident("latency_spike", PROVIDER, LAST.isoformat(), agent=0),
)


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """Every day computed and judged in order, as a ranged run does; returns (lake, world, judgements)."""
    lake = Lake(root=str(tmp_path_factory.mktemp("lake")))
    w = world(LAST, calls_per_day=300, incidents=INCIDENTS)
    judgements = {}
    for day in simulated_lake(lake, w, PROVIDER, FIRST, LAST):
        tables = compute_day(lake, PROVIDER, day)
        write_day(lake, PROVIDER, day, tables)
        judgements[day] = judge_day(lake, PROVIDER, day, tables.provider, tables.agent, Thresholds())
    return lake, w, judgements


@pytest.fixture(scope="module")
def dialnexa_days(tmp_path_factory):
    lake = Lake(root=str(tmp_path_factory.mktemp("dialnexa")))
    simulated_lake(lake, world(LAST, calls_per_day=300), "dialnexa", LAST - timedelta(days=1), LAST)
    return lake


def sql(lake: Lake, query: str) -> list[tuple]:
    query = query.replace("QA_PROVIDER", f"qa_provider_daily/*/provider={PROVIDER}/*.parquet")
    query = query.replace("QA_AGENT", f"qa_agent_daily/*/provider={PROVIDER}/*.parquet")
    return duckdb.sql(query.replace("LAKE", lake.root)).fetchall()


def test_the_planted_incidents_are_the_only_anomalies(judged):
    _, w, judgements = judged
    found = [
        (f.date, f.agent, f.metric, f.severity, f.direction) for j in judgements.values() for f in j.findings
    ]
    busiest = w.agents[PROVIDER][0].name  # OmniDimension sends agent names only
    assert sorted(found, key=str) == sorted(
        [
            (LAST.isoformat(), None, "connect_rate", "ERROR", "drop"),  # provider-wide
            (LAST.isoformat(), busiest, "latency_p90_s", "ERROR", "rise"),  # one agent
        ],
        key=str,
    )
    judgement = judgements[LAST.isoformat()]
    drop = judgement.provider_findings[0]
    assert drop.baseline - drop.value > 0.15 and drop.interval[1] < drop.baseline
    spike = judgement.agent_findings[0]
    assert spike.value > 1.5 * spike.baseline and spike.z > 5


def test_days_with_enough_history_were_judged(judged):
    _, _, judgements = judged
    late = [
        j.provider_verdict.status for d, j in judgements.items() if d >= (FIRST + timedelta(14)).isoformat()
    ]
    assert len(late) == 14 and set(late) == {"judged"}
    assert judgements[(FIRST + timedelta(5)).isoformat()].provider_verdict.status.startswith(
        "not enough data"
    )


def test_the_world_has_structure_a_scorecard_can_see(judged, dialnexa_days):
    lake, w, _ = judged
    # weekends are quieter
    weekday, weekend = sql(
        lake,
        "SELECT avg(calls) FILTER (WHERE dayofweek(date::DATE) BETWEEN 1 AND 5), "
        "avg(calls) FILTER (WHERE dayofweek(date::DATE) IN (0, 6)) "
        "FROM read_parquet('LAKE/QA_PROVIDER', hive_partitioning = true)",
    )[0]
    assert weekend < 0.8 * weekday
    # one agent is clearly worse: lower connect rate and slower responses than the rest
    worst = w.agents[PROVIDER][1]
    rows = sql(
        lake,
        "SELECT agent_name, sum(connected_calls) / sum(calls), median(latency_p50_s) "
        "FROM read_parquet('LAKE/QA_AGENT', hive_partitioning = true) "
        "GROUP BY ALL HAVING sum(calls) > 300",
    )
    by_name = {name: (connect, latency) for name, connect, latency in rows}
    others = [v for k, v in by_name.items() if k != worst.name]
    assert by_name[worst.name][0] < min(c for c, _ in others) - 0.05
    assert by_name[worst.name][1] > max(lat for _, lat in others)
    # voicemails carry no conversation; satisfaction follows sentiment; quality scores are filled
    calls = "read_parquet('LAKE/calls/*/provider=PROVIDER/*.parquet', hive_partitioning = true)"
    turns = "read_parquet('LAKE/interactions/*/provider=PROVIDER/*.parquet', hive_partitioning = true)"
    for provider, where in ((PROVIDER, lake), ("dialnexa", dialnexa_days)):
        voicemail_turns = sql(
            where,
            f"SELECT count(*) FROM {turns} t JOIN {calls} c USING (date, call_id) "
            "WHERE c.end_reason = 'voicemail_detected'".replace("PROVIDER", provider),
        )[0][0]
        assert voicemail_turns == 0
    csat = dict(
        sql(
            dialnexa_days,
            "SELECT sentiment, avg(try_cast(extracted->>'$.customer_satisfaction' AS DOUBLE)) "
            f"FROM {calls} WHERE sentiment IS NOT NULL GROUP BY 1".replace("PROVIDER", "dialnexa"),
        )
    )
    assert csat["positive"] > csat["neutral"] > csat["negative"]
    omni = sql(
        lake,
        "SELECT avg(quality_score_mean), avg(transfer_rate), max(latency_p95_s) / avg(latency_p50_s) "
        "FROM read_parquet('LAKE/QA_PROVIDER', hive_partitioning = true)",
    )[0]
    assert 1 <= omni[0] <= 10 and 0.05 < omni[1] < 0.4 and omni[2] > 2  # scored, transfers, a long tail
    repeat = sql(
        lake,
        "SELECT avg(repeat_contact_rate) FROM "
        "read_parquet('LAKE/QA_PROVIDER', hive_partitioning = true) WHERE date > '2026-03-25'",
    )[0][0]
    assert 0.02 < repeat < 0.5


def test_the_assets_write_and_judge_each_day_of_a_ranged_run(judged, tmp_path):
    """A ranged single run over the last 3 days: per-day materializations and check verdicts."""
    lake, _, _ = judged
    partitions = dg.DailyPartitionsDefinition(start_date=FIRST.isoformat())
    asset = build_qa_assets(PROVIDER, partitions)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [asset],
        instance=instance,
        resources={"lake": lake},
        run_config=dg.RunConfig({f"{PROVIDER}_qa": QaConfig()}),
        tags={
            "dagster/asset_partition_range_start": (LAST - timedelta(2)).isoformat(),
            "dagster/asset_partition_range_end": LAST.isoformat(),
        },
    )
    assert result.success
    key = qa_asset_key(PROVIDER, "qa_provider_daily")
    materializations = [
        m for m in result.asset_materializations_for_node(f"{PROVIDER}_qa") if m.asset_key == key
    ]
    assert [m.partition for m in materializations] == [(LAST - timedelta(k)).isoformat() for k in (2, 1, 0)]
    last = materializations[-1].metadata
    assert last["connect_rate"].value < 0.45 and "Anomalies" in last["scorecard"].value
    assert last["latency_p90_s"].value > 0
    evaluations = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.asset_key == key
    ]
    by_partition = {e.partition: e for e in evaluations if e.partition}
    assert set(by_partition) == {(LAST - timedelta(k)).isoformat() for k in (2, 1, 0)}
    assert by_partition[(LAST - timedelta(1)).isoformat()].passed
    failed = by_partition[LAST.isoformat()]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    anomalies = failed.metadata["anomalies"].value
    assert [a["metric"] for a in anomalies] == ["connect_rate"]
    assert set(anomalies[0]) >= {
        "metric",
        "provider",
        "agent",
        "date",
        "value",
        "baseline",
        "severity",
        "direction",
    }
    judged_detail = failed.metadata["judged"].value
    assert any(d["metric"] == "connect_rate" and d["catalog"]["formula"] for d in judged_detail)


# --- the report -------------------------------------------------------------------------------------------


def report(lake: Lake, *args: str) -> list[str]:
    return ["report", "--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--data-dir", lake.root, *args]


def test_report_table_csv_and_json(judged, capsys):
    lake, w, _ = judged
    assert cli.main(report(lake)) == 0
    table = capsys.readouterr().out
    assert table.count(PROVIDER) >= 28 and "Connect rate" in table
    assert "ERROR 2026-04-29 omnidimension (all agents): Connect rate drop" in table
    assert cli.main(report(lake, "--format", "csv")) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 28 and {"calls", "connect_rate", "latency_p95_s"} <= set(rows[0])
    agent = w.agents[PROVIDER][0].name
    assert cli.main(report(lake, "--format", "json", "--agent", agent)) == 0
    body = json.loads(capsys.readouterr().out)
    assert {r["agent_name"] for r in body["rows"]} == {agent}
    assert {(a["metric"], a["agent"]) for a in body["anomalies"]} == {
        ("connect_rate", None),
        ("latency_p90_s", agent),
    }


def test_report_without_data_says_what_to_do(tmp_path, capsys):
    assert cli.main(report(Lake(root=str(tmp_path)))) == 1
    assert "materialize the qa assets" in capsys.readouterr().err


def test_report_of_a_provider_the_lake_does_not_have_names_the_ones_it_has(judged, capsys):
    lake, _, _ = judged
    assert cli.main(report(lake, "--provider", "dialnex")) == 2
    assert "no provider 'dialnex'" in (err := capsys.readouterr().err) and f"it has: {PROVIDER}" in err


def test_printed_scorecard_shows_every_headline_metric_by_its_whole_title(judged):
    lake, _, _ = judged
    lines: list[str] = []
    print_scorecard(lake, [PROVIDER, "nosuch"], LAST, LAST, out=lines.append)
    text = "\n".join(lines)
    assert all(m.title in text for m in HEADLINE) and "(nosuch: no scorecard for" in text


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_html_report_draws_a_chart_per_headline_metric_in_chromium(judged, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium is not installed")
    lake, _, _ = judged
    page = tmp_path / "report.html"
    assert cli.main(report(lake, "--format", "html", "--output", str(page))) == 0
    text = page.read_text()
    assert "http://" not in text and "https://" not in text.replace("http://www.w3.org", "")  # self-contained
    browser = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    dom = subprocess.run(
        [*browser, "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    drawn = re.search(r'data-charts-drawn="(\d+)"', dom)
    assert drawn, "the page's script did not run"
    with_data = dom.count('<svg class="chart"')
    assert with_data == int(drawn.group(1)) >= 5, (with_data, drawn.group(1))
    assert 'class="point anomaly"' in dom and "ANOMALY" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [*browser, f"--screenshot={shot}", "--window-size=1000,3000", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


# --- incidents by configuration and CLI ------------------------------------------------------------------


def test_incidents_from_the_command_line_change_only_their_day():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--incident",
            "connect_drop:dialnexa:2026-04-29",
            "--incident",
            "latency_spike:omnidimension:-1:agent=2:factor=3",
        ]
    )
    config = config_from_args(args)
    assert config.incidents == (
        Incident("connect_drop", "dialnexa", "2026-04-29"),
        Incident("latency_spike", "omnidimension", "-1", agent=2, factor=3.0),
    )
    for bad in ("slowdown:dialnexa:-1", "connect_drop:twilio:-1", "connect_drop:dialnexa:yesterday", "x"):
        with pytest.raises((ValueError, SystemExit)):
            parser.parse_args(["--incident", bad])
    plain, planted = (
        world(LAST, calls_per_day=200),
        world(LAST, calls_per_day=200, incidents=config.incidents),
    )
    for day, changed in ((LAST - timedelta(1), False), (LAST, True)):
        start = (day - date(1970, 1, 1)).days * DAY_MS
        before, after = (
            [w.call("dialnexa", g).outcome for g in w.visible_range("dialnexa", start, start + DAY_MS, 2**53)]
            for w in (plain, planted)
        )
        assert (before != after) is changed
        assert sum(o == "completed" for o in after) <= sum(o == "completed" for o in before)


def test_the_demo_scorecard_names_the_planted_incidents_and_nothing_else(judged):
    lake, _, _ = judged
    lines: list[str] = []
    planted = [(i.kind, i.provider, i.day) for i in INCIDENTS]
    assert print_demo_scorecard(lake.root, [PROVIDER], FIRST, LAST, planted, out=lines.append)
    text = "\n".join(lines)
    assert "QA scorecard, 2026-04-29" in text and f"Anomalies {FIRST} .. {LAST}: 2" in text
    assert "Planted incident connect_drop on omnidimension 2026-04-29: found: ERROR" in text
    assert "Planted incident latency_spike on omnidimension 2026-04-29: found: ERROR" in text
    assert "not planted" not in text
    # a day without the incident would not be explained
    assert not print_demo_scorecard(lake.root, [PROVIDER], FIRST, LAST, planted[:1], out=lines.append)
