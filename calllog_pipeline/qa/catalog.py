"""The metric catalog: every QA metric once, with its formula, unit, denominator and sources.

It is the single source of truth for three things that must agree: the SQL that computes the
metric (``sql`` is an aggregate over the call-level view built in ``metrics.py``), the columns of
the QA tables (their Arrow types and descriptions shown in the UI), and ``docs/metrics.md``
(rendered by ``markdown()``; a test fails when the file is stale).

Availability is declared, never guessed from the data: a provider whose API lacks the source
field gets null for the metric (not 0), and the catalog names the field for those that have it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pyarrow as pa

PROVIDERS = ("dialnexa", "leadconnector", "omnidimension")  # the columns of the availability table


class Kind(enum.Enum):
    COUNT = "count"  # int64
    RATE = "rate"  # a share in [0, 1] with a count denominator (judged with a Wilson interval)
    VALUE = "value"  # a continuous float (judged by robust z-score)
    JSON = "json"  # a JSON object in a string column


class Direction(enum.Enum):
    UP_IS_BAD = "rise"  # an anomaly is a rise
    DOWN_IS_BAD = "drop"  # an anomaly is a drop
    NEUTRAL = "either"


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    unit: str
    kind: Kind
    sql: str  # aggregate expression over the view `c` (one row per non-test call), see metrics.py
    formula: str  # for people
    denominator: str  # for people; for RATE metrics also `denominator_column`
    calls: str  # which calls count
    section: str
    sources: dict[str, str | None]  # provider -> source fields; None: not available (null)
    direction: Direction = Direction.NEUTRAL
    judged: bool = False  # an anomaly check watches it
    headline: bool = False  # a number on every materialization and a chart in the report
    denominator_column: str | None = None  # the count column a RATE is a share of
    numerator: str | None = None  # RATE only: aggregate of the numerator (for Wilson intervals)
    source: str = "calls"  # which view the aggregate reads: calls | turns | tools | fields
    zero_when_empty: bool = False  # a sum that is 0, not null, for an agent or day without calls
    extra_note: str = field(default="", compare=False)

    def available(self, provider: str) -> bool:
        """Providers the catalog does not list get every metric their normalized columns allow."""
        return self.sources.get(provider, "") is not None

    @property
    def arrow_type(self) -> pa.DataType:
        return {
            Kind.COUNT: pa.int64(),
            Kind.RATE: pa.float64(),
            Kind.VALUE: pa.float64(),
            Kind.JSON: pa.string(),
        }[self.kind]

    def description(self) -> str:
        return f"{self.title} ({self.unit}): {self.formula}. Counts {self.calls}."


ALL = {p: "normalized columns" for p in PROVIDERS}
NOT_LC = "LeadConnector logs only connected calls: no attempts to divide by"

# Canonical end reasons caused by the platform, and those that mean the number could not be dialled.
TECHNICAL = "('network_failure', 'system_failure', 'system_at_capacity')"
NON_DIALABLE = "('invalid_phone_number', 'destination_forbidden', 'insufficient_balance')"
# Extracted text that means "nothing was extracted" (compared lower-cased, trimmed).
PLACEHOLDERS = (
    "",
    "not provided",
    "n/a",
    "na",
    "none",
    "null",
    "unknown",
    "-",
    "not available",
    "not mentioned",
)


def _rate(numerator: str, denominator: str) -> str:
    return f"({numerator})::DOUBLE / nullif({denominator}, 0)"


CALLS_N = "count(*)"
CONNECTED_N = "count(*) FILTER (WHERE connected)"

METRICS: tuple[Metric, ...] = (
    # --- volume --------------------------------------------------------------------------------------
    Metric(
        "calls", "Calls", "calls", Kind.COUNT, CALLS_N,
        "number of non-test calls started on the day", "-", "every non-test call", "Volume",
        ALL, headline=True,
    ),
    Metric(
        "test_calls", "Test calls", "calls", Kind.COUNT, "$test_calls",
        "test/simulated calls and chat sessions, excluded from every other metric", "-",
        "test calls only", "Volume",
        {"dialnexa": None, "leadconnector": "`trialCall`",
         "omnidimension": "`is_simulation`, `channel_type` Widget-Chat"},
    ),
    Metric(
        "connected_calls", "Connected calls", "calls", Kind.COUNT, CONNECTED_N,
        "calls with status completed, a duration > 0 and no voicemail end reason", "-",
        "non-test calls", "Volume",
        {"dialnexa": "`status`, `duration_*`, `end_reason`", "leadconnector": "`duration` > 0",
         "omnidimension": "`call_status`, `call_duration_in_seconds`, `is_voicemail`"},
        headline=True,
    ),
    Metric(
        "connected_minutes", "Connected minutes", "minutes", Kind.VALUE,
        "coalesce(sum(duration_s) FILTER (WHERE connected), 0) / 60.0",
        "sum of connected calls' durations / 60 (0 when no call connected)", "-", "connected calls",
        "Volume",
        {"dialnexa": "`duration_seconds` / `duration_sec`", "leadconnector": "`duration`",
         "omnidimension": "`call_duration_in_seconds`"},
        zero_when_empty=True,
    ),
    # --- outcomes over attempts ----------------------------------------------------------------------
    Metric(
        "connect_rate", "Connect rate", "share", Kind.RATE, _rate(CONNECTED_N, CALLS_N),
        "connected_calls / calls", "calls (attempts)", "non-test calls", "Outcomes",
        {"dialnexa": "`status`, `end_reason`", "leadconnector": None,
         "omnidimension": "`call_status`, `is_voicemail`"},
        Direction.DOWN_IS_BAD, judged=True, headline=True, denominator_column="calls",
        numerator=CONNECTED_N, extra_note=NOT_LC,
    ),
    Metric(
        "no_answer_rate", "No-answer rate", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE status = 'no_answer')", CALLS_N),
        "calls with status no_answer / calls", "calls (attempts)", "non-test calls", "Outcomes",
        {"dialnexa": "`status` no-answer / no_answer / did_not_pick", "leadconnector": None,
         "omnidimension": "`call_status` no-answer"},
        Direction.UP_IS_BAD, denominator_column="calls",
        numerator="count(*) FILTER (WHERE status = 'no_answer')",
    ),
    Metric(
        "busy_rate", "Busy rate", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE status = 'busy')", CALLS_N),
        "calls with status busy / calls", "calls (attempts)", "non-test calls", "Outcomes",
        {"dialnexa": "`status` busy", "leadconnector": None, "omnidimension": "`call_status` busy"},
        Direction.UP_IS_BAD, denominator_column="calls",
        numerator="count(*) FILTER (WHERE status = 'busy')",
    ),
    Metric(
        "voicemail_rate", "Voicemail rate", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE end_reason = 'voicemail_detected')", CALLS_N),
        "calls with end reason voicemail_detected / calls", "calls (attempts)", "non-test calls",
        "Outcomes",
        {"dialnexa": "`end_reason` voicemail_detected", "leadconnector": None,
         "omnidimension": "`is_voicemail`, `hangup_reason`"},
        Direction.UP_IS_BAD, judged=True, denominator_column="calls",
        numerator="count(*) FILTER (WHERE end_reason = 'voicemail_detected')",
    ),
    Metric(
        "technical_failure_rate", "Technical-failure rate", "share", Kind.RATE,
        _rate(f"count(*) FILTER (WHERE end_reason IN {TECHNICAL})", CALLS_N),
        "calls ended by network_failure, system_failure or system_at_capacity / calls",
        "calls (attempts)", "non-test calls", "Outcomes",
        {"dialnexa": "`end_reason`", "leadconnector": None, "omnidimension": None},
        Direction.UP_IS_BAD, judged=True, headline=True, denominator_column="calls",
        numerator=f"count(*) FILTER (WHERE end_reason IN {TECHNICAL})",
        extra_note="OmniDimension's `hangup_reason` says only `call_failed`, not who caused it",
    ),
    Metric(
        "non_dialable_rate", "Non-dialable rate", "share", Kind.RATE,
        _rate(f"count(*) FILTER (WHERE end_reason IN {NON_DIALABLE})", CALLS_N),
        "calls ended by invalid_phone_number, destination_forbidden or insufficient_balance / calls",
        "calls (attempts)", "non-test calls", "Outcomes",
        {"dialnexa": "`end_reason`", "leadconnector": None, "omnidimension": None},
        Direction.UP_IS_BAD, judged=True, denominator_column="calls",
        numerator=f"count(*) FILTER (WHERE end_reason IN {NON_DIALABLE})",
    ),
    # --- handle time ---------------------------------------------------------------------------------
    Metric(
        "handle_time_mean_s", "Handle time, mean", "seconds", Kind.VALUE,
        "avg(duration_s) FILTER (WHERE connected)", "mean duration of connected calls", "connected calls",
        "connected calls", "Handle time",
        {"dialnexa": "`duration_*`", "leadconnector": "`duration`",
         "omnidimension": "`call_duration_in_seconds`"},
        headline=True,
    ),
    Metric(
        "handle_time_p50_s", "Handle time, median", "seconds", Kind.VALUE,
        "quantile_cont(duration_s, 0.5) FILTER (WHERE connected)", "median duration of connected calls",
        "connected calls", "connected calls", "Handle time",
        {"dialnexa": "`duration_*`", "leadconnector": "`duration`",
         "omnidimension": "`call_duration_in_seconds`"},
    ),
    Metric(
        "handle_time_p90_s", "Handle time, p90", "seconds", Kind.VALUE,
        "quantile_cont(duration_s, 0.9) FILTER (WHERE connected)",
        "90th percentile (linear interpolation) of connected calls' durations", "connected calls",
        "connected calls", "Handle time",
        {"dialnexa": "`duration_*`", "leadconnector": "`duration`",
         "omnidimension": "`call_duration_in_seconds`"},
    ),
    Metric(
        "short_call_rate", "Short-call rate", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE connected AND duration_s < $short_call_s)", CONNECTED_N),
        "connected calls shorter than QaConfig.short_call_s (15 s) / connected calls", "connected calls",
        "connected calls", "Handle time",
        {"dialnexa": "`duration_*`", "leadconnector": "`duration`",
         "omnidimension": "`call_duration_in_seconds`"},
        Direction.UP_IS_BAD, denominator_column="connected_calls",
        numerator="count(*) FILTER (WHERE connected AND duration_s < $short_call_s)",
    ),
    Metric(
        "user_ended_share", "User-ended share", "share", Kind.RATE,
        _rate(
            "count(*) FILTER (WHERE connected AND end_reason = 'user_disconnected')",
            "count(*) FILTER (WHERE connected AND end_reason IN ('user_disconnected', 'agent_disconnected'))",
        ),
        "connected calls the user hung up / connected calls whose hang-up side is known",
        "connected calls with end reason user_ or agent_disconnected", "connected calls", "Handle time",
        {"dialnexa": "`end_reason`", "leadconnector": None, "omnidimension": "`hangup_source`"},
    ),
    # --- transfers, tasks, actions -------------------------------------------------------------------
    Metric(
        "transfer_rate", "Transfer rate", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE connected AND transferred)", CONNECTED_N),
        "connected calls transferred to a person / connected calls", "connected calls", "connected calls",
        "Transfers and tasks",
        {"dialnexa": None, "leadconnector": "`executedCallActions[].actionType` CALL_TRANSFER",
         "omnidimension": "`is_call_transfer`"},
        Direction.UP_IS_BAD, denominator_column="connected_calls",
        numerator="count(*) FILTER (WHERE connected AND transferred)",
    ),
    Metric(
        "containment_rate", "Containment rate", "share", Kind.RATE,
        "1 - " + _rate("count(*) FILTER (WHERE connected AND transferred)", CONNECTED_N),
        "1 - transfer_rate", "connected calls", "connected calls", "Transfers and tasks",
        {"dialnexa": None, "leadconnector": "`executedCallActions[].actionType` CALL_TRANSFER",
         "omnidimension": "`is_call_transfer`"},
        headline=True,
    ),
    Metric(
        "booking_rate", "Booking rate", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE connected AND booked)", CONNECTED_N),
        "connected calls that booked an appointment / connected calls", "connected calls",
        "connected calls", "Transfers and tasks",
        {"dialnexa": None, "leadconnector": "`executedCallActions[].actionType` APPOINTMENT_BOOKING",
         "omnidimension": None},
        Direction.DOWN_IS_BAD, denominator_column="connected_calls",
        numerator="count(*) FILTER (WHERE connected AND booked)",
    ),
    Metric(
        "actions_per_call", "Actions per call", "actions", Kind.VALUE,
        "sum(n_actions) FILTER (WHERE connected)::DOUBLE / nullif(" + CONNECTED_N + ", 0)",
        "actions executed / connected calls", "connected calls", "connected calls", "Transfers and tasks",
        {"dialnexa": None, "leadconnector": "`executedCallActions[]`",
         "omnidimension": "`function_call_data[]`, `post_call_actions`"},
    ),
    Metric(
        "actions_by_type", "Actions per call by type", "actions", Kind.JSON, "$actions_by_type",
        'JSON object {action_type: actions of that type / connected calls}; types without actions '
        "are left out ({} when connected calls had no actions)", "connected calls",
        "connected calls", "Transfers and tasks",
        {"dialnexa": None, "leadconnector": "`executedCallActions[].actionType`",
         "omnidimension": "`function_call_data[]`, `post_call_actions` list names"},
    ),
    Metric(
        "tool_calls", "Tool calls", "calls", Kind.COUNT, "count(*)",
        "tool (function) calls made by the agent", "-", "tool calls of non-test calls",
        "Transfers and tasks",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`function_call_data[]`"},
        source="tools",
    ),
    Metric(
        "tool_calls_with_outcome", "Tool calls with an outcome", "calls", Kind.COUNT, "count(succeeded)",
        "tool calls whose success or failure is reported", "-", "tool calls of non-test calls",
        "Transfers and tasks",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`function_call_data[].success`"},
        source="tools",
    ),
    Metric(
        "tool_success_rate", "Tool-call success rate", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE succeeded)", "count(succeeded)"),
        "tool calls that succeeded / tool_calls_with_outcome", "tool calls whose outcome is reported",
        "tool calls of non-test calls", "Transfers and tasks",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`function_call_data[].success`"},
        Direction.DOWN_IS_BAD, judged=True, denominator_column="tool_calls_with_outcome",
        numerator="count(*) FILTER (WHERE succeeded)", source="tools",
    ),
    Metric(
        "tool_time_p95_s", "Tool time, p95", "seconds", Kind.VALUE, "quantile_cont(latency_s, 0.95)",
        "95th percentile of tool-call durations", "tool calls with a duration",
        "tool calls of non-test calls", "Transfers and tasks",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`function_call_data[].time_taken`"},
        Direction.UP_IS_BAD, source="tools",
    ),
    Metric(
        "extraction_fill_rate", "Extraction fill rate", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE filled)", "count(*)"),
        "top-level fields of the extraction with a real value / all its top-level fields (null, [], {} "
        "and text that is one of " + ", ".join(f'"{p}"' for p in PLACEHOLDERS) + " in any case count "
        "as empty; false and 0 are values: an answer such as `qualified: false` was extracted)",
        "fields of the post-call extraction of connected calls", "connected calls", "Extraction",
        {"dialnexa": "`analysis`", "leadconnector": "`extractedData`",
         "omnidimension": "`extracted_variables`"},
        Direction.DOWN_IS_BAD, source="fields",
    ),
    # --- sentiment and scores ------------------------------------------------------------------------
    *(
        Metric(
            f"{s}_share", f"{s.capitalize()} sentiment share", "share", Kind.RATE,
            _rate(f"count(*) FILTER (WHERE sentiment = '{s}')", "count(sentiment)"),
            f"calls with sentiment {s} / calls with a sentiment", "calls with a sentiment",
            "non-test calls", "Sentiment and scores",
            {"dialnexa": "`sentiment`", "leadconnector": None, "omnidimension": "`sentiment_score`"},
        )
        for s in ("positive", "neutral", "negative")
    ),
    Metric(
        "net_sentiment", "Net sentiment", "share", Kind.VALUE,
        _rate("count(*) FILTER (WHERE sentiment = 'positive') - count(*) FILTER (WHERE sentiment = "
              "'negative')", "count(sentiment)"),
        "positive_share - negative_share (-1 .. 1)", "calls with a sentiment", "non-test calls",
        "Sentiment and scores",
        {"dialnexa": "`sentiment`", "leadconnector": None, "omnidimension": "`sentiment_score`"},
        headline=True,
    ),
    Metric(
        "csat_mean", "CSAT, mean", "score 1-10", Kind.VALUE, "avg(csat)",
        "mean customer-satisfaction score", "calls with a score", "non-test calls",
        "Sentiment and scores",
        {"dialnexa": "`analysis.customer_satisfaction`", "leadconnector": None, "omnidimension": None},
    ),
    Metric(
        "quality_score_mean", "Call-quality score, mean", "score 1-10", Kind.VALUE, "avg(quality)",
        "mean call-quality score (0 means not scored)", "calls with a score", "non-test calls",
        "Sentiment and scores",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`cqs_score`"},
    ),
    # --- conversation --------------------------------------------------------------------------------
    Metric(
        "latency_p50_s", "Response latency, p50", "seconds", Kind.VALUE,
        "quantile_cont(response_latency_s, 0.5)",
        "median agent response latency, pooled over all agent turns of the day (not a mean of "
        "per-call percentiles)", "agent turns with a latency", "non-test calls", "Conversation",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`interactions[].total_response_time`"},
        Direction.UP_IS_BAD, source="turns",
    ),
    Metric(
        "latency_p90_s", "Response latency, p90", "seconds", Kind.VALUE,
        "quantile_cont(response_latency_s, 0.9)", "90th percentile of agent response latency, pooled",
        "agent turns with a latency", "non-test calls", "Conversation",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`interactions[].total_response_time`"},
        Direction.UP_IS_BAD, judged=True, headline=True, source="turns",
    ),
    Metric(
        "latency_p95_s", "Response latency, p95", "seconds", Kind.VALUE,
        "quantile_cont(response_latency_s, 0.95)", "95th percentile of agent response latency, pooled",
        "agent turns with a latency", "non-test calls", "Conversation",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`interactions[].total_response_time`"},
        Direction.UP_IS_BAD, source="turns",
    ),
    Metric(
        "first_response_s", "Time to first agent word", "seconds", Kind.VALUE, "avg(first_latency_s)",
        "mean over calls of the latency of the agent's first turn", "calls whose first agent turn "
        "has a latency", "non-test calls", "Conversation",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`interactions[].total_response_time`"},
        Direction.UP_IS_BAD,
    ),
    Metric(
        "turns_per_call", "Turns per call", "turns", Kind.VALUE, "avg(turns) FILTER (WHERE turns > 0)",
        "utterances (agent and user) per call with a conversation", "calls with at least one turn",
        "non-test calls", "Conversation",
        {"dialnexa": "`transcript`", "leadconnector": "`transcript`",
         "omnidimension": "`interactions[]`, `call_conversation`"},
    ),
    Metric(
        "agent_talk_share", "Agent talk share", "share", Kind.VALUE,
        "sum(agent_chars)::DOUBLE / nullif(sum(all_chars), 0)",
        "characters spoken by the agent / all characters spoken (text length stands in for time)",
        "calls with a conversation", "non-test calls", "Conversation",
        {"dialnexa": "`transcript`", "leadconnector": "`transcript`",
         "omnidimension": "`interactions[]`, `call_conversation`"},
    ),
    # --- cost ----------------------------------------------------------------------------------------
    Metric(
        "cost_usd", "Cost", "USD", Kind.VALUE, "sum(cost_usd)",
        "sum of the costs calls report (null when no call reports one, a day without calls too)", "-",
        "non-test calls", "Cost",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`aggregated_estimated_cost`"},
        headline=True,
    ),
    Metric(
        "cost_per_call_usd", "Cost per call", "USD", Kind.VALUE,
        "sum(cost_usd) / nullif(count(cost_usd), 0)", "cost_usd / calls with a cost", "calls with a cost",
        "non-test calls", "Cost",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`aggregated_estimated_cost`"},
    ),
    Metric(
        "cost_per_connected_minute_usd", "Cost per connected minute", "USD/min", Kind.VALUE,
        "sum(cost_usd) / nullif(sum(duration_s) FILTER (WHERE connected) / 60.0, 0)",
        "cost_usd / connected_minutes", "connected minutes", "non-test calls", "Cost",
        {"dialnexa": None, "leadconnector": None,
         "omnidimension": "`aggregated_estimated_cost`, `call_duration_in_seconds`"},
        Direction.UP_IS_BAD, judged=True, headline=True,
    ),
    Metric(
        "tokens_per_call", "Tokens per call", "tokens", Kind.VALUE, "avg(tokens)",
        "mean LLM tokens per call with a token count", "calls with tokens", "non-test calls", "Cost",
        {"dialnexa": None, "leadconnector": None, "omnidimension": "`total_tokens`"},
    ),
    # --- repeat contact and data health --------------------------------------------------------------
    Metric(
        "repeat_contact_rate", "Repeat-contact rate", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE repeat_contact)", "count(contact)"),
        "calls whose contact (the other party's number: the called number of an outbound call, the "
        "caller's otherwise) had another non-test call of this provider in the 7 x 24 hours before "
        "it / calls with a contact number",
        "calls with a contact number", "non-test calls", "Repeat contact and data health",
        {"dialnexa": "`to_phone_number` (outbound), `from_phone_number` (inbound)",
         "leadconnector": "`fromNumber`", "omnidimension": "`to_number` / `from_number` by `call_direction`"},
        Direction.UP_IS_BAD,
    ),
    Metric(
        "unknown_status_share", "Unknown-status share", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE status = 'unknown')", CALLS_N),
        "calls with canonical status unknown / calls", "calls", "non-test calls",
        "Repeat contact and data health", ALL, Direction.UP_IS_BAD,
    ),
    Metric(
        "unknown_end_reason_share", "Unknown-end-reason share", "share", Kind.RATE,
        _rate("count(*) FILTER (WHERE end_reason IS NULL OR end_reason = 'unknown')", CALLS_N),
        "calls without an end reason or with end reason unknown / calls", "calls", "non-test calls",
        "Repeat contact and data health",
        {"dialnexa": "`end_reason`", "leadconnector": None,
         "omnidimension": "`is_voicemail`, `hangup_source`, `hangup_reason`, `call_status`"},
        Direction.UP_IS_BAD,
    ),
)  # fmt: skip

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
HEADLINE = tuple(m for m in METRICS if m.headline)
JUDGED = tuple(m for m in METRICS if m.judged)

# --- the QA tables -----------------------------------------------------------------------------------

KEY_COLUMNS = {
    "qa_agent_daily": (
        ("agent_id", pa.string(), "the agent: the provider's agent id, else its name, else `(none)`"),
        ("agent_name", pa.string(), "the agent's name: the one on its latest call that has one"),
    ),
    "qa_provider_daily": (),
}


def table_schema(table: str) -> pa.Schema:
    """Columns of ``qa_agent_daily`` / ``qa_provider_daily`` (``date``, ``provider`` live in the path)."""
    fields = [pa.field(name, type_, metadata={"description": d}) for name, type_, d in KEY_COLUMNS[table]]
    fields += [pa.field(m.name, m.arrow_type, metadata={"description": m.description()}) for m in METRICS]
    return pa.schema(fields)


END_REASONS_SCHEMA = pa.schema(
    [
        pa.field("status", pa.string(), metadata={"description": "canonical call status"}),
        pa.field("end_reason", pa.string(), metadata={"description": "canonical end reason (null: none)"}),
        pa.field("calls", pa.int64(), metadata={"description": "non-test calls with this status and reason"}),
        pa.field("share", pa.float64(), metadata={"description": "calls / all non-test calls of the day"}),
    ]
)

SCHEMAS = {
    "qa_agent_daily": table_schema("qa_agent_daily"),
    "qa_provider_daily": table_schema("qa_provider_daily"),
    "qa_end_reasons_daily": END_REASONS_SCHEMA,
}


# --- docs/metrics.md ---------------------------------------------------------------------------------

DOC_HEADER = """# QA metrics: the catalog

