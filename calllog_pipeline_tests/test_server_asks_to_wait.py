"""A server that asks to be left alone for a while: `503 Service Unavailable` (maintenance, a
deploy, an overloaded backend) and `429 Too Many Requests` with `Retry-After` in either form RFC
9110 allows (seconds, or an HTTP date). Served on loopback by the documented listings
(``test_contract_http``): the client waits as long as asked (capped by ``<PREFIX>_MAX_BACKOFF_S``),
and when the attempts run out the failure names the provider, the wait it asked for and what to do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from loopback import Reply
from test_contract_http import ENDPOINTS, assert_every_call_once, failure, run_day

from calllog_pipeline.providers import REGISTRY

# One request at a time, so the request after the refusal is the retry of the refused one.
PATIENT = {"max_backoff_s": 5.0, "max_concurrency": 1}


def refused_once(status: int, retry_after):
    def quirk(number, path, query, body):
        if number == 1:
            return Reply(status, {"error": "unavailable"}, {"Retry-After": retry_after()})
        return body

    return quirk


def wait_after_refusal(server) -> float:
    """Seconds between the refused request's arrival and the next one's."""
    return server.arrived[2] - server.arrived[1]


# One endpoint per provider: the wait is the HTTP layer's, shared by every endpoint.
PER_PROVIDER = [(p, e) for p, e in ENDPOINTS if e == REGISTRY[p].endpoints[0].name]


@pytest.mark.parametrize(("provider", "endpoint"), PER_PROVIDER, ids=[p for p, _ in PER_PROVIDER])
def test_a_503_with_retry_after_in_seconds_is_waited_for_by_every_provider(provider, endpoint, tmp_path):
    server = assert_every_call_once(provider, endpoint, refused_once(503, lambda: "2"), tmp_path, **PATIENT)
    # Our own first backoff is at most 1.5 s; only the server's 2 s explains a longer wait. (A
    # lower bound: a sleep never ends early; 10 ms for the server's clock reading.)
    assert wait_after_refusal(server) >= 1.99


def test_a_503_with_retry_after_as_an_http_date_is_waited_for(tmp_path):
    # An HTTP date has whole seconds: three seconds ahead is more than two seconds of waiting.
    soon = lambda: format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)  # noqa: E731
    server = assert_every_call_once("dialnexa", "calls", refused_once(503, soon), tmp_path, **PATIENT)
    assert wait_after_refusal(server) >= 1.99


def always(status: int, retry_after: str):
    return lambda number, path, query, body: Reply(
        status, b"<html>maintenance</html>", {"Retry-After": retry_after}
    )


@pytest.mark.parametrize(("provider", "endpoint"), PER_PROVIDER, ids=[p for p, _ in PER_PROVIDER])
def test_a_maintenance_longer_than_the_cap_fails_saying_when_to_come_back(provider, endpoint, tmp_path):
    """The server asks for ten minutes; the client waits at most its cap between attempts, and when
    they run out it says which provider asked for how long and what the user can do."""
    result, server = run_day(
        provider, endpoint, always(503, "600"), tmp_path, max_backoff_s=0.05, max_attempts=2
    )
    assert not result.success
    message = failure(result)
    title, prefix = REGISTRY[provider].title, REGISTRY[provider].api().env_prefix
    assert f"{title} {REGISTRY[provider].endpoint(endpoint).path} kept failing" in message
    assert "HTTP 503" in message and "Retry-After: 600 s" in message
    assert f"{prefix}_MAX_BACKOFF_S" in message and "re-run the partition after that time" in message
    assert len(server.requests) == 2
