"""Every QA metric against values worked out by hand on small fixed provider-days.

The main day (OmniDimension, 2026-03-10), non-test calls c1..c4 (agent Alpha) and c6 (Beta):

- c1: completed, 100 s, user_disconnected; positive, $1.00, 1000 tokens, transferred, cqs 8;
  2 tool calls (ok 0.5 s, failed 1.5 s); extraction 1 of 2 filled;
  turns agent(11 chars, 1.0 s) user(2) agent(7 chars, 3.0 s)
- c2: completed, 10 s, agent_disconnected; negative, $0.50, 500 tokens, cqs 0 (= unscored),
  empty extraction; turns agent(3 chars, 2.0 s) user(2)
- c3: no_answer, user_did_not_pick_up; same contact as c1, 5 minutes later: a repeat
- c4: completed, 30 s, voicemail_detected; neutral, $0.25: not connected
- c6: failed, no end reason; its contact was called on 03-09: a repeat

plus test calls c5 (is_test, Alpha) and c7 (chat, Beta), and Gamma seen on 03-07 only.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from qa_lake import action, call, turn, write_day

from calllog_pipeline.lake import Lake
from calllog_pipeline.qa import catalog
from calllog_pipeline.qa.assets import build_qa_assets
from calllog_pipeline.qa.catalog import METRICS
from calllog_pipeline.qa.metrics import MissingInput, compute_day

DAY = "2026-03-10"
ALPHA = {"agent_id": "a1", "agent_name": "Alpha", "direction": "outbound"}
BETA = {"agent_id": "b1", "agent_name": "Beta", "direction": "outbound"}


def omni_day(lake: Lake, provider: str = "omnidimension") -> None:
    calls = [
        call("c1", DAY, 0, **ALPHA, duration_s=100.0, end_reason="user_disconnected", sentiment="positive",
             cost_usd=1.0, tokens=1000, to_number="+15550000001",
             extracted={"name": "Priya", "phone": "Not provided"},
             extra={"is_call_transfer": True, "cqs_score": 8}),
        call("c2", DAY, 1, **ALPHA, duration_s=10.0, end_reason="agent_disconnected", sentiment="negative",
             cost_usd=0.5, tokens=500, to_number="+15550000002", extracted={},
             extra={"is_call_transfer": False, "cqs_score": 0}),
        call("c3", DAY, 5, **ALPHA, status="no_answer", duration_s=0.0, end_reason="user_did_not_pick_up",
             to_number="+15550000001"),
        call("c4", DAY, 6, **ALPHA, duration_s=30.0, end_reason="voicemail_detected", sentiment="neutral",
             cost_usd=0.25, to_number="+15550000003"),
        call("c5", DAY, 7, **ALPHA, duration_s=50.0, is_test=True, to_number="+15550000009", cost_usd=9.0),
        call("c6", DAY, 8, **BETA, status="failed", duration_s=0.0, to_number="+15550000004"),
        call("c7", DAY, 9, **BETA, channel="chat", duration_s=0.0),
    ]  # fmt: skip
    actions = [
        action("c1", "function_call", succeeded=True, latency_s=0.5),
        action("c1", "function_call", succeeded=False, latency_s=1.5),
        action("c5", "function_call", succeeded=False, latency_s=9.0),  # a test call's: ignored
    ]
    turns = [
        turn("c1", 0, "agent", "Hello there", 1.0),
        turn("c1", 1, "user", "Hi"),
        turn("c1", 2, "agent", "Bye now", 3.0),
        turn("c2", 0, "agent", "Hey", 2.0),
        turn("c2", 1, "user", "No"),
        turn("c5", 0, "agent", "Test", 30.0),
    ]
    write_day(lake, provider, DAY, calls, actions, turns)
    write_day(
        lake, provider, "2026-03-09", [call("p1", "2026-03-09", 120, **ALPHA, to_number="+15550000004")]
    )
    write_day(lake, provider, "2026-03-07", [call("p3", "2026-03-07", 0, agent_id="g1", agent_name="Gamma")])
    # 7 days and 1 minute before c2: outside the window
    write_day(lake, provider, "2026-03-03", [call("p2", "2026-03-03", 0, **ALPHA, to_number="+15550000002")])


PROVIDER_EXPECTED = {
    "calls": 5, "test_calls": 2, "connected_calls": 2, "connected_minutes": 110 / 60,
    "connect_rate": 2 / 5, "no_answer_rate": 1 / 5, "busy_rate": 0.0, "voicemail_rate": 1 / 5,
    "technical_failure_rate": None, "non_dialable_rate": None,  # OmniDimension cannot tell
    "handle_time_mean_s": 55.0, "handle_time_p50_s": 55.0, "handle_time_p90_s": 10 + 0.9 * 90,
    "short_call_rate": 1 / 2, "user_ended_share": 1 / 2,
    "transfer_rate": 1 / 2, "containment_rate": 1 / 2, "booking_rate": None,
    "actions_per_call": 1.0, "actions_by_type": {"function_call": 1.0},
    "tool_calls": 2, "tool_calls_with_outcome": 2, "tool_success_rate": 1 / 2,
    "tool_time_p95_s": 0.5 + 0.95 * 1.0,
    "extraction_fill_rate": 1 / 2,
    "positive_share": 1 / 3, "neutral_share": 1 / 3, "negative_share": 1 / 3, "net_sentiment": 0.0,
    "csat_mean": None, "quality_score_mean": 8.0,
    "latency_p50_s": 2.0, "latency_p90_s": 2.8, "latency_p95_s": 2.9, "first_response_s": 1.5,
    "turns_per_call": 2.5, "agent_talk_share": 21 / 25,
    "cost_usd": 1.75, "cost_per_call_usd": 1.75 / 3, "cost_per_connected_minute_usd": 1.75 / (110 / 60),
    "tokens_per_call": 750.0,
    "repeat_contact_rate": 2 / 5, "unknown_status_share": 0.0, "unknown_end_reason_share": 1 / 5,
}  # fmt: skip


def assert_row(row: dict, expected: dict) -> None:
    for name, want in expected.items():
        got = row[name]
        if name == "actions_by_type" and got is not None:
            got = json.loads(got)
        if isinstance(want, float):
            assert got == pytest.approx(want), name
        else:
            assert got == want, name


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(root=str(tmp_path))


def test_every_metric_is_checked_by_hand():
    assert set(PROVIDER_EXPECTED) == {m.name for m in METRICS}


def test_provider_day_by_hand(lake):
    omni_day(lake)
    tables = compute_day(lake, "omnidimension", DAY)
    assert tables.provider.num_rows == 1
    assert_row(tables.provider.to_pylist()[0], PROVIDER_EXPECTED)


def test_agents_by_hand_including_an_agent_without_calls_today(lake):
    omni_day(lake)
    agents = {r["agent_id"]: r for r in compute_day(lake, "omnidimension", DAY).agent.to_pylist()}
    assert set(agents) == {"a1", "b1", "g1"}
    assert_row(
        agents["a1"],
        {
            "calls": 4,
            "test_calls": 1,
            "connect_rate": 0.5,
            "no_answer_rate": 0.25,
            "voicemail_rate": 0.25,
            "repeat_contact_rate": 0.25,
            "cost_usd": 1.75,
            "latency_p90_s": 2.8,
            "unknown_end_reason_share": 0.0,
        },
    )
    # Beta: one failed call, a chat test session; nothing connected, so handle time etc. are null
    assert_row(
        agents["b1"],
        {
            "calls": 1,
            "test_calls": 1,
            "connected_calls": 0,
            "connect_rate": 0.0,
            "handle_time_mean_s": None,
            "transfer_rate": None,
            "actions_by_type": None,
            "latency_p50_s": None,
            "repeat_contact_rate": 1.0,
            "agent_name": "Beta",
        },
    )
    # Gamma was seen two days ago: a row with zero calls, not a missing row
    assert_row(agents["g1"], {"calls": 0, "test_calls": 0, "connect_rate": None, "agent_name": "Gamma"})


def test_end_reasons(lake):
    omni_day(lake)
    rows = compute_day(lake, "omnidimension", DAY).end_reasons.to_pylist()
    assert sorted((r["status"], r["end_reason"], r["calls"]) for r in rows) == sorted(
        [
            ("completed", "user_disconnected", 1),
            ("completed", "agent_disconnected", 1),
            ("completed", "voicemail_detected", 1),
            ("no_answer", "user_did_not_pick_up", 1),
            ("failed", None, 1),
        ]
    )
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)


def test_a_day_with_no_calls_gives_zero_call_rows(lake):
    write_day(lake, "omnidimension", "2026-03-09", [call("p", "2026-03-09", 0, **ALPHA)])
    write_day(lake, "omnidimension", DAY)  # the normalized layer writes empty files for an empty day
    tables = compute_day(lake, "omnidimension", DAY)
    assert_row(
        tables.provider.to_pylist()[0],
        {
            "calls": 0,
            "test_calls": 0,
            "connected_calls": 0,
            "connect_rate": None,
            "cost_usd": None,
            "latency_p50_s": None,
        },
    )
    assert [(r["agent_id"], r["calls"]) for r in tables.agent.to_pylist()] == [("a1", 0)]
    assert tables.end_reasons.num_rows == 0


def test_all_calls_failed_and_no_latency_data(lake):
    calls = [call(f"f{i}", DAY, i, **ALPHA, status="failed", duration_s=0.0, end_reason="network_failure")
             for i in range(4)]  # fmt: skip
    write_day(lake, "dialnexa", DAY, calls)
    row = compute_day(lake, "dialnexa", DAY).provider.to_pylist()[0]
    assert_row(
        row,
        {
            "calls": 4,
            "connected_calls": 0,
            "connect_rate": 0.0,
            "technical_failure_rate": 1.0,
            "non_dialable_rate": 0.0,
            "handle_time_mean_s": None,
            "short_call_rate": None,
            "latency_p90_s": None,
            "first_response_s": None,
            "turns_per_call": None,
            "test_calls": None,
        },
    )


def test_test_calls_only(lake):
    calls = [call(f"t{i}", DAY, i, **ALPHA, is_test=True, duration_s=40.0, cost_usd=1.0) for i in range(3)]
    write_day(lake, "omnidimension", DAY, calls, turns=[turn("t0", 0, "agent", "hi", 1.0)])
    row = compute_day(lake, "omnidimension", DAY).provider.to_pylist()[0]
    assert_row(
        row,
        {
            "calls": 0,
            "test_calls": 3,
            "connected_calls": 0,
            "connect_rate": None,
            "cost_usd": None,
            "latency_p50_s": None,
        },
    )


def test_a_provider_lacking_fields_gets_null_not_zero(lake):
    """LeadConnector logs only connected calls and has no sentiment, end reason or cost."""
    calls = [
        call("l1", DAY, 0, agent_id="x", duration_s=60.0, is_test=False, from_number="+15551112222",
             sentiment="positive", cost_usd=2.0),  # values LeadConnector never sends: not used
        call("l2", DAY, 1, agent_id="x", duration_s=20.0, is_test=True),
    ]  # fmt: skip
    actions = [action("l1", "transfer"), action("l1", "appointment_booking"), action("l1", "sms")]
    write_day(lake, "leadconnector", DAY, calls, actions)
    row = compute_day(lake, "leadconnector", DAY).provider.to_pylist()[0]
    assert_row(
        row,
        {
            "calls": 1,
            "test_calls": 1,
            "connected_calls": 1,
            "connect_rate": None,
            "voicemail_rate": None,
            "positive_share": None,
            "net_sentiment": None,
            "cost_usd": None,
            "user_ended_share": None,
            "transfer_rate": 1.0,
            "booking_rate": 1.0,
            "actions_per_call": 3.0,
            "unknown_end_reason_share": None,
            "actions_by_type": {"transfer": 1.0, "appointment_booking": 1.0, "sms": 1.0},
        },
    )


def test_missing_normalized_day_says_what_to_do(lake):
    with pytest.raises(MissingInput, match="materialize the normalized assets of dialnexa for 2026-03-10"):
        compute_day(lake, "dialnexa", DAY)


def test_docs_metrics_md_is_generated_from_the_catalog():
    doc = Path(__file__).parent.parent / "docs" / "metrics.md"
    assert doc.read_text() == catalog.markdown(), (
        "regenerate: python -m calllog_pipeline.qa.catalog > docs/metrics.md"
    )


def test_column_descriptions_come_from_the_catalog():
    for table in ("qa_agent_daily", "qa_provider_daily"):
        schema = catalog.SCHEMAS[table]
        for m in METRICS:
            assert schema.field(m.name).metadata[b"description"].decode() == m.description()


def test_a_ranged_run_scores_the_days_it_can_and_names_the_missing_one(lake):
    partitions = dg.DailyPartitionsDefinition(start_date="2026-03-01")
    for day in ("2026-03-08", "2026-03-10"):
        write_day(lake, "dialnexa", day, [call("x", day, 0, **ALPHA, duration_s=30.0)])
    result = dg.materialize(
        [build_qa_assets("dialnexa", partitions)],
        resources={"lake": lake},
        tags={
            "dagster/asset_partition_range_start": "2026-03-08",
            "dagster/asset_partition_range_end": "2026-03-10",
        },
        raise_on_error=False,
    )
    assert not result.success
    written = {m.partition for m in result.asset_materializations_for_node("dialnexa_qa")}
    assert written == {"2026-03-08", "2026-03-10"}
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "2026-03-09" in failure.event_specific_data.error.message
    assert "Materialize normalize_dialnexa for those days" in failure.event_specific_data.error.message


def test_days_after_the_last_normalized_one_are_skipped_not_failed(lake):
    """A UI backfill of older days also re-scores the week after its range (repeat contacts):
    days there that were never ingested have nothing to score, and the run still succeeds."""
    partitions = dg.DailyPartitionsDefinition(start_date="2026-03-01")
    write_day(lake, "dialnexa", "2026-03-08", [call("x", "2026-03-08", 0, **ALPHA, duration_s=30.0)])
    result = dg.materialize(
        [build_qa_assets("dialnexa", partitions)],
        resources={"lake": lake},
        tags={
            "dagster/asset_partition_range_start": "2026-03-08",
            "dagster/asset_partition_range_end": "2026-03-12",
        },
    )
    assert result.success
    written = {m.partition for m in result.asset_materializations_for_node("dialnexa_qa")}
    assert written == {"2026-03-08"}
