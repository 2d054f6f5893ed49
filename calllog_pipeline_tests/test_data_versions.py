"""A nightly re-read of unchanged days costs the provider's 304s and nothing else: no normalized or
QA file is rewritten, and Dagster records the same data versions. A changed day is recomputed, alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from calllog_pipeline.automation import job_name
from calllog_pipeline.automation.schedules import range_request
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.normalized import normalized_asset_key
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import raw_asset_key
from calllog_pipeline.settings import Settings
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer

DAYS = ["2026-11-08", "2026-11-09", "2026-11-10"]
PROVIDERS = ("dialnexa", "leadconnector")  # one conditional listing (304s), one re-read in full
DERIVED = ("calls", "actions", "interactions", "quarantine", "qa_agent_daily", "qa_provider_daily")


@pytest.fixture
def sim():
    # Half an hour before the last day ends: its last calls, and their outcomes, come later.
    # A flat day (no night-time lull): a few calls still arrive in its last half hour.
    config = SimulatorConfig(
        seed=5,
        calls_per_day=60,
        now=datetime(2026, 11, 10, 23, 30, tzinfo=UTC),
        frozen_clock=True,
        seasonality=False,
    )
    with SimulatorServer(config) as server:
        yield server


def nightly(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[dg.ExecuteInProcessResult]:
    """What the schedule launches: one ranged run of each provider's job over the lookback days."""
    request = range_request(DAYS[0], DAYS[-1], run_key="test")
    results = [
        defs.resolve_job_def(job_name(p)).execute_in_process(instance=instance, tags=request.tags)
        for p in PROVIDERS
    ]
    assert all(r.success for r in results)
    return results


def derived_files(lake: Path) -> dict[str, tuple[int, int]]:
    """Every normalized and QA file -> (inode, mtime): a rewrite (temp file + rename) changes both."""
    return {
        str(p.relative_to(lake)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for table in DERIVED
        for p in (lake / table).rglob("data.parquet")
    }


def latest(instance, key: dg.AssetKey, day: str) -> dg.AssetMaterialization:
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
    ).records[0]
    return record.asset_materialization, record.event_log_entry.dagster_event.event_specific_data


def test_unchanged_days_are_not_recomputed_and_a_changed_day_is(sim, monkeypatch, tmp_path):
    for key, value in sim.env().items():
        monkeypatch.setenv(key, value)
    for provider in REGISTRY.values():
        monkeypatch.setenv(f"{provider.api().env_prefix}_RATE_LIMIT_REQUESTS", "100")
    settings = Settings.from_env(
        {
            "CALLLOG_START_DATE": "2026-11-01",
            "CALLLOG_DATA_DIR": str(tmp_path),
            "CALLLOG_PROVIDERS": ",".join(PROVIDERS),
        }
    )
    defs = build_definitions(settings)
    calls = normalized_asset_key("dialnexa", "calls")
    with dg.instance_for_test() as instance:
        nightly(defs, instance)
        files = derived_files(tmp_path)
        assert len(files) == len(DERIVED) * len(DAYS) * len(PROVIDERS)
        first, _ = latest(instance, calls, DAYS[1])
        requests_before = sim.stats()["requests"]

        again = nightly(defs, instance)
        assert derived_files(tmp_path) == files, "an unchanged re-run rewrites no normalized or QA file"
        logs_meta = next(
            m.metadata for m in again[0].asset_materializations_for_node("raw__dialnexa_call_logs")
        )
        # Every page answered 304 (a day's listing reaches into the next day: see dialnexa/api.py).
        assert logs_meta["not_modified_304"].value == logs_meta["pages"].value >= len(DAYS)
        # What Dagster records: the same data versions, and every day listed as unchanged.
        second, _ = latest(instance, calls, DAYS[1])
        assert second.tags["dagster/data_version"] == first.tags["dagster/data_version"]
        assert second.metadata["unchanged_days"].value == DAYS
        raw = raw_asset_key("dialnexa", "call_logs")
        assert latest(instance, raw, DAYS[0])[0].tags["dagster/data_version"]
        assert sim.stats()["requests"] > requests_before  # the provider was asked, and said 304

        # Hours later the last day's late calls are logged and analysed: only that day changes.
        sim.advance(3 * 3600)
        nightly(defs, instance)
        now = derived_files(tmp_path)
        changed = {path for path in now if now[path] != files[path]}
        assert changed, "the changed day is recomputed"
        assert all(f"date={DAYS[-1]}" in path for path in changed), sorted(changed)
        assert any(path.startswith("calls/") and "provider=dialnexa" in path for path in changed)
        third, _ = latest(instance, calls, DAYS[-1])
        assert third.metadata["unchanged_days"].value == DAYS[:-1]