<!-- Generated from calllog_pipeline/qa/catalog.py by `python -m calllog_pipeline.qa.catalog`;
     a test fails when this file and the catalog disagree. Edit the catalog, then regenerate. -->

The QA layer turns the normalized tables into a daily scorecard per provider and agent
(`qa_provider_daily`, `qa_agent_daily`) and a breakdown of how calls ended (`qa_end_reasons_daily`),
written to `CALLLOG_DATA_DIR/<table>/date=YYYY-MM-DD/provider=<name>/data.parquet`.

**Which calls count.** Test calls (LeadConnector `trialCall`, OmniDimension `is_simulation`) and
chat sessions (`channel` = chat) are excluded from every metric and counted in `test_calls`.
`calls` is the number of the remaining calls; it is the denominator of every rate "over attempts".
A call is **connected** when its status is `completed`, its duration is above 0 and its end
reason is not `voicemail_detected`.

**Null, never 0.** Where a provider's API lacks the source field the value is null, for every
day and agent: the availability table below says which. A value is also null when its
denominator is 0 (a day with no calls still has a row, with `calls` = 0 and null rates).
Counts and `connected_minutes` are 0, not null, over no calls.

**Which day, which agent.** A call belongs to the day it started on in `CALLLOG_TIMEZONE` (the
`date=` folder of the normalized files), even when it ends after midnight. `qa_agent_daily` has a
row per agent (`agent_id`: the provider's agent id, else its name, else `(none)`; `agent_name`: the
name on its latest call that has one) with a call that day or in the 7 days before, so an agent
that went quiet shows `calls` = 0 rather than vanishing;
an agent with only test calls has `calls` = 0 and its `test_calls`. Percentiles interpolate
linearly between the closest ranks (DuckDB `quantile_cont`, numpy's default). Values are stored
unrounded; the report rounds for display only.

**Anomaly checks** watch the metrics marked *judged* (see `docs/operations.md` and
`calllog_pipeline/qa/anomalies.py`) against the trailing 28 days (only the same weekday when 4 of
them exist): rates by a Wilson 95% interval around the day's count over the rate's denominator
column (`calls`, `connected_calls`, `tool_calls_with_outcome`) and a minimum change in percentage
points, continuous values by a robust z-score (median and MAD). *Direction* says which way is bad.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    lines = [DOC_HEADER]
    section = None
    for m in METRICS:
        if m.section != section:
            section = m.section
            lines += [
                f"\n## {section}\n",
                "| metric | unit | formula | denominator | calls | direction | judged |",
                "|---|---|---|---|---|---|---|",
            ]
        direction = {Direction.UP_IS_BAD: "rise is bad", Direction.DOWN_IS_BAD: "drop is bad"}.get(
            m.direction, "-"
        )
        lines.append(
            f"| `{m.name}` | {m.unit} | {_cell(m.formula)} | {_cell(m.denominator)} | {m.calls} "
            f"| {direction} | {'yes' if m.judged else ''} |"
        )
    lines += [
        "\n## Availability by provider\n",
        "Source fields each metric is computed from; **null** means the provider does not report it "
        "and the column is always null for that provider.\n",
        "| metric | " + " | ".join(PROVIDERS) + " | note |",
        "|---|" + "---|" * (len(PROVIDERS) + 1),
    ]
    for m in METRICS:
        cells = [_cell(m.sources.get(p) or "**null**") for p in PROVIDERS]
        lines.append(f"| `{m.name}` | " + " | ".join(cells) + f" | {_cell(m.extra_note)} |")
    lines += [
        "\n## `qa_end_reasons_daily`\n",
        "| column | type | meaning |",
        "|---|---|---|",
        *(f"| `{f.name}` | {f.type} | {f.metadata[b'description'].decode()} |" for f in END_REASONS_SCHEMA),
        "\nOne row per (status, end reason) seen among the day's non-test calls; a day without calls "
        "has an empty file.\n",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
