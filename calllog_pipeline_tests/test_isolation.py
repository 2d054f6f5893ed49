"""One provider down for a day never blocks another: its own steps fail, naming it; every other
provider's tables for the day are written and correct."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from calllog_pipeline.automation import job_name
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.settings import Settings
from calllog_pipeline.simulator import Faults, SimulatorConfig, SimulatorServer

DAY = "2026-11-10"
TABLES = ("calls", "actions", "interactions", "quarantine")
QUICK_CLIENT = {"MAX_ATTEMPTS": "2", "MAX_BACKOFF_S": "0.05", "RATE_LIMIT_REQUESTS": "50"}
# DialNexa merges /calls into its call logs, so its calls are the /calls records.
CALLS_ENDPOINT = {"dialnexa": "calls"}


def world(**changes) -> SimulatorConfig:
    # Clean records, so a provider's calls table must hold exactly the simulator's calls.
    return SimulatorConfig(
        seed=4, calls_per_day=40, bad_record_rate=0.0, now=datetime(2026, 11, 11, 3, 0, tzinfo=UTC), **changes
    )


class Runs:
    """The day's runs, one per provider job (as the schedule launches them), read as one."""

    def __init__(self, results: list[dg.ExecuteInProcessResult]):
        self.results = results
        self.success = all(r.success for r in results)
        self.all_events = [e for r in results for e in r.all_events]

    def get_asset_check_evaluations(self):
        return [e for r in self.results for e in r.get_asset_check_evaluations()]


def run_day(monkeypatch, env: dict[str, str], lake: Path) -> Runs:
    monkeypatch.setenv("CALLLOG_STEP_RETRIES", "0")  # an outage fails at once here, no step retries
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for provider in REGISTRY.values():
        prefix = provider.api().env_prefix
        for name, value in QUICK_CLIENT.items():
            monkeypatch.setenv(f"{prefix}_{name}", value)
    settings = Settings.from_env({"CALLLOG_START_DATE": "2026-11-01", "CALLLOG_DATA_DIR": str(lake)})
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        return Runs(
            [
                defs.resolve_job_def(job_name(p)).execute_in_process(
                    partition_key=DAY, instance=instance, raise_on_error=False
                )
                for p in settings.providers
            ]
        )


def failures(result: Runs) -> dict[str, str]:
    """Failed step -> what the user reads for it."""
    return {
        e.step_key: e.step_failure_data.user_failure_data.description
        if e.step_failure_data.user_failure_data
        else e.step_failure_data.error.to_string()
        for e in result.all_events
        if e.is_step_failure
    }


def call_ids(lake: Path, provider: str) -> set[str]:
    path = lake / "calls" / f"date={DAY}" / f"provider={provider}" / "data.parquet"
    return {row[0] for row in duckdb.sql(f"select call_id from '{path}'").fetchall()}


# A revoked key (401) for one provider, an outage (every request 5xx) for another.
@pytest.mark.parametrize(
    ("fault", "down"), [("revoked_key", list(REGISTRY)[0]), ("outage", list(REGISTRY)[-1])]
)
def test_one_provider_down_for_a_day_leaves_the_others_written_and_correct(
    down, fault, monkeypatch, tmp_path
):
    provider = REGISTRY[down]
    prefix = provider.api().env_prefix
    with SimulatorServer(world()) as sim, SimulatorServer(world(faults=Faults(server_error=1.0))) as broken:
        env = sim.env()
        if fault == "revoked_key":
            env[f"{prefix}_API_KEY"] = "revoked"  # the simulator answers 401
        else:  # every request to this provider fails with 5xx
            env[f"{prefix}_BASE_URL"] = broken.env()[f"{prefix}_BASE_URL"]
        result = run_day(monkeypatch, env, tmp_path)
        start, end = (datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
        truth = {
            p: sim.truth(p, CALLS_ENDPOINT.get(p, "call_logs"), start, end) for p in REGISTRY if p != down
        }

    assert not result.success
    failed = failures(result)
    assert failed, "the run must fail loudly"
    for step, message in failed.items():
        assert step.startswith(f"raw__{down}_"), f"only {down}'s steps fail, not {step}"
        assert provider.title in message
        if fault == "revoked_key":
            assert f"{prefix}_API_KEY" in message
    started = {e.step_key for e in result.all_events if e.is_step_start}
    assert f"normalize_{down}" not in started and {f"normalize_{p}" for p in truth} <= started
    assert not (tmp_path / "calls" / f"date={DAY}" / f"provider={down}").exists()

    for other, ids in truth.items():
        assert ids, f"{other} should have calls on {DAY}"
        for table in TABLES:
            assert (tmp_path / table / f"date={DAY}" / f"provider={other}" / "data.parquet").exists()
        assert call_ids(tmp_path, other) == ids, f"{other}'s calls for {DAY}"
    verdicts = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert verdicts and all(verdicts.values()), verdicts
    assert {name.split("_")[0] for name, _ in verdicts} == set(truth)
