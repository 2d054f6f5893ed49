"""Section nightly: what the nightly refresh of three days costs when nothing changed.

Each provider's job runs as the schedule launches it (one ranged run over the three lookback days)
three times against the simulator, in one process, on one instance and lake:

* first: the days are new: fetched, normalized, QA computed;
* unchanged: the same days again, nothing changed at the provider (DialNexa answers 304); raw data
  versions are equal, so normalized and QA days are kept, not rewritten;
* forced (the baseline, in the same run): the same again with ``force: true`` on the normalize step,
  i.e. what every nightly re-run cost before normalized days were kept when unchanged.

Files written counts the normalized and QA files whose inode changed (a write replaces the file).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROVIDERS = ("dialnexa", "leadconnector")  # one listing with ETags, one without
DERIVED = ("calls", "actions", "interactions", "quarantine", "qa_agent_daily", "qa_provider_daily")


def _files(lake: Path) -> dict[str, int]:
    return {str(p): p.stat().st_ino for t in DERIVED for p in (lake / t).rglob("data.parquet")}


def run(calls_per_day: int) -> list[dict]:
    import dagster as dg

    from calllog_pipeline.automation import job_name
    from calllog_pipeline.automation.schedules import range_request
    from calllog_pipeline.definitions import build_definitions
    from calllog_pipeline.providers import REGISTRY
    from calllog_pipeline.settings import Settings
    from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(today - timedelta(days=k)).date().isoformat() for k in (3, 2, 1)]
    config = SimulatorConfig(seed=11, calls_per_day=calls_per_day, now=today + timedelta(hours=6))
    rows = []
    with SimulatorServer(config) as sim, tempfile.TemporaryDirectory() as lake_dir:
        lake = Path(lake_dir)
        os.environ.update(sim.env())
        for provider in REGISTRY.values():
            os.environ[f"{provider.api().env_prefix}_RATE_LIMIT_REQUESTS"] = "1000"
        settings = Settings.from_env(
            {
                "CALLLOG_START_DATE": days[0],
                "CALLLOG_DATA_DIR": lake_dir,
                "CALLLOG_PROVIDERS": ",".join(PROVIDERS),
            }
        )
        defs = build_definitions(settings)
        tags = range_request(days[0], days[-1], "bench").tags
        with dg.DagsterInstance.ephemeral() as instance:
            for label, force in (("first", False), ("unchanged", False), ("forced (baseline)", True)):
                before, requests, not_modified = _files(lake), sim.stats()["requests"], _304(sim)
                started = time.perf_counter()
                for p in PROVIDERS:
                    run_config = {"ops": {f"normalize_{p}": {"config": {"force": force}}}}
                    result = defs.resolve_job_def(job_name(p)).execute_in_process(
                        instance=instance, tags=tags, run_config=run_config
                    )
                    assert result.success, label
                after = _files(lake)
                rows.append(
                    {
                        "run": label,
                        "seconds": time.perf_counter() - started,
                        "requests": sim.stats()["requests"] - requests,
                        "304": _304(sim) - not_modified,
                        "files written": sum(1 for f, ino in after.items() if before.get(f) != ino),
                        "files": len(after),
                    }
                )
    return rows


def _304(sim) -> int:
    return sim.stats()["responses"].get(304, 0)


def table(rows: list[dict]) -> str:
    lines = [
        "| run | wall s | provider requests | of which 304 | normalized + QA files written |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['seconds']:.1f} | {r['requests']} | {r['304']} | "
            f"{r['files written']} of {r['files']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(table(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000)))
