"""Raw ingestion against the provider simulator: every call of a day lands exactly once."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import build_raw_asset
from calllog_pipeline.simulator import Faults, RateLimit, SimulatorConfig, SimulatorServer

DAY = "2026-11-10"
ENDPOINTS = [(p.name, e.name) for p in REGISTRY.values() for e in p.endpoints]
# Keep tests quick: the behaviour is the same, only the waits are shorter and the client's own
# limit (OmniDimension's default is one request a second) is above the simulator's.
FAST_CLIENT = {
    "MAX_BACKOFF_S": "0.05",
    "READ_TIMEOUT_S": "1",
    "THROTTLE_WAIT_S": "0.05",
    "MAX_ATTEMPTS": "12",
    "RATE_LIMIT_REQUESTS": "50",
    "RATE_LIMIT_PERIOD_S": "1",
}
PREFIX = {name: provider.api().env_prefix for name, provider in REGISTRY.items()}


def partitions(timezone: str = "UTC") -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date="2026-10-01", timezone=timezone)


def raw_assets(part: dg.DailyPartitionsDefinition, providers=tuple(REGISTRY)) -> list[dg.AssetsDefinition]:
    return [build_raw_asset(REGISTRY[p], e, part) for p in providers for e in REGISTRY[p].endpoints]


def point_at(sim: SimulatorServer, monkeypatch, **extra: str) -> dict:
    """Environment for the pipeline as a user would set it, aimed at the simulator."""
    for key, value in sim.env().items():
        monkeypatch.setenv(key, value)
    for prefix in PREFIX.values():
        for key, value in {**FAST_CLIENT, **extra}.items():
            monkeypatch.setenv(f"{prefix}_{key}", value)
    return {name: provider.api() for name, provider in REGISTRY.items()}


def materialize(assets, apis, lake_root, day=DAY, instance=None, raise_on_error=True):
    return dg.materialize(
        assets,
        resources={"lake": Lake(root=str(lake_root)), **apis},
        partition_key=day,
        instance=instance,
        raise_on_error=raise_on_error,
    )


def stored_ids(lake_root, provider: str, endpoint: str, day: str = DAY) -> list[str]:
    """Ids of the stored records (records that came without an id are kept too, but not listed:
    normalization quarantines them)."""
    path = Path(lake_root) / "raw" / provider / endpoint / f"date={day}" / "data.parquet"
    query = f"select record_id from '{path}' where record_id is not null"
    return [r[0] for r in duckdb.sql(query).fetchall()]


def window(day: str = DAY, timezone: str = "UTC"):
    w = partitions(timezone).time_window_for_partition_key(day)
    return w.start, w.end


def metadata(result, asset) -> dict:
    (mat,) = result.asset_materializations_for_node(asset.node_def.name)
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.fixture
def hostile_sim():
    """Faults of every kind, tight rate limits and late changes: what real APIs do on a bad day."""
    config = SimulatorConfig(
        seed=11,
        calls_per_day=700,
        faults=Faults(server_error=0.05, stall=0.01, truncated=0.03, malformed=0.03),
        stall_s=3.0,
        # Tighter than the clients' own defaults, so the server has to say 429; OmniDimension, which
        # reports no count, to one a second, so that its few requests a day (some sent together) meet it.
        rate_limits={p: RateLimit(requests=8, per_seconds=1.0) for p in PREFIX}
        | {"omnidimension": RateLimit(requests=1, per_seconds=1.0)},
        now=datetime(2026, 11, 11, 0, 20, tzinfo=UTC),  # the day closed 20 minutes ago
    )
    with SimulatorServer(config) as sim:
        yield sim


def test_every_call_of_a_day_lands_exactly_once_despite_faults_and_rate_limits(
    hostile_sim, monkeypatch, tmp_path
):
    # Clients set above the server's limit (20/s against 8/s), and backoff long enough to honour
    # Retry-After: only the provider's own count can keep them out of 429s.
    # (THROTTLE_WAIT_S: the wait after a bare 429, OmniDimension's, is the server's window.)
    apis = point_at(
        hostile_sim,
        monkeypatch,
        MAX_BACKOFF_S="2",
        THROTTLE_WAIT_S="1",
        RATE_LIMIT_REQUESTS="20",
        RATE_LIMIT_PERIOD_S="1",
    )
    assets = raw_assets(partitions())
    result = materialize(assets, apis, tmp_path)

    start, end = window()
    for (provider, endpoint), asset in zip(ENDPOINTS, assets, strict=True):
        ids = stored_ids(tmp_path, provider, endpoint)
        assert len(ids) == len(set(ids)), f"{provider}/{endpoint} stored duplicates"
        assert set(ids) == hostile_sim.truth(provider, endpoint, start, end), f"{provider}/{endpoint}"
        assert metadata(result, asset)["records"] >= len(ids)
    stats = hostile_sim.stats()
    assert stats["rate_limited"] > 0 and sum(stats["faults"].values()) > 0, (
        "the run should have met faults and 429s"
    )
    # DialNexa and LeadConnector report what their window has left, and the client keeps to it;
    # OmniDimension reports nothing, so its 429s are the ones above.
    throttled = dict.fromkeys(REGISTRY, 0)
    for (provider, _), asset in zip(ENDPOINTS, assets, strict=True):
        throttled[provider] += metadata(result, asset)["rate_limited_429"]
    assert throttled["dialnexa"] == throttled["leadconnector"] == 0 < throttled["omnidimension"], throttled
    assert sum(metadata(result, a)["retries"] for a in assets) > 0


def test_rerunning_a_day_replaces_it_exactly(monkeypatch, tmp_path):
    with SimulatorServer(SimulatorConfig(seed=3, calls_per_day=400)) as sim:
        apis = point_at(sim, monkeypatch)
        assets = raw_assets(partitions())
        materialize(assets, apis, tmp_path)
        first = {ep: sorted(stored_ids(tmp_path, *ep)) for ep in ENDPOINTS}
        materialize(assets, apis, tmp_path)
        assert {ep: sorted(stored_ids(tmp_path, *ep)) for ep in ENDPOINTS} == first
        leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "data.parquet"]
        assert leftovers == [], "no temporary files may remain"


def test_calls_arriving_while_paging_neither_lost_nor_duplicated(monkeypatch, tmp_path):
    """OmniDimension lists newest first with no date filter: every arrival shifts every page."""
    config = SimulatorConfig(
        seed=5, calls_per_day=3000, now=datetime(2026, 11, 11, 6, 0, tzinfo=UTC), clock_step_s=25.0
    )
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch, MAX_CONCURRENCY="6")
        assets = raw_assets(partitions(), providers=("omnidimension", "dialnexa"))
        result = materialize(assets, apis, tmp_path)
        start, end = window()
        ids = stored_ids(tmp_path, "omnidimension", "call_logs")
        assert len(ids) == len(set(ids))
        assert set(ids) == sim.truth("omnidimension", "call_logs", start, end)
        omni = metadata(result, assets[0])
        assert omni["duplicates_dropped"] > 0, "arrivals should have shifted records across pages"

        # Today's window is still open: new calls keep arriving inside it while we page.
        today = "2026-11-11"
        before = sim.truth("dialnexa", "calls", *window(today))
        materialize(assets[1:2], apis, tmp_path, day=today)
        after = sim.truth("dialnexa", "calls", *window(today))
        ids = stored_ids(tmp_path, "dialnexa", "calls", today)
        assert len(ids) == len(set(ids))
        assert before <= set(ids) <= after and len(after) > len(before)


def test_unchanged_day_costs_304s_and_late_changes_are_picked_up(monkeypatch, tmp_path):
    config = SimulatorConfig(
        seed=9, calls_per_day=3000, now=datetime(2026, 11, 11, 0, 1, tzinfo=UTC), frozen_clock=True
    )
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch)
        logs = raw_assets(partitions(), providers=("dialnexa",))[1]
        path = tmp_path / "raw/dialnexa/call_logs" / f"date={DAY}" / "data.parquet"

        first = metadata(materialize([logs], apis, tmp_path), logs)
        written = path.stat().st_mtime_ns
        again = metadata(materialize([logs], apis, tmp_path), logs)
        assert again["not_modified_304"] == again["pages"] == first["pages"]
        assert path.stat().st_mtime_ns == written, "an unchanged day must not be rewritten"

        # Calls still running just after midnight finish and get their analysis later.
        in_progress = _count(path, "in.progress|in_progress")
        assert in_progress > 0
        sim.advance(3 * 3600)
        later = metadata(materialize([logs], apis, tmp_path), logs)
        assert later["not_modified_304"] < later["pages"]
        assert path.stat().st_mtime_ns != written
        assert _count(path, "in.progress|in_progress") < in_progress
        assert set(stored_ids(tmp_path, "dialnexa", "call_logs")) == sim.truth(
            "dialnexa", "call_logs", *window()
        )


def _count(path: Path, status_pattern: str) -> int:
    query = (
        f"select count(*) from '{path}' where regexp_matches(payload, '\"status\":\"({status_pattern})\"')"
    )
    return duckdb.sql(query).fetchall()[0][0]


def test_day_boundaries_follow_the_configured_timezone(monkeypatch, tmp_path):
    tz = "America/New_York"
    with SimulatorServer(SimulatorConfig(seed=4, calls_per_day=300, omni_timezone="Asia/Kolkata")) as sim:
        apis = point_at(sim, monkeypatch)
        materialize(raw_assets(partitions(tz)), apis, tmp_path)
        start, end = window(timezone=tz)
        assert start.utcoffset() == timedelta(hours=-5)
        for provider, endpoint in ENDPOINTS:
            assert set(stored_ids(tmp_path, provider, endpoint)) == sim.truth(provider, endpoint, start, end)


def test_wrong_api_key_fails_fast_and_says_which_variable(monkeypatch, tmp_path):
    with SimulatorServer(SimulatorConfig(seed=1, calls_per_day=50)) as sim:
        apis = point_at(sim, monkeypatch)
        monkeypatch.setenv("DIALNEXA_API_KEY", "not-the-key")
        apis["dialnexa"] = REGISTRY["dialnexa"].api()
        result = materialize(
            raw_assets(partitions(), ("dialnexa",))[:1], apis, tmp_path, raise_on_error=False
        )
        assert not result.success
        message = _failure_text(result)
        assert "DIALNEXA_API_KEY" in message and "401" in message
        assert "not-the-key" not in message
        assert sim.stats()["responses"].get(401) == 1, "no retry storm"


def test_missing_api_key_names_the_variable(monkeypatch, tmp_path):
    with SimulatorServer(SimulatorConfig(seed=1, calls_per_day=50)) as sim:
        apis = point_at(sim, monkeypatch)
        monkeypatch.delenv("OMNIDIM_API_KEY")
        apis["omnidimension"] = REGISTRY["omnidimension"].api()
        with pytest.raises(Exception, match="OMNIDIM_API_KEY"):
            materialize(raw_assets(partitions(), ("omnidimension",)), apis, tmp_path)


def test_provider_outage_fails_loudly_and_leaves_the_stored_day_untouched(monkeypatch, tmp_path):
    with SimulatorServer(SimulatorConfig(seed=2, calls_per_day=200)) as sim:
        apis = point_at(sim, monkeypatch)
        asset = raw_assets(partitions(), ("leadconnector",))[0]
        materialize([asset], apis, tmp_path)
        before = sorted(stored_ids(tmp_path, "leadconnector", "call_logs"))
    outage = SimulatorConfig(seed=2, calls_per_day=200, faults=Faults(server_error=1.0))
    with SimulatorServer(outage) as down:
        apis = point_at(down, monkeypatch, MAX_ATTEMPTS="3")
        result = materialize([asset], apis, tmp_path, raise_on_error=False)
    assert not result.success
    assert "kept failing" in _failure_text(result) and "Re-run" in _failure_text(result)
    assert sorted(stored_ids(tmp_path, "leadconnector", "call_logs")) == before
    assert [p.name for p in (tmp_path / "raw/leadconnector/call_logs").rglob("*") if p.is_file()] == [
        "data.parquet"
    ]


def test_no_key_or_embedded_credential_reaches_the_lake_or_the_event_log(monkeypatch, tmp_path):
    with SimulatorServer(SimulatorConfig(seed=8, calls_per_day=300)) as sim:
        apis = point_at(sim, monkeypatch)
        (tmp_path / "home").mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
            materialize(raw_assets(partitions()), apis, tmp_path / "lake", instance=instance)
        keys = [v for k, v in sim.env().items() if k.endswith("_API_KEY")]

    lake_text = "\n".join(
        row[0] for row in duckdb.sql(f"select payload from '{tmp_path}/lake/raw/**/*.parquet'").fetchall()
    )
    assert "[REDACTED]" in lake_text, "the simulator serves credentials; they must have been redacted"
    everything = lake_text.encode() + b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for key in keys:
        assert key.encode() not in everything
    assert not re.search(rb"secret_key_[0-9a-f]{8}", everything)
    assert not re.search(rb'"authenticationValue":\s*"(?!\[REDACTED\])', everything)
    assert not re.search(rb"(?i)bearer [A-Za-z0-9]{8}", everything)


def _failure_text(result) -> str:
    """What the user reads in the UI for the failed step: the error and its causes."""
    events = [e for e in result.all_events if e.is_step_failure]
    return "\n".join(e.event_specific_data.error.to_string() for e in events)


def test_an_old_omnidimension_day_is_found_in_a_few_requests(monkeypatch, tmp_path):
    """No date filter and ten years of history: the day is located by interpolation, not a scan,
    which matters at OmniDimension's 60 requests a minute."""
    config = SimulatorConfig(
        seed=6,
        calls_per_day=1500,
        history_days=3650,
        frozen_clock=True,
        now=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
    )
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch)
        asset = raw_assets(partitions(), ("omnidimension",))[0]
        day = "2026-10-02"
        found = metadata(materialize([asset], apis, tmp_path, day=day), asset)
        ids = stored_ids(tmp_path, "omnidimension", "call_logs", day)
        assert set(ids) == sim.truth("omnidimension", "call_logs", *window(day))
    page_size = REGISTRY["omnidimension"].endpoint("call_logs").page_size
    listing_pages = -(-1500 * 3650 // page_size)
    assert listing_pages > 30_000
    day_pages = -(-len(ids) // page_size)
    assert found["requests"] <= day_pages + 12, found


@pytest.mark.parametrize("day", ["2026-11-22", "2026-11-16"])
def test_an_omnidimension_day_costs_few_requests_beyond_its_own_pages(monkeypatch, tmp_path, day):
    """Every request counts against OmniDimension's limit. The newest day sits at the top of the
    listing: one request at most beyond the pages the day fills (the page older than the window is
    never read). An older day pays for page 1 and the few guesses that miss it: guesses lean into
    the day, where a page read is one the fetch needs anyway."""
    config = SimulatorConfig(
        seed=3, calls_per_day=3000, frozen_clock=True, now=datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    )
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch)
        asset = raw_assets(partitions(), ("omnidimension",))[0]
        found = metadata(materialize([asset], apis, tmp_path, day=day), asset)
        ids = stored_ids(tmp_path, "omnidimension", "call_logs", day)
        assert set(ids) == sim.truth("omnidimension", "call_logs", *window(day))
    day_pages = -(-len(ids) // REGISTRY["omnidimension"].endpoint("call_logs").page_size)
    assert found["requests"] <= day_pages + (1 if day == "2026-11-22" else 4), found


def test_a_busy_newest_first_listing_is_read_completely_while_calls_keep_arriving(monkeypatch, tmp_path):
    """Every request sees new calls: each page is fetched against a different listing. Pages are
    compared by their position from the listing's unmoving end, so only real gaps are re-read."""
    config = SimulatorConfig(
        seed=12, calls_per_day=12000, now=datetime(2026, 11, 13, 9, 0, tzinfo=UTC), clock_step_s=9.0
    )
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch, MAX_CONCURRENCY="6")
        asset = raw_assets(partitions(), ("omnidimension",))[0]
        found = metadata(materialize([asset], apis, tmp_path), asset)
        ids = stored_ids(tmp_path, "omnidimension", "call_logs")
        assert len(ids) == len(set(ids))
        assert set(ids) == sim.truth("omnidimension", "call_logs", *window())
    assert found["pages"] >= 80
    assert found["drift_rescans"] < found["pages"] // 4, "re-reads must stay a small share of the pages"


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_an_unchanged_small_day_is_kept_in_any_timezone(monkeypatch, tmp_path, timezone):
    """A 304 page is read back from the stored file, which holds only the window's records: its
    place in the listing must still count every record the provider listed on it (a day smaller
    than a page, in a zone whose day spans two of DialNexa's UTC dates, used to loop in repair)."""
    config = SimulatorConfig(
        seed=12, calls_per_day=25, now=datetime(2026, 11, 12, 6, tzinfo=UTC), frozen_clock=True
    )
    with SimulatorServer(config) as sim:
        apis = point_at(sim, monkeypatch)
        logs = raw_assets(partitions(timezone), providers=("dialnexa",))[1]
        materialize([logs], apis, tmp_path)
        again = metadata(materialize([logs], apis, tmp_path), logs)
        assert again["not_modified_304"] == again["pages"] == 1
        assert set(stored_ids(tmp_path, "dialnexa", "call_logs")) == sim.truth(
            "dialnexa", "call_logs", *window(timezone=timezone)
        )


def test_raw_columns_keep_every_value_and_every_missing_id_in_its_place():
    from calllog_pipeline.raw.assets import arrow_strings

    assert arrow_strings([b"call-1", "caf\u00e9".encode(), b""]).to_pylist() == ["call-1", "caf\u00e9", ""]
    with_gaps = [None, b"call-2", None, *[b"x"] * 7, None]  # validity bits across a byte boundary
    assert arrow_strings(with_gaps).to_pylist() == [None, "call-2", None, *["x"] * 7, None]
