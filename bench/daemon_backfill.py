"""Year backfill through the daemon (PostgreSQL instance, queued run coordinator, pools)

Launches, as an operator would, one asset backfill per provider chain (raw -> normalized) and
per chunk of the range, all at once; the daemon's queue runs at most 4 of them at a time
(dagster.postgres.yaml) and the per-provider pools let one step call a provider at a time across
all runs. The simulator enforces each provider's rate limit and counts every request; the client
is configured with the same limits and keeps to the provider's reported count
(``http.ServerBudget``). Reported: requests and 429s per provider, whether every call
landed exactly once, the most runs seen in progress together, and wall time against the
rate-limit ideal (the slowest provider's requests / its rate).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("raw", "normalized")
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}  # one process per run, steps in it


@dataclass
class BackfillResult:
    days: int
    calls_per_day: int
    backfills: int
    runs: int
    failed_runs: int
    max_runs_at_once: int
    wall_s: float
    ideal_s: float
    requests: dict[str, int]
    rate_limited_429: int
    rate_limits: dict[str, tuple[int, float]]
    missing_or_extra: dict[str, int] = field(default_factory=dict)  # provider/endpoint -> days off
    failures: list[str] = field(default_factory=list)  # first error of each failed run
    throttled_by_provider: dict[str, int] = field(default_factory=dict)  # 429s the clients saw
    duplicates: int = 0

    @property
    def ratio(self) -> float:
        return self.wall_s / self.ideal_s if self.ideal_s else float("nan")


def run(
    days: int,
    calls_per_day: int,
    chunks: int,
    rate_limits: dict[str, tuple[int, float]],
    workdir: Path,
    timeout_s: float = 3600,
) -> BackfillResult:
    """Needs ``DAGSTER_HOME`` holding dagster.postgres.yaml and the ``DAGSTER_PG_*`` variables."""
    from calllog_pipeline.providers import REGISTRY
    from calllog_pipeline.simulator import RateLimit, SimulatorConfig, SimulatorServer

    first = date(2025, 1, 1)
    last = first + timedelta(days=days - 1)
    config = SimulatorConfig(
        seed=5,
        calls_per_day=calls_per_day,
        now=datetime.combine(last + timedelta(days=2), datetime.min.time(), UTC),
        frozen_clock=True,
        bad_record_rate=0.0,
        rate_limits={p: RateLimit(n, s) for p, (n, s) in rate_limits.items()},
    )
    with SimulatorServer(config) as sim:
        env = {
            **sim.env(),
            "CALLLOG_START_DATE": first.isoformat(),
            "CALLLOG_TIMEZONE": "UTC",
            "CALLLOG_DATA_DIR": str(workdir / "lake"),
        }
        for name, (n, s) in rate_limits.items():  # the client keeps to the limit the provider enforces
            api = REGISTRY[name].api
            env[api().env_var("rate_limit_requests")] = str(n)
            env[api().env_var("rate_limit_period_s")] = str(s)
        with mock.patch.dict(os.environ, env):
            result = _backfill(first, days, chunks, workdir, timeout_s)
        stats = sim.stats()
        result.calls_per_day, result.rate_limits = calls_per_day, rate_limits
        result.requests = stats["by_provider"]
        result.rate_limited_429 = stats["rate_limited"]
        result.ideal_s = max(result.requests.get(p, 0) * s / n for p, (n, s) in rate_limits.items())
        _check_completeness(sim, result, first, days, Path(env["CALLLOG_DATA_DIR"]))
    return result


FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def _backfill(first: date, days: int, chunks: int, workdir: Path, timeout_s: float) -> BackfillResult:
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

    from calllog_pipeline.definitions import build_definitions
    from calllog_pipeline.providers import REGISTRY
    from calllog_pipeline.settings import Settings

    defs = build_definitions(Settings.from_env())
    graph = defs.resolve_asset_graph()
    keys = defs.resolve_all_asset_keys()
    partition_keys = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    size = -(-days // chunks)
    workspace = workdir / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: calllog_pipeline.definitions\n"
        f"      working_directory: {ROOT}\n"
    )
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(workspace)],
        cwd=workdir,
        stdout=(workdir / "daemon.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        with dg.DagsterInstance.get() as instance:
            started = time.monotonic()
            ids = []
            for provider in REGISTRY:
                # The layers that read the provider: QA reads only the lake, and its trailing-week
                # mapping would pull in days after the range, whose inputs do not exist yet.
                chain = [k for k in keys if k.path[0] in LAYERS and k.path[-1].startswith(f"{provider}_")]
                for i in range(0, days, size):
                    with warnings.catch_warnings():
                        # Dagster 1.13's constructor itself calls its deprecated AssetSelection.sources():
                        # that call is Dagster's, not ours (the suite fails on deprecated calls of ours).
                        warnings.simplefilter("ignore", DeprecationWarning)
                        backfill = PartitionBackfill.from_asset_partitions(
                            backfill_id=uuid.uuid4().hex[:8],
                            asset_graph=graph,
                            partition_names=partition_keys[i : i + size],
                            asset_selection=chain,
                            backfill_timestamp=time.time(),
                            tags={},
                            dynamic_partitions_store=instance,
                            all_partitions=False,
                            title=f"{provider} {partition_keys[i]}",
                            description=None,
                            run_config=IN_PROCESS,
                        )
                    instance.add_backfill(backfill)
                    ids.append(backfill.backfill_id)
            max_at_once = 0
            done = {
                BulkActionStatus.COMPLETED,
                BulkActionStatus.COMPLETED_SUCCESS,
                BulkActionStatus.FAILED,
                BulkActionStatus.COMPLETED_FAILED,
                BulkActionStatus.CANCELED,
            }
            # A backfill may be done while a run it launched is still starting (a loaded machine).
            unfinished = [s for s in dg.DagsterRunStatus if s.value not in FINISHED]
            while True:
                in_progress = instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
                max_at_once = max(max_at_once, in_progress)
                statuses = [instance.get_backfill(i).status for i in ids]
                if all(s in done for s in statuses) and not instance.get_runs_count(
                    dg.RunsFilter(statuses=unfinished)
                ):
                    break
                if time.monotonic() - started > timeout_s:
                    raise TimeoutError(f"backfills not done after {timeout_s:.0f} s: {statuses}")
                if daemon.poll() is not None:
                    raise RuntimeError(f"the daemon exited ({daemon.returncode}); see {workdir}/daemon.log")
                time.sleep(0.5)
            wall = time.monotonic() - started
            runs = instance.get_runs()
            failed = [r for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]
            failures = [_first_error(instance, r) for r in failed]
            throttled = _throttled_by_provider(instance, keys)
    finally:
        daemon.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=30)
        if daemon.poll() is None:
            daemon.kill()
    return BackfillResult(
        days=days,
        calls_per_day=0,
        backfills=len(ids),
        runs=len(runs),
        failed_runs=len(failed),
        max_runs_at_once=max_at_once,
        wall_s=wall,
        ideal_s=0.0,
        requests={},
        rate_limited_429=0,
        rate_limits={},
        failures=failures,
        throttled_by_provider=throttled,
    )


def _throttled_by_provider(instance, keys) -> dict[str, int]:
    """The 429s each provider's raw steps reported (materialization metadata), to tell which
    provider's limit was touched."""
    from calllog_pipeline.providers import REGISTRY

    counts: dict[str, int] = {}
    for key in keys:
        if key.path[0] != "raw":
            continue
        provider = next(p for p in REGISTRY if key.path[-1].startswith(f"{p}_"))
        per_run = {}  # a ranged run repeats its run-wide count on every day's materialization
        for record in instance.fetch_materializations(key, limit=10_000).records:
            value = record.asset_materialization.metadata.get("rate_limited_429")
            per_run[record.run_id] = value.value if value is not None else 0
        counts[provider] = counts.get(provider, 0) + sum(per_run.values())
    return counts


