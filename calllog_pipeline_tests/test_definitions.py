"""The code location as a user sees it in the UI: assets, lineage, partitions, automation."""

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.normalized import normalized_asset_key
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.qa.assets import TABLES as QA_TABLES
from calllog_pipeline.qa.assets import qa_asset_key
from calllog_pipeline.raw.assets import raw_asset_key
from calllog_pipeline.settings import Settings, SettingsError

RAW_KEYS = {p.name: [raw_asset_key(p.name, e.name) for e in p.endpoints] for p in REGISTRY.values()}
TABLES = ("calls", "actions", "interactions", "quarantine")


def settings(**changes) -> Settings:
    env = {"CALLLOG_START_DATE": "2026-01-01", "CALLLOG_DATA_DIR": "/tmp/unused", **changes}
    return Settings.from_env(env)


def test_the_asset_graph_is_one_chain_per_provider():
    defs = build_definitions(settings())
    graph = defs.resolve_asset_graph()
    for provider, raw_keys in RAW_KEYS.items():
        for key in raw_keys:
            node = graph.get(key)
            assert key.path[-1].startswith(f"{provider}_"), "the UI's node label names the provider"
            assert node.group_name == "raw"
            assert node.tags["provider"] == provider and node.tags["layer"] == "raw"
            assert node.pools == {f"{provider}_api"}
            assert node.backfill_policy == dg.BackfillPolicy.single_run()
            assert node.partitions_def.start.date() == date(2026, 1, 1)
            assert node.owners == ["team:data-platform"]
            assert node.freshness_policy is not None
        for table in TABLES:
            node = graph.get(normalized_asset_key(provider, table))
            assert node.group_name == "normalized"
            assert node.tags["provider"] == provider and node.tags["layer"] == "normalized"
            assert set(node.parent_keys) == set(raw_keys), "a provider's tables read only its raw assets"
            assert node.freshness_policy is not None
        qa_keys = [qa_asset_key(provider, t) for t in QA_TABLES]
        for key in qa_keys:
            node = graph.get(key)
            assert key.path[-1].startswith(f"{provider}_") and node.group_name == "qa"
            assert node.tags["provider"] == provider and node.tags["layer"] == "qa"
            assert node.backfill_policy == dg.BackfillPolicy.single_run()
            assert normalized_asset_key(provider, "calls") in node.parent_keys
        chain = dg.AssetSelection.tag("provider", provider).resolve(graph)
        assert chain == {*raw_keys, *(normalized_asset_key(provider, t) for t in TABLES), *qa_keys}

    for provider in REGISTRY:
        assert defs.resolve_job_def(f"{provider}_daily").partitions_def is not None
    assert sorted(s.name for s in defs.schedules) == sorted(f"{p}_daily_schedule" for p in REGISTRY)
    assert sorted(s.name for s in defs.sensors) == [
        "alert_on_check_failure",
        "alert_on_run_failure",
        "changed_days_sensor",
        "freshness_automation_sensor",
    ]
    assert set(defs.resources) == {"lake", "privacy", "alerts", *REGISTRY}


def test_only_selected_providers_are_defined():
    defs = build_definitions(settings(CALLLOG_PROVIDERS="omnidimension, leadconnector"))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert raw_asset_key("dialnexa", "calls").to_user_string() not in keys
    assert normalized_asset_key("dialnexa", "calls").to_user_string() not in keys
    assert raw_asset_key("omnidimension", "call_logs").to_user_string() in keys
    assert "dialnexa" not in defs.resources


def test_partitions_follow_the_configured_timezone():
    defs = build_definitions(settings(CALLLOG_TIMEZONE="Asia/Kolkata"))
    part = defs.resolve_asset_graph().get(normalized_asset_key("leadconnector", "calls")).partitions_def
    window = part.time_window_for_partition_key("2026-03-01")
    assert window.start.isoformat() == "2026-03-01T00:00:00+05:30"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CALLLOG_PROVIDERS", "dialnexa,twilio"),
        ("CALLLOG_TIMEZONE", "Mars/Olympus"),
        ("CALLLOG_START_DATE", "01/03/2026"),
        ("CALLLOG_LOOKBACK_DAYS", "0"),
    ],
)
def test_bad_settings_fail_naming_the_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        settings(**{variable: value})


def test_secrets_are_env_var_references_not_values(monkeypatch):
    monkeypatch.setenv("DIALNEXA_API_KEY", "super-secret-value")
    defs = build_definitions(settings())
    resource = defs.resources["dialnexa"]
    assert "super-secret-value" not in repr(resource)
    assert resource.api_key == dg.EnvVar("DIALNEXA_API_KEY")


def test_schedule_refreshes_the_lookback_days_as_one_ranged_run():
    defs = build_definitions(settings(CALLLOG_LOOKBACK_DAYS="3"))
    schedule = defs.resolve_schedule_def("dialnexa_daily_schedule")
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 5, 10, 1, 30, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "2026-05-07"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-05-09"
    assert request.run_key == "2026-05-07..2026-05-09@2026-05-10T01"
