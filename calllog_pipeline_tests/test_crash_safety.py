"""A write killed part-way (SIGKILL, OOM) never breaks a reader, and its leftovers are swept."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from calllog_pipeline import lake as lake_module
from calllog_pipeline.lake import STAGED_SUFFIX, STAGING, Lake
from calllog_pipeline.normalized import Privacy, build_normalized_assets
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import build_raw_asset
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer

ROOT = Path(__file__).resolve().parent.parent
DAY = "2026-11-10"
PROVIDER = next(iter(REGISTRY.values()))
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-11-01")
# The README's query, on this test's lake.
README_QUERY = (
    "SELECT provider, status, count(*) AS calls, round(avg(duration_s)) AS avg_s "
    "FROM read_parquet('{root}/calls/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY ALL"
)

# A normalize run in its own process that stops for good right after its first batch reached a
# staged file: the parent kills it there, so the kill lands mid-write every time.
CHILD = """
import pathlib, sys, time
import dagster as dg
import pyarrow.parquet as pq
from calllog_pipeline.lake import Lake
from calllog_pipeline.normalized import Privacy, build_normalized_assets
from calllog_pipeline.providers import REGISTRY

root, day, provider, ready = sys.argv[1:5]
write_table = pq.ParquetWriter.write_table  # write_batch calls it too

def write_then_hang(self, *args, **kwargs):
    write_table(self, *args, **kwargs)
    pathlib.Path(ready).write_text("mid-write")
    time.sleep(600)

pq.ParquetWriter.write_table = write_then_hang
partitions = dg.DailyPartitionsDefinition(start_date="2026-11-01")
dg.materialize(
    build_normalized_assets([REGISTRY[provider]], partitions),
    resources={"lake": Lake(root=root), "privacy": Privacy()},
    partition_key=day,
)
"""


def ingest(root: Path, calls_per_day: int, monkeypatch) -> None:
    """The provider's raw files for DAY, from a simulated day of ``calls_per_day`` calls."""
    config = SimulatorConfig(seed=3, calls_per_day=calls_per_day, now=datetime(2026, 11, 11, 1, tzinfo=UTC))
    with SimulatorServer(config) as sim:
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)
        dg.materialize(
            [build_raw_asset(PROVIDER, e, PARTITIONS) for e in PROVIDER.endpoints],
            resources={"lake": Lake(root=str(root)), PROVIDER.name: PROVIDER.api()},
            partition_key=DAY,
        )


def normalize(root: Path) -> None:
    dg.materialize(
        build_normalized_assets([PROVIDER], PARTITIONS),
        resources={"lake": Lake(root=str(root)), "privacy": Privacy()},
        partition_key=DAY,
    )


def readme_query(root: Path) -> list[tuple]:
    return duckdb.sql(README_QUERY.format(root=root)).fetchall()


def kill_normalize_mid_write(root: Path) -> None:
    ready = root.parent / "child-is-writing"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), DAY, PROVIDER.name, str(ready)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if child.poll() is not None:
                pytest.fail(
                    f"the normalize process ended before writing: {child.stderr.read().decode()[-2000:]}"
                )
            assert time.monotonic() < deadline, "the normalize process never started writing"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL


def test_a_normalize_killed_mid_write_leaves_readers_the_previous_day(tmp_path, monkeypatch):
    root = tmp_path / "data"
    ingest(root, calls_per_day=40, monkeypatch=monkeypatch)
    normalize(root)
    before = readme_query(root)
    assert sum(row[2] for row in before) > 0

    ingest(root, calls_per_day=160, monkeypatch=monkeypatch)  # the day changed: more calls
    kill_normalize_mid_write(root)

    staged = list((root / STAGING).glob(f"*{STAGED_SUFFIX}"))
    assert staged, "the kill landed mid-write: the run's staged files are still there"
    assert [p for p in root.rglob("*.parquet") if p.name != "data.parquet"] == []
    assert readme_query(root) == before, "readers still see the previous complete day"

    # A later run replaces the day, and once the dead run's files are old enough, sweeps them.
    for path in staged:
        os.utime(path, (time.time() - 2 * lake_module.STALE_AFTER_S,) * 2)
    monkeypatch.setattr(lake_module, "_last_sweep", {})
    normalize(root)
    after = readme_query(root)
    assert sum(row[2] for row in after) > sum(row[2] for row in before)
    assert list((root / STAGING).iterdir()) == []


def test_a_live_writers_staged_file_is_never_swept(tmp_path, monkeypatch):
    lake = Lake(root=str(tmp_path))
    monkeypatch.setattr(lake_module, "_last_sweep", {})
    (tmp_path / STAGING).mkdir()
    fresh = tmp_path / STAGING / f"other-writer{STAGED_SUFFIX}"
    fresh.write_bytes(b"PAR1 still being written")
    lake.write_table(lake.table_path("calls", DAY, "x"), pa.table({"a": [1]}))
    assert fresh.exists()
    assert lake.sweep_staging(older_than_s=0, force=True) == [str(fresh)]


def test_temp_files_of_older_versions_are_removed_from_the_partition(tmp_path):
    lake = Lake(root=str(tmp_path))
    path = lake.table_path("calls", DAY, "x")
    Path(path).parent.mkdir(parents=True)
    stray = Path(path).parent / ".tmp-0123abcd.parquet"
    stray.write_bytes(b"PAR1")  # what a crash used to leave: "too small to be a Parquet file"
    lake.write_table(path, pa.table({"a": [1, 2]}))
    assert not stray.exists()
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{tmp_path}/calls/**/*.parquet')").fetchall() == [
        (2,)
    ]


def test_a_failed_write_replaces_none_of_the_days_tables(tmp_path):
    lake = Lake(root=str(tmp_path))
    paths = [lake.table_path(t, DAY, "x") for t in ("calls", "actions")]
    for path in paths:
        lake.write_table(path, pa.table({"v": ["old"]}))
    with pytest.raises(RuntimeError), lake.publish_together() as together:
        for path in paths:
            with lake.writer(path, pa.schema([("v", pa.string())]), together=together) as pw:
                pw.write_table(pa.table({"v": ["new"]}))
        raise RuntimeError("the provider's mapping failed after both files were complete")
    for path in paths:
        assert duckdb.sql(f"SELECT v FROM '{path}'").fetchall() == [("old",)]
    assert list((tmp_path / STAGING).iterdir()) == []
