"""Every endpoint in every timezone users live in: first run, unchanged re-run, a late-arriving
call, a late status change; and the two DST days of America/New_York, including OmniDimension's
repeated hour (zone-less local times) told apart by the listing's order."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import orjson
import pytest
from test_ingest import materialize, metadata, point_at

from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.providers.base import Window
from calllog_pipeline.raw.assets import build_raw_asset
from calllog_pipeline.redact import redact_serialized
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer
from calllog_pipeline.simulator import omnidimension as sim_omnidimension
from calllog_pipeline.simulator.app import PROVIDER_MODULES, ROUTES
from calllog_pipeline.simulator.server import PATH_PREFIX
from calllog_pipeline.simulator.world import Call, World, to_ms

DAY = "2026-11-10"
TIMEZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
ENDPOINTS = [(p.name, e.name) for p in REGISTRY.values() for e in p.endpoints]
SEED, CALLS_PER_DAY = 21, 150


def partitions(timezone: str) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone=timezone)


def window(day: str, timezone: str) -> tuple[datetime, datetime]:
    w = partitions(timezone).time_window_for_partition_key(day)
    return w.start, w.end


def raw_assets(part: dg.DailyPartitionsDefinition, providers=tuple(REGISTRY)) -> list[dg.AssetsDefinition]:
    return [build_raw_asset(REGISTRY[p], e, part) for p in providers for e in REGISTRY[p].endpoints]


def stored(lake_root, provider: str, endpoint: str, day: str = DAY) -> dict[str, dict]:
    """The stored records by id; fails if an id is stored twice."""
    path = Path(lake_root) / "raw" / provider / endpoint / f"date={day}" / "data.parquet"
    rows = duckdb.sql(f"select record_id, payload from '{path}' where record_id is not null").fetchall()
    ids = [rid for rid, _ in rows]
    assert len(ids) == len(set(ids)), f"{provider}/{endpoint} stored an id twice"
    return {rid: orjson.loads(payload) for rid, payload in rows}


def served_now(sim: SimulatorServer, provider: str, endpoint: str, window: Window, record_id: str) -> dict:
    """The record as the provider serves it now, redacted as the raw layer stores it: the
    simulator's own handler for the endpoint, paged with the endpoint's parameters."""
    spec = REGISTRY[provider].endpoint(endpoint)
    handler = ROUTES[PATH_PREFIX[provider] + spec.path].handler
    world = sim.sim.world
    params = {**REGISTRY[provider].api().default_params()}
    if spec.window_params is not None:
        params.update(spec.window_params(window))
    number = 1
    while True:
        query = {k: str(v) for k, v in {**params, **spec.page_params(number, spec.page_size)}.items()}
        records, total = spec.read_page(orjson.loads(handler(world, query, {}, world.clock.now_ms()).body))
        for record in records:
            if spec.record_id(record) == record_id:
                return orjson.loads(
                    redact_serialized(record, orjson.dumps(record), sim.config.api_keys.values())
                )
        if number * spec.page_size >= total:
            raise AssertionError(f"{record_id} is not served by {provider}/{endpoint}")
        number += 1


def subject_call(provider: str, start: datetime, end: datetime) -> Call:
    """The last answered call of the window: it arrives late and then finishes late."""
    world = World(SimulatorConfig(seed=SEED, calls_per_day=CALLS_PER_DAY, history_days=30, now=end))
    calls = world.visible_range(provider, to_ms(start), to_ms(end), to_ms(end) + 1)
    for g in reversed(calls):
        call = world.call(provider, g)
        if call.duration_s > 0 and not call.bad:
            return call
    raise AssertionError("no answered call in the window")


@pytest.mark.parametrize("timezone", TIMEZONES)
@pytest.mark.parametrize("provider,endpoint", ENDPOINTS)
def test_every_endpoint_lands_each_call_once_across_reruns(
    provider, endpoint, timezone, monkeypatch, tmp_path
):
    start, end = window(DAY, timezone)
    subject = subject_call(provider, start, end)
    before_subject = datetime.fromtimestamp((subject.created_ms - 1) / 1000, UTC)
    config = SimulatorConfig(
        seed=SEED, calls_per_day=CALLS_PER_DAY, history_days=30, now=before_subject, frozen_clock=True
    )
    module = PROVIDER_MODULES[provider]
    with SimulatorServer(config) as sim:
        world = sim.sim.world
        subject_id = module.truth_id(world, endpoint, subject)
        apis = point_at(sim, monkeypatch)
        part = partitions(timezone)
        asset = build_raw_asset(REGISTRY[provider], REGISTRY[provider].endpoint(endpoint), part)

        def run_and_check(label: str) -> tuple[dict[str, dict], dict]:
            outcome = materialize([asset], apis, tmp_path, day=DAY)
            records = stored(tmp_path, provider, endpoint)
            assert set(records) == sim.truth(provider, endpoint, start, end), f"{label}: ids != truth"
            # Nothing arrives during a run (the clock is frozen): the completeness check must agree.
            checks = outcome.get_asset_check_evaluations()
            assert all(c.passed for c in checks), f"{label}: {[c.metadata for c in checks]}"
            return records, metadata(outcome, asset)

        # 1. First run while the day is still open: the subject call has not been made yet.
        first, _ = run_and_check("first run")
        assert subject_id not in first

        # 2. Unchanged re-run: the same ids (for an ETag endpoint, every page 304, no rewrite).
        again, result = run_and_check("unchanged re-run")
        assert again == first
        if REGISTRY[provider].endpoint(endpoint).conditional:
            assert result["not_modified_304"] == result["pages"] > 0

        # 3. Late arrival: the subject call is made (it is still ringing).
        sim.advance((subject.created_ms + 500 - to_ms(sim.now())) / 1000)
        arrived, _ = run_and_check("re-run after a late-arriving call")
        assert subject_id in arrived
        assert arrived[subject_id] == served_now(sim, provider, endpoint, Window(start, end), subject_id)

        # 4. Late status change: the call is answered, ends and is analyzed; the day has closed.
        sim.advance(2 * 3600)
        finished, _ = run_and_check("re-run after a late status change")
        now = served_now(sim, provider, endpoint, Window(start, end), subject_id)
        assert finished[subject_id] == now != arrived[subject_id], "the stored record shows its new value"


@pytest.mark.parametrize("day,hours", [("2026-03-08", 23), ("2026-11-01", 25)])
def test_dst_days_of_new_york_land_every_call_once(day, hours, monkeypatch, tmp_path):
    tz = "America/New_York"
    start, end = window(day, tz)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)
    config = SimulatorConfig(
        seed=SEED,
        calls_per_day=CALLS_PER_DAY,
        history_days=30,
        now=end + timedelta(hours=2),
        frozen_clock=True,
    )
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch)
        assets = raw_assets(partitions(tz))
        for label in ("first run", "unchanged re-run"):
            materialize(assets, apis, tmp_path, day=day)
            for provider, endpoint in ENDPOINTS:
                got = set(stored(tmp_path, provider, endpoint, day))
                assert got == sim.truth(provider, endpoint, start, end), f"{label}: {provider}/{endpoint}"


def test_omnidimension_repeated_hour_is_told_apart_by_the_listing_order(monkeypatch, tmp_path):
    """On the fall-back day New York's 01:00-02:00 happens twice and ``time_of_call`` carries no
    zone: the later pass must not be read an hour early. The normalized ``started_at`` of every
    call equals the simulator's true start (to the second ``time_of_call`` keeps)."""
    tz, day = "America/New_York", "2026-11-01"
    start, end = window(day, tz)
    config = SimulatorConfig(
        seed=SEED,
        calls_per_day=600,
        history_days=30,
        omni_timezone=tz,
        bad_record_rate=0.0,
        now=end + timedelta(hours=1),
        frozen_clock=True,
    )
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch)
        asset = raw_assets(partitions(tz), ("omnidimension",))[0]
        found = metadata(materialize([asset], apis, tmp_path, day=day), asset)
        world = sim.sim.world
        truth = {
            str(sim_omnidimension.record_id(world.call("omnidimension", g))): world.call("omnidimension", g)
            for g in world.visible_range("omnidimension", to_ms(start), to_ms(end), world.clock.now_ms())
        }
    assert set(stored(tmp_path, "omnidimension", "call_logs", day)) == set(truth)

    rows, moments = {}, []  # moments: (call id, when a turn was said or an action ran)
    for table, batch in REGISTRY["omnidimension"].normalize(
        Lake(root=str(tmp_path)).raw_day("omnidimension", day)
    ):
        ids = batch.column("call_id").to_pylist()
        if table == "calls":
            rows.update(zip(ids, batch.column("started_at").to_pylist(), strict=True))
        elif table in ("interactions", "actions"):
            column = "at" if table == "interactions" else "executed_at"
            moments += zip(ids, batch.column(column).to_pylist(), strict=True)
    assert set(rows) == set(truth)

    # What happens during a call (turns, tool calls, webhooks; local times too) is read in the same
    # pass: never an hour before the call began, never after it ended.
    def ended(cid):
        return datetime.fromtimestamp(truth[cid].ended_ms / 1000, UTC)

    outside = [
        (cid, at)
        for cid, at in moments
        if at is not None and not rows[cid] - timedelta(seconds=1) <= at <= ended(cid)
    ]
    assert moments and outside == [], f"{len(outside)} turns or actions outside their call: {outside[:3]}"
    wrong = {
        cid: (at, datetime.fromtimestamp(truth[cid].created_ms // 1000, UTC))
        for cid, at in rows.items()
        if at != datetime.fromtimestamp(truth[cid].created_ms // 1000, UTC)
    }
    assert wrong == {}, f"{len(wrong)} of {len(rows)} calls have the wrong started_at"
    later_pass = [c for c in truth.values() if c.created_ms >= to_ms(datetime(2026, 11, 1, 6, tzinfo=UTC))]
    later_pass = [c for c in later_pass if c.created_ms < to_ms(datetime(2026, 11, 1, 7, tzinfo=UTC))]
    assert found["repeated_hour_later_pass"] == len(later_pass) > 0
    assert found["repeated_hour_undecided"] == 0
