"""Section 4, scale: one big day.

Wall time and peak RSS of each asset for one day with many calls per provider, each materialized
(``dg.materialize``) in its own process. No rate limit, no latency: the
simulator serves as fast as it can, so the numbers are the pipeline's own cost."""

from __future__ import annotations

import tempfile

from bench.harness import ENDPOINTS, SimSpec, Simulator, run_worker, yesterday
from calllog_pipeline.providers import REGISTRY

TARGET_MB = 512


def run(calls_per_day: int) -> list[dict]:
    day = yesterday().isoformat()
    rows = []
    with Simulator(SimSpec(calls_per_day=calls_per_day)) as sim, tempfile.TemporaryDirectory() as data_dir:
        env = sim.env()
        for provider, endpoint, _ in ENDPOINTS:
            args = {"provider": provider, "endpoint": endpoint, "day": day, "data_dir": data_dir}
            r = run_worker("raw", args, env, timeout=3600)
            rows.append(
                {
                    "asset": f"{provider}/{endpoint}",
                    "records": r["records"],
                    "wall": r["wall"],
                    "cpu": r["cpu"],
                    "rss_mb": r["max_rss_mb"],
                }
            )
        for provider in REGISTRY:
            args = {"day": day, "data_dir": data_dir, "provider": provider}
            r = run_worker("materialize_normalize", args, timeout=3600)
            rows.append(
                {
                    "asset": f"normalize_{provider} (calls, actions, interactions, quarantine; checks)",
                    "records": r["calls"],
                    "wall": r["wall"],
                    "cpu": r["cpu"],
                    "rss_mb": r["max_rss_mb"],
                }
            )
    for row in rows:
        row["met"] = row["rss_mb"] < TARGET_MB
    return rows


def table(rows: list[dict], calls_per_day: int) -> str:
    head = (
        f"| asset ({calls_per_day:,} calls/provider/day, +-10%) | records | wall s | CPU s | records/s "
        "| peak RSS MiB | < 512 MiB |\n|---|---|---|---|---|---|---|\n"
    )
    return head + "\n".join(
        f"| {r['asset']} | {r['records']:,} | {r['wall']:.1f} | {r['cpu']:.1f} "
        f"| {r['records'] / r['wall']:,.0f} "
        f"| {r['rss_mb']:,.0f} | {'yes' if r['met'] else 'NO'} |"
        for r in rows
    )
