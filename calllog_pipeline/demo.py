"""``calllog-pipeline demo``: start the simulator and run the whole graph for the last days.

The demo is a short script of steps (``prepare_instance``, ``materialize_range``, ``print_summary``)
so more can be added (a planted incident, the QA scorecard) without touching the others. The
settings it runs with are written to ``<dagster home>/demo.env``; ``calllog-pipeline ui`` reads
them back, so the UI sees the same instance, lake and simulator.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

DEMO_DAYS = 15  # enough closed days for the QA baselines (14 days of history before a day is judged)
DEMO_HISTORY_DAYS = 90  # the partitions reach back this far, so older days can be backfilled from the UI
DEMO_PORT = 8765
DEMO_CALLS_PER_DAY = 300
DEMO_SEED = 7
# The simulated OmniDimension allows 10 requests a second, so the client may use as much (its
# default is the real service's cautious one per second).
DEMO_RATE_LIMIT = ("omnidimension", 10, 1.0)
# Planted on the last day: the QA checks should name it, and nothing else.
DEMO_INCIDENT = ("connect_drop", "omnidimension")
ENV_FILE = "demo.env"
INSTANCE_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


def register(commands) -> None:
    demo = commands.add_parser(
        "demo", help="start the simulator and materialize every asset for the last days into a local instance"
    )
    demo.add_argument("--days", type=int, default=DEMO_DAYS, help="how many closed days to materialize")
    demo.add_argument(
        "--calls-per-day", type=int, default=DEMO_CALLS_PER_DAY, help="simulated calls per provider per day"
    )
    demo.add_argument("--data-dir", default="./data", help="lake root (CALLLOG_DATA_DIR)")
    demo.add_argument("--dagster-home", default="./.dagster_home", help="instance folder (DAGSTER_HOME)")
    demo.add_argument("--port", type=int, default=DEMO_PORT, help="simulator port (0 = any free port)")
    demo.set_defaults(run=run_demo)


@dataclass(frozen=True)
class DemoSettings:
    """What the demo and ``calllog-pipeline ui`` share: one simulator world, one instance, one lake."""

    home: Path
    data_dir: Path
    calls_per_day: int
    port: int
    incident: str  # KIND:PROVIDER:DAY (simulator.Incident.parse)
    seed: int = DEMO_SEED

    def simulator_config(self):
        from calllog_pipeline.simulator import Faults, Incident, RateLimit, SimulatorConfig

        provider, requests, seconds = DEMO_RATE_LIMIT
        # A little of everything real APIs do: occasional 5xx and broken bodies, a rate limit.
        return SimulatorConfig(
            calls_per_day=self.calls_per_day,
            seed=self.seed,
            incidents=(Incident.parse(self.incident),),
            faults=Faults(server_error=0.02, truncated=0.01, malformed=0.01),
            rate_limits={provider: RateLimit(requests=requests, per_seconds=seconds)},
        )

    def pipeline_env(self, simulator_env: Mapping[str, str], start: date) -> dict[str, str]:
        provider, requests, seconds = DEMO_RATE_LIMIT
        assert provider == "omnidimension"  # the variables below are OmniDimension's
        return {
            **simulator_env,
            "DAGSTER_HOME": str(self.home),
            "CALLLOG_DATA_DIR": str(self.data_dir),
            "CALLLOG_START_DATE": start.isoformat(),
            "OMNIDIM_RATE_LIMIT_REQUESTS": str(requests),
            "OMNIDIM_RATE_LIMIT_PERIOD_S": f"{seconds:g}",
            # Read back by `calllog-pipeline ui` to start the same simulator world again.
            "CALLLOG_DEMO_CALLS_PER_DAY": str(self.calls_per_day),
            "CALLLOG_DEMO_SEED": str(self.seed),
            "CALLLOG_DEMO_PORT": str(self.port),
            "CALLLOG_DEMO_INCIDENT": self.incident,
        }


def run_demo(args: argparse.Namespace) -> int:
    import dagster as dg

    with warnings.catch_warnings():
        # The project opts into beta/preview APIs on purpose (BackfillPolicy, partitioned checks);
        # repeating that on every import would bury the demo's own output.
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _run_demo(args)


def _run_demo(args: argparse.Namespace) -> int:
    from calllog_pipeline.simulator import SimulatorServer

    started = time.monotonic()
    last = date.today() - timedelta(days=1)
    first = last - timedelta(days=args.days - 1)
    start = min(first, last - timedelta(days=DEMO_HISTORY_DAYS - 1))
    settings = DemoSettings(
        home=Path(args.dagster_home).resolve(),
        data_dir=Path(args.data_dir).resolve(),
        calls_per_day=args.calls_per_day,
        port=args.port,
        incident=":".join([*DEMO_INCIDENT, last.isoformat()]),
    )
    prepare_instance(settings.home)
    with SimulatorServer(settings.simulator_config(), port=args.port) as sim:
        # Port 0 picks a free port: record the real one so `ui` serves the same URLs.
        settings = dataclasses.replace(settings, port=sim.port)
        env = settings.pipeline_env(sim.env(), start)
        print(f"Provider simulator at {sim.url} ({settings.calls_per_day} calls per provider per day).")
        print(f"Partitions from {start}; materializing {first} .. {last} into {settings.data_dir}")
        write_env_file(settings.home, env)
        with pipeline_environment(env):
            outcomes = materialize_range(first, last)
            print_summary(settings.data_dir)
            print_scorecard(settings, first, last)
    ok = all(o.success for o in outcomes)
    print(f"\nDemo {'finished' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s.")
    print(
        "Open the Dagster UI on the same instance and data, with the simulator behind it\n"
        "(runs, lineage, metadata, checks; materialize and backfill any day from the UI):\n"
        f"  calllog-pipeline ui --dagster-home {settings.home}\n"
        "  then browse http://localhost:3000"
    )
    return 0 if ok else 1


def prepare_instance(home: Path) -> None:
    """A Dagster home with the project's instance settings (kept if the user already has some)."""
    home.mkdir(parents=True, exist_ok=True)
    if INSTANCE_YAML.exists() and not (home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_YAML, home / "dagster.yaml")


