"""Section 5, end to end: one provider-day as a user runs it, against a dlt pipeline, both as whole processes.

* pipeline: ``dagster asset materialize -m calllog_pipeline.definitions --select 'tag:provider=<p>
  and (group:raw or group:normalized)' --partition <day>``: fetch + normalize of one provider-day as
  a fresh process, with Dagster's start-up, imports, code-location load, run, per-step overhead and
  the project's instance (``dagster.yaml``: pools, op-level slots, SQLite event log; created before
  the clock starts, as a user's instance exists before their second run). QA is not included.
* Dagster alone: the same command for ``bench/noop_defs.py``, one partitioned asset that does
  nothing and has no checks, on the same instance: what any ``dagster asset materialize`` costs here.
* dlt: ``python -m bench.dlt_source``: a dlt pipeline script (``rest_api_source`` -> ``filesystem``
  Parquet) over the same endpoints and day of the same simulator.
Measured from outside, the same way on both sides: wall clock, and the CPU of the whole process
tree (the command runs under a child-subreaper, so steps, fork servers and their children are all
counted). Once without rate limits (CPU-bound: the ≥ 3x goal), once under the limits of section 1
on the simulator and on our client (dlt has no client-side limit; it backs off on 429).
Ideal = requests needed / rate. The simulator serves from its own process on the same 2 cores.
"""

from __future__ import annotations

import ctypes
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

PR_SET_CHILD_SUBREAPER = 36


def timed_process(argv: list[str], env: dict, timeout: float = 3600) -> dict:
    """Run ``argv`` to completion under ``python -m bench.e2e``'s subreaper; its wall time and
    the CPU of its whole process tree."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.e2e", json.dumps(argv)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:6]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    *out, last = proc.stdout.splitlines()
    return {**json.loads(last), "stdout": "\n".join(out)}


def _tree(argv: list[str]) -> int:
    """Run ``argv`` as this process's child and wait for every descendant, orphans included:
    a fork server outlives the run process that started it, and without a subreaper its CPU
    (and its steps') would be reaped by init and never counted."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    stdout, _ = child.communicate()
    while True:  # reap the orphans handed to us
        try:
            os.wait()
        except ChildProcessError:
            break
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stdout.write(stdout)
    print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rc": child.returncode}))
    return child.returncode


def _rows(folder: Path, pattern: str) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob(pattern))


def selection(provider: str) -> str:
    """Fetch + normalize of one provider: its raw and normalized assets (and their checks)."""
    return f"tag:provider={provider} and (group:raw or group:normalized)"


def _materialize(module: str, select: str, day: str, env: dict) -> dict:
    """``dagster asset materialize`` as a measured process tree, on a fresh instance made from the
    project's ``dagster.yaml`` in ``env["DAGSTER_HOME"]`` (created and migrated before the clock)."""
    from calllog_pipeline.instance import prepare_home

    prepare_home(Path(env["DAGSTER_HOME"]), env)
    dagster = [sys.executable, "-m", "dagster"]
    subprocess.run([*dagster, "instance", "migrate"], cwd=ROOT, env=env, capture_output=True, check=True)
    argv = [*dagster, "asset", "materialize", "-m", module, "--select", select, "--partition", day]
    r = timed_process(argv, env)
    if r["rc"] != 0:
        raise RuntimeError(f"dagster asset materialize -m {module} {select} {day} failed ({r['rc']})")
    return r


