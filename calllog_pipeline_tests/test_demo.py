"""The README's first command: the demo runs the whole graph end to end on the simulator."""

import logging
from datetime import date, timedelta

import dagster as dg
import duckdb
import pandas as pd

from calllog_pipeline.automation import job_name
from calllog_pipeline.cli import main
from calllog_pipeline.demo import DEMO_HISTORY_DAYS
from calllog_pipeline.normalized import normalized_asset_key
from calllog_pipeline.providers import REGISTRY


def test_demo_materializes_every_asset_into_a_real_instance(tmp_path, capsys, monkeypatch):
    lake, home = tmp_path / "data", tmp_path / "home"
    last = date.today() - timedelta(days=1)
    first = last - timedelta(days=1)
    args = ["demo", "--days", "2", "--calls-per-day", "20", "--port", "0"]
    assert main([*args, "--data-dir", str(lake), "--dagster-home", str(home)]) == 0

    out = capsys.readouterr().out
    assert "calllog-pipeline ui" in out and "Rows in the lake" in out
    # Progress and a summary, not Dagster's DEBUG event stream (that stays in the instance).
    assert "DEBUG" not in out and "STEP_START" not in out
    # the QA scorecard of the last day, and the planted incident (too little history to judge it here)
    assert "QA scorecard" in out and "Planted incident connect_drop on omnidimension" in out
    calls = duckdb.sql(
        f"select provider, count(distinct date) from read_parquet('{lake}/calls/**/*.parquet', "
        "hive_partitioning = true) group by provider order by provider"
    ).fetchall()
    assert calls == [(provider, 2) for provider in sorted(REGISTRY)]

    # The same lake opens as one table in pandas (pyarrow), partition columns from the folders.
    for table in ("calls", "actions", "interactions", "quarantine"):
        frame = pd.read_parquet(lake / table)
        assert {"date", "provider"} <= set(frame.columns)
    assert set(pd.read_parquet(lake / "calls")["provider"].astype(str)) == set(REGISTRY)

    # The runs and their lineage are in the instance the UI opens afterwards.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        # One ranged run (single_run backfill policy) per provider's job.
        assert sorted(r.job_name for r in runs) == sorted(job_name(p) for p in REGISTRY)
        assert all(r.is_success for r in runs)
        assert {
            (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
            for r in runs
        } == {(first.isoformat(), last.isoformat())}
        for provider in REGISTRY:
            calls = normalized_asset_key(provider, "calls")
            assert instance.get_materialized_partitions(calls) == {first.isoformat(), last.isoformat()}
        # The full event log, DEBUG included, is kept for the UI.
        assert any(e.level == logging.DEBUG for e in instance.all_logs(runs[0].run_id))
    env = (home / "demo.env").read_text()
    assert (home / "dagster.yaml").exists()
    # The partitions reach back further than the days materialized: older days can be backfilled.
    assert f"CALLLOG_START_DATE={(last - timedelta(days=DEMO_HISTORY_DAYS - 1)).isoformat()}" in env


def test_ui_without_a_demo_instance_says_to_run_the_demo_first(tmp_path, capsys):
    assert main(["ui", "--dagster-home", str(tmp_path)]) == 2
    assert "Run `calllog-pipeline demo` first" in capsys.readouterr().err
    (tmp_path / "demo.env").write_text("CALLLOG_DATA_DIR=/somewhere\n")  # from an older demo
    assert main(["ui", "--dagster-home", str(tmp_path)]) == 2
    assert "run the demo again" in capsys.readouterr().err
