"""``calllog-pipeline doctor``: check a deployment before the first run, and say what to fix.

Checks, in order: the settings (``Settings``, the instance choice), each selected provider's
credentials (one cheap request each: the first page of its first endpoint over the last hour),
write access to the lake and to the instance's storage, and the alert channels (a test message
only with ``--send-test-alert``). Exits 1 when any check fails. Secrets are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DOCTOR_KEY = "calllog_pipeline/doctor"  # the instance key-value entry the storage check writes


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def register(commands) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check settings, provider credentials, lake and instance write access, and alert channels",
    )
    doctor.add_argument(
        "--send-test-alert", action="store_true", help="send a test message through each alert channel"
    )
    doctor.set_defaults(run=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    failed = 0
    for finding in diagnose(send_test_alert=args.send_test_alert):
        print(f"{'ok  ' if finding.ok else 'FAIL'}  {finding.name}: {finding.detail}")
        if not finding.ok:
            failed += 1
            print(f"      fix: {finding.fix}")
    print(
        "\nAll checks passed."
        if not failed
        else f"\n{failed} check(s) failed: fix them and run doctor again."
    )
    return 1 if failed else 0


def diagnose(send_test_alert: bool = False) -> Iterator[Finding]:
    from calllog_pipeline.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        yield Finding(
            "settings", False, str(exc), "set the variable as the message says (docs/configuration.md)"
        )
        return  # nothing else can be checked without knowing the providers and the lake
    yield Finding(
        "settings",
        True,
        f"providers {', '.join(settings.providers)}; days from {settings.start_date} ({settings.timezone}); "
        f"lake {settings.data_dir}",
    )
    for name in settings.providers:
        yield _guarded(f"provider {name}", lambda name=name: check_provider(name))
    yield _guarded("lake", lambda: check_lake(settings.data_dir))
    yield _guarded("instance", check_instance)
    yield _guarded("alerts", lambda: check_alerts(send_test_alert))


def _guarded(name: str, check: Callable[[], Finding]) -> Finding:
    """A check that crashes is a failed check, never a crashed doctor."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - reported with its type, the doctor goes on
        return Finding(name, False, f"{type(exc).__name__}: {exc}", "see the error above")


# --- providers -----------------------------------------------------------------------------------------


def check_provider(name: str) -> Finding:
    from calllog_pipeline.http import ProviderAuthError, ProviderError
    from calllog_pipeline.providers import REGISTRY
    from calllog_pipeline.redact import redact_text

    provider = REGISTRY[name]
    # One attempt, short timeouts: the doctor reports a provider that does not answer, never waits it out.
    # EnvVar secrets resolve only when the resource is initialized, as Dagster does for a run.
    api = provider.api().process_config_and_initialize()
    api = api.model_copy(update={"max_attempts": 1, "read_timeout_s": 15.0, "request_timeout_s": 30.0})
    label = f"provider {name}"
    if missing := api.missing_settings():
        return Finding(
            label,
            False,
            f"{', '.join(missing)} not set",
            f"set {', '.join(missing)}, or leave {name} out of CALLLOG_PROVIDERS",
        )
    endpoint = provider.endpoints[0]
    try:
        seen = asyncio.run(_first_page(api, endpoint))
    except ProviderAuthError as exc:
        fix = f"set {api.env_var('api_key')} to a valid key for {api.base_url}"
        return Finding(label, False, str(exc), fix)
    except ProviderError as exc:
        return Finding(label, False, str(exc), f"check {api.env_var('base_url')} and the provider's status")
    except Exception as exc:  # noqa: BLE001 - e.g. an unreachable host; the message may hold the URL
        detail = redact_text(f"{type(exc).__name__}: {exc}", api.secrets())
        return Finding(label, False, detail, f"check {api.env_var('base_url')} ({api.base_url})")
    return Finding(label, True, f"credentials accepted ({endpoint.path}: {seen} record(s) listed)")


async def _first_page(api, endpoint) -> int:
    from calllog_pipeline.providers.base import Window

    now = datetime.now(UTC)
    params = {**api.default_params(), **endpoint.page_params(1, endpoint.page_size)}
    if endpoint.window_params is not None:
        params.update(endpoint.window_params(Window(now - timedelta(hours=1), now)))
    async with api.client() as client:
        response = await client.get(endpoint.path, params, parse=endpoint.read_page)
    return 0 if response.body is None else response.body[1]  # None: 204, nothing listed


# --- storage -------------------------------------------------------------------------------------------


