"""A backfill launched through the daemon on PostgreSQL keeps every provider's rate limit.

The suite's size (a few weeks, a few dozen calls a day) is the year's shape shrunk to run in CI;
the full year (365 days x 3 providers x 300 calls a day) is ``python -m bench.daemon_backfill``
(numbers in docs/deployment.md)."""

from __future__ import annotations

import os

import pytest

from bench import daemon_backfill
from calllog_pipeline.providers import REGISTRY

# Tight limits, so runs that shared a provider without its pool would trip them at once.
LIMITS = {name: (8, 1.0) for name in REGISTRY}


@pytest.mark.skipif(
    not os.environ.get("CALLLOG_DAEMON_TESTS"),
    reason="starts dagster-daemon and run processes (minutes): CALLLOG_DAEMON_TESTS=1 (CI sets it)",
)
def test_a_backfill_across_concurrent_runs_never_exceeds_a_provider_limit(postgres_home, tmp_path):
    result = daemon_backfill.run(days=4, calls_per_day=20, chunks=2, rate_limits=LIMITS, workdir=tmp_path)
    print(daemon_backfill.table(result))  # shown with -s / on failure
    assert result.failed_runs == 0, result.failures
    assert result.runs >= result.backfills == 2 * len(REGISTRY)
    assert result.max_runs_at_once > 1, "the queue should have run several backfill runs together"
    assert result.max_runs_at_once <= 4, "dagster.postgres.yaml allows 4 runs at once"
    assert result.rate_limited_429 == 0, "a provider's pool must hold across runs"
    assert result.duplicates == 0 and not result.missing_or_extra, "every call exactly once"
    assert set(result.requests) == set(REGISTRY)
