"""One writer per provider-day when runs are launched by the daemon (the production path): a run
queued beside a writer of the same provider's normalized files waits for it, visibly, then writes."""

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from calllog_pipeline.normalized import normalize_pool
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
DAY = "2026-11-10"
PROVIDER = "leadconnector"


def wait_for(condition, deadline_s: float = 180.0):
    """Poll until ``condition()`` is truthy (a deadline against hanging, not a performance limit)."""
    give_up = time.monotonic() + deadline_s
    while not (value := condition()) and time.monotonic() < give_up:
        time.sleep(0.5)
    return value


@pytest.mark.skipif(
    not os.environ.get("CALLLOG_DAEMON_TESTS"),
    reason="starts dagster-daemon and run processes (a minute or more): CALLLOG_DAEMON_TESTS=1 (CI sets it)",
)
def test_a_daemon_launched_run_waits_for_the_provider_days_other_writer(tmp_path, monkeypatch):
    home, lake = tmp_path / "home", tmp_path / "lake"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    config = SimulatorConfig(seed=2, calls_per_day=30, now=datetime(2026, 11, 11, 3, 0, tzinfo=UTC))
    with SimulatorServer(config) as sim:
        prefix = REGISTRY[PROVIDER].api().env_prefix
        env = {
            **os.environ,
            **sim.env(),
            "DAGSTER_HOME": str(home),
            "PYTHONPATH": str(ROOT),
            "CALLLOG_DATA_DIR": str(lake),
            "CALLLOG_START_DATE": "2026-11-01",
            "CALLLOG_PROVIDERS": PROVIDER,
            f"{prefix}_RATE_LIMIT_REQUESTS": "50",
        }
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        pool = normalize_pool(PROVIDER)
        calls = lake / "calls" / f"date={DAY}" / f"provider={PROVIDER}" / "data.parquet"
        with dg.DagsterInstance.get() as instance:
            # Another run (a backfill of the same provider) is writing: it holds the pool's one slot.
            storage = instance.event_log_storage
            storage.initialize_concurrency_limit_to_default(pool)
            assert storage.claim_concurrency_slot(pool, "backfill-run", f"normalize_{PROVIDER}").is_claimed

            launch = [
                str(BIN / "dagster"),
                "job",
                "launch",
                "-w",
                "workspace.yaml",
                "-j",
                f"{PROVIDER}_daily",
            ]
            tags = json.dumps({"dagster/partition": DAY})
            subprocess.run([*launch, "--tags", tags], cwd=ROOT, env=env, check=True, capture_output=True)
            (run,) = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.QUEUED, "launched through the daemon's queue"

            daemon = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:

                def blocked() -> bool:
                    return any(
                        f"blocked by limit for pool {pool}" in record.user_message
                        for record in instance.all_logs(run.run_id)
                    )

                assert wait_for(blocked), "the run's normalize step must say it waits for the pool"
                assert not calls.exists(), "nothing is written while the other writer holds the slot"
                storage.free_concurrency_slots_for_run("backfill-run")  # the backfill finishes

                def finished():
                    status = instance.get_run_by_id(run.run_id).status
                    return (
                        status
                        if status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)
                        else None
                    )

                assert wait_for(finished) == dg.DagsterRunStatus.SUCCESS
                assert calls.exists()
            finally:
                daemon.terminate()
                daemon.wait(timeout=60)