def check_lake(root: str) -> Finding:
    """Write, read back and delete a small file where the lake's partitions go (atomically, like them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from calllog_pipeline.lake import Lake

    lake = Lake(root=root)
    path = lake.table_path("_doctor", datetime.now(UTC).date(), uuid.uuid4().hex)
    table = pa.table({"checked_at": [datetime.now(UTC).isoformat()]})
    try:
        lake.write_table(path, table)
        with lake.fs.open(path, "rb") as f:
            back = pq.read_table(f)
        lake.fs.rm(path.rsplit("/", 2)[0], recursive=True)  # the probe's date folder
    except Exception as exc:  # noqa: BLE001 - permission, missing bucket, bad credentials...
        fix = (
            "check that the bucket exists and that AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the "
            "role) may write to it"
            if "://" in root and not root.startswith("file://")
            else "make the folder writable or point CALLLOG_DATA_DIR elsewhere"
        )
        return Finding("lake", False, f"cannot write to {root}: {type(exc).__name__}: {exc}", fix)
    if not back.equals(table):
        return Finding("lake", False, f"{root} returned a different file than written", "check the storage")
    return Finding("lake", True, f"{root} is writable (wrote, read back and deleted a probe file)")


def check_instance() -> Finding:
    """Open the Dagster instance of ``DAGSTER_HOME`` and write, then read back, a key-value entry."""
    import dagster as dg

    from calllog_pipeline.instance import instance_kind, missing_instance_settings

    kind = instance_kind()
    if missing := missing_instance_settings():
        return Finding(
            "instance",
            False,
            f"{kind} instance: {', '.join(missing)} not set",
            f"set {', '.join(missing)} (docs/deployment.md)",
        )
    home = os.environ["DAGSTER_HOME"]
    if not os.path.exists(os.path.join(home, "dagster.yaml")):
        return Finding(
            "instance",
            False,
            f"{home}/dagster.yaml is missing",
            f"copy the project's {_variant()} into {home}/dagster.yaml",
        )
    stamp = datetime.now(UTC).isoformat()
    try:
        with dg.DagsterInstance.get() as instance:
            instance.run_storage.set_cursor_values({DOCTOR_KEY: stamp})
            back = instance.run_storage.get_cursor_values({DOCTOR_KEY}).get(DOCTOR_KEY)
            storage = type(instance.run_storage).__name__
    except Exception as exc:  # noqa: BLE001 - unreachable server, wrong password, read-only folder
        fix = (
            "check DAGSTER_PG_HOST/PORT/USERNAME/PASSWORD/DB and that the server accepts connections"
            if kind == "postgres"
            else f"make {home} writable"
        )
        return Finding(
            "instance",
            False,
            f"{kind} instance storage failed: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}",
            fix,
        )
    if back != stamp:
        return Finding("instance", False, "the instance did not keep what was written", "check the storage")
    return Finding("instance", True, f"{kind} instance ({storage}) is writable")


def _variant() -> str:
    from calllog_pipeline.instance import instance_yaml

    return instance_yaml().name


# --- alerts --------------------------------------------------------------------------------------------


def check_alerts(send_test: bool) -> Finding:
    """Which channels are configured; with ``send_test``, one test alert through each."""
    from calllog_pipeline.automation.alerts import Alert
    from calllog_pipeline.automation.channels import AlertChannels, DeliveryError

    channels = AlertChannels.from_env().process_config_and_initialize()  # resolves EnvVar secrets
    enabled = list(channels.enabled())
    if not enabled:
        return Finding(
            "alerts",
            True,
            "no alert channel configured: failures show only in the Dagster UI (set "
            "CALLLOG_SLACK_WEBHOOK_URL, CALLLOG_ALERT_WEBHOOK_URL or CALLLOG_SMTP_HOST + "
            "CALLLOG_ALERT_EMAIL_TO; docs/operations.md)",
        )
    if not send_test:
        return Finding(
            "alerts", True, f"configured: {', '.join(enabled)} (not contacted; --send-test-alert sends one)"
        )
    alert = Alert(
        kind="test",
        summary="calllog_pipeline doctor: test message. Alerts from this deployment will arrive here.",
        job="doctor",
        assets=(),
        providers=(),
        partitions="",
        reason="a test sent by `calllog-pipeline doctor --send-test-alert`",
        link=channels.ui_url,
        severity="warning",
    )
    failed = []
    for name in enabled:
        try:
            channels.send(name, alert)
        except DeliveryError as exc:  # already redacted, names the channel
            failed.append(str(exc))
    if failed:
        return Finding(
            "alerts",
            False,
            "; ".join(failed),
            "check the failing channel's variables (docs/operations.md) and that it accepts messages",
        )
    return Finding("alerts", True, f"test message sent through {', '.join(enabled)}")
