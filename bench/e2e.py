"""Section 5, end to end: one provider-day as a user runs it, against a dlt pipeline, both as whole processes.

* pipeline: ``dagster job execute -m calllog_pipeline.definitions -j <provider>_daily --tags
  '{"dagster/partition": "<day>"}'``: the provider's daily job as a fresh process, with Dagster's
  start-up, imports, run and per-step overhead (the multiprocess executor starts a process per
  step): fetching every endpoint, writing the four normalized tables with their checks, and the QA
  tables (work dlt does not do, so the comparison is conservative).
* dlt: ``python -m bench.dlt_source``: a dlt pipeline script (``rest_api_source`` -> ``filesystem``
  Parquet) over the same endpoints and day of the same simulator.
Measured from outside: wall clock and CPU of the whole process tree (``getrusage`` of children).
Once without rate limits (CPU-bound), once under the limits of section 1 on the simulator and on
our client (dlt has no client-side limit; it backs off on 429). Ideal = requests needed / rate.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from bench.harness import ENDPOINTS, ROOT, SimSpec, Simulator, yesterday
from bench.ingest import RATE_LIMITS
from calllog_pipeline.providers import REGISTRY


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_process(argv: list[str], env: dict, timeout: float = 3600) -> dict:
    """Run ``argv`` to completion; its wall time and the CPU of it and its children."""
    cpu, wall = _children_cpu(), time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    out = {"wall": time.perf_counter() - wall, "cpu": _children_cpu() - cpu}
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out["stdout"] = proc.stdout
    return out


def _rows(folder: Path, pattern: str) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob(pattern))


def ours(provider: str, day: str, sim_env: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as work:
        env = {
            **os.environ,
            **sim_env,
            "DAGSTER_HOME": work,
            "CALLLOG_DATA_DIR": f"{work}/lake",
            "CALLLOG_PROVIDERS": provider,
            "CALLLOG_START_DATE": day,
            "PYTHONWARNINGS": "ignore",
        }
        argv = [sys.executable, "-m", "dagster", "job", "execute", "-m", "calllog_pipeline.definitions"]
        tags = json.dumps({"dagster/partition": day})
        r = timed_process([*argv, "-j", f"{provider}_daily", "--tags", tags], env)
        lake = Path(work) / "lake"
        r["raw_records"] = _rows(lake, f"raw/{provider}/*/date={day}/*.parquet")
        r["calls"] = _rows(lake, f"calls/date={day}/provider={provider}/*.parquet")
    return r


def dlt(provider: str, day: str, sim_env: dict, omni_records: int) -> dict:
    args = {"provider": provider, "day": day, "env": sim_env, "omni_records": omni_records}
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = timed_process([sys.executable, "-m", "bench.dlt_source", json.dumps(args)], env)
    r.update(json.loads(r.pop("stdout").splitlines()[-1]))
    return r


def ideal_seconds(provider: str, records: int) -> float:
    requests, period = RATE_LIMITS[provider]
    pages = {p: size for p, _, size in ENDPOINTS}
    endpoints = len(REGISTRY[provider].endpoints)
    needed = endpoints * math.ceil(records / endpoints / pages[provider])
    return needed / (requests / period)


def run(calls_per_day: int) -> list[dict]:
    day = yesterday().isoformat()
    rows = []
    for limited in (False, True):
        spec = SimSpec(calls_per_day=calls_per_day, rate_limits=RATE_LIMITS if limited else {})
        with Simulator(spec) as sim:
            sim_env = sim.env()
            for provider in REGISTRY:
                a = ours(provider, day, sim_env)
                d = dlt(provider, day, sim_env, a["raw_records"])
                row = {
                    "provider": provider,
                    "limited": limited,
                    "raw_records": a["raw_records"],
                    "calls": a["calls"],
                    "ours_wall": a["wall"],
                    "ours_cpu_per_100k": a["cpu"] / a["raw_records"] * 100_000,
                    "dlt_wall": d["wall"],
                    "dlt_records": d["records"],
                    "dlt_cpu_per_100k": d["cpu"] / max(d["records"], 1) * 100_000,
                    "speedup": d["wall"] / a["wall"],
                }
                if limited:
                    ideal = ideal_seconds(provider, a["raw_records"])
                    row.update(ideal_s=ideal, ours_vs_ideal=a["wall"] / ideal, dlt_vs_ideal=d["wall"] / ideal)
                rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| provider | rate limits | raw records | our wall s | dlt wall s | dlt / ours (≥ 3 unlimited) "
        "| our CPU s /100k raw | dlt CPU s /100k | ideal s | ours / ideal | dlt / ideal |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    return head + "\n".join(
        f"| {r['provider']} | {'section 1' if r['limited'] else 'none'} | {r['raw_records']:,} "
        f"| {r['ours_wall']:.1f} | {r['dlt_wall']:.1f} | {r['speedup']:.2f} "
        f"| {r['ours_cpu_per_100k']:.1f} | {r['dlt_cpu_per_100k']:.1f} "
        + (
            f"| {r['ideal_s']:.1f} | {r['ours_vs_ideal']:.2f}x | {r['dlt_vs_ideal']:.2f}x |"
            if r["limited"]
            else "| - | - | - |"
        )
        for r in rows
    )
