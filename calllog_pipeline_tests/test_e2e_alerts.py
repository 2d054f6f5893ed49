"""End to end, an outage as an operator lives it: the provider is down, a backfill launched from the
UI (GraphQL) fails, and the daemon's alert sensor delivers the alert to a real HTTP receiver and a
real SMTP server on loopback, configured only through the environment (docs/operations.md#channels).
"""

from __future__ import annotations

from datetime import date, timedelta

from calllog_pipeline.automation import job_name
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import raw_asset_key
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer
from calllog_pipeline_tests.alert_receivers import HttpReceiver, SmtpReceiver
from calllog_pipeline_tests.dagster_services import DagsterServices, instance_home, needs_daemon, wait_for

pytestmark = needs_daemon

PROVIDER = REGISTRY[next(iter(REGISTRY))]
DAY = (date.today() - timedelta(days=3)).isoformat()
ALERT_TIMEOUT_S = 300  # the run-failure sensor ticks every 30 s, after the run has failed


def test_a_failed_backfill_alerts_by_webhook_and_email_while_the_provider_is_down(tmp_path):
    with SimulatorServer(SimulatorConfig(calls_per_day=5)) as sim:
        provider_env = sim.env()  # the simulator stops here: every request is refused from now on
    api = type(PROVIDER.api())
    with HttpReceiver() as hook, SmtpReceiver() as smtp:
        env = {
            **provider_env,
            **smtp.env(),
            "CALLLOG_ALERT_WEBHOOK_URL": hook.url,
            "CALLLOG_PROVIDERS": PROVIDER.name,
            "CALLLOG_DATA_DIR": str(tmp_path / "data"),
            "CALLLOG_START_DATE": (date.today() - timedelta(days=10)).isoformat(),
            # Fail fast: one attempt per request and no step retries (their own tests cover those).
            api.env_var("max_attempts"): "1",
            "CALLLOG_STEP_RETRIES": "0",
        }
        with DagsterServices(instance_home(tmp_path), env) as services:
            backfill_id = services.launch_backfill(services.asset_keys(), [DAY])
            backfill = services.wait_for_backfill(backfill_id)
            assert backfill["status"] in ("COMPLETED_FAILED", "FAILED"), backfill
            [run] = backfill["runs"]
            assert run["status"] == "FAILURE"

            def run_failure_alerts():
                alerts = [a for a in hook.received if a["kind"] == "run failed"]
                mails = [m for m in smtp.messages if "run failed" in m["Subject"]]
                return (alerts, mails) if alerts and mails else None

            alerts, mails = wait_for("the run-failure alert", run_failure_alerts, ALERT_TIMEOUT_S)

    [alert] = alerts  # one alert for one failed run
    assert job_name(PROVIDER.name) in alert["job"]  # a job the user can re-run, not __ASSET_JOB
    assert alert["providers"] == [PROVIDER.name] and alert["partitions"] == DAY
    raw_keys = {raw_asset_key(PROVIDER.name, e.name).to_user_string() for e in PROVIDER.endpoints}
    assert raw_keys <= set(alert["assets"])
    assert alert["link"] == f"{services.url}/runs/{run['runId']}"
    assert PROVIDER.title in alert["reason"]  # the root cause names the provider that is down

    [mail] = mails
    text = mail.get_payload(decode=True).decode()
    assert run["runId"] in text and DAY in text
    assert SmtpReceiver.PASSWORD not in text and hook.url not in str(hook.received)
