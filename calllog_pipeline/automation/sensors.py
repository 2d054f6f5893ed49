"""Which events become alerts, each delivered exactly once: failed runs and failed asset checks
(including QA anomalies and stale days).

Dagster's run-status sensors advance their cursor even when the send raises, so an outage of the
alert channel would lose alerts. These sensors keep their own cursors over the instance's records
instead, and move it past an event only when every configured channel has taken its alert. A
channel that keeps failing leaves the alert pending: the tick fails (or, if other alerts went out
in the same tick, reports a skip reason naming the channel), and the next tick sends it again, to
the failing channel only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import date, timedelta

import dagster as dg
from dagster._core.storage.tags import WILL_RETRY_TAG  # the run tags Dagster itself sets; no public alias

from calllog_pipeline.automation.alerts import (
    Alert,
    anomalies_in,
    anomaly_alert,
    anomaly_key,
    check_alert,
    first_line,
    job_for,
    providers_of,
    root_cause,
    run_failure_alert,
)
from calllog_pipeline.automation.channels import AlertChannels, DeliveryError
from calllog_pipeline.automation.freshness import FRESHNESS_CHECK

BATCH = 50  # events read per tick; the rest wait for the next tick
FIRST_TICK_LOOKBACK_S = 24 * 3600  # a sensor's first tick reports the last day's events, not all history
ANOMALY_MEMORY_DAYS = 400  # sent anomaly keys older than this (by their date) are forgotten
RUN_ENDS = (
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)


@dataclass
class Cursor:
    """What a sensor has delivered: run-status events up to storage id ``after``; channels already
    served for a pending alert; anomaly keys sent."""

    after: int = -1
    delivered: dict[str, list[str]] = field(default_factory=dict)  # alert key -> channels done
    sent: list[str] = field(default_factory=list)
    started: bool = False

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        known = {f.name for f in fields(cls)}  # a cursor stored by an older version may carry more
        return cls(**{k: v for k, v in json.loads(text).items() if k in known}) if text else cls()

    def dump(self) -> str:
        return json.dumps(vars(self), sort_keys=True)


class Outbox:
    """Sends alerts on every enabled channel, remembering partial progress in the cursor."""

    def __init__(self, channels: AlertChannels, cursor: Cursor, log):
        self.channels, self.cursor, self.log = channels, cursor, log
        self.sent_count = 0
        self.handled = 0  # events the cursor moved past this tick
        self.error: str | None = None

    def deliver(self, alert: Alert) -> bool:
        """True when every channel has the alert (now or on an earlier tick of the same event)."""
        self.log.warning(self.channels.redact(alert.as_text()))
        for name in self.channels.enabled():
            if name in self.cursor.delivered.get(alert.key, []):
                continue
            try:
                self.channels.send(name, alert)
            except DeliveryError as exc:
                self.error = str(exc)
                return False
            self.cursor.delivered.setdefault(alert.key, []).append(name)
            self.sent_count += 1
        return True

    def handled_up_to(self, storage_id: int) -> None:
        """The event ``storage_id`` and all before it are done: its alerts are no longer pending."""
        self.cursor.after = storage_id
        self.cursor.delivered.clear()
        self.handled += 1

    def result(self) -> dg.SensorResult:
        """The tick's outcome; raises when a channel failed before anything else happened, so the
        tick shows as failed in the UI (the stored cursor stays as it was: nothing is lost)."""
        if self.error and not self.sent_count and not self.handled:
            raise DeliveryError(f"alert delivery failed, will retry next tick: {self.error}")
        skip = None
        if self.error:
            skip = dg.SkipReason(f"alert delivery failed, will retry next tick: {self.error}")
        elif not self.sent_count:
            skip = dg.SkipReason("nothing to report")
        return dg.SensorResult(cursor=self.cursor.dump(), skip_reason=skip)


# -- failed runs ------------------------------------------------------------------------------------


def _ended_runs(
    instance: dg.DagsterInstance, after: int, ends=(dg.DagsterEventType.RUN_FAILURE,)
) -> Iterator[tuple[int, dg.DagsterRun, object]]:
    """Runs whose end (of the types in ``ends``) was recorded after storage id ``after``, in the
    order they ended, at most ``BATCH`` of them."""
    pages = [
        instance.fetch_run_status_changes(
            dg.RunStatusChangeRecordsFilter(end, after_storage_id=after if after >= 0 else None),
            limit=BATCH,
            ascending=True,
        ).records
        for end in ends
    ]
    # A full page may stop short of another type's later ends: go no further than its last.
    last = min((page[-1].storage_id for page in pages if len(page) == BATCH), default=None)
    records = sorted((r for page in pages for r in page), key=lambda r: r.storage_id)
    for record in records[:BATCH]:
        if last is not None and record.storage_id > last:
            return
        run = instance.get_run_by_id(record.run_id)
        if run is not None:
            yield record.storage_id, run, record


def _step_errors(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step key, first line of what went wrong): a ``dg.Failure``'s own description, else the
    innermost exception's message."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    errors = []
    for r in records:
        failure = r.event_log_entry.dagster_event.step_failure_data
        user = failure.user_failure_data
        reason = first_line(user.description) if user and user.description else root_cause(failure.error)
        errors.append((r.event_log_entry.step_key or "?", reason))
    return errors


def _unmaterialized_assets(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetKey]:
    """The assets the run planned but did not materialize: what the failure left out of date."""

    def keys(event_type: dg.DagsterEventType) -> set[dg.AssetKey]:
        records = instance.get_records_for_run(run_id, of_type=event_type).records
        return {r.event_log_entry.dagster_event.asset_key for r in records}

    planned = keys(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    return sorted(planned - keys(dg.DagsterEventType.ASSET_MATERIALIZATION), key=lambda k: k.path)


@dg.sensor(
    name="alert_on_run_failure",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Alerts on every failed run after its last retry (runs tagged dagster/will_retry=true wait for "
        "their retry), naming the job, assets, provider, partitions and the root-cause error. An alert "
        "that cannot be delivered stays pending and is re-sent next tick."
    ),
)
def alert_on_run_failure(context: dg.SensorEvaluationContext, alerts: AlertChannels) -> dg.SensorResult:
    cursor = Cursor.parse(context.cursor)
    outbox = Outbox(alerts, cursor, context.log)
    since = time.time() - FIRST_TICK_LOOKBACK_S
    for storage_id, run, record in _ended_runs(context.instance, cursor.after):
        old = not cursor.started and record.event_log_entry.timestamp < since
        if not old and run.tags.get(WILL_RETRY_TAG) != "true":
            alert = run_failure_alert(
                run,
                _unmaterialized_assets(context.instance, run.run_id),
                _step_errors(context.instance, run.run_id),
                record.event_log_entry.message,
                alerts.ui_url,
            )
            if not outbox.deliver(alert):
                break
        outbox.handled_up_to(storage_id)
    cursor.started = True
    return outbox.result()


# -- failed checks, anomalies, stale days -----------------------------------------------------------


def _check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list:
    """The asset check evaluations a run recorded, in order."""
    of_type = dg.DagsterEventType.ASSET_CHECK_EVALUATION
    return instance.get_records_for_run(run_id, of_type=of_type).records


def _forget_old(sent: list[str], today: date) -> list[str]:
    horizon = (today - timedelta(days=ANOMALY_MEMORY_DAYS)).isoformat()
    return [key for key in sent if key.rsplit("|", 1)[-1] >= horizon]


def alerts_for_evaluation(evaluation, run: dg.DagsterRun | None, storage_id: int, ui_url: str, sent: set):
    """The alerts one check evaluation calls for: one per new anomaly, else one if it failed."""
    anomalies = anomalies_in(evaluation.metadata)
    if anomalies is not None:
        job = job_for(run.job_name if run else None, providers_of([evaluation.asset_key]))
        return [
            anomaly_alert(a, evaluation.asset_key, job, ui_url)
            for a in anomalies
            if anomaly_key(a) not in sent
        ]
    if evaluation.passed or "anomaly_count" in evaluation.metadata:
        # (a ranged QA run's summary: its days' findings came in their own evaluations)
        return []
    stale = evaluation.check_name == FRESHNESS_CHECK
    return [check_alert(evaluation, run, ui_url, storage_id, stale=stale)]


def _run_check_alerts(instance: dg.DagsterInstance, run: dg.DagsterRun, ui_url: str, sent: set) -> list:
    alerts = []
    for record in _check_evaluations(instance, run.run_id):
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        alerts += alerts_for_evaluation(evaluation, run, record.storage_id, ui_url, sent)
    return alerts


def _deliver_all(outbox: Outbox, alerts: list[Alert], sent: set[str]) -> bool:
    for alert in alerts:
        if not outbox.deliver(alert):
            return False
        if alert.kind == "QA anomaly":
            sent.add(alert.key.removeprefix("anomaly:"))
    return True


@dg.sensor(
    name="alert_on_check_failure",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Alerts on every failed asset check (data-quality checks, stale days from the freshness checks) "
        "and on every QA anomaly, one message per metric, provider, agent and day, never re-sent."
    ),
)
def alert_on_check_failure(context: dg.SensorEvaluationContext, alerts: AlertChannels) -> dg.SensorResult:
    cursor = Cursor.parse(context.cursor)
    outbox = Outbox(alerts, cursor, context.log)
    # Checks are evaluated inside runs: each ended run's evaluations are read once, when it ends.
    # The first tick (or a cursor from before this scheme) reports runs that ended in the last day.
    since = time.time() - FIRST_TICK_LOOKBACK_S
    first = cursor.after < 0
    sent = set(cursor.sent)
    for storage_id, run, record in _ended_runs(context.instance, cursor.after, RUN_ENDS):
        if not (first and record.event_log_entry.timestamp < since) and not _deliver_all(
            outbox, _run_check_alerts(context.instance, run, alerts.ui_url, sent), sent
        ):
            break
        outbox.handled_up_to(storage_id)
    cursor.sent = _forget_old(sorted(sent), date.today())
    cursor.started = True
    return outbox.result()


ALERT_SENSORS = (alert_on_run_failure, alert_on_check_failure)
