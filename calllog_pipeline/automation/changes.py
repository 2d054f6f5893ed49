"""Which recent days changed at the provider: a sensor that re-sends the stored ETags of every
conditional endpoint and requests a run for exactly the days that no longer answer 304.

Nothing here knows a provider: it reads ``Endpoint.conditional`` from the registry (today only
DialNexa ``/call-logs`` answers ``If-None-Match``). A tick asks at most ``max_requests`` pages, so
it stays well inside Dagster's sensor timeout on a busy account; the cursor remembers where the
sweep stopped and the next tick goes on from there.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from calllog_pipeline.automation.jobs import job_name
from calllog_pipeline.lake import Lake
from calllog_pipeline.providers.base import Endpoint, Provider, ProviderApi, Window
from calllog_pipeline.raw.conditional import StoredPage, changed_etag, stored_pages

SENSOR_NAME = "changed_days_sensor"


@dataclass(frozen=True)
class Probe:
    """One stored page to re-ask with its ETag."""

    provider: Provider
    endpoint: Endpoint
    day: str
    window: Window
    page: StoredPage


def conditional_providers(providers: list[Provider]) -> list[Provider]:
    return [p for p in providers if any(e.conditional for e in p.endpoints)]


def sweep(providers: list[Provider], lake: Lake, days: list[tuple[str, Window]]) -> list[Probe]:
    """Every stored page of the recent days, in a fixed order. Days never fetched have nothing
    stored to compare: the schedule fetches them."""
    return [
        Probe(provider, endpoint, day, window, page)
        for provider in providers
        for day, window in days
        for endpoint in provider.endpoints
        if endpoint.conditional
        for page in stored_pages(lake, provider.name, endpoint, day)
    ]


async def changed_days(probes: list[Probe], apis: dict[str, ProviderApi]) -> dict[tuple[str, str], str]:
    """(provider, day) -> the new ETag (a fingerprint of the change), for days with a changed page.
    Once a day is known to have changed, its other pages are not asked."""
    changed: dict[tuple[str, str], str] = {}
    by_provider: dict[str, list[Probe]] = {}
    for probe in probes:
        by_provider.setdefault(probe.provider.name, []).append(probe)
    for name, batch in by_provider.items():
        api = apis[name]
        async with api.client() as client:
            for p in batch:
                if (name, p.day) in changed:
                    continue
                if etag := await changed_etag(client, api, p.endpoint, p.window, [p.page]):
                    changed[(name, p.day)] = f"{p.endpoint.name}:{p.page.number}:{etag}"
    return changed


def build_change_sensor(
    providers: list[Provider],
    partitions_def: dg.TimeWindowPartitionsDefinition,
    jobs: list,
    days: int,
    interval_s: int,
    max_requests: int,
) -> dg.SensorDefinition | None:
    watched = conditional_providers(providers)
    if not watched:
        return None
    names = {job_name(p.name) for p in watched}

    @dg.sensor(
        name=SENSOR_NAME,
        jobs=[j for j in jobs if j.name in names],
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"lake", *(p.name for p in watched)},
        description=(
            f"Every {interval_s // 60} min: re-sends the stored ETags of the last {days} days of every "
            "conditional endpoint (one 304 per unchanged page, at most "
            f"{max_requests} requests a tick) and refreshes the days whose listing changed."
        ),
    )
    def changed_days_sensor(context: dg.SensorEvaluationContext):
        keys = partitions_def.get_partition_keys(current_time=datetime.now(UTC))[-days:]
        recent = [
            (k, Window(w.start, w.end))
            for k in keys
            for w in [partitions_def.time_window_for_partition_key(k)]
        ]
        probes = sweep(watched, context.resources.lake, recent)
        if not probes:
            return dg.SkipReason(f"no stored pages with ETags in the last {days} days yet")
        start = int(context.cursor or 0) % len(probes)
        batch = (probes[start:] + probes[:start])[:max_requests]
        apis = {p.name: getattr(context.resources, p.name) for p in watched}
        try:
            changed = asyncio.run(changed_days(batch, apis))
        except Exception as exc:  # noqa: BLE001 - shown as the tick's skip reason; polled again next tick
            return dg.SkipReason(
                f"could not poll for changes ({type(exc).__name__}: {exc}); trying next tick"
            )
        context.update_cursor(str((start + len(batch)) % len(probes)))
        requests = [
            dg.RunRequest(
                # The same change is the same run key: Dagster launches it once.
                run_key=f"{provider}:{day}:{hashlib.sha256(change.encode()).hexdigest()[:16]}",
                job_name=job_name(provider),
                partition_key=day,
            )
            for (provider, day), change in sorted(changed.items())
        ]
        summary = (
            f"asked {len(batch)} of {len(probes)} stored pages; "
            f"{len({(p.provider.name, p.day) for p in batch})} provider-days checked, {len(changed)} changed"
        )
        context.log.info(summary)
        return requests or dg.SkipReason(summary)

    return changed_days_sensor
