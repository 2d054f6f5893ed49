"""Which failures are retried: a provider outage, at the step, with exponential backoff.

The HTTP layer already retries each request (429, 5xx, timeouts) for about a minute; this policy
covers longer outages by re-running the raw step a few times, minutes apart, before the run fails
and alerts. A bad key, a missing setting, a refused request or a changed response shape raise
``dg.Failure(allow_retries=False)`` in the raw asset and fail at once.
"""

from __future__ import annotations

import dagster as dg

from calllog_pipeline.automation.config import AutomationSettings


def outage_retry_policy(settings: AutomationSettings) -> dg.RetryPolicy | None:
    if settings.step_retries == 0:
        return None
    return dg.RetryPolicy(
        max_retries=settings.step_retries,
        delay=settings.retry_delay_s,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )
