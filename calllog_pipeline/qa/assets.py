"""The QA assets of one provider: ``qa/<provider>_agent_daily``, ``_provider_daily``, ``_end_reasons_daily``.

One multi-asset per provider computes all three tables in one DuckDB pass over that provider's
normalized day, writes them atomically, and judges the day in the same step (the ``anomalies``
checks). Each day of a ranged run gets its own materialization (with its own headline numbers,
so the Plots tab charts them) and its own check verdict.
"""

import warnings

import dagster as dg

from calllog_pipeline.columns import column_schema
from calllog_pipeline.lake import Lake
from calllog_pipeline.normalized import normalized_asset_key
from calllog_pipeline.qa.anomalies import Thresholds, catalog_entry, max_severity
from calllog_pipeline.qa.catalog import HEADLINE, SCHEMAS
from calllog_pipeline.qa.judge import DayJudgement, judge_day
from calllog_pipeline.qa.metrics import LOOKBACK_DAYS, compute_day, write_day
from calllog_pipeline.qa.scorecard import markdown
from calllog_pipeline.qa.versions import has_normalized_day, input_version, kept_day, stored_inputs

GROUP = "qa"
TABLES = ("qa_agent_daily", "qa_provider_daily", "qa_end_reasons_daily")
CHECKED = ("qa_agent_daily", "qa_provider_daily")
CHECK = "anomalies"
DESCRIPTIONS = {
    "qa_agent_daily": "Daily scorecard per agent: outcomes, handle time, latency, cost (docs/metrics.md).",
    "qa_provider_daily": "Daily scorecard of the provider as a whole (docs/metrics.md).",
    "qa_end_reasons_daily": "How the day's calls ended: counts and shares per status and end reason.",
}


class QaConfig(dg.Config):
    """Run config of the QA step: the short-call threshold and every anomaly threshold."""

    short_call_s: float = 15.0
    # The anomaly thresholds, defaults from ``Thresholds`` (one place to change them).
    window_days: int = Thresholds.window_days
    min_same_weekday: int = Thresholds.min_same_weekday
    min_history_days: int = Thresholds.min_history_days
    min_calls: int = Thresholds.min_calls
    min_rate_change: float = Thresholds.min_rate_change
    error_rate_change: float = Thresholds.error_rate_change
    z_warn: float = Thresholds.z_warn
    z_error: float = Thresholds.z_error
    min_scale_fraction: float = Thresholds.min_scale_fraction
    busy_day_calls: float = Thresholds.busy_day_calls
    memory_limit: str = "256MB"  # DuckDB spills to disk beyond it

    def thresholds(self) -> Thresholds:
        return Thresholds(**{k: getattr(self, k) for k in Thresholds.__dataclass_fields__})


def qa_asset_key(provider: str, table: str) -> dg.AssetKey:
    """``qa/<provider>_agent_daily`` etc.: the last component names the provider (the UI shows it)."""
    return dg.AssetKey(["qa", f"{provider}_{table.removeprefix('qa_')}"])


def _deps(provider: str) -> list[dg.AssetDep]:
    # Repeat contacts look back 7 x 24 h of calls (up to 8 partition days, see LOOKBACK_DAYS): the
    # mapping makes that lineage explicit. The first days after the start date have no earlier
    # partitions, which the (beta, used on purpose) allow_nonexistent_upstream_partitions accepts;
    # its warning would print on every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        week = dg.TimeWindowPartitionMapping(
            start_offset=-LOOKBACK_DAYS, allow_nonexistent_upstream_partitions=True
        )
    return [
        dg.AssetDep(normalized_asset_key(provider, "calls"), partition_mapping=week),
        dg.AssetDep(normalized_asset_key(provider, "actions")),
        dg.AssetDep(normalized_asset_key(provider, "interactions")),
    ]


def _headline(row: dict) -> dict:
    return {m.name: row[m.name] for m in HEADLINE if row.get(m.name) is not None}


def _check_metadata(judgement: DayJudgement, table: str) -> tuple[bool, str | None, dict]:
    if table == "qa_provider_daily":
        findings, verdicts, explained = judgement.provider_findings, [judgement.provider_verdict], []
    else:
        findings, verdicts, explained = (
            judgement.agent_findings,
            judgement.agent_verdicts,
            judgement.explained,
        )
    details = [
        {**d, "agent": v.key, "catalog": catalog_entry(d["metric"])} for v in verdicts for d in v.details
    ]
    if table == "qa_agent_daily":
        details = [d for d in details if d["severity"]]  # agents: only what moved (the list is long)
    status = sorted({v.status for v in verdicts})
    metadata = {
        "anomalies": dg.MetadataValue.json([f.payload() for f in findings]),
        "judged": dg.MetadataValue.json(details),
        "status": ", ".join(status)
        if table == "qa_provider_daily"
        else dg.MetadataValue.json({v.key: v.status for v in verdicts if v.status != "judged"}),
        "partition": judgement.day,
    }
    if findings:
        metadata["catalog"] = dg.MetadataValue.json({f.metric: catalog_entry(f.metric) for f in findings})
    if explained:
        metadata["moved_with_provider"] = dg.MetadataValue.json([f.payload() for f in explained])
    return not findings, max_severity(findings), metadata


