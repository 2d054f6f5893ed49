"""Alerts a user receives: a failed run, a failed check, a QA anomaly and a stale day each arrive once,
on Slack, a JSON webhook and e-mail (real servers on loopback), even when a channel fails for a while."""

from __future__ import annotations

import dagster as dg
import pytest

from calllog_pipeline.automation import channels
from calllog_pipeline.automation.alerts import Alert, anomaly_alert
from calllog_pipeline.automation.channels import AlertChannels, DeliveryError
from calllog_pipeline.automation.sensors import alert_on_check_failure, alert_on_run_failure
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import raw_asset_key
from calllog_pipeline.redact import remember_secrets
from calllog_pipeline.settings import Settings
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer
from calllog_pipeline_tests.alert_receivers import HttpReceiver, SmtpReceiver

DAY = "2026-03-02"
UI = "http://dagster.example:3000"


@pytest.fixture(autouse=True)
def no_send_backoff(monkeypatch):
    monkeypatch.setattr(channels, "SEND_BACKOFF_S", 0.0)  # keep failing-channel tests fast


def tick(sensor, instance, alerts: AlertChannels, cursor: str | None, defs: dg.Definitions | None = None):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"alerts": alerts},
        repository_def=defs.get_repository_def() if defs else None,
    )
    result = sensor(context)
    return result, result.cursor


def failed_dialnexa_run(monkeypatch, instance, tmp_path, env: dict[str, str], retries: int = 3):
    """DialNexa's daily job for DAY with ``env`` set; it must fail."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CALLLOG_STEP_RETRIES", str(retries))
    monkeypatch.setenv("CALLLOG_RETRY_DELAY_S", "0")
    settings = Settings.from_env(
        {
            "CALLLOG_START_DATE": "2026-03-01",
            "CALLLOG_DATA_DIR": str(tmp_path),
            "CALLLOG_PROVIDERS": "dialnexa",
        }
    )
    job = build_definitions(settings).resolve_job_def("dialnexa_daily")
    result = job.execute_in_process(instance=instance, partition_key=DAY, raise_on_error=False)
    assert not result.success
    return result


def failed_provider_run(monkeypatch, instance, tmp_path, retries: int = 0):
    """DialNexa's daily job for DAY while DialNexa is down (its simulator stopped)."""
    with SimulatorServer(SimulatorConfig(seed=1, calls_per_day=10)) as sim:
        env = sim.env()
    return failed_dialnexa_run(
        monkeypatch, instance, tmp_path, {**env, "DIALNEXA_MAX_ATTEMPTS": "1"}, retries=retries
    )


def test_a_failed_run_reaches_slack_webhook_and_email_once(monkeypatch, tmp_path):
    with (
        HttpReceiver() as slack,
        HttpReceiver() as hook,
        SmtpReceiver() as smtp,
        dg.instance_for_test() as inst,
    ):
        for key, value in {
            **smtp.env(),
            "CALLLOG_SLACK_WEBHOOK_URL": slack.url,
            "CALLLOG_ALERT_WEBHOOK_URL": hook.url,
            "CALLLOG_UI_URL": UI,
        }.items():
            monkeypatch.setenv(key, value)
        alerts = AlertChannels.from_env()
        assert set(alerts.enabled()) == {"slack", "webhook", "email"}
        run = failed_provider_run(monkeypatch, inst, tmp_path, retries=1).run_id

        _, cursor = tick(alert_on_run_failure, inst, alerts, None)
        again, _ = tick(alert_on_run_failure, inst, alerts, cursor)  # nothing new: nothing re-sent

    assert again.skip_reason is not None
    (body,) = hook.received
    assert body["kind"] == "run failed" and body["job"] == "dialnexa_daily"
    assert body["providers"] == ["dialnexa"] and body["partitions"] == DAY
    raw_keys = {raw_asset_key("dialnexa", e.name).to_user_string() for e in REGISTRY["dialnexa"].endpoints}
    assert raw_keys <= set(body["assets"]), "the assets the failure left out of date"
    assert "kept failing" in body["reason"] and body["link"] == f"{UI}/runs/{run}"

    (slack_body,) = slack.received
    assert slack_body["blocks"][0]["type"] == "header"
    assert any(
        b.get("type") == "actions" and b["elements"][0]["url"] == body["link"] for b in slack_body["blocks"]
    )
    assert "dialnexa_daily" in str(slack_body["blocks"])

    (mail,) = smtp.messages
    assert mail["To"] == "oncall@example.com" and "run failed" in mail["Subject"]
    text = mail.get_payload(decode=True).decode()
    assert "Job: dialnexa_daily" in text and f"Partitions: {DAY}" in text and run in text

    secrets = [REGISTRY["dialnexa"].api().api_key, SmtpReceiver.PASSWORD, slack.url, hook.url]
    everything = str(hook.received) + str(slack.received) + text
    assert not [s for s in secrets if isinstance(s, str) and s in everything]


