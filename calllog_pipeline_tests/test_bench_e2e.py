"""Section 5's "Dagster alone" row: the no-op asset materializes, and its row fits the table."""

from __future__ import annotations

import dagster as dg

from bench import e2e, noop_defs


def test_the_noop_asset_materializes_a_day_and_does_nothing_else():
    result = dg.materialize([noop_defs.noop], partition_key="2026-11-20")
    assert result.success
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [dg.AssetKey("noop")]
    assert not result.get_asset_check_evaluations(), "no checks: the row is Dagster's cost alone"


def test_the_dagster_alone_row_has_the_tables_columns():
    alone = {"provider": "Dagster alone (no-op asset)", "ours_wall": 4.2, "ours_cpu": 2.5}
    provider = {
        "provider": "dialnexa",
        "calls_per_day": 10_000,
        "limited": False,
        "raw_records": 21_510,
        "ours_wall": 9.0,
        "ours_cpu": 5.0,
        "ours_cpu_per_100k": 23.2,
        "dlt_wall": 8.0,
        "dlt_cpu": 4.0,
        "dlt_cpu_per_100k": 18.6,
        "speedup": 0.89,
        "cpu_speedup": 0.8,
    }
    header, rule, *rows = e2e.table([alone, provider]).splitlines()
    assert all(line.count("|") == header.count("|") for line in [rule, *rows])
    assert rows[0].startswith("| Dagster alone (no-op asset) | - |") and "| 2.5 |" in rows[0]
