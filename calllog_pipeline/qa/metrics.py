"""Compute one provider-day of QA tables with DuckDB over the normalized Parquet files.

Everything is SQL over the day's ``calls``/``actions``/``interactions`` files (plus the previous
seven days of ``calls`` for repeat contacts); Python only assembles the statement from the catalog.
Memory is bounded by DuckDB's ``memory_limit`` (it spills to disk beyond it), so a
million-call day fits the same budget as a small one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import ClassVar

import duckdb
import pyarrow as pa

from calllog_pipeline.lake import Lake
from calllog_pipeline.qa.catalog import METRICS, PLACEHOLDERS, SCHEMAS, Kind, Metric
from calllog_pipeline.versions import DATA_VERSION

REPEAT_WINDOW_DAYS = 7  # a repeat contact: another call in the 7 x 24 h before; agents of 7 days get rows
# Partition days that window can reach: in a zone with DST, the 7 local days before a day are 167 h
# in the week clocks go forward, so 7 x 24 h back from early in the day lands in the 8th day before.
LOOKBACK_DAYS = REPEAT_WINDOW_DAYS + 1
PROVIDER_KEY = "*"  # the group key of the provider-level rows


class MissingInput(RuntimeError):
    """The normalized day this QA day is computed from does not exist."""


@dataclass(frozen=True)
class Inputs:
    """The files one provider-day reads (paths or URLs DuckDB can open)."""

    calls: str
    actions: str
    interactions: str
    previous_calls: tuple[str, ...]  # calls of the LOOKBACK_DAYS days before that exist (contacts)
    recent_calls: tuple[str, ...]  # those of the REPEAT_WINDOW_DAYS days before (agents)


def inputs_for(lake: Lake, provider: str, day: str) -> Inputs:
    paths = {t: lake.table_path(t, day, provider) for t in ("calls", "actions", "interactions")}
    missing = [t for t, p in paths.items() if not lake.exists(p)]
    if missing:
        raise MissingInput(
            f"{provider} {day}: normalized {', '.join(missing)} not in the lake "
            f"({lake.url(paths[missing[0]])}); "
            f"materialize the normalized assets of {provider} for {day} first."
        )
    first = date.fromisoformat(day)
    previous = {
        k: lake.table_path("calls", first - timedelta(days=k), provider) for k in range(1, LOOKBACK_DAYS + 1)
    }
    existing = {k: lake.url(p) for k, p in previous.items() if lake.exists(p)}
    return Inputs(
        *(lake.url(paths[t]) for t in ("calls", "actions", "interactions")),
        tuple(existing.values()),
        tuple(url for k, url in existing.items() if k <= REPEAT_WINDOW_DAYS),
    )


def connect(lake: Lake, memory_limit: str = "256MB", threads: int = 2) -> duckdb.DuckDBPyConnection:
    # UTC: "7 days before" is 7 x 24 h whatever the machine's zone (DuckDB's TimeZone defaults to
    # it, and interval arithmetic on timestamptz follows that zone's DST changes).
    con = duckdb.connect(config={"memory_limit": memory_limit, "threads": threads})
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/calllog-qa-duckdb'")
    protocol = lake.fs.protocol
    if (protocol[0] if isinstance(protocol, tuple) else protocol) not in ("file", "local"):
        con.register_filesystem(lake.fs)  # read the lake through its own fsspec filesystem
    return con


def _files(paths: Sequence[str]) -> str:
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{quoted}], hive_partitioning = false)"


def _placeholders() -> str:
    return ", ".join("'" + p + "'" for p in PLACEHOLDERS)


def create_views(con: duckdb.DuckDBPyConnection, inputs: Inputs) -> None:
    """``c_all`` (every call, with derived flags), ``c`` (non-test calls), and the per-item views
    ``turns``, ``tools``, ``fields`` the catalog's aggregates read."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW day_calls AS SELECT * FROM {_files([inputs.calls])}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW day_actions AS SELECT * FROM {_files([inputs.actions])}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW day_turns AS SELECT * FROM {_files([inputs.interactions])}")
    contact = "CASE WHEN direction = 'outbound' THEN to_number ELSE from_number END"
    test = "(coalesce(is_test, false) OR coalesce(channel = 'chat', false))"
    if inputs.previous_calls:
        previous = (
            f"SELECT {contact} AS contact, max(started_at) AS last_at "
            f"FROM {_files(inputs.previous_calls)} WHERE NOT {test} AND {contact} IS NOT NULL GROUP BY 1"
        )
    else:
        previous = "SELECT NULL::VARCHAR AS contact, NULL::TIMESTAMPTZ AS last_at LIMIT 0"
    if inputs.recent_calls:
        agents = (
            f"SELECT coalesce(agent_id, agent_name, '(none)') AS agent, agent_name, started_at "
            f"FROM {_files(inputs.recent_calls)}"
        )
    else:
        agents = (
            "SELECT NULL::VARCHAR AS agent, NULL::VARCHAR AS agent_name, NULL::TIMESTAMPTZ AS started_at "
            "LIMIT 0"
        )
    con.execute(f"CREATE OR REPLACE TEMP VIEW previous_contacts AS {previous}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW previous_agents AS {agents}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_all AS
        WITH acts AS (
            SELECT call_id, count(*) AS n_actions,
                   bool_or(action_type = 'transfer') AS has_transfer,
                   bool_or(action_type = 'appointment_booking') AS booked
            FROM day_actions GROUP BY call_id
        ), talk AS (
            SELECT call_id, count(*) AS turns,
                   sum(length(text)) FILTER (WHERE speaker = 'agent') AS agent_chars,
                   sum(length(text)) AS all_chars,
                   -- the first agent turn's latency, null when that turn has none (arg_min would
                   -- skip to a later turn's)
                   arg_min_null(response_latency_s, turn_index) FILTER (WHERE speaker = 'agent')
                       AS first_latency_s
            FROM day_turns GROUP BY call_id
        ), calls AS (
            SELECT *, coalesce(agent_id, agent_name, '(none)') AS agent, {test} AS is_test_call,
                   {contact} AS contact
            FROM day_calls
        )
        SELECT calls.call_id, calls.agent, calls.agent_name, calls.is_test_call, calls.status,
               calls.end_reason, calls.duration_s, calls.sentiment, calls.cost_usd, calls.tokens,
               calls.extracted, calls.contact, calls.started_at,
               calls.status = 'completed' AND coalesce(calls.duration_s, 0) > 0
                   AND calls.end_reason IS DISTINCT FROM 'voicemail_detected' AS connected,
               coalesce(acts.has_transfer, false)
                   OR coalesce(
                       try_cast(json_extract_string(calls.extra, '$.is_call_transfer') AS BOOLEAN), false
                   )
                   AS transferred,
               coalesce(acts.booked, false) AS booked,
               coalesce(acts.n_actions, 0) AS n_actions,
               try_cast(json_extract_string(calls.extracted, '$.customer_satisfaction') AS DOUBLE) AS csat,
               nullif(try_cast(json_extract_string(calls.extra, '$.cqs_score') AS DOUBLE), 0) AS quality,
               coalesce(talk.turns, 0) AS turns, talk.agent_chars, talk.all_chars, talk.first_latency_s,
               -- a repeat: the same contact had another non-test call in the 7 days before this
               -- one (strictly before: a call at the same instant is not "before")
               calls.contact IS NOT NULL AND NOT calls.is_test_call AND (
                   count(*) OVER same_contact > 0
                   OR coalesce(p.last_at >= calls.started_at - INTERVAL 7 DAY, false)
               ) AS repeat_contact
        FROM calls
        LEFT JOIN acts USING (call_id)
        LEFT JOIN talk USING (call_id)
        LEFT JOIN previous_contacts p ON p.contact = calls.contact
        WINDOW same_contact AS (
            PARTITION BY calls.contact, calls.is_test_call ORDER BY calls.started_at
            RANGE BETWEEN INTERVAL 7 DAY PRECEDING AND CURRENT ROW EXCLUDE GROUP
        )
        """
    )
    con.execute("CREATE OR REPLACE TEMP VIEW c AS SELECT * FROM c_all WHERE NOT is_test_call")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW turns AS SELECT c.agent, t.response_latency_s FROM day_turns t "
        "JOIN c USING (call_id) WHERE t.speaker = 'agent' AND t.response_latency_s IS NOT NULL"
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW tools AS SELECT c.agent, a.succeeded, a.latency_s FROM day_actions a "
        "JOIN c USING (call_id) WHERE a.action_type = 'function_call'"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW fields AS
        SELECT c.agent, NOT (
            f.type = 'NULL'
            OR (f.type = 'VARCHAR' AND lower(trim(json_extract_string(f.value, '$'))) IN ({_placeholders()}))
            OR (f.type IN ('ARRAY', 'OBJECT') AND f.value::VARCHAR IN ('[]', '{{}}'))
        ) AS filled
        FROM c, json_each(c.extracted) AS f
        WHERE c.connected AND c.extracted IS NOT NULL AND json_type(c.extracted) = 'OBJECT'
        """
    )


