"""Section qa: the QA step for one provider-day (target: 1,000,000 calls in seconds, < 512 MiB peak RSS).

A synthetic normalized OmniDimension-shaped day (the provider with every metric: outcomes, turns
with latencies, tool calls, cost, extraction) plus the seven earlier days of calls that the
repeat-contact window reads, generated with DuckDB straight into the lake. Each measurement runs in
a fresh process (``python -m bench.qa measure``) that reports wall time, CPU and its own peak RSS:

* qa step: ``compute_day`` + ``write_day`` + ``judge_day``, what the ``qa/<provider>_*`` multi-asset
  does per day;
* baseline: one DuckDB pass that counts the day's calls per agent with a mean duration and a
  pooled latency median (the least work a per-agent scorecard needs), in the same run.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

PROVIDER = "omnidimension"
DAY = date(2026, 3, 10)
ROOT = Path(__file__).resolve().parent.parent

CALLS_SQL = """
COPY (
  SELECT 'c' || i AS call_id,
         'agent-' || (i % 20) AS agent_id, 'Agent ' || (i % 20) AS agent_name,
         TIMESTAMPTZ '{day} 00:00:00+00' + INTERVAL (i * 86400 // {n}) SECOND AS started_at,
         NULL::TIMESTAMPTZ AS ended_at,
         CASE WHEN hash(i) % 100 < 64 THEN 20 + hash(i, 1) % 300 ELSE 0 END::DOUBLE AS duration_s,
         CASE WHEN hash(i) % 100 < 69 THEN 'completed' WHEN hash(i) % 100 < 82 THEN 'no_answer'
              WHEN hash(i) % 100 < 89 THEN 'busy' ELSE 'failed' END AS status,
         NULL AS status_raw,
         CASE WHEN hash(i) % 100 BETWEEN 64 AND 68 THEN 'voicemail_detected'
              WHEN hash(i) % 100 < 64 THEN 'user_disconnected' END AS end_reason,
         CASE WHEN i % 4 = 0 THEN 'inbound' ELSE 'outbound' END AS direction, 'phone' AS channel,
         '+1555' || lpad(CAST(hash(i, 2) % 5000000 AS VARCHAR), 7, '0') AS from_number,
         '+1555' || lpad(CAST(hash(i, 3) % 5000000 AS VARCHAR), 7, '0') AS to_number,
         ['positive', 'neutral', 'negative'][(1 + hash(i, 4) % 3)::BIGINT] AS sentiment,
         'summary' AS summary, NULL AS transcript, NULL AS recording_url,
         hash(i, 5) % 100 < 3 AS is_test,
         (hash(i, 6) % 1000) / 1000.0 AS cost_usd, (6000 + hash(i, 7) % 2000)::BIGINT AS tokens,
         '{{"user_name": "x", "phone_number": "Not provided"}}' AS extracted,
         '{{"is_call_transfer": ' || (hash(i, 8) % 10 = 0) || ', "cqs_score": ' || (hash(i, 9) % 10) || '}}'
             AS extra,
         TIMESTAMPTZ '{day} 00:00:00+00' AS ingested_at
  FROM range({n}) t(i)
) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
"""

TURNS_SQL = """
COPY (
  SELECT 'c' || i AS call_id, t::INTEGER AS turn_index,
         CASE WHEN t % 2 = 0 THEN 'agent' ELSE 'user' END AS speaker, 'some words said here' AS text,
         NULL::TIMESTAMPTZ AS at,
         CASE WHEN t % 2 = 0 THEN 0.5 + (hash(i, t) % 3000) / 1000.0 END AS response_latency_s,
         'turns' AS source, TIMESTAMPTZ '{day} 00:00:00+00' AS ingested_at
  FROM range({n}) c(i), range(8) s(t)
  WHERE hash(i) % 100 < 64
) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
"""

ACTIONS_SQL = """
COPY (
  SELECT 'c' || i AS call_id, 'a' || i AS action_id, 'function_call' AS action_type,
         'function_call_data' AS action_type_raw, 'lookup_order' AS name, NULL::TIMESTAMPTZ AS executed_at,
         hash(i, 11) % 100 < 95 AS succeeded, (hash(i, 12) % 1500) / 1000.0 AS latency_s,
         '{{}}' AS parameters, 'ok' AS result, NULL AS extra, TIMESTAMPTZ '{day} 00:00:00+00' AS ingested_at
  FROM range({n}) t(i)
  WHERE hash(i) % 100 < 64 AND hash(i, 10) % 10 < 3
) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
"""


def generate(data_dir: str, n: int) -> None:
    import duckdb

    from calllog_pipeline.lake import Lake

    lake = Lake(root=data_dir)
    con = duckdb.connect(config={"memory_limit": "1GB"})
    for k in range(8):
        day = DAY - timedelta(days=k)
        path = lake.table_path("calls", day, PROVIDER)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        con.execute(CALLS_SQL.format(day=day, n=n, path=path))
    for table, sql in (("interactions", TURNS_SQL), ("actions", ACTIONS_SQL)):
        path = lake.table_path(table, DAY, PROVIDER)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        con.execute(sql.format(day=DAY, n=n, path=path))


def measure(data_dir: str, what: str) -> dict:
    """Runs in its own process: one measurement with this process's peak RSS."""
    from calllog_pipeline.lake import Lake

    lake = Lake(root=data_dir)
    started, cpu0 = time.perf_counter(), time.process_time()
    if what == "qa":
        from calllog_pipeline.qa.anomalies import Thresholds
        from calllog_pipeline.qa.judge import judge_day
        from calllog_pipeline.qa.metrics import compute_day, write_day

        tables = compute_day(lake, PROVIDER, DAY.isoformat())
        write_day(lake, PROVIDER, DAY.isoformat(), tables)
        judge_day(lake, PROVIDER, DAY.isoformat(), tables.provider, tables.agent, Thresholds())
        calls = tables.provider.column("calls")[0].as_py() + tables.provider.column("test_calls")[0].as_py()
    else:
        import duckdb

        con = duckdb.connect(config={"memory_limit": "256MB", "threads": 2})
        calls_path = lake.table_path("calls", DAY, PROVIDER)
        turns_path = lake.table_path("interactions", DAY, PROVIDER)
        calls = sum(
            r[1]
            for r in con.execute(
                f"SELECT agent_id, count(*), avg(duration_s) FROM read_parquet('{calls_path}') GROUP BY 1"
            ).fetchall()
        )
        con.execute(
            f"SELECT c.agent_id, median(t.response_latency_s) FROM read_parquet('{turns_path}') t "
            f"JOIN read_parquet('{calls_path}') c USING (call_id) GROUP BY 1"
        ).fetchall()
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"what": what, "calls": calls, "wall": wall, "cpu": time.process_time() - cpu0, "max_rss": peak}


def _measure_in_child(data_dir: str, what: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.qa", "measure", data_dir, what],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.qa {what} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(calls_per_day: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as data_dir:
        generate(data_dir, calls_per_day)
        return [_measure_in_child(data_dir, what) for what in ("baseline", "qa")]


def table(rows: list[dict]) -> str:
    head = "| step | calls | wall s | CPU s | calls/s | peak RSS MiB (< 512) |\n|---|---|---|---|---|---|\n"
    return head + "\n".join(
        f"| {r['what']} | {r['calls']:,} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['calls'] / r['wall']:,.0f} "
        f"| {r['max_rss'] / 2**20:,.0f} {'yes' if r['max_rss'] < 512 * 2**20 else 'NO'} |"
        for r in rows
    )


def section(mode: str) -> str:
    """The section's Markdown for ``python -m bench`` (100,000 calls in quick mode)."""
    n = 100_000 if mode == "quick" else 1_000_000
    return f"### QA ({n:,} calls in one provider-day)\n\n{__doc__.strip()}\n\n{table(run(n))}"


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"]:
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
    else:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
        print(table(run(n)))