def build_qa_assets(provider: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    keys = {table: qa_asset_key(provider, table) for table in TABLES}
    specs = [
        dg.AssetSpec(
            keys[table],
            description=DESCRIPTIONS[table],
            group_name=GROUP,
            kinds={"duckdb", "parquet"},
            tags={"provider": provider, "layer": "qa"},
            deps=_deps(provider),
            metadata={"dagster/column_schema": column_schema(SCHEMAS[table])},
            skippable=True,  # each day is reported as its own AssetMaterialization
        )
        for table in TABLES
    ]
    # Partitioned check specs are a Dagster preview; they are what gives each day of a ranged run its
    # own verdict, so they are used on purpose, and their warning would otherwise print on every
    # load of the code location (each CLI command, every run's log).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        check_specs = [
            dg.AssetCheckSpec(
                CHECK,
                asset=keys[table],
                partitions_def=partitions_def,
                description="The day against the trailing 28 days (docs/metrics.md, qa/anomalies.py).",
            )
            for table in CHECKED
        ]

    @dg.multi_asset(
        name=f"{provider}_qa",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions_def,
        can_subset=False,  # one DuckDB pass yields all three tables
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def qa(context: dg.AssetExecutionContext, config: QaConfig, lake: Lake):
        thresholds = config.thresholds()
        judgements, missing = [], {}
        for day in context.partition_keys:  # in order: each day's baseline includes the days before
            inputs = stored_inputs(lake, provider, day)
            if not has_normalized_day(inputs):
                missing[day] = f"normalized {provider} tables of {day} are not in the lake"
                continue  # the other days of a ranged run are still scored
            version = input_version(inputs, config.short_call_s)
            tables = kept_day(lake, provider, day, version)
            if tables is None:
                tables = compute_day(
                    lake, provider, day, config.short_call_s, memory_limit=config.memory_limit
                )
                paths = write_day(lake, provider, day, tables, version)
            else:  # inputs unchanged since the files were computed: keep them, judge the day again
                paths = {t: lake.table_path(t, day, provider) for t in TABLES}
                context.log.info(f"{provider} {day}: normalized data unchanged since QA was computed; kept")
            judgement = judge_day(lake, provider, day, tables.provider, tables.agent, thresholds)
            judgements.append(judgement)
            provider_row = tables.provider.to_pylist()[0]
            agent_rows = tables.agent.to_pylist()
            scorecard = markdown(provider, day, provider_row, agent_rows, judgement.findings)
            for table, data in tables.by_table().items():
                metadata = {
                    "dagster/row_count": data.num_rows,
                    "path": lake.url(paths[table]),
                    "data_version": version or "",  # the inputs' fingerprint (qa/versions.py)
                }
                if table == "qa_provider_daily":
                    metadata |= _headline(provider_row)
                    metadata["scorecard"] = dg.MetadataValue.md(scorecard)
                elif table == "qa_agent_daily":
                    metadata["scorecard"] = dg.MetadataValue.md(scorecard)
                yield dg.AssetMaterialization(keys[table], partition=day, metadata=metadata)
            context.log.info(
                f"{provider} {day}: {provider_row['calls']} calls, {len(judgement.findings)} anomalies"
            )
        if judgements:
            yield from _check_results(keys, judgements, context.has_partition_key)
        if not_yet := _not_yet_ingested(missing, judgements):
            context.log.warning(
                f"{provider}: {len(not_yet)} day(s) after the last normalized one have no normalized "
                f"tables yet ({', '.join(not_yet)}); nothing to score there, skipped"
            )
            missing = {day: why for day, why in missing.items() if day not in not_yet}
        if missing:
            raise dg.Failure(
                description=(
                    f"{provider}: no QA scorecard for {len(missing)} of {len(context.partition_keys)} day(s) "
                    f"({', '.join(missing)}): their normalized tables are not in the lake. Materialize "
                    f"normalize_{provider} for those days, then re-run {provider}_qa. Other days and "
                    "providers are not affected."
                ),
                metadata={"provider": provider, "missing_days": dg.MetadataValue.json(sorted(missing))},
            )

    return qa


def _not_yet_ingested(missing: dict[str, str], judgements: list[DayJudgement]) -> list[str]:
    """The missing days after the last day scored. A backfill of older days also re-scores the
    week after its range (those days' repeat contacts read the backfilled calls), and on a young
    instance some of those days were never ingested: there is nothing to score, which is no
    failure. A missing day before a scored one is a hole in the normalized layer, and fails."""
    if not judgements:
        return []
    last_scored = max(j.day for j in judgements)
    return sorted(day for day in missing if day > last_scored)


def _check_results(keys: dict[str, dg.AssetKey], judgements: list[DayJudgement], single_day: bool):
    """One verdict per partition. A one-day run records it through ``AssetCheckResult`` (Dagster
    binds it to the run's partition); a ranged run records each day as its own evaluation and ends
    with a summary result over the range (the check's output must be yielded once)."""
    for table in CHECKED:
        verdicts = [(j, *_check_metadata(j, table)) for j in judgements]
        if single_day:
            j, passed, severity, metadata = verdicts[0]
            yield _result(keys[table], passed, severity, metadata)
            continue
        for j, passed, severity, metadata in verdicts:
            yield dg.AssetCheckEvaluation(
                asset_key=keys[table],
                check_name=CHECK,
                passed=passed,
                metadata=metadata,
                severity=dg.AssetCheckSeverity(severity or "ERROR"),
                partition=j.day,
            )
        failed = [j.day for j, passed, *_ in verdicts if not passed]
        severities = [s for _, passed, s, _ in verdicts if not passed]
        summary = {
            "partitions": dg.MetadataValue.json([j.day for j in judgements]),
            "failed_partitions": dg.MetadataValue.json(failed),
            # the findings themselves are in each partition's evaluation, once
            "anomaly_count": sum(len(m["anomalies"].value) for _, _, _, m in verdicts),
        }
        yield _result(keys[table], not failed, "ERROR" if "ERROR" in severities else "WARN", summary)


def _result(key: dg.AssetKey, passed: bool, severity: str | None, metadata: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CHECK,
        passed=passed,
        metadata=metadata,
        severity=dg.AssetCheckSeverity(severity or "ERROR"),
    )
