"""Judge one provider-day: read the trailing scorecards from the lake and find the anomalies.

Used by the QA assets (right after they write the day) and by the report (which re-judges the
stored days with the same thresholds, so the report and the checks agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from calllog_pipeline.lake import Lake
from calllog_pipeline.qa.anomalies import Finding, Thresholds, Verdict, attribute, judge_row
from calllog_pipeline.qa.catalog import JUDGED

HISTORY_COLUMNS = sorted(
    {"calls", *(m.name for m in JUDGED), *(m.denominator_column for m in JUDGED if m.denominator_column)}
)


@dataclass
class DayJudgement:
    provider: str
    day: str
    provider_verdict: Verdict
    agent_verdicts: list[Verdict]
    provider_findings: list[Finding] = field(default_factory=list)
    agent_findings: list[Finding] = field(default_factory=list)
    explained: list[Finding] = field(default_factory=list)  # agent moves folded into a provider finding

    @property
    def findings(self) -> list[Finding]:
        return self.provider_findings + self.agent_findings


def read_rows(
    lake: Lake, table: str, provider: str, day: str, columns: list[str] | None = None
) -> list[dict] | None:
    """The rows of one stored QA day, or None when the day has no file. Of ``columns``, those the
    file has: a day written before a metric was added lacks it (its rows have no such key)."""
    path = lake.table_path(table, day, provider)
    if not lake.exists(path):
        return None
    with lake.fs.open(path, "rb") as f:
        file = pq.ParquetFile(f)
        names = file.schema_arrow.names
        return file.read(columns=[c for c in columns if c in names] if columns else None).to_pylist()


def history(
    lake: Lake, provider: str, day: str, t: Thresholds, cache: dict | None = None
) -> tuple[dict[str, dict], dict[str, dict[str, dict]]]:
    """(provider rows by date, agent -> rows by date) of the ``window_days`` before ``day``.
    ``cache`` (a dict kept by the caller) saves re-reading a day when many days are judged."""
    cache = {} if cache is None else cache

    def rows_of(table: str, d: str, columns: list[str]) -> list[dict] | None:
        if (table, provider, d) not in cache:
            cache[(table, provider, d)] = read_rows(lake, table, provider, d, columns)
        return cache[(table, provider, d)]

    today = date.fromisoformat(day)
    provider_rows: dict[str, dict] = {}
    agent_rows: dict[str, dict[str, dict]] = {}
    for k in range(1, t.window_days + 1):
        d = (today - timedelta(days=k)).isoformat()
        rows = rows_of("qa_provider_daily", d, HISTORY_COLUMNS)
        if rows is None:
            continue
        provider_rows[d] = {**rows[0], "date": d}
        for row in rows_of("qa_agent_daily", d, ["agent_id", *HISTORY_COLUMNS]) or []:
            agent_rows.setdefault(row["agent_id"], {})[d] = {**row, "date": d}
    return provider_rows, agent_rows


def judge_day(
    lake: Lake,
    provider: str,
    day: str,
    provider_table: pa.Table,
    agent_table: pa.Table,
    t: Thresholds,
    cache: dict | None = None,
) -> DayJudgement:
    past_provider, past_agents = history(lake, provider, day, t, cache)
    today_agents = {r["agent_id"]: r for r in agent_table.to_pylist()}
    provider_row = provider_table.to_pylist()[0] if provider_table.num_rows else None
    provider_verdict = judge_row(provider, None, day, provider_row, past_provider, t)
    agent_verdicts = [
        judge_row(provider, agent, day, today_agents.get(agent), past_agents.get(agent, {}), t)
        for agent in sorted(set(today_agents) | set(past_agents))
    ]
    judgement = DayJudgement(provider, day, provider_verdict, agent_verdicts)
    judgement.provider_findings, judgement.agent_findings, judgement.explained = attribute(
        provider_verdict, agent_verdicts
    )
    return judgement


def judge_stored_day(
    lake: Lake, provider: str, day: str, t: Thresholds, cache: dict | None = None
) -> DayJudgement | None:
    """Re-judge a day already in the lake (None when it has no QA files)."""
    paths = [lake.table_path(table, day, provider) for table in ("qa_provider_daily", "qa_agent_daily")]
    if not all(lake.exists(p) for p in paths):
        return None
    tables = []
    for path in paths:
        with lake.fs.open(path, "rb") as f:
            tables.append(pq.read_table(f))
    return judge_day(lake, provider, day, tables[0], tables[1], t, cache)
