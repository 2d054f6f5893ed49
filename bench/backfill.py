"""Section 3, backfill: a range of days for every provider, launched by the daemon as an operator would.

``dagster-daemon`` against the project's local instance (``dagster.yaml``: SQLite, queued runs, at
most 4 at once, per-provider pools), driven by ``bench.daemon_backfill`` (one asset backfill per
provider chain, raw -> normalized, as the UI's "Materialize" over a range submits it). Each run
is launched by the daemon in a fresh process that loads the code location. No rate limit and no
latency, so the steps' time is the pipeline's own work and Dagster's share is as large as it gets.
From the instance's event log, per run: launch (``RUN_STARTING`` -> ``RUN_START``: a new process,
imports, code location), steps (``STEP_START`` -> ``STEP_SUCCESS``, the assets' work and their
per-step events) and the rest of the run process. Overhead = launch + run time outside steps, as
a share of launch + run time. Wall is from submitting the backfills to the last run's end
(includes the daemon's ticks and queue).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from unittest import mock

from calllog_pipeline.providers import REGISTRY

UNLIMITED = {p: (100_000, 1.0) for p in REGISTRY}
TARGET = 0.20


def run(days: int, calls_per_day: int) -> dict:
    from bench import daemon_backfill
    from calllog_pipeline.instance import prepare_home

    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        home = Path(tmp) / "home"
        with mock.patch.dict(os.environ, {"CALLLOG_INSTANCE": "sqlite", "DAGSTER_HOME": str(home)}):
            prepare_home(home)
            r = daemon_backfill.run(days, calls_per_day, chunks=1, rate_limits=UNLIMITED, workdir=Path(tmp))
            if r.failed_runs:
                raise RuntimeError(f"backfill runs failed: {r.failures[:3]}")
            return {"days": days, "calls_per_day": calls_per_day, "result": r, **_timings()}


def _timings() -> dict[str, float]:
    """Runs, launch seconds, run seconds and seconds inside steps, summed over the backfill's runs
    (from the event log)."""
    import dagster as dg

    out = dict.fromkeys(("runs", "launch", "run", "steps"), 0.0)
    with dg.DagsterInstance.get() as instance:
        for record in instance.get_run_records():
            times: dict[str, float] = {}
            started: dict[str, float] = {}
            for entry in instance.all_logs(record.dagster_run.run_id):
                event = entry.dagster_event
                if event is None:
                    continue
                times.setdefault(event.event_type.name, entry.timestamp)
                if event.event_type == dg.DagsterEventType.STEP_START:
                    started[event.step_key] = entry.timestamp
                elif event.event_type == dg.DagsterEventType.STEP_SUCCESS and event.step_key in started:
                    out["steps"] += entry.timestamp - started.pop(event.step_key)
            out["runs"] += 1
            out["launch"] += times["RUN_START"] - times.get("RUN_STARTING", times["RUN_START"])
            out["run"] += times["RUN_SUCCESS"] - times["RUN_START"]
    return out


def table(r: dict) -> str:
    res = r["result"]
    outside = r["run"] - r["steps"]
    share = (r["launch"] + outside) / (r["launch"] + r["run"])
    return (
        "| runs | launch s (per run) | run s | inside steps s | run outside steps s | overhead share |\n"
        "|---|---|---|---|---|---|\n"
        f"| {r['runs']:.0f} | {r['launch']:.1f} ({r['launch'] / r['runs']:.1f}) | {r['run']:.1f} "
        f"| {r['steps']:.1f} | {outside:.1f} | **{share:.0%}** ({'met' if share < TARGET else 'NOT met'}: "
        f"target < {TARGET:.0%}) |\n\nBackfills submitted: {res.backfills} (one per provider); wall from "
        f"submission to the last run's end {res.wall_s:.0f} s; at most {res.max_runs_at_once} runs at once; "
        f"every call stored once: {'yes' if not res.missing_or_extra and not res.duplicates else 'NO'}."
    )
