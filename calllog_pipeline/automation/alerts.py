"""What an alert says: one message a user can act on, built from a failed run or a check evaluation.

Every alert names the job that (re)builds the data, the assets, providers and partitions, the first
line of the root cause (or the check's verdict) and a link into the Dagster UI. Text passes through
``redact`` on its way out (see ``channels``), so a credential echoed in an error never leaves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import dagster as dg
from dagster._core.storage.tags import (  # the run tags Dagster itself sets; no public alias exists
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from calllog_pipeline.providers import REGISTRY

PROVIDER_TAG = "provider"


@dataclass(frozen=True)
class Alert:
    kind: str  # "run failed", "check failed", "QA anomaly", "stale day"
    summary: str  # one line: what happened
    job: str
    assets: tuple[str, ...]
    providers: tuple[str, ...]
    partitions: str
    reason: str  # first line of the root cause, or the check's verdict
    link: str
    severity: str = "error"  # "error" or "warning"
    details: Mapping[str, object] = field(default_factory=dict)
    # Identifies the alert across sensor ticks, so a retried delivery never repeats a channel.
    key: str = ""

    def lines(self) -> list[str]:
        return [
            self.summary,
            f"Job: {self.job}",
            f"Assets: {', '.join(self.assets) or 'n/a'}",
            f"Provider: {', '.join(self.providers) or 'n/a'}",
            f"Partitions: {self.partitions or 'n/a'}",
            f"Reason: {self.reason}",
            f"Open: {self.link}",
        ]

    def as_text(self) -> str:
        return "\n".join(self.lines())

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "summary": self.summary,
            "job": self.job,
            "assets": list(self.assets),
            "providers": list(self.providers),
            "partitions": self.partitions,
            "reason": self.reason,
            "link": self.link,
            "details": dict(self.details),
            "text": self.as_text(),
        }


def first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


def root_cause(error: dg.SerializableErrorInfo | None) -> str:
    """The user's own exception message, not Dagster's "error occurred while executing" wrapper."""
    if error is None:
        return "(no error recorded)"
    while error.cause is not None:
        error = error.cause
    # "calllog_pipeline.http.ProviderAuthError: DialNexa refused ..." becomes "DialNexa refused ...
    # (ProviderAuthError)": the message first, and no "<...Auth...>: value" shape that redaction
    # would read as a credential assignment.
    line = first_line(error.message)
    name, sep, rest = line.partition(": ")
    if sep and rest and name.replace(".", "").replace("_", "").isalnum():
        return f"{rest} ({name.rsplit('.', 1)[-1]})"
    return line


def providers_of(asset_keys: Iterable[dg.AssetKey]) -> tuple[str, ...]:
    """Providers named by asset keys: the last component is ``<provider>_<name>`` (or, for keys
    still shaped ``<provider>/<endpoint>``, a component is the provider's name)."""
    found = {
        name
        for key in asset_keys
        for name in REGISTRY
        if key.path[-1].startswith(f"{name}_") or name in key.path
    }
    return tuple(sorted(found))


def job_for(job_name: str | None, providers: Sequence[str]) -> str:
    """A job a user can find and re-run: the run's own, or for an ad-hoc run launched from an asset
    page (Dagster's hidden ``__ASSET_JOB``) the provider jobs that build those assets."""
    if job_name and not job_name.startswith("__"):
        return job_name
    jobs = ", ".join(f"{p}_daily" for p in providers) or "(ad-hoc asset run)"
    return f"{jobs} (ad-hoc run of its assets)" if job_name else jobs


def partitions_of(tags: Mapping[str, str]) -> str:
    if key := tags.get(PARTITION_NAME_TAG):
        return key
    first, last = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if first:
        return first if first == last else f"{first}..{last}"
    return ""


def run_link(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{run_id}"


def asset_link(ui_url: str, key: dg.AssetKey, view: str | None = None) -> str:
    path = "/".join(quote(part, safe="") for part in key.path)
    return f"{ui_url.rstrip('/')}/assets/{path}" + (f"?view={view}" if view else "")


def run_failure_alert(
    run: dg.DagsterRun,
    assets_left_out: Sequence[dg.AssetKey],
    step_errors: Sequence[tuple[str, str]],
    run_error: str | None,
    ui_url: str,
) -> Alert:
    """``assets_left_out``: what the run planned but did not materialize; ``step_errors``: (step key,
    root-cause first line) of each failed step, in order."""
    keys = list(assets_left_out) or list(run.asset_selection or ())
    assets = tuple(k.to_user_string() for k in keys)
    providers = tuple(p for p in [run.tags.get(PROVIDER_TAG)] if p) or providers_of(keys)
    reason = step_errors[0][1] if step_errors else first_line(run_error)
    failed_steps = [step for step, _ in step_errors]
    return Alert(
        kind="run failed",
        summary=(
            f"calllog_pipeline: {job_for(run.job_name, providers)} failed for "
            f"{partitions_of(run.tags) or 'its assets'} ({len(failed_steps) or 'no'} failed step(s)); "
            "re-execute it from failure once the cause is fixed (writes are idempotent)."
        ),
        job=job_for(run.job_name, providers),
        assets=assets or tuple(failed_steps),
        providers=providers,
        partitions=partitions_of(run.tags),
        reason=reason,
        link=run_link(ui_url, run.run_id),
        details={"run_id": run.run_id, "failed_steps": failed_steps},
        key=f"run:{run.run_id}",
    )


def check_alert(
    evaluation, run: dg.DagsterRun | None, ui_url: str, storage_id: int, stale: bool = False
) -> Alert:
    """A failed asset check (``stale``: a partition freshness check, i.e. a day that did not land)."""
    key: dg.AssetKey = evaluation.asset_key
    providers = providers_of([key])
    partition = evaluation.partition or (partitions_of(run.tags) if run else "")
    verdict = evaluation.description or _metadata_verdict(evaluation.metadata)
    if stale:
        summary = f"calllog_pipeline: {key.to_user_string()} is stale: the latest day did not land in time"
    else:
        summary = f"calllog_pipeline: check {evaluation.check_name} failed on {key.to_user_string()}"
    return Alert(
        kind="stale day" if stale else "check failed",
        summary=summary,
        job=job_for(run.job_name if run else None, providers),
        assets=(key.to_user_string(),),
        providers=providers,
        partitions=partition,
        reason=first_line(verdict),
        link=asset_link(ui_url, key, view="checks"),
        severity="warning" if evaluation.severity == dg.AssetCheckSeverity.WARN else "error",
        details={"check": evaluation.check_name, "run_id": run.run_id if run else None},
        key=f"check:{storage_id}",
    )


def anomaly_key(anomaly: Mapping[str, object]) -> str:
    return "|".join(str(anomaly.get(f, "")) for f in ("metric", "provider", "agent", "date"))


def anomaly_alert(anomaly: Mapping[str, object], asset_key: dg.AssetKey, job: str, ui_url: str) -> Alert:
    metric, provider, agent, day = (anomaly.get(f) for f in ("metric", "provider", "agent", "date"))
    who = f"agent {agent}" if agent else "the provider as a whole"
    direction = f"a {anomaly['direction']} " if anomaly.get("direction") else ""
    baseline = anomaly.get("baseline")
    # "was", not "=": "tokens_per_call = 5120" reads to redaction as a credential assignment
    reason = (
        f"{metric} was {anomaly.get('value')} for {who} on {day}: {direction}from a baseline of {baseline}"
    )
    return Alert(
        kind="QA anomaly",
        summary=f"calllog_pipeline: QA anomaly in {metric} ({provider}, {who}, {day})",
        job=job,
        assets=(asset_key.to_user_string(),),
        providers=(str(provider),) if provider else (),
        partitions=str(day or ""),
        reason=reason,
        link=asset_link(ui_url, asset_key, view="checks"),
        severity="warning" if str(anomaly.get("severity", "")).lower() in ("warn", "warning") else "error",
        details=dict(anomaly),
        key=f"anomaly:{anomaly_key(anomaly)}",
    )


def anomalies_in(metadata: Mapping[str, object]) -> list[dict] | None:
    """The QA check's findings (metadata key ``anomalies``: a JSON list), or None if it has none."""
    value = metadata.get("anomalies")
    if value is None:
        return None
    value = getattr(value, "value", value)  # a MetadataValue wraps the list (or its JSON text)
    if isinstance(value, str):
        value = json.loads(value)
    return [a for a in value if isinstance(a, dict)]


def _metadata_verdict(metadata: Mapping[str, object]) -> str:
    shown = {
        k: getattr(v, "value", v)
        for k, v in metadata.items()
        if not k.startswith("dagster/") and isinstance(getattr(v, "value", v), int | float | str)
    }
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "the check did not pass"
