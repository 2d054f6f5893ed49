"""The client keeps to the provider's own count (``X-RateLimit-Remaining``), not only to its pacing.

A provider counts arrivals in its window. A run that starts right after another shares a window it
knows nothing of, and queued requests arrive bunched; pacing alone then draws 429s (the year
backfill's refusals, docs/deployment.md). The provider here is a sliding window at the network
edge (an httpx transport) that another client has already nearly filled."""

import asyncio
import time
from collections import deque

import httpx
import orjson

from calllog_pipeline.http import ApiClient, ClientSettings
from calllog_pipeline.providers import REGISTRY

CALLS = REGISTRY["dialnexa"].endpoint("calls")
PAGE = orjson.dumps({"data": [], "meta": {"total": 0}})


class SlidingWindowProvider:
    """``limit`` requests per ``period_s`` counted on arrival; ``used`` of them spent by someone
    else just before the test starts. ``reports``: whether answers carry the remaining count."""

    def __init__(
        self,
        limit: int,
        period_s: float,
        used: int = 0,
        reports: bool = True,
        queueing: tuple[float, ...] = (),
    ):
        self.limit, self.period_s, self.reports = limit, period_s, reports
        self.queueing = queueing  # seconds each request waits on the way in, in turn: arrivals bunch
        self.window: deque[float] = deque([time.monotonic()] * used)
        self.refused = 0
        self.accepted = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.queueing:
                await asyncio.sleep(self.queueing[(self.accepted + self.refused) % len(self.queueing)])
            now = time.monotonic()
            while self.window and self.window[0] <= now - self.period_s:
                self.window.popleft()
            allowed = len(self.window) < self.limit
            if allowed:
                self.window.append(now)
                self.accepted += 1
            else:
                self.refused += 1
            headers = {}
            if self.reports:
                headers = {
                    "X-RateLimit-Remaining": str(self.limit - len(self.window)),
                    "X-RateLimit-Interval-Milliseconds": str(int(self.period_s * 1000)),
                }
            await asyncio.sleep(0.02)  # latency: requests overlap
            body = PAGE if allowed else b"{}"
            return httpx.Response(200 if allowed else 429, headers=headers, content=body)
        finally:
            self.in_flight -= 1


def client(provider: SlidingWindowProvider, limit: int, period_s: float) -> ApiClient:
    settings = ClientSettings(
        provider_title="DialNexa",
        base_url="https://api.example.test/v1",
        headers={},
        secrets=(),
        api_key_env="DIALNEXA_API_KEY",
        rate_limit_requests=limit,
        rate_limit_period_s=period_s,
        max_concurrency=4,
        connect_timeout_s=1.0,
        read_timeout_s=5.0,
        max_attempts=8,
        max_backoff_s=5.0,
        throttle_wait_s=period_s,
    )
    return ApiClient(settings, transport=httpx.MockTransport(provider))


async def pages(api: ApiClient, count: int) -> None:
    await asyncio.gather(*(api.get(CALLS.path, {"page": n}, parse=CALLS.read_page) for n in range(count)))


def test_a_run_starting_in_a_window_another_run_filled_waits_instead_of_drawing_429s():
    # 9 of 10 already spent when the run starts: pacing alone (9 a second) would send its second
    # request into a full window.
    provider = SlidingWindowProvider(limit=10, period_s=1.0, used=9)

    async def run():
        async with client(provider, 10, 1.0) as api:
            await pages(api, 12)
            return api.stats

    stats = asyncio.run(run())
    assert provider.refused == 0 and stats.throttled == 0
    assert provider.accepted == 12


def test_no_more_requests_on_their_way_than_the_provider_says_are_left():
    # A generous client limit (100 a second) against a provider with room for 5: the provider's
    # count, not the client's pacing, is what keeps the requests out of its 429s.
    provider = SlidingWindowProvider(limit=5, period_s=0.5)

    async def run():
        async with client(provider, 100, 1.0) as api:
            await pages(api, 20)
            return api.stats

    stats = asyncio.run(run())
    assert provider.refused == 0 and stats.throttled == 0
    assert provider.accepted == 20


def test_the_next_run_finds_room_in_the_window_the_previous_run_spent():
    # Two runs one after the other, as the provider's pool hands over from one run process to
    # the next: the first spends the whole window; the second's first request must not be refused.
    provider = SlidingWindowProvider(limit=6, period_s=0.6)

    async def run():
        for _ in range(2):
            async with client(provider, 100, 1.0) as api:
                await pages(api, 6)

    asyncio.run(run())
    assert provider.refused == 0 and provider.accepted == 12


def test_a_provider_that_reports_no_count_gets_pacing_only():
    # OmniDimension sends no rate-limit headers: after the first answer the pages overlap again.
    provider = SlidingWindowProvider(limit=1000, period_s=1.0, reports=False)

    async def run():
        async with client(provider, 1000, 1.0) as api:
            await pages(api, 30)

    asyncio.run(run())
    assert provider.accepted == 30 and provider.most_in_flight > 1


def test_at_the_full_limit_bunched_arrivals_never_overfill_the_window():
    # The client sends at exactly the provider's limit, the provider reports no count, and every
    # other request is held up on the way in, so arrivals bunch: a request answered over a period
    # ago is the only one certain to have left the provider's window, and none goes before.
    provider = SlidingWindowProvider(limit=5, period_s=0.25, reports=False, queueing=(0.0, 0.04, 0.0, 0.08))

    async def run():
        async with client(provider, 5, 0.25) as api:
            await pages(api, 30)
            return api.stats

    stats = asyncio.run(run())
    assert provider.refused == 0 and stats.throttled == 0
    assert provider.accepted == 30