def test_an_outage_is_retried_before_it_alerts(monkeypatch, tmp_path):
    with dg.instance_for_test() as instance:
        result = failed_provider_run(monkeypatch, instance, tmp_path, retries=2)
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retried) == 2 * len(REGISTRY["dialnexa"].endpoints)  # each raw step: 2 retries, then fail


def test_a_bad_key_fails_at_once_without_retries(monkeypatch, tmp_path):
    with (
        SimulatorServer(SimulatorConfig(seed=1, calls_per_day=10)) as sim,
        dg.instance_for_test() as instance,
    ):
        result = failed_dialnexa_run(
            monkeypatch, instance, tmp_path, {**sim.env(), "DIALNEXA_API_KEY": "expired-key"}
        )
        assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert sim.stats()["responses"].get(401) == len(REGISTRY["dialnexa"].endpoints)

        with HttpReceiver() as hook:
            tick(alert_on_run_failure, instance, AlertChannels(webhook_url=hook.url), None)
    (body,) = hook.received
    assert (
        body["reason"].startswith("DialNexa refused the credentials") and "DIALNEXA_API_KEY" in body["reason"]
    )
    assert "expired-key" not in str(body)


class ChangedShapeApi(HttpReceiver):
    """A provider whose API changed: every GET answers 200 with a body the contract does not know."""

    def __init__(self):
        super().__init__()
        self.requests = 0
        api = self

        class Handler(self.server.RequestHandlerClass):
            def do_GET(self):  # noqa: N802 - http.server's naming
                api.requests += 1
                body = b'{"items": [], "next": null}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server.RequestHandlerClass = Handler


def test_a_changed_response_shape_fails_at_once_without_retries(monkeypatch, tmp_path):
    with ChangedShapeApi() as api, dg.instance_for_test() as instance:
        env = {"DIALNEXA_BASE_URL": api.url.removesuffix("/hook"), "DIALNEXA_API_KEY": "a-key"}
        result = failed_dialnexa_run(monkeypatch, instance, tmp_path, env)
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    failures = [e.step_failure_data.user_failure_data for e in result.all_events if e.is_step_failure]
    assert failures and all("shape changed" in f.description for f in failures if f)
    assert api.requests == len(REGISTRY["dialnexa"].endpoints), "one request per endpoint, none repeated"


def test_a_failing_receiver_gets_the_alert_once_it_recovers(monkeypatch, tmp_path):
    with (
        HttpReceiver() as slack,
        HttpReceiver(fail_first=channels.SEND_ATTEMPTS) as hook,
        dg.instance_for_test() as instance,
    ):
        failed_provider_run(monkeypatch, instance, tmp_path)
        alerts = AlertChannels(slack_webhook_url=slack.url, webhook_url=hook.url, ui_url=UI)

        first, cursor = tick(alert_on_run_failure, instance, alerts, None)
        assert (
            "will retry next tick" in first.skip_reason.skip_message
            and "webhook" in first.skip_reason.skip_message
        )
        assert (len(slack.received), len(hook.received)) == (1, 0)

        _, cursor = tick(alert_on_run_failure, instance, alerts, cursor)
        assert (len(slack.received), len(hook.received)) == (1, 1), (
            "the retry goes to the failed channel only"
        )
        tick(alert_on_run_failure, instance, alerts, cursor)
        assert (len(slack.received), len(hook.received)) == (1, 1)


