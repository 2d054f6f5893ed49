"""Run the simulator: in a background thread (SimulatorServer) or blocking from the CLI (serve)."""

from __future__ import annotations

import argparse
import socket
import threading
import time
from datetime import UTC, datetime

import httpx
import uvicorn

from .app import PROVIDER_MODULES, Simulator, build_app
from .config import PROVIDERS, Faults, Incident, RateLimit, SimulatorConfig
from .world import to_ms

PATH_PREFIX = {provider: module.BASE_PATH for provider, module in PROVIDER_MODULES.items()}


def env_for(config: SimulatorConfig, url: str) -> dict[str, str]:
    """Environment variables pointing the pipeline at a simulator served at `url`."""
    env: dict[str, str] = {}
    for module in PROVIDER_MODULES.values():
        env.update(module.pipeline_env(config, url + module.BASE_PATH))
    return env


class SimulatorServer:
    """uvicorn in a daemon thread on a loopback port; use as a context manager."""

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.config = config or SimulatorConfig()
        self.host = host
        self.port = port
        self.sim = Simulator(self.config)
        self.app = build_app(self.sim)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> SimulatorServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="provider-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/_sim/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"simulator did not become ready on {self.url}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        return env_for(self.config, self.url)

    def stats(self) -> dict:
        return self.sim.stats()

    def now(self) -> datetime:
        """The sim clock."""
        return datetime.fromtimestamp(self.sim.world.clock.now_ms() / 1000, tz=UTC)

    def advance(self, seconds: float) -> None:
        """Move the sim clock forward (late updates and arrivals become visible)."""
        self.sim.world.clock.advance(seconds)

    def truth(self, provider: str, endpoint: str, start: datetime, end: datetime) -> set[str]:
        """Ids of the records `endpoint` serves with created time in [start, end), as of now."""
        module = PROVIDER_MODULES.get(provider)
        if module is None or endpoint not in module.ENDPOINTS:
            raise ValueError(f"unknown endpoint {provider}/{endpoint}")
        world = self.sim.world
        window = world.visible_range(provider, to_ms(start), to_ms(end), world.clock.now_ms())
        ids = set()
        for g in window:
            rid = module.truth_id(world, endpoint, world.call(provider, g))
            if rid is not None:
                ids.add(rid)
        return ids


# -- CLI --------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--calls-per-day", type=int, default=200, help="mean calls per provider per UTC day")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--rate-limit",
        default="",
        help="requests/seconds per provider, e.g. dialnexa=20/1,leadconnector=100/10,omnidimension=60/60",
    )
    parser.add_argument(
        "--faults", default="", help="probabilities, e.g. 5xx=0.02,stall=0.005,truncated=0.01,malformed=0.01"
    )
    parser.add_argument("--stall-s", type=float, default=30.0)
    parser.add_argument("--omni-timezone", default="UTC")
    parser.add_argument("--clock-step-s", type=float, default=0.0)
    parser.add_argument(
        "--incident",
        action="append",
        default=[],
        type=Incident.parse,
        metavar="KIND:PROVIDER:DAY[:agent=N][:factor=F]",
        help="plant an incident (repeatable): connect_drop, latency_spike or cost_jump on a UTC day "
        "(YYYY-MM-DD or an offset such as -1 for yesterday), e.g. connect_drop:omnidimension:-1",
    )


def parse_rate_limits(text: str) -> dict[str, RateLimit]:
    limits = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        provider, _, spec = item.partition("=")
        requests, _, seconds = spec.partition("/")
        if provider not in PROVIDERS or not requests:
            raise ValueError(f"bad --rate-limit entry: {item!r}")
        limits[provider] = RateLimit(int(requests), float(seconds or 1))
    return limits


def parse_faults(text: str) -> Faults:
    names = {"5xx": "server_error", "server_error": "server_error", "stall": "stall"}
    names |= {"truncated": "truncated", "malformed": "malformed"}
    values = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, p = item.partition("=")
        if name not in names:
            raise ValueError(f"bad --faults entry: {item!r}")
        values[names[name]] = float(p)
    return Faults(**values)


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        seed=args.seed,
        calls_per_day=args.calls_per_day,
        latency_ms=args.latency_ms,
        rate_limits=parse_rate_limits(args.rate_limit),
        faults=parse_faults(args.faults),
        stall_s=args.stall_s,
        omni_timezone=args.omni_timezone,
        clock_step_s=args.clock_step_s,
        incidents=tuple(args.incident),
    )


def register(commands) -> None:
    """``calllog-pipeline simulate``."""
    simulate = commands.add_parser("simulate", help="serve every provider endpoint from the simulator")
    add_arguments(simulate)
    simulate.set_defaults(run=lambda args: serve(config_from_args(args), args.host, args.port) or 0)


def serve(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until interrupted, after printing the environment that points the pipeline here."""
    url = f"http://{host}:{port}"
    print(f"Provider simulator on {url} (seed {config.seed}, {config.calls_per_day} calls/day/provider)")
    print("Point the pipeline at it with:")
    for name, value in env_for(config, url).items():
        print(f"  export {name}={value}")
    uvicorn.run(build_app(config), host=host, port=port, log_level="warning", lifespan="off")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Provider API simulator")
    add_arguments(parser)
    args = parser.parse_args(argv)
    serve(config_from_args(args), args.host, args.port)


if __name__ == "__main__":
    main()
