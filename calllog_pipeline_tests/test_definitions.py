"""The code location as a user sees it in the UI: assets, lineage, partitions, automation."""

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.settings import Settings, SettingsError

RAW_KEYS = ["dialnexa/calls", "dialnexa/call_logs", "leadconnector/call_logs", "omnidimension/call_logs"]


def settings(**changes) -> Settings:
    env = {"CALLLOG_START_DATE": "2026-01-01", "CALLLOG_DATA_DIR": "/tmp/unused", **changes}
    return Settings.from_env(env)


def test_asset_graph_snapshot():
    defs = build_definitions(settings())
    graph = defs.resolve_asset_graph()
    keys = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
    assert keys == sorted([*RAW_KEYS, "calls", "actions", "interactions", "quarantine"])

    for key in RAW_KEYS:
        node = graph.get(dg.AssetKey.from_user_string(key))
        assert node.group_name == "raw"
        assert node.pools == {f"{key.split('/')[0]}_api"}
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
        assert node.partitions_def.start.date() == date(2026, 1, 1)
        assert node.owners == ["team:data-platform"]
        assert node.freshness_policy is not None
    calls = graph.get(dg.AssetKey("calls"))
    assert calls.group_name == "normalized"
    assert {k.to_user_string() for k in calls.parent_keys} == set(RAW_KEYS)
    assert graph.asset_check_keys, "normalized tables carry data-quality checks"

    for provider in ("dialnexa", "leadconnector", "omnidimension"):
        assert defs.resolve_job_def(f"{provider}_daily").partitions_def is not None
    assert sorted(s.name for s in defs.schedules) == [
        "dialnexa_daily_schedule",
        "leadconnector_daily_schedule",
        "omnidimension_daily_schedule",
    ]
    assert sorted(s.name for s in defs.sensors) == [
        "alert_on_check_failure",
        "alert_on_run_failure",
        "changed_days_sensor",
        "freshness_checks_sensor",
    ]
    assert set(defs.resources) == {"lake", "privacy", "alerts", "dialnexa", "leadconnector", "omnidimension"}


def test_only_selected_providers_are_defined():
    defs = build_definitions(settings(CALLLOG_PROVIDERS="omnidimension, leadconnector"))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "dialnexa/calls" not in keys and "omnidimension/call_logs" in keys
    assert "dialnexa" not in defs.resources


def test_partitions_follow_the_configured_timezone():
    defs = build_definitions(settings(CALLLOG_TIMEZONE="Asia/Kolkata"))
    part = defs.resolve_asset_graph().get(dg.AssetKey("calls")).partitions_def
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
