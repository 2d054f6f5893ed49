"""Which recent days changed at the provider: a sensor that re-sends the stored ETags of every
conditional endpoint and requests a run for exactly the days that no longer answer 304.

Nothing here knows a provider: it reads ``Endpoint.conditional`` from the registry (today only
DialNexa ``/call-logs`` answers ``If-None-Match``).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime

import dagster as dg

from calllog_pipeline.automation.jobs import job_name
from calllog_pipeline.lake import Lake
from calllog_pipeline.providers.base import Provider, ProviderApi, Window
from calllog_pipeline.raw.conditional import changed_etag, stored_pages

SENSOR_NAME = "changed_days_sensor"


def conditional_providers(providers: list[Provider]) -> list[Provider]:
    return [p for p in providers if any(e.conditional for e in p.endpoints)]


async def changed_days(
    provider: Provider, api: ProviderApi, lake: Lake, days: list[tuple[str, Window]]
) -> dict[str, str]:
    """Day -> the new ETag (a fingerprint of the change), for the days whose stored pages changed.
    Days never fetched are left to the schedule: there is nothing stored to compare."""
    changed: dict[str, str] = {}
    async with api.client() as client:
        for day, window in days:
            for endpoint in (e for e in provider.endpoints if e.conditional):
                pages = stored_pages(lake, provider.name, endpoint, day)
                if pages and (etag := await changed_etag(client, api, endpoint, window, pages)):
                    changed[day] = f"{endpoint.name}:{etag}"
                    break
    return changed


def build_change_sensor(
    providers: list[Provider],
    partitions_def: dg.TimeWindowPartitionsDefinition,
    jobs: list,
    days: int,
    interval_s: int,
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
            "conditional endpoint and refreshes exactly the days that changed (one 304 per unchanged page)."
        ),
    )
    def changed_days_sensor(context: dg.SensorEvaluationContext):
        keys = partitions_def.get_partition_keys(current_time=datetime.now(UTC))[-days:]
        recent = [
            (k, Window(w.start, w.end))
            for k in keys
            for w in [partitions_def.time_window_for_partition_key(k)]
        ]
        requests, notes = [], []
        for provider in watched:
            api: ProviderApi = getattr(context.resources, provider.name)
            try:
                changed = asyncio.run(changed_days(provider, api, context.resources.lake, recent))
            except Exception as exc:  # noqa: BLE001 - one provider's outage must not hide another's changes
                notes.append(f"{provider.name}: could not poll ({type(exc).__name__}: {exc})")
                continue
            for day, fingerprint in changed.items():
                digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
                requests.append(
                    dg.RunRequest(
                        run_key=f"{provider.name}:{day}:{digest}",  # the same change never runs twice
                        job_name=job_name(provider.name),
                        partition_key=day,
                    )
                )
            notes.append(f"{provider.name}: {len(changed)} of {len(recent)} days changed")
        for note in notes:
            context.log.info(note)
        if not requests:
            return dg.SkipReason("; ".join(notes) or "nothing to poll")
        return requests

    return changed_days_sensor