def _first_error(instance, run) -> str:
    from dagster import DagsterEventType

    for event_type in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE):
        for record in instance.all_logs(run.run_id, of_type=event_type):
            data = record.dagster_event.event_specific_data
            error = getattr(data, "error", None)
            while error is not None and error.cause is not None:
                error = error.cause
            return f"{run.job_name} {run.tags.get('dagster/backfill')}: " + (
                error.message.strip() if error else record.dagster_event.message or ""
            )
    return f"{run.job_name}: {run.status.value}"


def _check_completeness(sim, result: BackfillResult, first: date, days: int, lake_root: Path) -> None:
    """Every provider-endpoint-day's stored ids equal the simulator's truth, each once."""
    import pyarrow.parquet as pq

    from calllog_pipeline.providers import REGISTRY

    for provider in REGISTRY.values():
        for endpoint in provider.endpoints:
            off = 0
            for i in range(days):
                day = first + timedelta(days=i)
                path = lake_root / "raw" / provider.name / endpoint.name / f"date={day}" / "data.parquet"
                ids = (
                    pq.read_table(path, columns=["record_id"])["record_id"].to_pylist()
                    if path.exists()
                    else []
                )
                ids = [x for x in ids if x is not None]
                result.duplicates += len(ids) - len(set(ids))
                start = datetime.combine(day, datetime.min.time(), UTC)
                off += set(ids) != sim.truth(provider.name, endpoint.name, start, start + timedelta(days=1))
            if off:
                result.missing_or_extra[f"{provider.name}/{endpoint.name}"] = off


