"""Section 2, normalize: raw -> normalized calls/s, against a floor and against dlt's normalize step.

* pipeline: ``write_provider_day`` for one provider-day (what a provider's normalize asset does,
  without its DuckDB checks): reads the raw Parquet, parses, maps every quirk, writes the four
  tables (calls, actions, interactions, quarantine). Excludes fetching.
* floor (``bench.floor``): same raw payloads, orjson + plain dict lookups -> the ``calls`` columns
  -> Parquet, the garbage collector paused while a batch is mapped as the pipeline pauses it.
  Excludes fetching; writes one table, no quirks.
* dlt normalize: the ``normalize`` step alone of a dlt ``rest_api`` -> ``filesystem`` (Parquet) run
  over the same day (from dlt's own trace of its second run; its extract and load steps are not
  counted).
Measured warm on every side: each worker runs its work once unmeasured, so what a process pays
only once (imports, first use of a kernel) counts on neither side (a whole-process comparison,
imports included, is section 5), then three times measured, keeping the least wall and CPU time
(a full garbage collection falling inside one run moved it by a tenth of a second). dlt's step
is read from one run's trace. Calls of the day per second
(DialNexa lists each call twice, /calls and /call-logs). CPU ratios are reported beside wall
ratios: the machine is shared, and CPU moves less with its load.
"""

from __future__ import annotations

import tempfile

from bench.harness import ENDPOINTS, SimSpec, Simulator, run_worker, yesterday
from calllog_pipeline.providers import REGISTRY

PROVIDERS = tuple(REGISTRY)


def run(calls_per_day: int, profile: bool = False) -> list[dict]:
    day = yesterday().isoformat()
    rows = []
    with Simulator(SimSpec(calls_per_day=calls_per_day)) as sim, tempfile.TemporaryDirectory() as data_dir:
        env = sim.env()
        fetched = {}
        for provider, endpoint, _ in ENDPOINTS:
            r = run_worker(
                "raw", {"provider": provider, "endpoint": endpoint, "day": day, "data_dir": data_dir}, env
            )
            fetched[provider] = r["records"]
        for provider in PROVIDERS:
            args = {"provider": provider, "day": day, "data_dir": data_dir}
            n = run_worker("normalize", {**args, "profile": profile}, env)
            f = run_worker("floor", {**args, "out": f"{data_dir}/floor-{provider}.parquet"})
            d = run_worker(
                "dlt",
                {
                    "provider": provider,
                    "day": day,
                    "env": env,
                    "omni_records": fetched[provider],
                    "warm": True,
                },
            )
            calls = n["rows"]["calls"]
            dlt_calls = d["records"] / (2 if provider == "dialnexa" else 1)
            dlt_normalize_s = d["step_s"]["normalize"]
            rows.append(
                {
                    "provider": provider,
                    "calls": calls,
                    "raw_records": n["raw_records"],
                    "rows": n["rows"],
                    "pipeline_s": n["wall"],
                    "pipeline_per_s": calls / n["wall"],
                    "floor_per_s": f["rows"] / f["wall"],
                    "dlt_normalize_per_s": dlt_calls / dlt_normalize_s,
                    "vs_floor": (calls / n["wall"]) / (f["rows"] / f["wall"]),
                    "vs_floor_cpu": (calls / n["cpu"]) / (f["rows"] / f["cpu"]),
                    "vs_dlt_normalize": (calls / n["wall"]) / (dlt_calls / dlt_normalize_s),
                    "cpu_per_100k": n["cpu"] / n["raw_records"] * 100_000,
                    "profile": n.get("profile"),
                }
            )
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| provider | calls | pipeline calls/s | floor calls/s | dlt normalize step calls/s "
        "| pipeline / floor, wall (≥ 1.0) | pipeline / floor, CPU | pipeline / dlt normalize "
        "| pipeline CPU s /100k raw records |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    return head + "\n".join(
        f"| {r['provider']} | {r['calls']:,} | {r['pipeline_per_s']:,.0f} | {r['floor_per_s']:,.0f} "
        f"| {r['dlt_normalize_per_s']:,.0f} | {r['vs_floor']:.2f} {_yes(r['vs_floor'] >= 1.0)} "
        f"| {r['vs_floor_cpu']:.2f} | {r['vs_dlt_normalize']:.1f} | {r['cpu_per_100k']:.1f} |"
        for r in rows
    )


def _yes(met: bool) -> str:
    return "yes" if met else "NO"
