"""Weeks of simulated provider-days in a lake, fast: the simulator's records as its API would serve
them once every call is analysed, normalized by the real provider mappings, without HTTP paging.

The HTTP path is tested elsewhere (test_ingest, test_simulator); QA tests need many days of the
simulated *world* (agents, seasonality, incidents) and only the normalized tables.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import orjson
import pyarrow as pa

from calllog_pipeline.lake import RAW_SCHEMA, Lake
from calllog_pipeline.normalized.privacy import Privacy
from calllog_pipeline.normalized.writer import Written, write_provider_day
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.simulator import SimulatorConfig
from calllog_pipeline.simulator import dialnexa as sim_dialnexa
from calllog_pipeline.simulator import leadconnector as sim_leadconnector
from calllog_pipeline.simulator import omnidimension as sim_omnidimension
from calllog_pipeline.simulator.world import DAY_MS, World

# (provider, raw endpoint) -> the simulator's renderer of one record
RENDER = {
    ("dialnexa", "calls"): sim_dialnexa.render_call,
    ("dialnexa", "call_logs"): sim_dialnexa.render_log,
    ("leadconnector", "call_logs"): sim_leadconnector.render,
    ("omnidimension", "call_logs"): sim_omnidimension.render,
}
FETCHED = datetime(2030, 1, 1, tzinfo=UTC)


def world(last_day: date, **config) -> World:
    """A world whose clock stands two days after ``last_day`` (every call analysed)."""
    now = datetime.combine(last_day + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    return World(SimulatorConfig(now=now, frozen_clock=True, history_days=400, **config))


def write_simulated_day(lake: Lake, w: World, provider: str, day: date) -> None:
    start = (day - date(1970, 1, 1)).days * DAY_MS
    clock = w.clock.now_ms()
    calls = [w.call(provider, g) for g in w.visible_range(provider, start, start + DAY_MS, clock)]
    for endpoint in REGISTRY[provider].endpoints:
        render = RENDER[(provider, endpoint.name)]
        rows = [
            {"record_id": None, "endpoint": endpoint.name, "page": 1, "fetched_at": FETCHED,
             "payload": orjson.dumps(render(w, call, clock)).decode()}
            for call in calls
        ]  # fmt: skip
        table = pa.Table.from_pylist(rows, schema=RAW_SCHEMA)
        context = {"timezone": w.config.omni_timezone} if provider == "omnidimension" else {}
        lake.write_table(
            lake.raw_path(provider, endpoint.name, day), table, metadata={"source_context": context}
        )
    write_provider_day(lake, Privacy(), REGISTRY[provider], day.isoformat(), Written())


def simulated_lake(lake: Lake, w: World, provider: str, first: date, last: date) -> list[str]:
    days = []
    d = first
    while d <= last:
        write_simulated_day(lake, w, provider, d)
        days.append(d.isoformat())
        d += timedelta(days=1)
    return days
