"""The lake in an S3 bucket (an S3-compatible server on loopback): partition rewrites are atomic,
and the README's DuckDB query reads it."""

from __future__ import annotations

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from calllog_pipeline.lake import Lake


def read(lake: Lake, path: str) -> pa.Table:
    with lake.fs.open(path, "rb") as f:
        return pq.read_table(f)


def test_a_failed_rewrite_keeps_the_old_partition_and_a_good_one_replaces_it(s3_lake):
    lake = Lake(root=s3_lake)
    path = lake.table_path("calls", "2026-11-10", "dialnexa")
    old = pa.table({"call_id": ["a", "b"], "duration_s": [1.0, 2.0]})
    lake.write_table(path, old)

    with pytest.raises(RuntimeError), lake.writer(path, old.schema) as pw:
        pw.write_table(pa.table({"call_id": ["c"], "duration_s": [3.0]}))
        raise RuntimeError("the process dies half way")
    lake.fs.invalidate_cache()
    assert read(lake, path).equals(old), "a failed rewrite must leave the stored partition whole"
    folder = path.rsplit("/", 1)[0]
    assert lake.fs.ls(folder) == [path], "nothing half-written is visible beside the partition"
    assert not lake.fs.glob(f"{lake.staging_dir()}/*"), "the failed write's staged object is discarded"

    new = pa.table({"call_id": ["c", "d", "e"], "duration_s": [3.0, 4.0, 5.0]})
    lake.write_table(path, new)
    lake.fs.invalidate_cache()
    assert read(lake, path).equals(new)


def test_the_readme_duckdb_query_reads_the_bucket(s3_lake):
    lake = Lake(root=s3_lake)
    for day, provider, n in (("2026-11-09", "dialnexa", 2), ("2026-11-10", "omnidimension", 3)):
        rows = pa.table({"call_id": [f"{provider}-{i}" for i in range(n)], "status": ["completed"] * n})
        lake.write_table(lake.table_path("calls", day, provider), rows)

    # As docs/deployment.md shows: DuckDB reads s3:// through fsspec, with the AWS variables.
    con = duckdb.connect()
    con.register_filesystem(fsspec.filesystem("s3"))
    calls = f"read_parquet('{s3_lake}/calls/**/*.parquet', hive_partitioning = true)"
    rows = con.sql(f"SELECT provider, count(*) FROM {calls} GROUP BY ALL ORDER BY ALL").fetchall()
    assert rows == [("dialnexa", 2), ("omnidimension", 3)]
