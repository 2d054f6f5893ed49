"""End to end, as a user of the UI: a real web server and daemon on a temporary instance, a ranged
backfill launched through GraphQL (what the UI's "Materialize > Select partitions" sends), its
materializations and lineage, the pages a user looks at in headless Chromium, and the
``calllog-pipeline ui`` command itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pandas as pd
import pytest

from calllog_pipeline.demo import ENV_FILE
from calllog_pipeline.normalized import normalized_asset_key
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.qa.assets import qa_asset_key
from calllog_pipeline.raw.assets import raw_asset_key
from calllog_pipeline.simulator import RateLimit, SimulatorConfig, SimulatorServer
from calllog_pipeline_tests.dagster_services import (
    DagsterServices,
    free_port,
    instance_home,
    needs_daemon,
    wait_for,
)

pytestmark = needs_daemon

PROVIDER = REGISTRY[next(iter(REGISTRY))]  # one provider's chain: the backfill selects all of it
CALLS_PER_DAY = 12
YESTERDAY = date.today() - timedelta(days=1)
# The last closed days: the QA scorecard of a day reads the 7 days before it (repeat contacts), so
# a backfill launched from the UI also re-scores the 7 days after its range; ending at yesterday
# keeps every targeted day's inputs inside the backfill.
BACKFILL_DAYS = [(YESTERDAY - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
PARTITIONS = 30
SCREENSHOTS = Path(__file__).resolve().parent.parent / ".ci" / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """Simulator on loopback + web server + daemon on a temporary instance, for one provider."""
    tmp = tmp_path_factory.mktemp("e2e")
    config = SimulatorConfig(
        calls_per_day=CALLS_PER_DAY, rate_limits={"omnidimension": RateLimit(requests=10, per_seconds=1.0)}
    )
    with SimulatorServer(config) as sim:
        env = {
            **sim.env(),
            "CALLLOG_PROVIDERS": PROVIDER.name,
            "CALLLOG_DATA_DIR": str(tmp / "data"),
            "CALLLOG_START_DATE": (YESTERDAY - timedelta(days=PARTITIONS - 1)).isoformat(),
            "OMNIDIM_RATE_LIMIT_REQUESTS": "10",
            "OMNIDIM_RATE_LIMIT_PERIOD_S": "1",
        }
        with DagsterServices(instance_home(tmp), env) as services:
            yield services


@pytest.fixture(scope="module")
def backfill(deployment):
    """One ranged backfill of every asset of the provider's chain over three older days."""
    keys = deployment.asset_keys()
    backfill_id = deployment.launch_backfill(keys, BACKFILL_DAYS)
    result = deployment.wait_for_backfill(backfill_id)
    return {"id": backfill_id, "keys": keys, **result}


def calls_key() -> list[str]:
    return normalized_asset_key(PROVIDER.name, "calls").path


def test_a_ranged_backfill_through_graphql_runs_once_and_materializes_every_day(deployment, backfill):
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), deployment.logs()
    # single_run backfill policy: the whole range in one run, tagged with the range.
    assert len(backfill["runs"]) == 1, backfill["runs"]
    run = backfill["runs"][0]
    assert run["status"] == "SUCCESS", deployment.logs()
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["dagster/asset_partition_range_start"] == BACKFILL_DAYS[0]
    assert tags["dagster/asset_partition_range_end"] == BACKFILL_DAYS[-1]

    # That run materialized every asset for every day of the range (the daily schedule may add
    # runs of its own for recent days meanwhile: only this run's events count here).
    for key in backfill["keys"]:
        materializations = deployment.asset_node(key)["assetMaterializations"]
        assert {m["partition"] for m in materializations if m["runId"] == run["runId"]} == set(BACKFILL_DAYS)

    # And the lake holds those days for the provider, readable as one table.
    calls = pd.read_parquet(Path(deployment.env["CALLLOG_DATA_DIR"]) / "calls")
    assert set(calls["date"].astype(str)) == set(BACKFILL_DAYS)
    assert set(calls["provider"].astype(str)) == {PROVIDER.name}
    assert calls.groupby(calls["date"].astype(str)).size().min() > 0


def test_lineage_runs_from_the_raw_endpoints_through_the_normalized_tables_to_qa(deployment, backfill):
    raw_keys = [raw_asset_key(PROVIDER.name, e.name).path for e in PROVIDER.endpoints]
    calls = deployment.asset_node(calls_key())
    assert sorted(k["path"] for k in calls["dependencyKeys"]) == sorted(raw_keys)
    for key in raw_keys:
        downstream = [k["path"] for k in deployment.asset_node(key)["dependedByKeys"]]
        assert calls_key() in downstream
    scorecard = qa_asset_key(PROVIDER.name, "qa_provider_daily").path
    assert scorecard in [k["path"] for k in calls["dependedByKeys"]]

    # The same lineage, as the run recorded it: each day's raw pages landed before that day's
    # normalized tables, and those before its scorecard, in the one run of the backfill.
    run_id = backfill["runs"][0]["runId"]

    def materialized_at(key: list[str]) -> dict[str, float]:
        events = deployment.asset_node(key)["assetMaterializations"]
        return {m["partition"]: float(m["timestamp"]) for m in events if m["runId"] == run_id}

    normalized_at, scored_at = materialized_at(calls_key()), materialized_at(scorecard)
    for key in raw_keys:
        raw_at = materialized_at(key)
        assert all(raw_at[day] < normalized_at[day] < scored_at[day] for day in BACKFILL_DAYS)


