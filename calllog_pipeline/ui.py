"""``calllog-pipeline ui``: the Dagster UI on the demo's instance, with the simulator behind it.

Reads the settings ``calllog-pipeline demo`` wrote to ``<dagster home>/demo.env``, starts the same
simulator world (seed, calls per day, port, rate limit) in this process, and ``dagster-webserver``
and ``dagster-daemon`` (schedules, sensors, backfills, run queue) as child processes with the same
environment. Ctrl-C stops all of them. Every asset can then be materialized or backfilled from the UI.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STOP_TIMEOUT_S = 20


def register(commands) -> None:
    ui = commands.add_parser(
        "ui", help="open the Dagster UI on the demo instance, with the provider simulator running behind it"
    )
    ui.add_argument("--dagster-home", default="./.dagster_home", help="the demo's instance folder")
    ui.add_argument("--host", default="127.0.0.1", help="address the UI listens on")
    ui.add_argument("--port", type=int, default=3000, help="port the UI listens on")
    ui.set_defaults(run=run_ui)


def run_ui(args: argparse.Namespace) -> int:
    from calllog_pipeline.demo import ENV_FILE, DemoSettings, read_env_file
    from calllog_pipeline.simulator import SimulatorServer

    home = Path(args.dagster_home).resolve()
    if not (home / ENV_FILE).exists():
        print(
            f"No demo instance at {home} ({ENV_FILE} is missing). Run `calllog-pipeline demo` first, "
            "or pass --dagster-home.",
            file=sys.stderr,
        )
        return 2
    env = read_env_file(home)
    try:
        settings = DemoSettings(
            home=home,
            data_dir=Path(env["CALLLOG_DATA_DIR"]),
            calls_per_day=int(env["CALLLOG_DEMO_CALLS_PER_DAY"]),
            port=int(env["CALLLOG_DEMO_PORT"]),
            seed=int(env["CALLLOG_DEMO_SEED"]),
            incident=env["CALLLOG_DEMO_INCIDENT"],
        )
    except (KeyError, ValueError) as exc:
        print(
            f"{home / ENV_FILE} is from an older `calllog-pipeline demo` or was edited "
            f"({type(exc).__name__}: {exc}): run the demo again to refresh it.",
            file=sys.stderr,
        )
        return 2
    try:
        simulator = SimulatorServer(settings.simulator_config(), port=settings.port).start()
    except OSError as exc:
        print(
            f"Cannot start the provider simulator on port {settings.port} ({exc}). Is another "
            "`calllog-pipeline ui` or `simulate` running? Stop it and try again.",
            file=sys.stderr,
        )
        return 1
    url = f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}"
    print(
        f"Provider simulator at {simulator.url}; Dagster UI at {url} (Ctrl-C stops everything).", flush=True
    )
    try:
        return run_dagster(
            {**os.environ, **env, "CALLLOG_UI_URL": env.get("CALLLOG_UI_URL", url)}, args.host, args.port
        )
    finally:
        simulator.stop()


def dagster_commands(host: str, port: int) -> list[list[str]]:
    """The web server and the daemon (schedules, sensors, backfills, run queue), as a deployment
    runs them; the code location by module name, so this works from any folder and any install."""
    bin_dir = Path(sys.executable).parent
    location = ["-m", "calllog_pipeline.definitions"]
    return [
        [str(bin_dir / "dagster-webserver"), *location, "--host", host, "--port", str(port)],
        [str(bin_dir / "dagster-daemon"), "run", *location],
    ]


def run_dagster(env: dict[str, str], host: str, port: int) -> int:
    """Runs the web server and the daemon until either exits or this command is stopped."""
    processes = [subprocess.Popen(command, env=env) for command in dagster_commands(host, port)]
    stopping = False

    def stop(_signum, _frame):  # `kill <pid>` of this command stops the UI too
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:  # Ctrl-C reached the children as well (same process group)
        stopping = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        codes = [_stop(p) for p in processes]
    return 0 if stopping else max(codes, key=abs)


def _stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # both shut down cleanly on SIGINT
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
