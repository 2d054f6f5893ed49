"""Settings that shape the asset graph: stable from one day to the next."""

from datetime import UTC, date, datetime

from calllog_pipeline import settings as settings_module
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.normalized import normalized_asset_key
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.settings import DEFAULT_START_DATE, Settings


def _partitions_on(monkeypatch, today: date):
    """The partitions definition as a deployment started on ``today`` builds it (no start date set)."""

    class Today(date):
        @classmethod
        def today(cls):
            return today

    monkeypatch.setattr(settings_module, "date", Today)
    defs = build_definitions(Settings.from_env({"CALLLOG_DATA_DIR": "/tmp/unused"}))
    provider = next(iter(REGISTRY))
    return defs.resolve_asset_graph().get(normalized_asset_key(provider, "calls")).partitions_def


def test_without_a_start_date_the_partitions_do_not_move_from_one_day_to_the_next(monkeypatch):
    monday = _partitions_on(monkeypatch, date(2026, 11, 23))
    tuesday = _partitions_on(monkeypatch, date(2026, 11, 24))
    assert monday == tuesday
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    keys = monday.get_partition_keys(current_time=now)
    assert keys == tuesday.get_partition_keys(current_time=now)
    assert keys[0] == DEFAULT_START_DATE.isoformat() == "2026-01-01", "the documented default"


def test_a_configured_start_date_is_used_as_given():
    assert Settings.from_env({"CALLLOG_START_DATE": "2025-06-01"}).start_date == date(2025, 6, 1)