# --- the UI in a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("CI"):
            pytest.fail("CI is set but Debian's chromium / chromium-driver are not installed")
        pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1600,1200",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.set_page_load_timeout(60)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield session
    finally:
        session.quit()


def open_page(browser, url: str, expected: list[str], screenshot: str, timeout: float = 90, absent=()) -> str:
    """Opens ``url`` as a user would (dismissing the community sign-up dialog the UI shows on
    localhost), waits until the rendered page shows every ``expected`` text and none of ``absent``,
    saves a screenshot under .ci/artifacts/screenshots/ (kept by CI) and returns the page's text."""
    browser.get(url)

    def shows_everything():
        for skip in browser.find_elements("xpath", "//button[normalize-space()='Skip']"):
            skip.click()
        text = browser.find_element("tag name", "body").text
        return text if all(e in text for e in expected) and not any(a in text for a in absent) else None

    try:
        return wait_for(f"{url} to show {expected}", shows_everything, timeout, interval=1.0)
    finally:
        browser.save_screenshot(str(SCREENSHOTS / screenshot))


def test_the_asset_graph_shows_every_asset_and_its_lineage(deployment, backfill, browser):
    # Groups open, as the graph's "Expand all groups" (Alt+E) leaves them: the same URL parameter.
    groups = {node["groupName"] for node in deployment.graphql("{ assetNodes { groupName } }")["assetNodes"]}
    expanded = ",".join(f"global@global:{group}" for group in sorted(groups))
    names = [key[-1] for key in backfill["keys"]]
    text = open_page(
        browser,
        f"{deployment.url}/asset-groups?{urlencode({'expanded': expanded})}",
        names,
        "asset_graph.png",
        absent=["Loading"],  # every node's status is in
    )
    assert "Global asset lineage" in text and {"raw", "normalized", "qa"} <= groups
    edges = browser.find_elements("css selector", "svg path")
    assert len(edges) >= len(PROVIDER.endpoints)  # raw -> normalized edges are drawn


def test_the_calls_asset_page_shows_the_backfilled_partitions(deployment, backfill, browser):
    text = open_page(
        browser,
        f"{deployment.url}/assets/{'/'.join(calls_key())}?view=partitions",
        [f"Materialized ({len(BACKFILL_DAYS)})", "Failed (0)"],
        "calls_asset.png",
    )
    assert f"{PARTITIONS} Partitions" in text  # the whole range a user can backfill, not just what ran


def test_the_backfill_page_shows_the_completed_ranged_backfill(deployment, backfill, browser):
    text = open_page(
        browser,
        f"{deployment.url}/runs/b/{backfill['id']}",
        [backfill["id"], f"{BACKFILL_DAYS[0]}...{BACKFILL_DAYS[-1]}", "Succeeded"],
        "backfill.png",
    )
    assert text.count("100% completed") == len(backfill["keys"])  # one row per asset, all done


# --- the command a user types ----------------------------------------------------------------------


def test_ui_command_serves_the_demo_instance_with_the_simulator_and_stops_cleanly(tmp_path):
    """``calllog-pipeline ui`` after a (tiny) demo: the UI answers, the demo's simulator answers on
    the demo's port, and stopping the command stops everything it started."""
    home, port = tmp_path / "home", free_port()
    demo = [sys.executable, "-m", "calllog_pipeline.cli", "demo", "--days", "1", "--calls-per-day", "5"]
    demo += ["--port", "0", "--data-dir", str(tmp_path / "data"), "--dagster-home", str(home)]
    subprocess.run(demo, check=True, timeout=300, capture_output=True)
    env_file = dict(line.split("=", 1) for line in (home / ENV_FILE).read_text().splitlines())

    log = open(tmp_path / "ui.log", "wb")  # noqa: SIM115 - closed below
    ui = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calllog_pipeline.cli",
            "ui",
            "--dagster-home",
            str(home),
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for("the UI", lambda: httpx.get(f"http://127.0.0.1:{port}/server_info").is_success, 180)
        simulator = env_file["DIALNEXA_BASE_URL"].split("/dialnexa")[0]
        assert httpx.get(f"{simulator}/_sim/health").status_code == 200
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{simulator}/_sim/health", timeout=2)
    finally:
        if ui.poll() is None:
            ui.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGKILL)  # anything of its group still alive
        log.close()
