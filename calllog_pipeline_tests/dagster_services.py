"""A real Dagster deployment for end-to-end tests: ``dagster-webserver`` and ``dagster-daemon`` as
subprocesses (the commands ``calllog-pipeline ui`` runs) on a temporary instance, driven through the
web server's GraphQL API, the way the UI drives it.

Every wait is bounded; every process is started in its own session and its whole group is killed
on ``stop()`` (the web server's code server and the daemon's run workers included).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from calllog_pipeline.demo import INSTANCE_YAML
from calllog_pipeline.ui import dagster_commands

# Tests that start the web server and the daemon take minutes on a shared machine; CI runs them.
needs_daemon = pytest.mark.skipif(
    not os.environ.get("CALLLOG_DAEMON_TESTS"),
    reason="starts dagster-webserver, dagster-daemon and run processes (minutes): "
    "CALLLOG_DAEMON_TESTS=1 (.ci/run sets it)",
)

START_TIMEOUT_S = 180
BACKFILL_TIMEOUT_S = 420
STOP_TIMEOUT_S = 20
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0):
    """Calls ``probe`` until it returns something truthy; fails with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if result := probe():
                return result
        except (httpx.TransportError, GraphQLError) as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")


class GraphQLError(RuntimeError):
    pass


def instance_home(tmp: Path) -> Path:
    """A temporary DAGSTER_HOME holding a copy of the project's instance settings (SQLite storage
    under the home, the queued run coordinator with its limits, per-provider pools)."""
    home = tmp / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(INSTANCE_YAML, home / "dagster.yaml")
    return home


class DagsterServices:
    def __init__(self, home: Path, env: Mapping[str, str], stop_schedules_on_start: bool = True):
        self.home = home
        self.stop_schedules_on_start = stop_schedules_on_start
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(home), "CALLLOG_UI_URL": self.url}
        self.processes: list[subprocess.Popen] = []

    def start(self) -> DagsterServices:
        webserver, daemon = dagster_commands("127.0.0.1", self.port)
        # One after the other: both would create the fresh SQLite storage at once otherwise.
        self._spawn(webserver)
        wait_for("the web server and the code location", self._location_loaded, START_TIMEOUT_S)
        if self.stop_schedules_on_start:
            self.stop_schedules()
        self._spawn(daemon)
        return self

    def stop_schedules(self) -> None:
        """Turns the schedules off (as a user can in the UI), so a test's runs are only its own
        even when the wall clock passes a schedule's tick."""
        data = self.graphql(
            "{ repositoriesOrError { ... on RepositoryConnection { nodes { schedules { id } } } } }"
        )
        for repository in data["repositoriesOrError"]["nodes"]:
            for schedule in repository["schedules"]:
                self.graphql(
                    "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }",
                    {"id": schedule["id"]},
                )

    def _spawn(self, command: list[str]) -> None:
        log = open(self.home / f"{Path(command[0]).name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.processes.append(
            subprocess.Popen(
                command,
                env=self.env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches its children
            )
        )

    def _location_loaded(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}: {self.logs()}")
        data = self.graphql(
            "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
            "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
        )
        entries = data["workspaceOrError"]["locationEntries"]
        for entry in entries:
            if entry["locationOrLoadError"]["__typename"] == "PythonError":
                raise RuntimeError(f"code location failed to load: {entry['locationOrLoadError']['message']}")
        return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # both shut down cleanly on SIGINT
        for process in self.processes:
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
            with contextlib.suppress(ProcessLookupError):  # what is left of its group: code server, runs
                os.killpg(process.pid, signal.SIGKILL)
            if process.stdout:
                process.stdout.close()
        self.processes.clear()

    def __enter__(self) -> DagsterServices:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-tail:]}" for log in self.home.glob("*.log")
        )

    # --- GraphQL --------------------------------------------------------------------------------------

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        return body["data"]

    def asset_keys(self) -> list[list[str]]:
        data = self.graphql("{ assetNodes { assetKey { path } } }")
        return [node["assetKey"]["path"] for node in data["assetNodes"]]

    def launch_backfill(self, asset_keys: list[list[str]], partitions: list[str]) -> str:
        """What the UI's "Materialize > Select partitions" launches: these assets, these days."""
        data = self.graphql(
            """mutation($params: LaunchBackfillParams!) {
                 launchPartitionBackfill(backfillParams: $params) {
                   __typename
                   ... on LaunchBackfillSuccess { backfillId }
                   ... on PythonError { message }
                   ... on PartitionKeysNotFoundError { message }
                   ... on InvalidSubsetError { message }
                   ... on UnauthorizedError { message }
                 }
               }""",
            {
                "params": {
                    "assetSelection": [{"path": key} for key in asset_keys],
                    "partitionNames": partitions,
                    "title": "e2e ranged backfill",
                }
            },
        )
        result = data["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"{result['__typename']}: {result.get('message')}")
        return result["backfillId"]

    def backfill(self, backfill_id: str) -> dict:
        data = self.graphql(
            """query($id: String!) {
                 partitionBackfillOrError(backfillId: $id) {
                   __typename
                   ... on PartitionBackfill {
                     id status numPartitions
                     runs { runId status tags { key value } }
                     error { message }
                   }
                   ... on PythonError { message }
                 }
               }""",
            {"id": backfill_id},
        )
        return data["partitionBackfillOrError"]

    def wait_for_backfill(self, backfill_id: str, timeout: float = BACKFILL_TIMEOUT_S) -> dict:
        def finished():
            backfill = self.backfill(backfill_id)
            done = backfill.get("status") in FINISHED
            runs_done = all(
                r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in backfill.get("runs", [])
            )
            return backfill if done and runs_done else None

        return wait_for(f"backfill {backfill_id}", finished, timeout, interval=2.0)

    def asset_node(self, key: list[str]) -> dict:
        data = self.graphql(
            """query($key: AssetKeyInput!) {
                 assetNodeOrError(assetKey: $key) {
                   ... on AssetNode {
                     dependencyKeys { path }
                     dependedByKeys { path }
                     assetMaterializations(limit: 100) { partition runId timestamp }
                   }
                 }
               }""",
            {"key": {"path": key}},
        )
        return data["assetNodeOrError"]