def table(r: BackfillResult) -> str:
    limits = ", ".join(f"{p} {n}/{s:g} s" for p, (n, s) in r.rate_limits.items())
    requests = ", ".join(f"{p} {n:,}" for p, n in sorted(r.requests.items()))
    return (
        "| days x providers | calls/provider-day | backfills | runs (failed) | most runs at once | requests "
        "| 429s | every call once | wall s | rate-limit ideal s | wall / ideal |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {r.days} x {len(r.requests)} | {r.calls_per_day} | {r.backfills} | {r.runs} ({r.failed_runs}) "
        f"| {r.max_runs_at_once} | {requests} | {r.rate_limited_429} "
        f"| {'yes' if not r.missing_or_extra and not r.duplicates else 'NO'} | {r.wall_s:.0f} "
        f"| {r.ideal_s:.0f} | {r.ratio:.2f}x |\n\nRate limits (simulator and client): {limits}. "
        f"429s seen by each provider's raw steps: {r.throttled_by_provider}."
    )


def measure(days: int, calls_per_day: int) -> BackfillResult:
    """The backfill in a fresh database on the server of the ``DAGSTER_PG_*`` variables (dropped
    afterwards), 4 chunks per provider, the simulator and client at ``YEAR_LIMITS``."""
    from calllog_pipeline.instance import prepare_home

    with tempfile.TemporaryDirectory() as tmp, _fresh_database() as db:
        env = {"CALLLOG_INSTANCE": "postgres", "DAGSTER_PG_DB": db, "DAGSTER_HOME": str(Path(tmp) / "home")}
        with mock.patch.dict(os.environ, env):
            prepare_home(Path(env["DAGSTER_HOME"]))
            return run(days, calls_per_day, chunks=4, rate_limits=YEAR_LIMITS, workdir=Path(tmp))


def section(mode: str) -> str:
    """The ``daemon`` section of ``python -m bench``: the full year (a month in quick mode)."""
    days, calls = (30 if mode == "quick" else 365), 300
    title = f"### Backfill through the daemon ({days} days x 3 providers x {calls} calls/provider-day)"
    if not os.environ.get("DAGSTER_PG_HOST"):
        return (
            f"{title}\n\nSkipped: needs a PostgreSQL server (`source .ci/postgres.sh` starts one and "
            "exports the `DAGSTER_PG_*` variables). Last measured numbers: docs/deployment.md."
        )
    r = measure(days, calls)
    failures = "".join(f"\n- failed: {f}" for f in r.failures[:5])
    return f"{title}\n\n{__doc__.split(chr(10) * 2, 1)[-1].strip()}\n\n{table(r)}{failures}"


def main() -> int:
    """``python -m bench.daemon_backfill [days] [calls_per_day]``: the full year by default."""
    days, calls = (int(a) for a in (sys.argv[1:] + ["365", "300"])[:2])
    r = measure(days, calls)
    print(table(r))
    for failure in r.failures[:5]:
        print("failed:", failure)
    return 0 if r.rate_limited_429 == 0 and not r.missing_or_extra and not r.duplicates else 1


@contextlib.contextmanager
def _fresh_database():
    import psycopg2

    params = {
        "host": os.environ["DAGSTER_PG_HOST"],
        "port": int(os.environ["DAGSTER_PG_PORT"]),
        "user": os.environ["DAGSTER_PG_USERNAME"],
        "password": os.environ["DAGSTER_PG_PASSWORD"],
        "dbname": os.environ["DAGSTER_PG_DB"],
    }
    name = f"calllog_bench_{uuid.uuid4().hex[:8]}"

    def admin(sql: str) -> None:
        con = psycopg2.connect(**params)
        con.autocommit = True
        try:
            con.cursor().execute(sql)
        finally:
            con.close()

    admin(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


YEAR_LIMITS = {"dialnexa": (20, 1.0), "leadconnector": (10, 1.0), "omnidimension": (10, 1.0)}

if __name__ == "__main__":
    sys.exit(main())