def test_a_tick_that_delivers_nothing_fails_visibly_and_keeps_the_alert(monkeypatch, tmp_path):
    with HttpReceiver(fail_first=channels.SEND_ATTEMPTS) as hook, dg.instance_for_test() as instance:
        failed_provider_run(monkeypatch, instance, tmp_path)
        alerts = AlertChannels(webhook_url=hook.url)
        with pytest.raises(DeliveryError, match="HTTPStatusError"):
            tick(alert_on_run_failure, instance, alerts, None)
        assert hook.received == []
        tick(alert_on_run_failure, instance, alerts, None)  # the cursor never moved
        assert len(hook.received) == 1


def test_an_asset_run_launched_from_the_ui_names_the_provider_job():
    remember_secrets(["lc-secret-value-123"])  # as the provider's resource does with its key

    @dg.asset(key=raw_asset_key("leadconnector", "call_logs"))
    def call_logs():
        raise dg.Failure("LeadConnector refused the key lc-secret-value-123: check LEADCONNECTOR_API_KEY")

    with HttpReceiver() as hook, dg.instance_for_test() as instance:
        dg.materialize([call_logs], instance=instance, raise_on_error=False)
        tick(alert_on_run_failure, instance, AlertChannels(webhook_url=hook.url), None)
    (body,) = hook.received
    assert body["job"] == "leadconnector_daily (ad-hoc run of its assets)" and "__" not in body["job"]
    assert body["assets"] == [raw_asset_key("leadconnector", "call_logs").to_user_string()]
    assert body["reason"].startswith("LeadConnector refused the key [REDACTED]")
    assert "lc-secret-value-123" not in str(body)


def test_runs_that_dagster_will_retry_wait_for_their_retry():
    @dg.asset
    def flaky():
        raise RuntimeError("provider blip")

    with HttpReceiver() as hook, dg.instance_for_test() as instance:
        dg.materialize([flaky], instance=instance, raise_on_error=False, tags={"dagster/will_retry": "true"})
        tick(alert_on_run_failure, instance, AlertChannels(webhook_url=hook.url), None)
    assert hook.received == []


# -- checks and anomalies ---------------------------------------------------------------------------

ANOMALIES = [
    {
        "metric": "answer_rate",
        "provider": "dialnexa",
        "agent": "agent_7",
        "date": DAY,
        "value": 0.21,
        "baseline": 0.64,
        "severity": "warn",
        "direction": "below",
    },
    {
        "metric": "avg_duration_s",
        "provider": "dialnexa",
        "agent": "agent_2",
        "date": DAY,
        "value": 512.0,
        "baseline": 140.0,
        "severity": "error",
        "direction": "above",
    },
]
QA_KEY = dg.AssetKey(["qa", "dialnexa_agent_daily"])
CALLS_KEY = dg.AssetKey(["normalized", "dialnexa_calls"])


def planted_assets():
    @dg.asset(key=QA_KEY, check_specs=[dg.AssetCheckSpec("anomalies", asset=QA_KEY)])
    def agent_daily():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(
            check_name="anomalies",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"anomalies": dg.MetadataValue.json(ANOMALIES)},
        )

    @dg.asset(key=CALLS_KEY, check_specs=[dg.AssetCheckSpec("call_id_unique", asset=CALLS_KEY)])
    def calls():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(
            check_name="call_id_unique", passed=False, description="3 duplicated call ids on 2026-03-02"
        )

    return agent_daily, calls


