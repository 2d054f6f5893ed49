"""One user's story on three backends: the simulator's providers -> raw -> normalized (-> QA) for
a few days through a real Dagster instance, then the same days again with nothing changed.

Backends: the default (SQLite instance, local lake), the instance on PostgreSQL, and the lake in
an S3 bucket (an S3-compatible server on loopback).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from calllog_pipeline.cli import main
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.lake import Lake
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.settings import Settings
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer
from calllog_pipeline_tests.backends import AWS_ENV

DAYS = ("2026-11-08", "2026-11-09", "2026-11-10")
TIMEZONE = "UTC"  # other zones: test_ingest, test_definitions
# Columns stamped with the time of the run that wrote them: the only thing a re-run may change.
RUN_STAMPS = {"ingested_at", "computed_at", "fetched_at"}
FAST_CLIENT = {"MAX_BACKOFF_S": "0.05", "RATE_LIMIT_REQUESTS": "100", "RATE_LIMIT_PERIOD_S": "1"}


@pytest.fixture(params=["sqlite+local", "postgres+local", "sqlite+s3"])
def backend(request, tmp_path, monkeypatch) -> str:
    """Sets DAGSTER_HOME / CALLLOG_INSTANCE / CALLLOG_DATA_DIR for the backend; returns the lake root."""
    instance, lake = request.param.split("+")
    request.getfixturevalue(f"{instance}_home")
    root = request.getfixturevalue("s3_lake") if lake == "s3" else str(tmp_path / "data")
    monkeypatch.setenv("CALLLOG_DATA_DIR", root)
    return root


def point_at(sim: SimulatorServer, monkeypatch) -> None:
    for key, value in sim.env().items():
        monkeypatch.setenv(key, value)
    for provider in REGISTRY.values():
        for key, value in FAST_CLIENT.items():
            monkeypatch.setenv(provider.api().env_var(key.lower()), value)
    monkeypatch.setenv("CALLLOG_START_DATE", "2026-11-01")
    monkeypatch.setenv("CALLLOG_TIMEZONE", TIMEZONE)


def run_days(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Every asset of the definitions for DAYS, as one ranged run (what a backfill launches)."""
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]},
        raise_on_error=False,
    )


def lake_tables(lake: Lake) -> dict[str, pa.Table]:
    """Every file the pipeline wrote below raw/, by path, without run stamps, rows in a stable order."""
    lake.fs.invalidate_cache()
    tables = {}
    for path in sorted(lake.fs.glob(f"{lake.url(lake.table_path('*', '*', '*')).split('://')[-1]}")):
        with lake.fs.open(path, "rb") as f:
            table = pq.read_table(f)
        table = table.drop_columns([c for c in table.column_names if c in RUN_STAMPS])
        tables[path] = table.sort_by([(c, "ascending") for c in table.column_names if _sortable(table, c)])
    return tables


def _sortable(table: pa.Table, column: str) -> bool:
    kind = table.schema.field(column).type
    return not (pa.types.is_nested(kind) or pa.types.is_dictionary(kind))


def raw_ids(lake: Lake, provider: str, endpoint: str, day: str) -> list[str]:
    with lake.fs.open(lake.raw_path(provider, endpoint, day), "rb") as f:
        ids = pq.read_table(f, columns=["record_id"])["record_id"].to_pylist()
    return [i for i in ids if i is not None]


def test_three_days_then_an_unchanged_rerun(backend, monkeypatch, capsys):
    config = SimulatorConfig(
        seed=12, calls_per_day=25, now=datetime(2026, 11, 12, 6, tzinfo=UTC), frozen_clock=True
    )
    with SimulatorServer(config) as sim:
        point_at(sim, monkeypatch)
        settings = Settings.from_env()
        defs = build_definitions(settings)
        lake = Lake(root=settings.data_dir)
        with dg.DagsterInstance.get() as instance:  # the dagster.yaml variant in DAGSTER_HOME
            first = run_days(defs, instance)
            written = lake_tables(lake)
            again = run_days(defs, instance)
            rerun = lake_tables(lake)
            stored = _materialized_partitions(instance, defs)

        assert first.success and again.success, sim.stats()
        # Every call of every day exactly once.
        partitions = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone=TIMEZONE)
        for day in DAYS:
            window = partitions.time_window_for_partition_key(day)
            for provider in REGISTRY.values():
                for endpoint in provider.endpoints:
                    ids = raw_ids(lake, provider.name, endpoint.name, day)
                    assert len(ids) == len(set(ids))
                    assert set(ids) == sim.truth(provider.name, endpoint.name, window.start, window.end)
        # Each normalized table has one file per provider and day; the unchanged re-run left the
        # lake exactly as it was (run stamps aside) and the instance knows every materialization.
        calls = [p for p in written if "/calls/date=" in p]
        assert len(calls) == len(DAYS) * len(REGISTRY)
        assert sum(written[p].num_rows for p in calls) > 0
        assert rerun.keys() == written.keys()
        for path, table in written.items():
            changed = [c for c in table.column_names if not _same(rerun[path][c], table[c])]
            assert not changed, (
                f"{path}: {changed} changed on an unchanged re-run: "
                f"{[(rerun[path][c].to_pylist(), table[c].to_pylist()) for c in changed]}"
            )
        assert stored == {(key, day) for key in defs.resolve_all_asset_keys() for day in DAYS}
        check_results = first.get_asset_check_evaluations()
        failed_checks = [
            (e.asset_key.to_user_string(), e.check_name, e.metadata)
            for e in check_results
            if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        ]
        assert check_results and not failed_checks
        _assert_no_credentials(lake, instance_runs=[first.run_id, again.run_id])

    # The QA scorecard reads back through the report CLI, from wherever the lake is.
    code = main(["report", "--from", DAYS[0], "--to", DAYS[-1], "--format", "json", "--data-dir", lake.root])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert code == 0
    assert {(r["date"], r["provider"]) for r in rows} == {(d, p) for d in DAYS for p in REGISTRY}


def _same(a: pa.ChunkedArray, b: pa.ChunkedArray) -> bool:
    """Equal, floats to 1e-9 relative: DuckDB's parallel sums may differ in the last bit (QA metrics)."""
    if pa.types.is_floating(a.type) and a.type == b.type and len(a) == len(b):
        pairs = zip(a.to_pylist(), b.to_pylist(), strict=True)
        return all(
            x == y or (x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9)) for x, y in pairs
        )
    return a.equals(b)


def _materialized_partitions(instance: dg.DagsterInstance, defs: dg.Definitions) -> set:
    found = set()
    for key in defs.resolve_all_asset_keys():
        records = instance.fetch_materializations(key, limit=100).records
        found |= {(key, r.partition_key) for r in records}
    return found


def _assert_no_credentials(lake: Lake, instance_runs: list[str]) -> None:
    """The AWS secret (used only on the S3 backend, always set to be safe) is nowhere in the lake
    or the event log."""
    secret = AWS_ENV["AWS_SECRET_ACCESS_KEY"].encode()
    base = lake.url(lake.raw_path("x", "y", "z")).split("://")[-1].split("/raw/")[0]
    for path in lake.fs.find(base):
        with lake.fs.open(path, "rb") as f:
            assert secret not in f.read(), path
    with dg.DagsterInstance.get() as instance:
        for run_id in instance_runs:
            for event in instance.all_logs(run_id):
                assert secret.decode() not in str(event), run_id
