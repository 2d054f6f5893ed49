"""Calls arriving while a day is paged, one request at a time so every run is the same: each
branch of the drift repair has a test that fails without it. Plus a ranged run's per-day
isolation, and provider errors that stop the whole range."""

import math
from datetime import UTC, datetime

import dagster as dg
import pytest
from test_ingest import _failure_text, metadata, partitions, point_at, stored_ids, window

from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import DAYS_IN_FLIGHT, build_raw_asset
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer
from calllog_pipeline.simulator.app import PROVIDER_MODULES
from calllog_pipeline.simulator.world import to_ms


def asset_for(provider: str, endpoint: str) -> dg.AssetsDefinition:
    return build_raw_asset(REGISTRY[provider], REGISTRY[provider].endpoint(endpoint), partitions())


def run(asset, apis, lake_root, *, day=None, days=None, raise_on_error=True):
    tags = {}
    if days:
        tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
    return dg.materialize(
        [asset],
        resources={"lake": Lake(root=str(lake_root)), **apis},
        partition_key=day,
        tags=tags,
        raise_on_error=raise_on_error,
    )


def existing_at(sim: SimulatorServer, provider: str, endpoint: str, start, end, clock_ms: int) -> set[str]:
    """Ids of the window's records that existed when the sim clock read ``clock_ms``."""
    world, module = sim.sim.world, PROVIDER_MODULES[provider]
    calls = world.visible_range(provider, to_ms(start), to_ms(end), clock_ms)
    return {
        rid for g in calls if (rid := module.truth_id(world, endpoint, world.call(provider, g))) is not None
    }


def busy(
    now: datetime, calls_per_day: int, arrivals_per_request: int, history_days: int = 3
) -> SimulatorConfig:
    """A frozen clock that moves only with requests: each request sees ``arrivals_per_request`` new calls."""
    step = arrivals_per_request * 86_400 / calls_per_day
    return SimulatorConfig(
        seed=5,
        calls_per_day=calls_per_day,
        now=now,
        frozen_clock=True,
        clock_step_s=step,
        history_days=history_days,
        seasonality=False,  # arrivals at the same rate all day: the arithmetic above holds
    )


def test_newest_first_filtered_listing_repairs_its_bottom_edge_and_holes(monkeypatch, tmp_path):
    """DialNexa /calls on today's open day: every arrival pushes the oldest calls below the pages
    read, so the bottom edge is read again, and that re-read leaves a hole that is read again too."""
    today = "2026-11-11"
    config = busy(datetime(2026, 11, 11, 1, 0, tzinfo=UTC), calls_per_day=8640, arrivals_per_request=60)
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch, MAX_CONCURRENCY="1")
        start, end = window(today)
        before = sim.truth("dialnexa", "calls", start, end)
        asset = asset_for("dialnexa", "calls")
        found = metadata(run(asset, apis, tmp_path, day=today), asset)
        after = sim.truth("dialnexa", "calls", start, end)
    ids = stored_ids(tmp_path, "dialnexa", "calls", today)
    assert len(ids) == len(set(ids))
    missing = before - set(ids)
    assert not missing, f"{len(missing)} calls that existed before the first request were lost"
    assert set(ids) <= after
    assert found["drift_rescans"] >= 2


def test_oldest_first_listing_reads_the_tail_that_grew_while_paging(monkeypatch, tmp_path):
    """LeadConnector (oldest first) on today's open day: arrivals append pages; every call that
    existed when the last page was answered must be stored."""
    today = "2026-11-11"
    config = busy(datetime(2026, 11, 11, 1, 0, tzinfo=UTC), calls_per_day=8640, arrivals_per_request=30)
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch, MAX_CONCURRENCY="1")
        start, end = window(today)
        asset = asset_for("leadconnector", "call_logs")
        found = metadata(run(asset, apis, tmp_path, day=today), asset)
        last_request_ms = to_ms(sim.now()) - int(config.clock_step_s * 1000)
        existing = existing_at(sim, "leadconnector", "call_logs", start, end, last_request_ms)
        after = sim.truth("leadconnector", "call_logs", start, end)
    ids = set(stored_ids(tmp_path, "leadconnector", "call_logs", today))
    missing = existing - ids
    assert not missing, f"{len(missing)} calls listed by the last answer were never read"
    assert ids <= after
    assert found["drift_rescans"] >= 2


