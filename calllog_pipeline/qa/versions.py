"""What a QA provider-day is computed from, as one fingerprint, and reading back a day it matches.

The inputs are the normalized files ``compute_day`` reads (the day's calls, actions and
interactions, and the calls of the days its repeat-contact window looks back on), the short-call
threshold and the QA code. Equal fingerprint, equal tables: the day's files are kept and only
judged again (judging reads the trailing QA history, which other days may have changed).
"""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow.parquet as pq

from calllog_pipeline.lake import Lake
from calllog_pipeline.qa.metrics import LOOKBACK_DAYS, DayTables
from calllog_pipeline.versions import ABSENT, code_version, current_rows, fingerprint, stored_version

_CODE = ("calllog_pipeline.qa.metrics", "calllog_pipeline.qa.catalog")


def stored_inputs(lake: Lake, provider: str, day: str) -> dict[str, dict[str, str | None]]:
    """The data versions of the normalized files the day is computed from (``ABSENT``: no file)."""
    first = date.fromisoformat(day)
    today = {
        t: stored_version(lake, lake.table_path(t, day, provider))
        for t in ("calls", "actions", "interactions")
    }
    earlier = {
        str(d): stored_version(lake, lake.table_path("calls", d, provider))
        for d in (first - timedelta(days=k) for k in range(1, LOOKBACK_DAYS + 1))
    }
    return {"today": today, "earlier_calls": earlier}


def has_normalized_day(inputs: dict[str, dict[str, str | None]]) -> bool:
    """Whether the day's own calls, actions and interactions are all in the lake."""
    return ABSENT not in inputs["today"].values()


def input_version(inputs: dict[str, dict[str, str | None]], short_call_s: float) -> str | None:
    """The day's fingerprint from its ``stored_inputs``; None when one predates versions (recompute)."""
    return fingerprint({**inputs, "short_call_s": short_call_s, "code": code_version(*_CODE)})


def kept_day(lake: Lake, provider: str, day: str, version: str | None) -> DayTables | None:
    """The day's stored QA tables when they were computed from inputs with ``version``, else None."""
    paths = {t: lake.table_path(t, day, provider) for t in DayTables.TABLES}
    if current_rows(lake, paths, version) is None:
        return None
    tables = {}
    for table, path in paths.items():
        with lake.fs.open(path, "rb") as f:
            tables[table] = pq.read_table(f)
    return DayTables(*(tables[t] for t in DayTables.TABLES))
