"""``calllog-pipeline doctor`` against the simulator: what a user sees with good and bad settings."""

from __future__ import annotations

import pytest
from starlette.responses import JSONResponse
from starlette.routing import Route

from calllog_pipeline.cli import main
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.simulator import SimulatorConfig, SimulatorServer


@pytest.fixture
def sim(monkeypatch, tmp_path):
    with SimulatorServer(SimulatorConfig(seed=2, calls_per_day=20)) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("CALLLOG_DATA_DIR", str(tmp_path / "lake"))
        monkeypatch.delenv("CALLLOG_ALERT_WEBHOOK_URL", raising=False)
        yield server


def doctor(capsys, *args: str) -> tuple[int, str]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def test_a_healthy_deployment_passes_every_check(sqlite_home, sim, capsys, tmp_path):
    code, out = doctor(capsys)
    assert code == 0, out
    for name in REGISTRY:
        assert f"ok    provider {name}: credentials accepted" in out
    assert "ok    lake:" in out and "ok    instance: sqlite instance" in out
    assert not list((tmp_path / "lake").rglob("*.parquet")), "the lake probe must clean up after itself"
    assert sim.stats()["by_provider"] == {name: 1 for name in REGISTRY}  # one cheap request each


def test_a_bad_key_fails_names_the_variable_and_never_prints_the_key(sqlite_home, sim, capsys, monkeypatch):
    monkeypatch.setenv("DIALNEXA_API_KEY", "dn-live-WRONG-0123456789")
    monkeypatch.delenv("LEADCONNECTOR_LOCATION_ID")
    code, out = doctor(capsys)
    assert code == 1
    assert "FAIL  provider dialnexa" in out and "fix: set DIALNEXA_API_KEY" in out
    assert "FAIL  provider leadconnector: LEADCONNECTOR_LOCATION_ID not set" in out
    assert "ok    provider omnidimension" in out  # one provider's problem is only that provider's
    assert "dn-live-WRONG" not in out
    assert "2 check(s) failed" in out


def test_an_unreadable_setting_stops_early_with_the_variable_named(sqlite_home, sim, capsys, monkeypatch):
    monkeypatch.setenv("CALLLOG_PROVIDERS", "dialnexa,vapi")
    code, out = doctor(capsys)
    assert code == 1 and "FAIL  settings: CALLLOG_PROVIDERS" in out


def test_an_unwritable_lake_and_missing_instance_settings_are_reported(
    sqlite_home, sim, capsys, monkeypatch, tmp_path
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake should be")
    monkeypatch.setenv("CALLLOG_DATA_DIR", str(blocker))
    monkeypatch.setenv("CALLLOG_INSTANCE", "postgres")
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    code, out = doctor(capsys)
    assert code == 1
    assert "FAIL  lake: cannot write to" in out and "CALLLOG_DATA_DIR" in out
    assert "FAIL  instance: postgres instance: DAGSTER_PG_HOST" in out


def test_postgres_and_s3_backends_are_checked_for_writes(postgres_home, s3_lake, sim, capsys, monkeypatch):
    monkeypatch.setenv("CALLLOG_DATA_DIR", s3_lake)
    code, out = doctor(capsys)
    assert code == 0, out
    assert f"ok    lake: {s3_lake} is writable" in out
    assert "ok    instance: postgres instance (PostgresRunStorage)" in out


def test_alert_channel_gets_a_test_message_only_when_asked(sqlite_home, sim, capsys, monkeypatch):
    received = []

    async def hook(request):
        received.append((await request.json())["summary"])
        return JSONResponse({"ok": True})

    with SimulatorServer() as webhook_host:  # a loopback web server with one more route: the webhook
        webhook_host.app.router.routes.append(Route("/hook", hook, methods=["POST"]))
        monkeypatch.setenv("CALLLOG_ALERT_WEBHOOK_URL", webhook_host.url + "/hook")
        code, out = doctor(capsys)
        assert code == 0 and "not contacted" in out and not received
        code, out = doctor(capsys, "--send-test-alert")
        assert code == 0 and "test message sent" in out
        assert received == [
            "calllog_pipeline doctor: test message. Alerts from this deployment will arrive here."
        ]
        monkeypatch.setenv("CALLLOG_ALERT_WEBHOOK_URL", webhook_host.url + "/no-such-hook")
        code, out = doctor(capsys, "--send-test-alert")
        assert code == 1 and "FAIL  alerts: webhook: HTTPStatusError" in out
