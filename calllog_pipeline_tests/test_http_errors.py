"""The HTTP layer under rate limits and broken answers, at the network edge (an httpx transport
that plays the provider): 429s pause every request and honour the provider's wait; an unreadable
rate-limit header falls back to our backoff; a changed response shape fails at once; a cut-off
body, invalid JSON or an error object from a flaky server is retried."""

import asyncio
import logging
import time

import httpx
import orjson
import pytest

from calllog_pipeline.http import (
    ApiClient,
    ClientSettings,
    ProviderQuotaExhausted,
    ProviderResponseError,
    ProviderUnavailable,
)
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.simulator.app import MALFORMED_BODY

CALLS = REGISTRY["dialnexa"].endpoint("calls")
PAGE = {"data": [{"id": "call_1", "created_at": "2026-11-10T00:00:00.000Z"}], "meta": {"total": 1}}


def client(handler, **overrides) -> ApiClient:
    settings = {
        "provider_title": "DialNexa",
        "base_url": "https://api.example.test/v1",
        "headers": {},
        "secrets": (),
        "api_key_env": "DIALNEXA_API_KEY",
        "rate_limit_requests": 1000,
        "rate_limit_period_s": 1.0,
        "max_concurrency": 4,
        "connect_timeout_s": 1.0,
        "read_timeout_s": 1.0,
        "max_attempts": 8,
        "max_backoff_s": 5.0,
        "throttle_wait_s": None,
        **overrides,
    }
    return ApiClient(ClientSettings(**settings), transport=httpx.MockTransport(handler))


def get(api: ApiClient, page: int = 1):
    return api.get(CALLS.path, {"page": page}, parse=CALLS.read_page)


def answers(*replies):
    """A provider that gives ``replies`` in turn (the last one from then on) and logs each request."""
    log: list[tuple[float, int]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        reply = replies[min(len(log), len(replies) - 1)]
        log.append((time.monotonic(), int(request.url.params.get("page", 1))))
        await asyncio.sleep(0.005)  # a little latency, so requests overlap
        return reply() if callable(reply) else reply

    return handler, log


def ok() -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps(PAGE))


def test_a_429_pauses_every_request_for_as_long_as_the_provider_says():
    sent: list[float] = []
    refused_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        await asyncio.sleep(0.005)
        if not refused_at:
            refused_at.append(time.monotonic())
            return httpx.Response(429, headers={"Retry-After": "1"}, content=b"{}")
        return ok()

    async def run():
        async with client(handler) as api:
            await asyncio.gather(*(get(api, page) for page in range(1, 41)))
            return api.stats

    stats = asyncio.run(run())
    assert stats.throttled == 1 and len(sent) == 41
    # The pause starts when the client reads the 429 (after ``refused_at``) and lasts 1 s, so no
    # request may start in [refused_at, refused_at + 1 s) but the few that had already passed the
    # check (at most the other slots); without the shared pause the other workers keep sending.
    during = [t for t in sent if refused_at[0] <= t < refused_at[0] + 1.0]
    assert len(during) <= 4 - 1, f"{len(during)} requests sent while the provider said wait"


def test_retry_after_is_honoured():
    handler, log = answers(httpx.Response(429, headers={"Retry-After": "3"}, content=b"{}"), ok)

    async def run():
        async with client(handler) as api:
            return await get(api)

    assert asyncio.run(run()).body[1] == 1
    (refused_at, _), (retried_at, _) = log
    # Our own first backoff is at most 1.5 s: only the provider's 3 s explains a longer wait.
    assert retried_at - refused_at >= 2.5


@pytest.mark.parametrize(
    "headers",
    [
        {"X-RateLimit-Reset": "soon"},
        {"Retry-After": "in a bit"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Interval-Milliseconds": "lots"},
    ],
)
def test_an_unreadable_rate_limit_header_falls_back_to_backoff_and_is_logged(headers, caplog):
    handler, log = answers(httpx.Response(429, headers=headers, content=b"{}"), ok)

    async def run():
        async with client(handler, max_backoff_s=0.05) as api:
            return await get(api), api.stats

    with caplog.at_level(logging.WARNING, logger="calllog_pipeline.http"):
        response, stats = asyncio.run(run())
    assert response.body[1] == 1 and len(log) == 2
    (name,) = [h for h in headers if h != "X-RateLimit-Remaining"]
    assert stats.retry_reasons[f"429 with unreadable {name} header"] == 1
    assert name in caplog.text and "DialNexa" in caplog.text


@pytest.mark.parametrize(
    "body,field",
    [
        ({"items": [], "meta": {"total": 0}}, "'data'"),  # the records moved
        ({"data": [{"id": "call_1"}], "meta": {"count": 1}}, "'meta.total'"),  # the total moved
        ({"data": {"id": "call_1"}, "meta": {"total": 1}}, "'data'"),  # an object, not a list
        ([{"id": "call_1"}], "'data'"),  # a bare list
    ],
)
def test_a_changed_response_shape_fails_at_once_naming_provider_endpoint_and_field(body, field):
    handler, log = answers(httpx.Response(200, content=orjson.dumps(body)))

    async def run():
        async with client(handler) as api:
            await get(api)

    with pytest.raises(ProviderResponseError) as raised:
        asyncio.run(run())
    message = str(raised.value)
    assert "DialNexa" in message and CALLS.path in message and field in message
    assert len(log) == 1, "a changed shape is not retried"


def test_cut_off_unreadable_and_error_bodies_from_a_flaky_server_are_retried():
    full = orjson.dumps(PAGE)
    handler, log = answers(
        httpx.Response(200, content=full[: len(full) // 2]),  # the simulator's "truncated"
        httpx.Response(200, content=MALFORMED_BODY),  # its "malformed"
        httpx.Response(200, content=orjson.dumps({"error": {"code": "internal", "message": "try again"}})),
        ok,
    )

    async def run():
        async with client(handler, max_backoff_s=0.01) as api:
            return await get(api), api.stats

    response, stats = asyncio.run(run())
    assert response.body == (PAGE["data"], 1)
    assert len(log) == 4 and stats.retries == 3


def test_a_flaky_server_that_never_recovers_is_reported_as_down():
    handler, log = answers(httpx.Response(200, content=b'{"data": [{"id": "cut'))

    async def run():
        async with client(handler, max_backoff_s=0.01, max_attempts=3) as api:
            await get(api)

    with pytest.raises(ProviderUnavailable, match="kept failing"):
        asyncio.run(run())
    assert len(log) == 3


def test_a_spent_daily_quota_fails_at_once_and_says_when_to_re_run():
    spent = {"X-RateLimit-Daily-Remaining": "0", "X-RateLimit-Limit-Daily": "200000", "Retry-After": "1"}
    handler, log = answers(httpx.Response(429, headers=spent))

    async def run():
        async with client(handler) as api:
            await get(api)

    with pytest.raises(
        ProviderQuotaExhausted, match=r"daily request quota \(200000 requests\) is used up"
    ) as e:
        asyncio.run(run())
    assert "re-run the partition after the provider's daily reset" in str(e.value)
    assert len(log) == 1, "a spent day is not retried"