def test_a_run_whose_alerts_went_out_in_part_sends_only_the_rest_next_tick():
    """The channel takes one of a run's three alerts, then fails: the next ticks send the other two,
    and never the first again (also when the sensor's cursor was stored by an older version)."""
    agent_daily, calls = planted_assets()
    with HttpReceiver(accept_only=1) as hook, dg.instance_for_test() as instance:
        alerts = AlertChannels(webhook_url=hook.url, ui_url=UI)
        defs = dg.Definitions(assets=[agent_daily, calls])
        dg.materialize([agent_daily, calls], instance=instance)
        older = '{"after": -1, "checks": {}, "delivered": {}, "sent": [], "started": true}'
        result, cursor = tick(alert_on_check_failure, instance, alerts, older, defs)
        assert len(hook.received) == 1 and "will retry next tick" in result.skip_reason.skip_message
        hook.accept_only = None  # the channel is back
        _, cursor = tick(alert_on_check_failure, instance, alerts, cursor, defs)
        tick(alert_on_check_failure, instance, alerts, cursor, defs)

    keys = sorted(b["reason"] for b in hook.received)
    assert len(keys) == len(set(keys)) == 3


def test_a_failed_check_and_each_anomaly_alert_exactly_once():
    agent_daily, calls = planted_assets()
    with HttpReceiver() as hook, dg.instance_for_test() as instance:
        alerts = AlertChannels(webhook_url=hook.url, ui_url=UI)
        defs = dg.Definitions(assets=[agent_daily, calls])
        dg.materialize([agent_daily, calls], instance=instance)
        _, cursor = tick(alert_on_check_failure, instance, alerts, None, defs)
        tick(alert_on_check_failure, instance, alerts, cursor, defs)  # re-evaluating sends nothing again

        # The QA day is recomputed and finds the same anomalies: they were already reported.
        dg.materialize([agent_daily], instance=instance)
        _, cursor = tick(alert_on_check_failure, instance, alerts, cursor, defs)

    by_kind = sorted((b["kind"], b["reason"]) for b in hook.received)
    assert [k for k, _ in by_kind] == ["QA anomaly", "QA anomaly", "check failed"]
    check = next(b for b in hook.received if b["kind"] == "check failed")
    assert check["reason"] == "3 duplicated call ids on 2026-03-02"
    assert check["providers"] == ["dialnexa"] and check["job"].startswith("dialnexa_daily")
    assert check["link"] == f"{UI}/assets/normalized/dialnexa_calls?view=checks"
    anomaly = next(b for b in hook.received if "answer_rate" in b["summary"])
    assert (
        anomaly["partitions"] == DAY and "agent_7" in anomaly["reason"] and anomaly["severity"] == "warning"
    )


def test_a_day_that_did_not_land_alerts_as_stale():
    partitions = dg.DailyPartitionsDefinition(start_date="2026-01-01")

    @dg.asset(key=dg.AssetKey(["raw", "omnidimension_call_logs"]), partitions_def=partitions)
    def call_logs():
        return None

    from calllog_pipeline.automation.freshness import partition_freshness

    checks, _sensor = partition_freshness([call_logs], "UTC", deadline_hour=6)
    with HttpReceiver() as hook, dg.instance_for_test() as instance:
        dg.materialize([call_logs, *checks], instance=instance, selection=dg.AssetSelection.checks(*checks))
        defs = dg.Definitions(assets=[call_logs], asset_checks=checks)
        tick(alert_on_check_failure, instance, AlertChannels(webhook_url=hook.url, ui_url=UI), None, defs)
    (body,) = hook.received
    assert body["kind"] == "stale day" and body["providers"] == ["omnidimension"]
    assert body["job"].startswith("omnidimension_daily") and "raw/omnidimension_call_logs" in body["assets"]


