"""Section 2, normalize: raw -> normalized calls/s, against a floor and against dlt's rest_api source.

* pipeline: ``write_provider_day`` for one provider-day (what the ``normalize`` asset does per
  provider, without its DuckDB checks): reads the raw Parquet, parses, maps every quirk, writes the
  four tables (calls, actions, interactions, quarantine). Excludes fetching.
* floor (``bench.floor``): same raw payloads, orjson + plain dict lookups -> the ``calls`` columns
  -> Parquet. Excludes fetching; writes one table.
* dlt: ``rest_api_source`` -> ``filesystem`` destination as Parquet, end to end (HTTP from the
  simulator, extract, dlt's normalize, load), so it includes fetching.
* pipeline end to end: the raw assets' fetch time (``ingest_days``, same simulator, no rate limit)
  plus the normalize time: the like-for-like comparison with dlt.
All in calls of the day per second (DialNexa lists each call twice, /calls and /call-logs).
"""

from __future__ import annotations

import tempfile

from bench.harness import ENDPOINTS, SimSpec, Simulator, run_worker, yesterday

PROVIDERS = ("dialnexa", "leadconnector", "omnidimension")


def run(calls_per_day: int, profile: bool = False) -> list[dict]:
    day = yesterday().isoformat()
    rows = []
    with Simulator(SimSpec(calls_per_day=calls_per_day)) as sim, tempfile.TemporaryDirectory() as data_dir:
        env = sim.env()
        fetch = {p: 0.0 for p in PROVIDERS}
        fetched = {}
        for provider, endpoint, _ in ENDPOINTS:
            r = run_worker(
                "raw", {"provider": provider, "endpoint": endpoint, "day": day, "data_dir": data_dir}, env
            )
            fetch[provider] += r["inner_wall"]
            fetched[provider] = r["records"]
        for provider in PROVIDERS:
            args = {"provider": provider, "day": day, "data_dir": data_dir}
            n = run_worker("normalize", {**args, "profile": profile}, env)
            f = run_worker("floor", {**args, "out": f"{data_dir}/floor-{provider}.parquet"})
            d = run_worker(
                "dlt", {"provider": provider, "day": day, "env": env, "omni_records": fetched[provider]}
            )
            calls = n["rows"]["calls"]
            per_s = calls / n["wall"]
            dlt_calls = d["records"] / (2 if provider == "dialnexa" else 1)
            rows.append(
                {
                    "provider": provider,
                    "calls": calls,
                    "raw_records": n["raw_records"],
                    "rows": n["rows"],
                    "pipeline_s": n["wall"],
                    "pipeline_per_s": per_s,
                    "floor_per_s": f["rows"] / f["wall"],
                    "dlt_per_s": dlt_calls / d["wall"],
                    "dlt_tables": d["tables"],
                    "e2e_per_s": calls / (n["wall"] + fetch[provider]),
                    "vs_floor": per_s / (f["rows"] / f["wall"]),
                    "vs_dlt": per_s / (dlt_calls / d["wall"]),
                    "e2e_vs_dlt": (calls / (n["wall"] + fetch[provider])) / (dlt_calls / d["wall"]),
                    "profile": n.get("profile"),
                }
            )
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| provider | calls | pipeline normalize calls/s | floor calls/s | dlt end-to-end calls/s "
        "| pipeline end-to-end calls/s | normalize / floor (≥ 0.5) | normalize / dlt (≥ 5) "
        "| end-to-end / dlt |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    return head + "\n".join(
        f"| {r['provider']} | {r['calls']:,} | {r['pipeline_per_s']:,.0f} | {r['floor_per_s']:,.0f} "
        f"| {r['dlt_per_s']:,.0f} | {r['e2e_per_s']:,.0f} | {r['vs_floor']:.2f} {_yes(r['vs_floor'] >= 0.5)} "
        f"| {r['vs_dlt']:.1f} {_yes(r['vs_dlt'] >= 5)} | {r['e2e_vs_dlt']:.1f} |"
        for r in rows
    )


def _yes(met: bool) -> str:
    return "yes" if met else "NO"