def _expression(metric: Metric, short_call_s: float) -> str:
    return metric.sql.replace("$short_call_s", repr(float(short_call_s)))


def _select(metrics: Sequence[Metric], source: str, provider: str, group: str, short_call_s: float) -> str:
    items = [
        f"{_expression(m, short_call_s)} AS {m.name}"
        for m in metrics
        if m.source == source and m.available(provider) and not m.sql.startswith("$")
    ]
    if not items:
        return ""
    return f"SELECT {group} AS agent, {', '.join(items)} FROM {source_view(source)} GROUP BY 1"


def source_view(source: str) -> str:
    return {"calls": "c", "turns": "turns", "tools": "tools", "fields": "fields"}[source]


def metric_rows(con: duckdb.DuckDBPyConnection, provider: str, level: str, short_call_s: float) -> pa.Table:
    """``level`` "agent": one row per agent seen today or in the last 7 days; "provider": one row."""
    group = "agent" if level == "agent" else f"'{PROVIDER_KEY}'"
    if level == "agent":
        keys = (  # the name of the agent's latest call that has one (today's, if it was renamed)
            "SELECT agent, max_by(agent_name, started_at) AS agent_name FROM ("
            "SELECT agent, agent_name, started_at FROM c_all "
            "UNION ALL SELECT agent, agent_name, started_at FROM previous_agents"
            ") GROUP BY agent"
        )
    else:
        keys = f"SELECT '{PROVIDER_KEY}' AS agent, NULL::VARCHAR AS agent_name"
    ctes = {"keys": keys}
    for source in ("calls", "turns", "tools", "fields"):
        if sql := _select(METRICS, source, provider, group, short_call_s):
            ctes[f"m_{source}"] = sql
    ctes["m_tests"] = (
        f"SELECT {group} AS agent, count(*) AS test_calls FROM c_all WHERE is_test_call GROUP BY 1"
    )
    ctes["m_types"] = (
        # Keys in a fixed order (json_group_object's follows the hash table), so an unchanged day
        # rewrites the same text.
        "SELECT t.agent, to_json(map(list(t.action_type ORDER BY t.action_type), "
        "list(t.n::DOUBLE / k.connected ORDER BY t.action_type)))::VARCHAR "
        "AS actions_by_type FROM ("
        f"SELECT {group} AS agent, a.action_type, count(*) AS n FROM day_actions a JOIN c USING (call_id) "
        "WHERE c.connected GROUP BY ALL) AS t "
        f"JOIN (SELECT {group} AS agent, count(*) FILTER (WHERE connected) AS connected "
        "FROM c GROUP BY 1) AS k "
        "USING (agent) GROUP BY t.agent"
    )
    columns = []
    for m in METRICS:
        columns.append(f"{_column(m, provider, ctes)} AS {m.name}")
    joins = " ".join(f"LEFT JOIN {name} USING (agent)" for name in ctes if name != "keys")
    with_ = ", ".join(f"{name} AS ({sql})" for name, sql in ctes.items())
    sql = (
        f"WITH {with_} SELECT keys.agent AS agent_id, keys.agent_name, {', '.join(columns)} "
        f"FROM keys {joins} ORDER BY agent_id"
    )
    return con.sql(sql).to_arrow_table()


