"""The simulator's Starlette app: routing, auth, rate limits, latency, faults and counters."""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .common import ApiError, Reply
from .config import PROVIDERS, SimulatorConfig
from .world import World, digest, unit

Handler = Callable[[World, Mapping[str, str], Mapping[str, str], int], Reply]

# Each provider module (named after its provider) speaks its own dialect: errors, pre-checks,
# rate-limit headers, truth ids.
PROVIDER_MODULES = {p: importlib.import_module(f".{p}", __package__) for p in PROVIDERS}
MALFORMED_BODY = b'{"data": [{"id": "partial", "status": \x7f<html>502 upstream garbage</html>,,'


class RateLimiter:
    """Sliding window of `requests` per `per_seconds`, per provider (wall clock)."""

    def __init__(self, config: SimulatorConfig):
        self.limits = dict(config.rate_limits)
        self.hits: dict[str, deque[float]] = {p: deque() for p in PROVIDERS}
        self.total: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hit(self, provider: str) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until a slot frees up)."""
        limit = self.limits.get(provider)
        now = time.monotonic()
        with self._lock:
            self.total[provider] += 1
            if limit is None:
                return True, 0, 0.0
            window = self.hits[provider]
            while window and window[0] <= now - limit.per_seconds:
                window.popleft()
            reset = (window[0] + limit.per_seconds - now) if window else limit.per_seconds
            if len(window) >= limit.requests:
                return False, 0, max(reset, 0.0)
            window.append(now)
            return True, limit.requests - len(window), reset


@dataclass
class Endpoint:
    provider: str
    handler: Handler


class Simulator:
    """Everything the app shares across requests; also what SimulatorServer reads."""

    def __init__(self, config: SimulatorConfig):
        self.config = config
        self.world = World(config)
        self.limiter = RateLimiter(config)
        self.fault_counter = 0
        self.counters: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.by_provider: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self._lock = threading.Lock()

    def stats(self) -> dict:
        with self._lock:
            return {
                "requests": self.counters["requests"],
                "responses": dict(self.by_status),
                "by_provider": dict(self.by_provider),
                "not_modified": self.by_status[304],
                "rate_limited": self.by_status[429],
                "faults": dict(self.faults),
            }

    def next_fault(self) -> tuple[str | None, int]:
        """Deterministic per-request fault decision: the n-th request draws from hash(seed, n)."""
        with self._lock:
            n = self.fault_counter
            self.fault_counter += 1
        key = digest(self.config.seed, "fault", n)
        u = unit(key)
        faults = self.config.faults
        acc = 0.0
        for kind, p in (
            ("server_error", faults.server_error),
            ("stall", faults.stall),
            ("truncated", faults.truncated),
            ("malformed", faults.malformed),
        ):
            acc += p
            if u < acc:
                return kind, (500, 502, 503)[key[4] % 3]
        return None, 0


def _authorized(sim: Simulator, provider: str, headers: Mapping[str, str]) -> bool:
    return headers.get("authorization", "") == f"Bearer {sim.config.api_keys.get(provider, '')}"


async def _serve(sim: Simulator, endpoint: Endpoint, request: Request) -> Response:
    provider = endpoint.provider
    module = PROVIDER_MODULES[provider]
    with sim._lock:
        sim.counters["requests"] += 1
        sim.by_provider[provider] += 1
    clock_ms = sim.world.clock.tick()
    params = dict(request.query_params)
    headers = request.headers
    rate_headers: dict[str, str] = {}
    fault = None
    try:
        if not _authorized(sim, provider, headers):
            raise ApiError(401, module.UNAUTHORIZED)
        module.check_request(params, headers, sim.config)
        allowed, remaining, reset_s = sim.limiter.hit(provider)
        rate_headers = module.rate_limit_headers(
            sim.config.rate_limits.get(provider), allowed, remaining, reset_s, sim.limiter.total[provider]
        )
        if not allowed:
            reply = Reply(429, orjson.dumps(module.TOO_MANY))
        else:
            reply = await run_in_threadpool(endpoint.handler, sim.world, params, headers, clock_ms)
            fault, code = sim.next_fault()
    except ApiError as exc:
        reply = Reply(exc.status, orjson.dumps(exc.body), exc.headers)

    if fault is not None:
        with sim._lock:
            sim.faults[fault] += 1
        if fault == "server_error":
            reply = Reply(code, orjson.dumps({"error": "Internal server error", "status": code}))
        elif fault == "stall":
            await asyncio.sleep(sim.config.stall_s)
        elif fault == "truncated":
            reply = Reply(200, reply.body[: len(reply.body) // 2], {})
        elif fault == "malformed":
            reply = Reply(200, MALFORMED_BODY, {})
    if sim.config.latency_ms:
        await asyncio.sleep(sim.config.latency_ms / 1000)
    with sim._lock:
        sim.by_status[reply.status] += 1
    out_headers = {**rate_headers, **reply.headers}
    if reply.status == 304:
        return Response(status_code=304, headers=out_headers)
    return Response(reply.body, status_code=reply.status, headers=out_headers, media_type="application/json")


ROUTES = {
    module.BASE_PATH + path: Endpoint(provider, handler)
    for provider, module in PROVIDER_MODULES.items()
    for path, handler in module.ROUTES.items()
}


def build_app(config: SimulatorConfig | Simulator) -> Starlette:
    """The ASGI app; `app.state.sim` holds the shared Simulator (world, clock, counters)."""
    sim = config if isinstance(config, Simulator) else Simulator(config)

    def route(path: str, endpoint: Endpoint) -> Route:
        async def handle(request: Request) -> Response:
            return await _serve(sim, endpoint, request)

        return Route(path, handle, methods=["GET"])

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def stats(request: Request) -> Response:
        return JSONResponse(sim.stats())

    routes = [route(path, ep) for path, ep in ROUTES.items()]
    routes += [Route("/_sim/health", health), Route("/_sim/stats", stats)]
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app