def test_a_ranged_qa_run_alerts_each_days_anomalies_not_its_summary():
    """A ranged QA run records each day's verdict as its own evaluation, then one summary."""
    partitions = dg.DailyPartitionsDefinition(start_date="2026-03-01")
    days = ["2026-03-01", DAY]
    provider_level = {**ANOMALIES[0], "agent": None, "date": days[0], "direction": "drop"}

    @dg.asset(
        key=QA_KEY, partitions_def=partitions, check_specs=[dg.AssetCheckSpec("anomalies", asset=QA_KEY)]
    )
    def agent_daily():
        yield dg.MaterializeResult()
        for day, found in zip(days, ([provider_level], ANOMALIES), strict=True):
            yield dg.AssetCheckEvaluation(
                asset_key=QA_KEY,
                check_name="anomalies",
                passed=False,
                metadata={"anomalies": dg.MetadataValue.json(found)},
                partition=day,
            )
        yield dg.AssetCheckResult(
            check_name="anomalies", passed=False, metadata={"anomaly_count": 3, "failed_partitions": days}
        )

    with HttpReceiver() as hook, dg.instance_for_test() as instance:
        ranged = {
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        }
        dg.materialize([agent_daily], instance=instance, tags=ranged)
        defs = dg.Definitions(assets=[agent_daily])
        tick(alert_on_check_failure, instance, AlertChannels(webhook_url=hook.url, ui_url=UI), None, defs)
    assert sorted(b["kind"] for b in hook.received) == ["QA anomaly"] * 3
    provider_alert = next(b for b in hook.received if b["partitions"] == days[0])
    assert "the provider as a whole" in provider_alert["reason"] and "a drop from" in provider_alert["reason"]


def test_an_anomaly_in_a_metric_named_like_a_credential_keeps_its_value():
    finding = {**ANOMALIES[1], "metric": "tokens_per_call", "value": 5120.0, "baseline": 900.0}
    alert = anomaly_alert(finding, QA_KEY, "dialnexa_daily", UI)
    with HttpReceiver() as hook:
        AlertChannels(webhook_url=hook.url).send("webhook", alert)
    (body,) = hook.received
    assert "tokens_per_call was 5120.0" in body["reason"] and "REDACTED" not in str(body)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_goes_over_tls_with_login(security, monkeypatch, tmp_path):
    with SmtpReceiver(security, tmp_path) as smtp:
        for key, value in smtp.env().items():
            monkeypatch.setenv(key, value)
        alert = Alert(
            kind="run failed",
            summary="calllog_pipeline: run failed",
            job="omnidimension_daily",
            assets=("raw/omnidimension_call_logs",),
            providers=("omnidimension",),
            partitions=DAY,
            reason="ProviderUnavailable: OmniDimension /calls/logs kept failing (HTTP 503)",
            link=f"{UI}/runs/abc",
            key="run:abc",
        )
        with dg.build_resources({"alerts": AlertChannels.from_env()}) as resources:  # resolves EnvVars
            resources.alerts.send("email", alert)
    (mail,) = smtp.messages
    assert "Job: omnidimension_daily" in mail.get_payload(decode=True).decode()


def test_a_long_ranged_run_alerts_every_day_even_beyond_one_page_of_history():
    partitions = dg.DailyPartitionsDefinition(start_date="2026-01-01")
    days = partitions.get_partition_keys()[:60]  # more evaluations of one check than a page holds

    @dg.asset(
        key=QA_KEY, partitions_def=partitions, check_specs=[dg.AssetCheckSpec("anomalies", asset=QA_KEY)]
    )
    def agent_daily():
        yield dg.MaterializeResult()
        for day in days:
            finding = {**ANOMALIES[0], "date": day}
            yield dg.AssetCheckEvaluation(
                asset_key=QA_KEY,
                check_name="anomalies",
                passed=False,
                metadata={"anomalies": dg.MetadataValue.json([finding])},
                partition=day,
            )
        yield dg.AssetCheckResult(check_name="anomalies", passed=False, metadata={"anomaly_count": len(days)})

    with HttpReceiver() as hook, dg.instance_for_test() as instance:
        ranged = {
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        }
        dg.materialize([agent_daily], instance=instance, tags=ranged)
        defs = dg.Definitions(assets=[agent_daily])
        alerts = AlertChannels(webhook_url=hook.url)
        _, cursor = tick(alert_on_check_failure, instance, alerts, None, defs)
        tick(alert_on_check_failure, instance, alerts, cursor, defs)
    assert sorted(b["partitions"] for b in hook.received) == days
