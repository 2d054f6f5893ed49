"""Shared harness: the simulator in its own process, measured work in child processes, result rows.

The simulator runs in a separate process so the pipeline's CPU accounting is clean: every measured
piece of work runs in a fresh ``python -m bench.worker`` child that times itself with
``resource.getrusage(RUSAGE_SELF)`` (user + system CPU) and reports its own peak RSS.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from calllog_pipeline.providers import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
# Read from the registry, so a new provider is benchmarked without an edit here.
ENV_PREFIX = {name: type(provider.api()).env_prefix for name, provider in REGISTRY.items()}
# (provider, endpoint, largest page size the API allows)
ENDPOINTS = tuple((p.name, e.name, e.page_size) for p in REGISTRY.values() for e in p.endpoints)


def today_utc() -> date:
    return datetime.now(UTC).date()


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def yesterday() -> date:
    return today_utc() - timedelta(days=1)


@dataclass
class SimSpec:
    """What the simulator child is started with (all of it is ``SimulatorConfig``)."""

    calls_per_day: int = 1000
    latency_ms: float = 0.0
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=dict)  # provider -> (requests, s)
    history_days: int = 3650
    seed: int = 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Simulator:
    """``python -m bench.harness <spec>`` serving the simulator; the sim clock is frozen at today's
    UTC midnight, so yesterday is closed, complete and the newest day of every listing."""

    def __init__(self, spec: SimSpec):
        self.spec = spec
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Simulator:
        payload = json.dumps({**asdict(self.spec), "port": self.port})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.harness", payload],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"simulator exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/_sim/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("simulator did not start")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def cpu_seconds(self) -> float:
        """CPU the simulator process has used so far (user + system), from /proc."""
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def stats(self) -> dict:
        return httpx.get(self.url + "/_sim/stats", timeout=10).json()

    def env(self, client_limits: dict[str, tuple[int, float]] | None = None, concurrency: int = 4) -> dict:
        """The pipeline's environment for this simulator; the client's own rate limit per provider
        is set to ``client_limits`` (default: the simulator's, i.e. consistent on both sides)."""
        from calllog_pipeline.simulator import SimulatorConfig
        from calllog_pipeline.simulator.server import env_for

        env = env_for(SimulatorConfig(), self.url)
        limits = self.spec.rate_limits if client_limits is None else client_limits
        for provider, prefix in ENV_PREFIX.items():
            requests, period = limits.get(provider, (100_000, 1.0))
            env[f"{prefix}_RATE_LIMIT_REQUESTS"] = str(requests)
            env[f"{prefix}_RATE_LIMIT_PERIOD_S"] = str(period)
            env[f"{prefix}_MAX_CONCURRENCY"] = str(concurrency)
        return env


def _serve(payload: dict) -> None:
    from calllog_pipeline.simulator import RateLimit, SimulatorConfig
    from calllog_pipeline.simulator.server import serve

    config = SimulatorConfig(
        seed=payload["seed"],
        calls_per_day=payload["calls_per_day"],
        latency_ms=payload["latency_ms"],
        rate_limits={p: RateLimit(int(r), float(s)) for p, (r, s) in payload["rate_limits"].items()},
        history_days=payload["history_days"],
        now=midnight(today_utc()),
        frozen_clock=True,
        bad_record_rate=0.002,
    )
    serve(config, "127.0.0.1", payload["port"])


def run_worker(task: str, args: dict, env: dict | None = None, timeout: float = 1800) -> dict:
    """Run ``bench.worker`` in a fresh process; returns its JSON result (wall, cpu, max_rss, ...)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", task, json.dumps(args)],
        cwd=ROOT,
        env={**os.environ, **(env or {}), "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {task} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1])


# -- the machine ---------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    import psutil

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("dagster", "pyarrow", "orjson", "httpx", "uvicorn", "dlt", "duckdb"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing optional package is reported as such
            versions[name] = "not installed"
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "commit": commit or "unknown",
        "CPU": cpu,
        "cores": f"{os.cpu_count()} logical",
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def fmt(value: float, digits: int = 2) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
