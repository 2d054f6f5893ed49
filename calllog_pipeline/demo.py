"""``calllog-pipeline demo``: start the simulator and run the whole graph for the last days."""

import argparse
import os
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

from calllog_pipeline.instance import prepare_home

DEMO_DAYS = 15  # 14 days of history give the QA checks a baseline for the last day
DEMO_PORT = 8765
# Planted on the last day: the QA checks should name it, and nothing else.
DEMO_INCIDENT = ("connect_drop", "omnidimension")


def register(commands) -> None:
    demo = commands.add_parser(
        "demo", help="start the simulator and materialize every asset for the last days into a local instance"
    )
    demo.add_argument("--days", type=int, default=DEMO_DAYS, help="how many closed days to materialize")
    demo.add_argument("--calls-per-day", type=int, default=300, help="simulated calls per provider per day")
    demo.add_argument("--data-dir", default="./data", help="lake root (CALLLOG_DATA_DIR)")
    demo.add_argument("--dagster-home", default="./.dagster_home", help="instance folder (DAGSTER_HOME)")
    demo.add_argument("--port", type=int, default=DEMO_PORT, help="simulator port (0 = any free port)")
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from calllog_pipeline.qa.scorecard import print_demo_scorecard
    from calllog_pipeline.simulator import Faults, Incident, RateLimit, SimulatorConfig, SimulatorServer

    home = Path(args.dagster_home).resolve()
    prepare_home(home)  # the dagster.yaml variant of CALLLOG_INSTANCE, unless home has one
    last = date.today() - timedelta(days=1)
    first = last - timedelta(days=args.days - 1)
    # A little of everything real APIs do: occasional 5xx and broken bodies, a rate limit. The
    # simulated OmniDimension allows 10 requests a second, so the client may use as much (its
    # default is the real service's cautious one per second).
    incident = Incident(*DEMO_INCIDENT, last.isoformat())
    config = SimulatorConfig(
        incidents=(incident,),
        calls_per_day=args.calls_per_day,
        faults=Faults(server_error=0.02, truncated=0.01, malformed=0.01),
        rate_limits={"omnidimension": RateLimit(requests=10, per_seconds=1.0)},
    )
    with SimulatorServer(config, port=args.port) as sim:
        env = {
            **sim.env(),
            "DAGSTER_HOME": str(home),
            "CALLLOG_DATA_DIR": str(Path(args.data_dir).resolve()),
            "CALLLOG_START_DATE": first.isoformat(),
            "OMNIDIM_RATE_LIMIT_REQUESTS": "10",
            "OMNIDIM_RATE_LIMIT_PERIOD_S": "1",
        }
        print(
            f"Provider simulator at {sim.url}; materializing {first} .. {last} into {env['CALLLOG_DATA_DIR']}"
        )
        with mock.patch.dict(os.environ, env):  # the pipeline reads its settings from the environment
            ok = _materialize_days(first, last)
        env_file = home / "demo.env"
        # The simulator's keys are public constants, not secrets: safe to keep in this file.
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        _print_summary(env["CALLLOG_DATA_DIR"])
        planted = [(incident.kind, incident.provider, incident.day)]
        print_demo_scorecard(env["CALLLOG_DATA_DIR"], _providers(env), first, last, planted)
    print(
        "\nOpen the UI on the same instance and data (runs, lineage, metadata are there):\n"
        f"  calllog-pipeline simulate --port {sim.port} --calls-per-day {args.calls_per_day} "
        "--rate-limit omnidimension=10/1 &"
        "   # only needed to materialize more\n"
        f"  set -a; . {env_file}; set +a; dagster dev -w workspace.yaml\n"
        "  then browse http://localhost:3000"
    )
    return 0 if ok else 1


def _materialize_days(first: date, last: date) -> bool:
    import dagster as dg

    from calllog_pipeline.automation import job_name
    from calllog_pipeline.definitions import build_definitions
    from calllog_pipeline.settings import Settings

    settings = Settings.from_env()
    defs = build_definitions(settings)
    ok = True
    with dg.DagsterInstance.get() as instance:
        day = first
        while day <= last:
            for provider in settings.providers:  # one job per provider, as the schedule runs them
                job = defs.resolve_job_def(job_name(provider))
                result = job.execute_in_process(
                    instance=instance, partition_key=day.isoformat(), raise_on_error=False
                )
                print(f"  {day} {provider}: {'ok' if result.success else 'FAILED'} (run {result.run_id})")
                ok &= result.success
            day += timedelta(days=1)
    return ok


def _providers(env: dict[str, str]) -> list[str]:
    from calllog_pipeline.settings import Settings

    return list(Settings.from_env(env).providers)


def _print_summary(data_dir: str) -> None:
    import pyarrow.dataset as ds

    print("\nRows in the lake:")
    for table in ("calls", "actions", "interactions", "quarantine"):
        path = Path(data_dir) / table
        if not path.exists():
            continue
        data = ds.dataset(path, format="parquet", partitioning="hive").to_table(columns=["provider"])
        counts = data.group_by("provider").aggregate([("provider", "count")]).to_pylist()
        print(f"  {table:<13}" + "  ".join(f"{c['provider']}={c['provider_count']}" for c in counts))
