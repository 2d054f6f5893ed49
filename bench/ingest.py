"""Section 1, ingest: each raw asset for one closed day against a rate-limited simulator.

The simulator enforces the same limit the client is configured with (``<PREFIX>_RATE_LIMIT_*``).
Timed: the asset's own work (``ingest_days``: paging, HTTP, JSON, redaction, Parquet write), in a
child process of its own, so CPU is the pipeline's alone. Redaction share = CPU time in
``redact_serialized_many`` (each page's record payloads, after serializing them) / that CPU, in the
same run; target at most 10%.
Ideal = max(requests_needed x latency / concurrency, requests_needed / rate),
requests_needed = ceil(records / max page size).
"""

from __future__ import annotations

import math
import tempfile
from datetime import timedelta

from bench.harness import ENDPOINTS, SimSpec, Simulator, run_worker, today_utc, yesterday
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.providers.base import Paging

# Limits used on both sides. LeadConnector's is its published one; the others publish none that
# keeps a benchmark short (OmniDimension's 60/min would make one day take minutes), so 20/s.
RATE_LIMITS = {"dialnexa": (20, 1.0), "leadconnector": (100, 10.0), "omnidimension": (20, 1.0)}
CONCURRENCY = 4
TARGET = 1.15  # issue 9


def ideal_seconds(records: int, page_size: int, latency_ms: float, provider: str) -> tuple[float, int]:
    requests, period = RATE_LIMITS[provider]
    needed = max(1, math.ceil(records / page_size))
    return max(needed * latency_ms / 1000 / CONCURRENCY, needed / (requests / period)), needed


def run(calls_per_day: int, latencies=(0, 50), profile: bool = False) -> list[dict]:
    day = yesterday().isoformat()
    rows = []
    for latency in latencies:
        spec = SimSpec(calls_per_day=calls_per_day, latency_ms=latency, rate_limits=RATE_LIMITS)
        with Simulator(spec) as sim, tempfile.TemporaryDirectory() as data_dir:
            env = sim.env(concurrency=CONCURRENCY)
            for provider, endpoint, page_size in ENDPOINTS:
                sim_cpu = sim.cpu_seconds()
                args = {"provider": provider, "endpoint": endpoint, "day": day, "data_dir": data_dir}
                r = run_worker("raw", {**args, "profile": profile and latency == 0}, env)
                ideal, needed = ideal_seconds(r["records"], page_size, latency, provider)
                rows.append(
                    {
                        "endpoint": f"{provider}/{endpoint}",
                        "latency_ms": latency,
                        "records": r["records"],
                        "requests": r["requests"],
                        "requests_needed": needed,
                        "window_probes": r["window_probes"],
                        "rate_limited_429": r["rate_limited_429"],
                        "seconds": r["inner_wall"],
                        "records_per_s": r["records"] / r["inner_wall"],
                        "cpu_per_100k": r["inner_cpu"] / r["records"] * 100_000,
                        "redact_share": r["redact_s"] / r["inner_cpu"],
                        "sim_cpu_per_100k": (sim.cpu_seconds() - sim_cpu) / r["records"] * 100_000,
                        "ideal_s": ideal,
                        "ratio": r["inner_wall"] / ideal,
                        "met": r["inner_wall"] / ideal <= TARGET,
                        "asset_wall": r["wall"],
                        "profile": r.get("profile"),
                    }
                )
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| endpoint | latency | records | requests (needed + probes) | 429s | wall s | records/s "
        "| pipeline CPU s /100k | redaction share of CPU (≤ 10%) | simulator CPU s /100k | ideal s "
        f"| ratio to ideal | ≤ {TARGET}x |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['endpoint']} | {r['latency_ms']} ms | {r['records']:,} | {r['requests']} "
        f"({r['requests_needed']} + {r['window_probes']} probes) | {r['rate_limited_429']} "
        f"| {r['seconds']:.2f} | {r['records_per_s']:,.0f} | {r['cpu_per_100k']:.1f} "
        f"| {r['redact_share']:.1%} {_yes(r['redact_share'] <= 0.10)} "
        f"| {r['sim_cpu_per_100k']:.1f} | {r['ideal_s']:.2f} | {r['ratio']:.2f}x | {_yes(r['met'])} |"
        for r in rows
    ]
    return head + "\n".join(lines)


DEPTHS = (1, 7, 30)  # days back from today: OmniDimension's listing has no date filter


def depths(calls_per_day: int) -> list[dict]:
    """OmniDimension days (the endpoint searched for its window) at several depths of its
    newest-first listing: the deeper the day, the more the window search probes before the day's
    first page."""
    provider, endpoint, page_size = next(
        (p.name, e.name, e.page_size)
        for p in REGISTRY.values()
        for e in p.endpoints
        if e.paging is Paging.SEARCHED
    )
    rows = []
    with Simulator(SimSpec(calls_per_day=calls_per_day, rate_limits=RATE_LIMITS)) as sim:
        env = sim.env(concurrency=CONCURRENCY)
        for depth in DEPTHS:
            day = (today_utc() - timedelta(days=depth)).isoformat()
            with tempfile.TemporaryDirectory() as data_dir:
                args = {"provider": provider, "endpoint": endpoint, "day": day, "data_dir": data_dir}
                r = run_worker("raw", args, env)
            ideal, needed = ideal_seconds(r["records"], page_size, 0, provider)
            rows.append({"depth": depth, **r, "needed": needed, "ideal_s": ideal})
    return rows


def depths_table(rows: list[dict]) -> str:
    head = (
        "| day (days back) | records | requests (needed + probes) | wall s | pipeline CPU s /100k | ideal s "
        f"| ratio to ideal | ≤ {TARGET}x |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    return head + "\n".join(
        f"| {r['depth']} | {r['records']:,} | {r['requests']} ({r['needed']} + {r['window_probes']} probes) "
        f"| {r['inner_wall']:.2f} | {r['inner_cpu'] / r['records'] * 100_000:.1f} | {r['ideal_s']:.2f} "
        f"| {r['inner_wall'] / r['ideal_s']:.2f}x | {_yes(r['inner_wall'] / r['ideal_s'] <= TARGET)} |"
        for r in rows
    )


def _yes(met: bool) -> str:
    return "yes" if met else "NO"