def _column(m: Metric, provider: str, ctes: dict[str, str]) -> str:
    null = f"NULL::{'BIGINT' if m.kind == Kind.COUNT else 'VARCHAR' if m.kind == Kind.JSON else 'DOUBLE'}"
    if not m.available(provider):
        return null
    if m.name == "test_calls":
        return "coalesce(m_tests.test_calls, 0)"
    if m.name == "actions_by_type":  # {} with connected calls but no actions; null without them
        return (
            "CASE WHEN coalesce(m_calls.connected_calls, 0) > 0 "
            "THEN coalesce(m_types.actions_by_type, '{}') END"
        )
    value = f"m_{m.source}.{m.name}"
    if f"m_{m.source}" not in ctes:
        return null
    return f"coalesce({value}, 0)" if m.kind == Kind.COUNT or m.zero_when_empty else value


def end_reason_rows(con: duckdb.DuckDBPyConnection) -> pa.Table:
    return con.sql(
        "SELECT status, end_reason, count(*) AS calls, count(*) / sum(count(*)) OVER () AS share "
        "FROM c GROUP BY ALL ORDER BY calls DESC, status, end_reason NULLS LAST"
    ).to_arrow_table()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The declared schema exactly (column order, types, descriptions), whatever DuckDB inferred."""
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)


@dataclass
class DayTables:
    TABLES: ClassVar[tuple[str, ...]] = ("qa_agent_daily", "qa_provider_daily", "qa_end_reasons_daily")

    agent: pa.Table
    provider: pa.Table
    end_reasons: pa.Table

    def by_table(self) -> dict[str, pa.Table]:
        return {
            "qa_agent_daily": self.agent,
            "qa_provider_daily": self.provider,
            "qa_end_reasons_daily": self.end_reasons,
        }


def compute_day(lake: Lake, provider: str, day: str, short_call_s: float = 15.0, **connect_args) -> DayTables:
    inputs = inputs_for(lake, provider, day)
    with connect(lake, **connect_args) as con:
        create_views(con, inputs)
        return DayTables(
            agent=conform(metric_rows(con, provider, "agent", short_call_s), SCHEMAS["qa_agent_daily"]),
            provider=conform(
                metric_rows(con, provider, "provider", short_call_s).drop_columns(["agent_id", "agent_name"]),
                SCHEMAS["qa_provider_daily"],
            ),
            end_reasons=conform(end_reason_rows(con), SCHEMAS["qa_end_reasons_daily"]),
        )


def write_day(
    lake: Lake, provider: str, day: str, tables: DayTables, version: str | None = None
) -> dict[str, str]:
    """Each table's file, written atomically; returns table -> path. ``version`` (the inputs'
    fingerprint, see ``qa.versions``) is recorded in each file's footer."""
    paths = {}
    for table, data in tables.by_table().items():
        path = lake.table_path(table, day, provider)
        lake.write_table(path, data, {DATA_VERSION: version} if version else None)
        paths[table] = path
    return paths
