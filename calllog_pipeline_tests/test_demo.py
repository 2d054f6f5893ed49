"""The README's first command: the demo runs the whole graph end to end on the simulator."""

import dagster as dg
import duckdb
import pandas as pd

from calllog_pipeline.cli import main
from calllog_pipeline.normalized import normalized_asset_key
from calllog_pipeline.providers import REGISTRY


def test_demo_materializes_every_asset_into_a_real_instance(tmp_path, capsys, monkeypatch):
    lake, home = tmp_path / "data", tmp_path / "home"
    args = ["demo", "--days", "2", "--calls-per-day", "40", "--port", "0"]
    assert main([*args, "--data-dir", str(lake), "--dagster-home", str(home)]) == 0

    out = capsys.readouterr().out
    assert "dagster dev" in out and "Rows in the lake" in out
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
        assert len(runs) == 2 * len(REGISTRY) and all(r.is_success for r in runs)  # a run per provider-day
        for provider in REGISTRY:
            calls = normalized_asset_key(provider, "calls")
            assert instance.get_latest_materialization_event(calls) is not None
    assert (home / "dagster.yaml").exists() and (home / "demo.env").exists()
