"""The raw layer's completeness check: records stored for a day vs the total the listing reported."""

from datetime import UTC, datetime

import dagster as dg

from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.providers.base import Paging
from calllog_pipeline.raw.assets import COMPLETENESS_CHECK, DayOutcome, _completeness, build_raw_asset
from calllog_pipeline.raw.fetch import FetchStats
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer

DAY = "2026-11-10"
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-11-01")
ASSETS = {(p.name, e.name): build_raw_asset(p, e, PARTITIONS) for p in REGISTRY.values() for e in p.endpoints}


def run(sim: SimulatorServer, monkeypatch, lake: Lake) -> dict:
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    for provider in REGISTRY.values():
        monkeypatch.setenv(f"{provider.api().env_prefix}_RATE_LIMIT_REQUESTS", "50")
    result = dg.materialize(
        list(ASSETS.values()),
        resources={"lake": lake, **{name: p.api() for name, p in REGISTRY.items()}},
        partition_key=DAY,
    )
    return {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}


def test_every_day_filtered_listing_lands_exactly_its_reported_total(monkeypatch, tmp_path):
    config = SimulatorConfig(seed=9, calls_per_day=120, now=datetime(2026, 11, 11, 2, 0, tzinfo=UTC))
    lake = Lake(root=str(tmp_path))
    with SimulatorServer(config) as sim:
        first = run(sim, monkeypatch, lake)
        again = run(sim, monkeypatch, lake)  # DialNexa call logs answer 304: the stored day is kept
        start, end = datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC)
        truth = {(p, e): len(sim.truth(p, e, start, end)) for p, e in ASSETS}

    windowed = {(p, e) for p, e in ASSETS if REGISTRY[p].endpoint(e).paging is Paging.WINDOWED}
    assert windowed and windowed != set(ASSETS), "OmniDimension's total is its whole history: no check"
    for evaluations in (first, again):
        assert set(evaluations) == {f"{p}_{e}" for p, e in windowed}
        for provider, endpoint in windowed:
            evaluation = evaluations[f"{provider}_{endpoint}"]
            assert evaluation.check_name == COMPLETENESS_CHECK
            assert evaluation.passed, evaluation.metadata
            landed = evaluation.metadata["landed"].value
            assert landed == evaluation.metadata["reported"].value == truth[provider, endpoint] > 0


def test_a_day_short_of_its_reported_total_fails_the_check_naming_the_day():
    provider = REGISTRY["leadconnector"]
    endpoint = provider.endpoint("call_logs")
    outcomes = [
        DayOutcome("2026-11-09", records=50, stats=FetchStats(records=50, total=50)),
        DayOutcome("2026-11-10", records=48, stats=FetchStats(records=48, total=50)),
    ]
    result = _completeness(provider, endpoint, outcomes)
    assert result.passed is False
    assert result.metadata["days_off"].value == {"2026-11-10": {"landed": 48, "reported": 50}}
