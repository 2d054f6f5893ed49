"""The provider simulator, exercised over real HTTP the way the pipeline will use it."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from calllog_pipeline.simulator import (
    Faults,
    RateLimit,
    SimulatorConfig,
    SimulatorServer,
    add_arguments,
    build_app,
    config_from_args,
)

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
DN = {"Authorization": "Bearer sim-dialnexa-key"}
LC = {"Authorization": "Bearer sim-leadconnector-key", "Version": "2021-04-15"}
OM = {"Authorization": "Bearer sim-omnidimension-key"}
LC_PATH = "/leadconnector/voice-ai/dashboard/call-logs"
OM_PATH = "/omnidimension/api/v1/calls/logs"


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def dn(client: httpx.Client, path: str, headers=DN, **params) -> httpx.Response:
    return client.get(f"/dialnexa/v1/{path}", params=params, headers=headers)


def lc(client: httpx.Client, headers=LC, **params) -> httpx.Response:
    params.setdefault("locationId", "sim-location")
    return client.get(LC_PATH, params=params, headers=headers)


def om(client: httpx.Client, headers=OM, **params) -> httpx.Response:
    return client.get(OM_PATH, params=params, headers=headers)


def page_all(fetch, records_key, page_key, size_key, size, at_most=None, **params) -> list[dict]:
    records, page = [], 1
    while True:
        body = fetch(**{page_key: page, size_key: size, **params}).json()
        batch = records_key(body)
        records += batch
        if len(batch) < size or (at_most and len(records) >= at_most):
            return records
        page += 1


@pytest.fixture(scope="module")
def sim():
    config = SimulatorConfig(seed=7, calls_per_day=200, now=NOW, history_days=30)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def client(sim):
    with httpx.Client(base_url=sim.url, timeout=10) as c:
        yield c


def serve(**overrides) -> SimulatorServer:
    base = {"seed": 7, "calls_per_day": 200, "now": NOW, "history_days": 10}
    return SimulatorServer(SimulatorConfig(**{**base, **overrides}))


# -- basics -------------------------------------------------------------------------------------
def test_health_and_env_point_at_the_server(sim, client):
    assert client.get("/_sim/health").json() == {"ok": True}
    env = sim.env()
    assert env["DIALNEXA_BASE_URL"] == sim.url + "/dialnexa/v1"
    assert env["LEADCONNECTOR_BASE_URL"] == sim.url + "/leadconnector"
    assert env["OMNIDIM_BASE_URL"] == sim.url + "/omnidimension/api/v1"
    assert env["LEADCONNECTOR_LOCATION_ID"] == "sim-location"
    assert env["OMNIDIM_TIMEZONE"] == "UTC"
    assert {"DIALNEXA_API_KEY", "LEADCONNECTOR_API_KEY", "OMNIDIM_API_KEY"} <= env.keys()


@pytest.mark.parametrize("bad", [{}, {"Authorization": "Bearer nope"}])
def test_wrong_or_missing_bearer_is_401_everywhere(client, bad):
    assert dn(client, "calls", headers=bad).status_code == 401
    assert dn(client, "call-logs", headers=bad).status_code == 401
    assert lc(client, headers={**bad, "Version": "2021-04-15"}).status_code == 401
    assert om(client, headers=bad).status_code == 401


def test_in_process_app_answers_without_a_socket():
    app = build_app(SimulatorConfig(now=NOW, history_days=2))

    async def fetch() -> dict:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as ac:
            return (await ac.get("/dialnexa/v1/calls", headers=DN)).json()

    body = asyncio.run(fetch())
    assert len(body["data"]) == 20 and body["meta"]["page"] == 1


# -- DialNexa /calls ------------------------------------------------------------------------------
def test_dialnexa_calls_defaults_caps_and_newest_first(client):
    body = dn(client, "calls").json()
    assert body["meta"]["page"] == 1 and body["meta"]["limit"] == 20 and len(body["data"]) == 20
    created = [r["created_at"] for r in body["data"] if r["created_at"] and r["created_at"][0] == "2"]
    assert created == sorted(created, reverse=True)
    assert max(created) <= "2026-05-04T15:00:0"
    assert len(dn(client, "calls", limit=100).json()["data"]) == 100
    too_big = dn(client, "calls", limit=101)
    assert too_big.status_code == 400 and "limit" in too_big.json()["error"]["message"]
    assert dn(client, "calls", page=0).status_code == 400
    assert dn(client, "calls", limit="x").status_code == 400
    assert dn(client, "calls", status="bogus").status_code == 400


def test_dialnexa_calls_filters(client):
    window = {"from": "2026-05-01T00:00:00Z", "to": "2026-05-02T00:00:00Z", "limit": 100}
    everything = page_all(
        lambda **p: dn(client, "calls", **p), lambda b: b["data"], "page", "limit", 100, **window
    )
    assert all("2026-05-01T" <= r["created_at"] < "2026-05-02T" for r in everything if r["created_at"])
    agent = Counter(r["agent_id"] for r in everything).most_common(1)[0][0]
    mine = dn(client, "calls", agent_id=agent, **window).json()
    assert mine["meta"]["total"] == sum(r["agent_id"] == agent for r in everything)
    assert {r["agent_id"] for r in mine["data"]} == {agent}
    # Spellings of "no answer" are one status: the filter matches all of them.
    unanswered = dn(client, "calls", status="no_answer", **window).json()
    spellings = {r["status"] for r in unanswered["data"]}
    assert spellings and spellings <= {"no-answer", "no_answer", "did_not_pick"}
    assert dn(client, "calls", status="did_not_pick", **window).json()["meta"] == unanswered["meta"]
    # `from` is inclusive, `to` exclusive.
    first = min(everything, key=lambda r: r["created_at"] or "~")
    at = first["created_at"]
    assert dn(client, "calls", **{"from": at, "to": "2026-05-02T00:00:00Z"}).json()["meta"]["total"] == len(
        everything
    )
    assert first["id"] not in {r["id"] for r in dn(client, "calls", to=at, limit=5).json()["data"]}


# -- DialNexa /call-logs --------------------------------------------------------------------------
def test_dialnexa_call_logs_sorting_dates_and_filters(client):
    day = {"start_date": "2026-05-02", "end_date": "2026-05-02", "limit": 100}
    desc = page_all(
        lambda **p: dn(client, "call-logs", **p), lambda b: b["data"], "page", "limit", 100, **day
    )
    asc = page_all(
        lambda **p: dn(client, "call-logs", **p),
        lambda b: b["data"],
        "page",
        "limit",
        100,
        created_at="asc",
        **day,
    )
    assert [r["id"] for r in asc] == [r["id"] for r in reversed(desc)]
    stamps = [r["created_at"] for r in asc if r["created_at"] and r["created_at"][0] == "2"]
    assert stamps == sorted(stamps) and all(s.startswith("2026-05-02T") for s in stamps)
    # a Saturday: 0.7 x 200 calls with +-10% jitter; end_date is an inclusive day
    assert 126 <= len(asc) <= 154
    two_days = dn(client, "call-logs", start_date="2026-05-01", end_date="2026-05-02").json()["meta"]["total"]
    assert two_days > len(asc)
    assert dn(client, "call-logs", created_at="sideways").status_code == 400
    assert dn(client, "call-logs", start_date="05/02/2026").status_code == 400
    assert dn(client, "call-logs", limit=101).status_code == 400

    positive = dn(client, "call-logs", sentiment="positive", **day).json()
    assert positive["meta"]["total"] == sum(r["sentiment"] == "positive" for r in asc)
    assert {r["sentiment"] for r in positive["data"]} == {"positive"}
    statuses = dn(client, "call-logs", status="busy,failed", **day).json()
    assert {r["status"] for r in statuses["data"]} <= {"busy", "failed"}
    assert statuses["meta"]["total"] == sum(r["status"] in ("busy", "failed") for r in asc)

    def seconds(r):
        return r.get("duration_seconds", r.get("duration_sec"))

    ranged = dn(client, "call-logs", duration_min=60, duration_max=120, **day).json()
    assert ranged["meta"]["total"] == sum(60 <= seconds(r) <= 120 for r in asc) > 0
    assert all(60 <= seconds(r) <= 120 for r in ranged["data"])


def test_dialnexa_call_logs_etag_and_304(client):
    first = dn(client, "call-logs", start_date="2026-05-01", end_date="2026-05-01")
    etag = first.headers["etag"]
    again = client.get(
        "/dialnexa/v1/call-logs",
        params={"start_date": "2026-05-01", "end_date": "2026-05-01"},
        headers={**DN, "If-None-Match": etag},
    )
    assert again.status_code == 304 and again.content == b""
    other = dn(client, "call-logs", start_date="2026-05-01", end_date="2026-05-01", page=2)
    assert other.headers["etag"] != etag


def test_late_updates_change_records_and_etag():
    with serve(calls_per_day=2000, history_days=2) as sim, httpx.Client(base_url=sim.url) as client:
        params = {"start_date": "2026-05-04", "end_date": "2026-05-04", "limit": 10}
        before = dn(client, "call-logs", **params)
        omni_before = om(client, pagesize=10).json()["call_log_data"]
        lc_before = lc(client, pageSize=10).json()["callLogs"]
        sim.advance(30 * 60)  # ~65 new calls arrive (office hours); the old ones end and get analysed
        after = client.get(
            "/dialnexa/v1/call-logs", params=params, headers={**DN, "If-None-Match": before.headers["etag"]}
        )
        assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
        old = {r["id"]: r for r in before.json()["data"]}
        latest = dn(client, "call-logs", **{**params, "limit": 100}).json()["data"]
        new = {r["id"]: r for r in latest if r["id"] in old}
        assert new.keys() == old.keys()
        assert any(old[k]["sentiment"] is None and new[k]["sentiment"] for k in new)
        assert any(old[k]["end_reason"] is None and new[k]["end_reason"] for k in new)
        # OmniDimension lists ongoing calls as "in-progress"; they settle later.
        states = {r["id"]: r["call_status"] for r in omni_before}
        later = om(client, pagesize=150).json()["call_log_data"]
        settled = {r["id"]: r["call_status"] for r in later if r["id"] in states}
        assert "in-progress" in states.values() and "in-progress" not in settled.values()
        # LeadConnector shows duration 0 and no transcript until the call ends.
        lc_after = {r["id"]: r for p in (1, 2) for r in lc(client, pageSize=50, page=p).json()["callLogs"]}
        changed = [r for r in lc_before if r["duration"] == 0 and lc_after[r["id"]]["duration"] > 0]
        assert changed and all(lc_after[r["id"]]["transcript"].startswith("bot: ") for r in changed)


# -- LeadConnector --------------------------------------------------------------------------------
def test_leadconnector_headers_location_and_date_rules(client):
    assert lc(client, headers={"Authorization": LC["Authorization"]}).status_code == 400
    missing = client.get(LC_PATH, headers=LC)
    assert missing.status_code == 422
    assert lc(client, locationId="someone-else").status_code == 403
    day = ms(datetime(2026, 5, 2, tzinfo=UTC))
    assert lc(client, startDate=day).status_code == 422
    assert lc(client, endDate=day).status_code == 422
    assert lc(client, startDate=day, endDate=day).status_code == 422
    assert lc(client, startDate=day + 1, endDate=day).status_code == 422
    assert lc(client, pageSize=51).status_code == 422
    assert lc(client, sortBy="name").status_code == 422
    assert lc(client, callType="FAKE").status_code == 422
    assert lc(client, actionType="EMAIL").status_code == 422
    body = lc(client).json()
    assert (body["page"], body["pageSize"], len(body["callLogs"])) == (1, 10, 10)
    assert set(body) == {"total", "page", "pageSize", "callLogs"}
    full = lc(client, pageSize=50)
    assert full.status_code == 200 and len(full.json()["callLogs"]) == 50
    for name in ("Limit-Daily", "Daily-Remaining", "Interval-Milliseconds", "Max", "Remaining"):
        assert f"X-RateLimit-{name}" in full.headers


def test_leadconnector_end_date_is_inclusive_and_sorting(client):
    start, end = ms(datetime(2026, 5, 2, tzinfo=UTC)), ms(datetime(2026, 5, 3, tzinfo=UTC)) - 1
    rows = page_all(
        lambda **p: lc(client, **p),
        lambda b: b["callLogs"],
        "page",
        "pageSize",
        50,
        startDate=start,
        endDate=end,
    )
    last = max(r["createdAt"] for r in rows if r["createdAt"])
    last_ms = ms(datetime.fromisoformat(last))
    edge = lc(client, startDate=start, endDate=last_ms, sortBy="createdAt", sort="descend").json()
    assert edge["callLogs"][0]["createdAt"] == last  # a record exactly at endDate is included
    assert edge["total"] == len(rows)
    ascend = lc(client, startDate=start, endDate=end, sortBy="createdAt", sort="ascend", pageSize=50).json()
    stamps = [r["createdAt"] for r in ascend["callLogs"] if r["createdAt"]]
    assert stamps == sorted(stamps)
    longest = lc(client, startDate=start, endDate=end, sortBy="duration", sort="descend").json()["callLogs"]
    assert longest[0]["duration"] == max(r["duration"] for r in rows)
    shortest = lc(client, startDate=start, endDate=end, sortBy="duration", sort="ascend").json()["callLogs"]
    assert [r["duration"] for r in shortest] == sorted(r["duration"] for r in shortest)
    assert shortest[0]["duration"] == 0


def test_leadconnector_filters(client):
    start, end = ms(datetime(2026, 4, 27, tzinfo=UTC)), ms(datetime(2026, 5, 4, tzinfo=UTC)) - 1
    dates = {"startDate": start, "endDate": end}
    rows = page_all(lambda **p: lc(client, **p), lambda b: b["callLogs"], "page", "pageSize", 50, **dates)
    agent = rows[0]["agentId"]
    assert lc(client, agentId=agent, **dates).json()["total"] == sum(r["agentId"] == agent for r in rows)
    contacts = [rows[0]["contactId"], rows[1]["contactId"]]
    by_contact = lc(client, contactId=",".join(contacts), pageSize=50, **dates).json()
    assert by_contact["total"] == sum(r["contactId"] in contacts for r in rows)
    trials = lc(client, callType="TRIAL", pageSize=50, **dates).json()
    assert trials["total"] == sum(r["trialCall"] for r in rows) > 0
    assert all(r["trialCall"] for r in trials["callLogs"])
    assert lc(client, callType="LIVE", **dates).json()["total"] == len(rows) - trials["total"]
    sms = lc(client, actionType="SMS,CALL_TRANSFER", pageSize=50, **dates).json()
    expected = [
        r for r in rows if {"SMS", "CALL_TRANSFER"} & {a["actionType"] for a in r["executedCallActions"]}
    ]
    assert sms["total"] == len(expected) > 0


# -- OmniDimension --------------------------------------------------------------------------------
def test_omnidimension_paging_defaults_caps_and_filters(client):
    body = om(client).json()
    assert set(body) == {"call_log_data", "total_records"} and len(body["call_log_data"]) == 30
    ids = [r["id"] for r in body["call_log_data"]]
    assert ids == sorted(ids, reverse=True)  # newest first, ids increase with time
    second = om(client, pageno=2).json()["call_log_data"]
    assert second[0]["id"] < ids[-1]
    assert om(client, pagesize=150).status_code == 200
    assert om(client, pagesize=151).status_code == 422
    assert om(client, pageno=0).status_code == 422
    assert om(client, call_status="cancelled").status_code == 422
    assert om(client, agentid="abc").status_code == 422
    for status in ("completed", "busy", "failed", "no-answer"):
        rows = om(client, call_status=status, pagesize=20).json()["call_log_data"]
        assert rows and {r["call_status"] for r in rows} == {status}
    bulk = next(
        r["call_request_id"]["id"]
        for r in om(client, pagesize=150).json()["call_log_data"]
        if r["call_request_id"]["id"]
    )
    in_bulk = om(client, bulk_call_id=bulk, pagesize=150).json()
    assert in_bulk["total_records"] > 0
    assert {r["call_request_id"]["id"] for r in in_bulk["call_log_data"]} == {bulk}


def test_omnidimension_agent_filter(sim, client):
    agent = sim.sim.world.agents["omnidimension"][0]
    rows = om(client, agentid=agent.number, pagesize=50).json()
    assert rows["total_records"] > 0
    assert {r["bot_name"] for r in rows["call_log_data"]} == {agent.name}


# -- quirks in realistic proportions --------------------------------------------------------------
def test_dialnexa_quirks_appear(client):
    week = {"start_date": "2026-04-27", "end_date": "2026-05-03"}
    logs = page_all(
        lambda **p: dn(client, "call-logs", **p), lambda b: b["data"], "page", "limit", 100, **week
    )
    calls = page_all(
        lambda **p: dn(client, "calls", **p),
        lambda b: b["data"],
        "page",
        "limit",
        100,
        **{"from": "2026-04-27T00:00:00Z", "to": "2026-05-04T00:00:00Z"},
    )
    for rows in (logs, calls):
        assert any("duration_seconds" in r for r in rows) and any("duration_sec" in r for r in rows)
    statuses = Counter(r["status"] for r in calls)
    assert {"no-answer", "no_answer", "did_not_pick", "completed", "busy", "failed"} <= statuses.keys()
    assert {"cancelled", "retry_expired", "sent", "received"} <= statuses.keys()
    assert 0.55 < (statuses["completed"] + statuses["received"]) / len(calls) < 0.8
    assert any(r["id"].startswith("log_") and r["call_id"].startswith("call_") for r in logs)
    assert any(r["id"].startswith("call_") and "call_id" not in r for r in logs)
    assert any("agent_id" not in r for r in logs)  # the second example's lean shape
    assert any(r.get("analysis") == {} for r in logs) and any(r.get("analysis") for r in logs)
    assert any("ended_at" not in r for r in calls) and any(r.get("metadata") for r in calls)
    transcripts = [r["transcript"] for r in logs if r.get("transcript")]
    assert transcripts and all(t.startswith("Agent: ") and "\nUser: " in t for t in transcripts)
    reasons = {r["end_reason"] for r in logs}
    assert len(reasons - {None}) == 13
    assert all("fallback_stt_transcriber_id" in r for r in logs if "agent_id" in r)
    metas = [dn(client, "calls", page=p).json()["meta"] for p in range(1, 9)]
    assert any("totalPages" in m for m in metas) and any("totalPages" not in m for m in metas)


def test_leadconnector_quirks_appear(client):
    start, end = ms(datetime(2026, 4, 20, tzinfo=UTC)), ms(datetime(2026, 5, 4, tzinfo=UTC)) - 1
    rows = page_all(
        lambda **p: lc(client, **p),
        lambda b: b["callLogs"],
        "page",
        "pageSize",
        50,
        startDate=start,
        endDate=end,
    )
    fields = {
        "id", "agentId", "isAgentDeleted", "createdAt", "duration", "trialCall", "executedCallActions",
        "summary", "transcript", "contactId", "fromNumber", "translation", "extractedData", "messageId",
    }  # fmt: skip
    assert all(set(r) == fields for r in rows if "id" in r)
    assert all(len(r["id"]) == 24 and int(r["id"], 16) >= 0 for r in rows if "id" in r)
    actions = [a for r in rows for a in r["executedCallActions"]]
    assert {a["actionType"] for a in actions} == {
        "CALL_TRANSFER", "SMS", "DATA_EXTRACTION", "WORKFLOW_TRIGGER", "APPOINTMENT_BOOKING",
        "CUSTOM_ACTION", "IN_CALL_DATA_EXTRACTION", "KNOWLEDGE_BASE",
    }  # fmt: skip
    custom = [a["actionParameters"]["apiDetails"] for a in actions if a["actionType"] == "CUSTOM_ACTION"]
    assert all(d["authenticationValue"] for d in custom)
    assert any("?token=" in d["url"] for d in custom)
    assert any(
        h["key"] == "Authorization" and h["value"].startswith("Bearer ") for d in custom for h in d["headers"]
    )
    trial_share = sum(r["trialCall"] for r in rows) / len(rows)
    assert 0.005 < trial_share < 0.08
    talks = [r["transcript"] for r in rows if r["transcript"]]
    assert talks and all(t.startswith("bot: ") and "\nhuman: " in t for t in talks)
    assert {r["isAgentDeleted"] for r in rows} <= {True, False}
    assert any(r["translation"] for r in rows) and any(r["extractedData"] for r in rows)
    assert not any({"status", "sentiment", "cost"} & set(r) for r in rows)


def test_omnidimension_quirks_appear(client):
    rows = page_all(
        lambda **p: om(client, **p), lambda b: b["call_log_data"], "pageno", "pagesize", 150, 2400
    )
    example_keys = {"id", "bot_name", "time_of_call", "call_duration", "call_duration_in_seconds",
                    "call_duration_in_minutes", "recording_url", "llm_prompt", "cqs_score_message",
                    "voicemail_type", "amd_answered_by", "hangup_source", "hangup_reason", "interactions",
                    "post_call_actions", "p50_latency", "p99_latency", "aggregated_estimated_cost",
                    "sentiment_score", "is_simulation", "channel_type", "call_conversation"}  # fmt: skip
    assert all(example_keys <= set(r) for r in rows)
    good = [r for r in rows if r["time_of_call"][:2] != "13" and r["time_of_call"]]
    assert all(datetime.strptime(r["time_of_call"], "%m/%d/%Y %H:%M:%S") for r in good)
    assert all(
        r["call_duration"] == f"{s // 60}:{s % 60}" for r in rows for s in [r["call_duration_in_seconds"]]
    )
    assert all(r["llm_prompt"] is False and r["cqs_score_message"] is False for r in rows)
    assert any(r["recording_url"] is False for r in rows) and any(r["recording_url"] for r in rows)
    chats = [r for r in rows if r["channel_type"] == "Widget-Chat"]
    assert chats and all((r["from_number"], r["to_number"]) == ("Chat", "Assistant") for r in chats)
    phones = [r for r in rows if r["channel_type"] == "Phone-Call"]
    assert all(r["from_number"].startswith("+1") and len(r["from_number"]) == 12 for r in phones)
    assert {r["hangup_source"] for r in rows} >= {None, "user", "agent", "system"}
    assert {r["sentiment_score"] for r in rows} >= {"Positive", "Neutral", "Negative"}
    assert any(r["is_simulation"] for r in rows) and any(r["is_voicemail"] for r in rows)
    turns = [t for r in rows for t in r["interactions"]]
    assert turns and all(r["interactions"][0]["user_query"] == "" for r in rows if r["interactions"])
    assert any(isinstance(t["function_call_data"], list) for t in turns)
    assert all(t["function_call_data"] is False or t["function_call_data"][0]["function_name"] for t in turns)
    assert all(r["p50_latency"] <= r["p99_latency"] for r in rows)
    talk = next(r for r in rows if r["interactions"])
    assert "<br/> user: " in talk["call_conversation"] and " LLM: " in talk["call_conversation"]
    hooks = [h for r in rows for h in r["post_call_actions"]["call_recording_webhook_ids"]]
    assert hooks and all(isinstance(h["payload"], str) for h in hooks)
    assert all(json.loads(h["payload"])["call_sid"].startswith("secret_key_") for h in hooks)


def test_bad_records_are_served_and_counted_in_truth():
    start, end = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 3, tzinfo=UTC)
    with serve(bad_record_rate=0.05, history_days=4) as sim, httpx.Client(base_url=sim.url) as client:
        logs = page_all(
            lambda **p: dn(client, "call-logs", **p),
            lambda b: b["data"],
            "page",
            "limit",
            100,
            start_date="2026-05-01",
            end_date="2026-05-02",
        )
        assert {r["created_at"] for r in logs} >= {None, "not-a-date"}
        assert {r["id"] for r in logs} == sim.truth("dialnexa", "call_logs", start, end)
        rows = page_all(
            lambda **p: lc(client, **p),
            lambda b: b["callLogs"],
            "page",
            "pageSize",
            50,
            startDate=ms(start),
            endDate=ms(end) - 1,
        )
        nameless = [r for r in rows if "id" not in r]
        assert nameless  # served, but a record without id cannot be in truth()
        assert {r["id"] for r in rows if "id" in r} == sim.truth("leadconnector", "call_logs", start, end)
        omni = page_all(lambda **p: om(client, **p), lambda b: b["call_log_data"], "pageno", "pagesize", 150)
        assert {r["time_of_call"] for r in omni} >= {"", "13/45/2026 99:00:00"}


# -- ground truth, arrivals, scale ---------------------------------------------------------------
def test_truth_equals_full_paging_over_a_local_window():
    tz = ZoneInfo("America/New_York")
    start = datetime(2026, 5, 2, tzinfo=tz)  # spans two UTC days
    end = start + timedelta(days=1)
    with serve(history_days=3, omni_timezone="Asia/Kolkata") as sim, httpx.Client(base_url=sim.url) as client:
        window = {"from": start.isoformat(), "to": end.isoformat()}
        calls = page_all(
            lambda **p: dn(client, "calls", **p), lambda b: b["data"], "page", "limit", 100, **window
        )
        assert {r["id"] for r in calls} == sim.truth("dialnexa", "calls", start, end)

        utc_day = datetime(2026, 5, 2, tzinfo=UTC)
        logs = page_all(
            lambda **p: dn(client, "call-logs", **p),
            lambda b: b["data"],
            "page",
            "limit",
            100,
            start_date="2026-05-02",
            end_date="2026-05-02",
        )
        assert {r["id"] for r in logs} == sim.truth(
            "dialnexa", "call_logs", utc_day, utc_day + timedelta(days=1)
        )

        rows = page_all(
            lambda **p: lc(client, **p),
            lambda b: b["callLogs"],
            "page",
            "pageSize",
            50,
            startDate=ms(start),
            endDate=ms(end) - 1,
        )
        assert {r["id"] for r in rows if "id" in r} == sim.truth("leadconnector", "call_logs", start, end)

        omni = page_all(lambda **p: om(client, **p), lambda b: b["call_log_data"], "pageno", "pagesize", 150)
        kolkata = ZoneInfo("Asia/Kolkata")

        def when(r) -> datetime | None:
            try:
                return datetime.strptime(r["time_of_call"], "%m/%d/%Y %H:%M:%S").replace(tzinfo=kolkata)
            except ValueError:
                return None  # a bad record: the pipeline quarantines it

        in_window = {str(r["id"]) for r in omni if when(r) and start <= when(r) < end}
        truth = sim.truth("omnidimension", "call_logs", start, end)
        assert in_window <= truth and len(truth - in_window) <= 1  # bad time_of_call can't be placed


def test_arrivals_make_newest_first_paging_drift():
    with serve(clock_step_s=1800) as sim, httpx.Client(base_url=sim.url) as client:
        one = dn(client, "calls", limit=20).json()
        two = dn(client, "calls", limit=20, page=2).json()
        assert two["meta"]["total"] > one["meta"]["total"]  # calls arrived between the two requests
        assert {r["id"] for r in one["data"]} & {r["id"] for r in two["data"]}  # so page 2 repeats rows
        assert sim.now() > NOW + timedelta(minutes=59)


def test_million_calls_a_day_pages_by_index():
    with serve(calls_per_day=1_000_000, history_days=3) as sim, httpx.Client(base_url=sim.url) as client:
        day = {"start_date": "2026-05-02", "end_date": "2026-05-02", "created_at": "asc", "limit": 100}
        page = dn(client, "call-logs", page=5000, **day).json()
        assert 630_000 <= page["meta"]["total"] <= 770_000  # a Saturday: 0.7 x 1M +-10%
        assert len(page["data"]) == 100
        before = dn(client, "call-logs", page=4999, **day).json()["data"]
        assert before[-1]["created_at"] < page["data"][0]["created_at"] or not page["data"][0]["created_at"]
        rows = lc(client, page=5000, pageSize=50).json()
        assert len(rows["callLogs"]) == 50 and rows["total"] > 2_000_000
        omni = om(client, pageno=5000, pagesize=150).json()["call_log_data"]
        assert len(omni) == 150 and omni[0]["id"] > omni[-1]["id"]


# -- live behaviour -----------------------------------------------------------------------------
def test_rate_limits_answer_429_with_each_providers_headers():
    limits = {
        "dialnexa": RateLimit(3, 60),
        "leadconnector": RateLimit(2, 60),
        "omnidimension": RateLimit(2, 60),
    }
    with serve(rate_limits=limits, history_days=2) as sim, httpx.Client(base_url=sim.url) as client:
        answers = [dn(client, "calls") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        limited = answers[-1].headers
        assert limited["X-RateLimit-Limit"] == "3" and limited["X-RateLimit-Remaining"] == "0"
        assert int(limited["X-RateLimit-Reset"]) >= int(time.time())
        assert 1 <= int(limited["Retry-After"]) <= 60
        lcs = [lc(client) for _ in range(3)]
        assert [r.status_code for r in lcs] == [200, 200, 429]
        assert lcs[0].headers["X-RateLimit-Max"] == "2" and lcs[0].headers["X-RateLimit-Remaining"] == "1"
        assert lcs[2].headers["X-RateLimit-Interval-Milliseconds"] == "60000"
        assert "Retry-After" not in lcs[2].headers
        oms = [om(client) for _ in range(3)]
        assert [r.status_code for r in oms] == [200, 200, 429]
        assert not any(h.lower().startswith("x-ratelimit") for h in oms[2].headers)
        assert sim.stats()["rate_limited"] == 3


@pytest.mark.parametrize("kind", ["server_error", "truncated", "malformed", "stall"])
def test_each_fault_kind(kind):
    faults = Faults(**{kind: 1.0})
    # A stall far longer than the client's read timeout: the client must give up (no timing bound).
    with serve(faults=faults, stall_s=60, history_days=2) as sim, httpx.Client(base_url=sim.url) as client:
        assert dn(client, "calls", headers={}).status_code == 401  # auth errors come before faults
        assert lc(client, pageSize=99).status_code == 422  # so do validation errors
        if kind == "stall":
            with pytest.raises(httpx.ReadTimeout):
                client.get(OM_PATH, params={"pagesize": 5}, headers=OM, timeout=httpx.Timeout(0.5))
        else:
            answer = om(client, pagesize=5)
            if kind == "server_error":
                assert answer.status_code in (500, 502, 503) and "error" in answer.json()
            else:
                assert answer.status_code == 200
                with pytest.raises(json.JSONDecodeError):
                    json.loads(answer.content)
        stats = sim.stats()
        assert stats["faults"] == {kind: 1} and stats["requests"] == 3


def test_fault_sequence_is_deterministic_and_counted():
    faults = Faults(server_error=0.2, truncated=0.2, malformed=0.2)

    def run() -> tuple[list[int], dict]:
        with serve(faults=faults, history_days=2) as sim, httpx.Client(base_url=sim.url) as client:
            codes = [dn(client, "calls", limit=2).status_code for _ in range(20)]
            return codes, sim.stats()

    (codes, stats), again = run(), run()
    assert (codes, stats) == again
    assert stats["requests"] == 20 and sum(stats["faults"].values()) > 0
    assert sum(code >= 500 for code in codes) == stats["faults"].get("server_error", 0)


def test_same_seed_same_bytes_other_seed_other_bytes():
    def fetch(seed: int) -> list[bytes]:
        with serve(seed=seed, history_days=3) as sim, httpx.Client(base_url=sim.url) as client:
            return [
                dn(client, "call-logs", start_date="2026-05-02", end_date="2026-05-02").content,
                dn(client, "calls", to="2026-05-03T00:00:00Z").content,
                lc(
                    client, startDate=ms(datetime(2026, 5, 2, tzinfo=UTC)), endDate=ms(NOW) - 86_400_000
                ).content,
            ]

    assert fetch(7) == fetch(7)
    assert fetch(7)[0] != fetch(8)[0]


def test_latency_and_stats_counters():
    # Latency far above the client's read timeout: every answer is held back (no timing bound).
    with (
        serve(latency_ms=60_000, history_days=2) as slow,
        httpx.Client(base_url=slow.url) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.get("/dialnexa/v1/calls", params={"limit": 1}, headers=DN, timeout=httpx.Timeout(0.5))
    with serve(history_days=2) as sim, httpx.Client(base_url=sim.url) as client:
        dn(client, "calls", limit=1)
        first = dn(client, "call-logs", limit=1)
        client.get(
            "/dialnexa/v1/call-logs",
            params={"limit": 1},
            headers={**DN, "If-None-Match": first.headers["etag"]},
        )
        stats = sim.stats()
        assert stats["requests"] == 3 and stats["not_modified"] == 1
        assert stats["responses"] == {200: 2, 304: 1}


def test_cli_arguments_build_a_config():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--seed", "3", "--calls-per-day", "50", "--rate-limit", "dialnexa=20/1,leadconnector=100/10",
         "--faults", "5xx=0.02,stall=0.005,truncated=0.01,malformed=0.01", "--omni-timezone", "Asia/Kolkata",
         "--clock-step-s", "2", "--latency-ms", "5", "--stall-s", "4"]
    )  # fmt: skip
    config = config_from_args(args)
    assert (args.host, args.port) == ("127.0.0.1", 8765)
    assert config.seed == 3 and config.calls_per_day == 50 and config.stall_s == 4
    assert config.rate_limits == {"dialnexa": RateLimit(20, 1.0), "leadconnector": RateLimit(100, 10.0)}
    assert config.faults == Faults(server_error=0.02, stall=0.005, truncated=0.01, malformed=0.01)
    assert config.omni_timezone == "Asia/Kolkata" and config.clock_step_s == 2 and config.latency_ms == 5


def test_truth_rejects_unknown_endpoints(sim):
    with pytest.raises(ValueError):
        sim.truth("leadconnector", "calls", NOW - timedelta(days=1), NOW)
    assert sim.truth("dialnexa", "calls", NOW, NOW) == set()
    assert date(2026, 5, 4) == NOW.date()