@contextmanager
def pipeline_environment(env: Mapping[str, str]) -> Iterator[None]:
    with mock.patch.dict(os.environ, env):  # the pipeline reads its settings from the environment
        yield


def write_env_file(home: Path, env: Mapping[str, str]) -> Path:
    env_file = home / ENV_FILE
    # The simulator's keys are public constants, not secrets: safe to keep in this file.
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return env_file


def read_env_file(home: Path) -> dict[str, str]:
    lines = (home / ENV_FILE).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@dataclass(frozen=True)
class RunOutcome:
    job: str
    run_id: str
    success: bool
    seconds: float


def materialize_range(first: date, last: date) -> list[RunOutcome]:
    """One ranged run per provider chain (``single_run`` backfill policy: one process, one client
    and one rate limit per provider for the whole range), as a UI backfill would launch them.

    Dagster's console log is kept at WARNING; every event still goes to the instance, where the
    UI shows the full log of each run.
    """
    import dagster as dg

    from calllog_pipeline.automation import job_name
    from calllog_pipeline.definitions import build_definitions
    from calllog_pipeline.settings import Settings

    settings = Settings.from_env()
    defs = build_definitions(settings)
    tags = {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
        "calllog/launched_by": "demo",
    }
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    outcomes = []
    with dg.DagsterInstance.get() as instance:
        # One job per provider, so one provider's failure never blocks another.
        for job in (defs.resolve_job_def(job_name(provider)) for provider in settings.providers):
            started = time.monotonic()
            print(f"  {job.name}: {first} .. {last} ...", flush=True)
            result = job.execute_in_process(
                run_config=quiet, instance=instance, tags=tags, raise_on_error=False
            )
            outcome = RunOutcome(job.name, result.run_id, result.success, time.monotonic() - started)
            outcomes.append(outcome)
            print(
                f"  {job.name}: {'ok' if outcome.success else 'FAILED'} in {outcome.seconds:.0f} s "
                f"(run {outcome.run_id[:8]})",
                flush=True,
            )
            if not outcome.success:
                print(f"    {first_error(result)}")
    return outcomes


def first_error(result) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            return f"{event.step_key}: {error.message.strip().splitlines()[0]}"
    return "see the run's log in the UI"


def print_scorecard(settings: DemoSettings, first: date, last: date) -> None:
    """The QA scorecard of the range and its anomalies, against the planted incident."""
    from calllog_pipeline.qa.scorecard import print_demo_scorecard
    from calllog_pipeline.simulator import Incident

    incident = Incident.parse(settings.incident)
    planted = [(incident.kind, incident.provider, incident.day)]
    print_demo_scorecard(str(settings.data_dir), demo_providers(), first, last, planted)


def demo_providers() -> list[str]:
    from calllog_pipeline.settings import Settings

    return list(Settings.from_env().providers)


def print_summary(data_dir: Path) -> None:
    import pyarrow.dataset as ds

    print("\nRows in the lake:")
    for table in ("calls", "actions", "interactions", "quarantine"):
        path = data_dir / table
        if not path.exists():
            continue
        data = ds.dataset(path, format="parquet", partitioning="hive").to_table(columns=["provider", "date"])
        counts = data.group_by("provider").aggregate([("provider", "count"), ("date", "count_distinct")])
        print(
            f"  {table:<13}"
            + "  ".join(
                f"{c['provider']}={c['provider_count']} ({c['date_count_distinct']} days)"
                for c in sorted(counts.to_pylist(), key=lambda c: c["provider"])
            )
        )