def test_unfiltered_listing_reads_down_until_the_day_is_passed(monkeypatch, tmp_path):
    """OmniDimension (no date filter, newest first) on an account whose history starts inside the
    day: no page is older than the day, so the search ends at the listing's last page, which
    arrivals push further down while it is read; the fetch reads on down to the listing's end."""
    config = busy(
        datetime(2026, 11, 11, 1, 0, tzinfo=UTC), calls_per_day=900, arrivals_per_request=60, history_days=1
    )
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch, MAX_CONCURRENCY="1")
        day = "2026-11-10"
        asset = asset_for("omnidimension", "call_logs")
        found = metadata(run(asset, apis, tmp_path, day=day), asset)
        truth = sim.truth("omnidimension", "call_logs", *window(day))
    ids = stored_ids(tmp_path, "omnidimension", "call_logs", day)
    assert len(ids) == len(set(ids))
    missing = truth - set(ids)
    assert not missing, f"{len(missing)} of yesterday's {len(truth)} calls were lost"
    # Read down either by the search (a full last page means the count is already short) or by
    # the widening after it: more pages than the first answer's count holds.
    assert found["pages"] > math.ceil(900 / REGISTRY["omnidimension"].endpoint("call_logs").page_size)


def test_a_failing_day_of_a_ranged_run_spares_the_other_days(monkeypatch, tmp_path):
    days = ["2026-11-07", "2026-11-08", "2026-11-09", "2026-11-10"]
    config = SimulatorConfig(
        seed=3, calls_per_day=120, history_days=30, now=datetime(2026, 11, 12, tzinfo=UTC)
    )
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch)
        # The day's folder cannot be created (a file is in its way): a local failure of that day only.
        blocked = tmp_path / "raw" / "dialnexa" / "calls" / "date=2026-11-08"
        blocked.parent.mkdir(parents=True)
        blocked.write_text("not a folder")
        result = run(asset_for("dialnexa", "calls"), apis, tmp_path, days=days, raise_on_error=False)
        assert not result.success
        message = _failure_text(result)
        assert "1 of 4 day(s) failed" in message and "2026-11-08" in message
        for day in days:
            if day != "2026-11-08":
                assert set(stored_ids(tmp_path, "dialnexa", "calls", day)) == sim.truth(
                    "dialnexa", "calls", *window(day)
                ), day


@pytest.mark.parametrize("status", [401, 403])
def test_a_provider_error_stops_the_whole_range_at_once(status, monkeypatch, tmp_path):
    days = [f"2026-11-0{d}" for d in range(3, 10)]
    config = SimulatorConfig(
        seed=3, calls_per_day=60, history_days=30, now=datetime(2026, 11, 12, tzinfo=UTC)
    )
    if status == 403:  # LeadConnector: the key works but not for this location
        provider, endpoint, variable = "leadconnector", "call_logs", "LEADCONNECTOR_API_KEY"
    else:
        provider, endpoint, variable = "dialnexa", "calls", "DIALNEXA_API_KEY"
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch)
        if status == 403:
            monkeypatch.setenv("LEADCONNECTOR_LOCATION_ID", "someone-elses-location")
        else:
            monkeypatch.setenv("DIALNEXA_API_KEY", "not-the-key")
        apis[provider] = REGISTRY[provider].api()
        result = run(asset_for(provider, endpoint), apis, tmp_path, days=days, raise_on_error=False)
        refused = sim.stats()["responses"].get(status, 0)
    assert not result.success
    message = _failure_text(result)
    assert variable in message and str(status) in message
    if status == 403:
        assert "does not have access to this location" in message, "the provider's own reason is passed on"
    assert "day(s) failed" not in message, "a provider error is not a per-day failure"
    # Only the days already in flight asked; the rest of the range never started.
    assert 1 <= refused <= DAYS_IN_FLIGHT < len(days)
    assert not list((tmp_path / "raw").rglob("*.parquet"))