def ours(provider: str, day: str, sim_env: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as work:
        env = {
            **os.environ,
            **sim_env,
            "DAGSTER_HOME": work,
            "CALLLOG_DATA_DIR": f"{work}/lake",
            "CALLLOG_PROVIDERS": provider,
            "CALLLOG_START_DATE": "2020-01-01",
            "PYTHONWARNINGS": "ignore",
        }
        r = _materialize("calllog_pipeline.definitions", selection(provider), day, env)
        lake = Path(work) / "lake"
        r["raw_records"] = _rows(lake, f"raw/{provider}/*/date={day}/*.parquet")
        r["calls"] = _rows(lake, f"calls/date={day}/provider={provider}/*.parquet")
    return r


def dagster_alone(day: str) -> dict:
    """``bench/noop_defs.py`` materialized like ``ours``: Dagster's own cost of such a run."""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as work:
        env = {**os.environ, "DAGSTER_HOME": work, "PYTHONWARNINGS": "ignore"}
        return _materialize("bench.noop_defs", "noop", day, env)


def dlt(provider: str, day: str, sim_env: dict, omni_records: int) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory(prefix="bench-dlt-") as work:
        args = {"provider": provider, "day": day, "env": sim_env, "omni_records": omni_records}
        args["work_dir"] = work
        r = timed_process([sys.executable, "-m", "bench.dlt_source", json.dumps(args)], env)
    r.update(json.loads(r.pop("stdout").splitlines()[-1]))
    return r


def ideal_seconds(provider: str, records: int) -> float:
    requests, period = RATE_LIMITS[provider]
    pages = {p: size for p, _, size in ENDPOINTS}
    endpoints = len(REGISTRY[provider].endpoints)
    needed = endpoints * math.ceil(records / endpoints / pages[provider])
    return needed / (requests / period)


def run(sizes: tuple[int, ...], limited_size: int | None = None) -> list[dict]:
    """Unlimited at every size in ``sizes``; under the rate limits at ``limited_size``."""
    day = yesterday().isoformat()
    plan = [(n, False) for n in sizes] + ([(limited_size, True)] if limited_size else [])
    alone = dagster_alone(day)
    rows = [{"provider": "Dagster alone (no-op asset)", "ours_wall": alone["wall"], "ours_cpu": alone["cpu"]}]
    print(f"[bench] e2e {_row(rows[0])}", file=sys.stderr, flush=True)
    for calls_per_day, limited in plan:
        spec = SimSpec(calls_per_day=calls_per_day, rate_limits=RATE_LIMITS if limited else {})
        with Simulator(spec) as sim:
            sim_env = sim.env()
            for provider in REGISTRY:
                a = ours(provider, day, sim_env)
                d = dlt(provider, day, sim_env, a["raw_records"])
                row = {
                    "provider": provider,
                    "calls_per_day": calls_per_day,
                    "limited": limited,
                    "raw_records": a["raw_records"],
                    "calls": a["calls"],
                    "ours_wall": a["wall"],
                    "ours_cpu": a["cpu"],
                    "ours_cpu_per_100k": a["cpu"] / a["raw_records"] * 100_000,
                    "dlt_wall": d["wall"],
                    "dlt_cpu": d["cpu"],
                    "dlt_records": d["records"],
                    "dlt_cpu_per_100k": d["cpu"] / max(d["records"], 1) * 100_000,
                    "speedup": d["wall"] / a["wall"],
                    "cpu_speedup": d["cpu"] / a["cpu"],
                }
                if limited:
                    ideal = ideal_seconds(provider, a["raw_records"])
                    row.update(ideal_s=ideal, ours_vs_ideal=a["wall"] / ideal, dlt_vs_ideal=d["wall"] / ideal)
                rows.append(row)
                print(f"[bench] e2e {_row(row)}", file=sys.stderr, flush=True)
    return rows


def _row(r: dict) -> str:
    if "calls_per_day" not in r:  # Dagster alone: our side's columns only
        ours = f"| {r['provider']} | - | none | 0 | {r['ours_wall']:.1f} | - | - | {r['ours_cpu']:.1f} |"
        return ours + " - |" * 7
    ideal = (
        f"| {r['ideal_s']:.1f} | {r['ours_vs_ideal']:.2f}x | {r['dlt_vs_ideal']:.2f}x |"
        if r["limited"]
        else "| - | - | - |"
    )
    return (
        f"| {r['provider']} | {r['calls_per_day']:,} | {'section 1' if r['limited'] else 'none'} "
        f"| {r['raw_records']:,} | {r['ours_wall']:.1f} | {r['dlt_wall']:.1f} | {r['speedup']:.2f} "
        f"| {r['ours_cpu']:.1f} | {r['dlt_cpu']:.1f} | {r['cpu_speedup']:.2f} "
        f"| {r['ours_cpu_per_100k']:.1f} | {r['dlt_cpu_per_100k']:.1f} {ideal}"
    )


def table(rows: list[dict]) -> str:
    head = (
        "| provider | calls/day | rate limits | raw records | our wall s | dlt wall s "
        "| dlt / ours, wall (≥ 3 unlimited) | our CPU s | dlt CPU s | dlt / ours, CPU "
        "| our CPU s /100k raw | dlt CPU s /100k | ideal s | ours / ideal | dlt / ideal |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    return head + "\n".join(_row(r) for r in rows)


if __name__ == "__main__":  # python -m bench.e2e '<argv as JSON>': run it as a measured process tree
    sys.exit(_tree(json.loads(sys.argv[1])))
