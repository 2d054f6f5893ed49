"""Runs execute their steps in the run's own process by default; a run can still ask for a
process per step, and retry policies hold either way."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from calllog_pipeline.executor import in_process_by_default

ATTEMPTS_FILE = "CALLLOG_TEST_ATTEMPTS_FILE"


@dg.asset(retry_policy=dg.RetryPolicy(max_retries=1))
def flaky_first_attempt() -> dg.MaterializeResult:
    # Fails its first attempt, as an outage would; the attempt count survives process boundaries.
    path = Path(os.environ[ATTEMPTS_FILE])
    with path.open("a") as f:
        f.write("x")
    if path.read_text() == "x":
        raise dg.Failure("provider unavailable (first attempt)")
    return dg.MaterializeResult(metadata={"pid": os.getpid()})


@dg.asset(deps=[flaky_first_attempt])
def downstream() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"pid": os.getpid()})


def chain_job() -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[flaky_first_attempt, downstream],
        jobs=[dg.define_asset_job("chain")],
        executor=in_process_by_default,
    )
    return defs.resolve_job_def("chain")


# By module path, so that step processes can import it whichever way pytest imported this file.
JOB = dg.build_reconstructable_job("calllog_pipeline_tests.test_executor", "chain_job")


def _step_pids(instance, run_id) -> set[int]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return {r.event_log_entry.asset_materialization.metadata["pid"].value for r in records}


@pytest.mark.parametrize("run_config", [{}, {"execution": {"config": {"multiprocess": {}}}}])
def test_steps_share_the_run_process_unless_the_run_asks_for_processes(tmp_path, monkeypatch, run_config):
    monkeypatch.setenv(ATTEMPTS_FILE, str(tmp_path / "attempts"))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.execute_job(JOB, instance=instance, run_config=run_config)
        assert result.success, "the retry policy turned the first attempt's failure into a success"
        assert (tmp_path / "attempts").read_text() == "xx"
        pids = _step_pids(instance, result.run_id)
    if run_config:
        assert len(pids) == 2 and os.getpid() not in pids, "one process per step when asked"
    else:
        assert pids == {os.getpid()}, "both steps ran in the run's own process"


def test_the_code_location_runs_steps_in_process_unless_on_kubernetes(monkeypatch):
    from calllog_pipeline.definitions import build_definitions
    from calllog_pipeline.settings import Settings

    monkeypatch.delenv("CALLLOG_EXECUTOR", raising=False)
    job = build_definitions(Settings.from_env()).resolve_job_def("dialnexa_daily")
    assert job.executor_def is in_process_by_default
