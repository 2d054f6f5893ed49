"""A user's story: raw files land in the lake, a day is normalized, and the tables are opened with DuckDB."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from calllog_pipeline.lake import RAW_SCHEMA, Lake
from calllog_pipeline.mapping import salted_hash
from calllog_pipeline.normalized import (
    Privacy,
    build_normalized_assets,
    normalize_pool,
    normalized_asset_key,
    privacy_from_env,
)
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.raw.assets import raw_asset_key

FIXTURES = Path(__file__).parent / "fixtures"
DAY = "2024-05-01"
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2024-01-01")


PROVIDERS = list(REGISTRY.values())
ASSETS = build_normalized_assets(PROVIDERS, PARTITIONS)
TABLES = ("calls", "actions", "interactions", "quarantine")


def key(provider: str, table: str) -> str:
    return normalized_asset_key(provider, table).to_user_string()


def fixture(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text())


def write_raw(lake: Lake, provider: str, endpoint: str, day: str, records: list, context: dict | None = None):
    rows = [
        {
            "record_id": str(r.get("id")) if isinstance(r, dict) and r.get("id") is not None else None,
            "endpoint": endpoint,
            "page": 1,
            "fetched_at": datetime(2024, 5, 2, tzinfo=UTC),
            "payload": json.dumps(r),
        }
        for r in records
    ]
    table = pa.Table.from_pylist(rows, schema=RAW_SCHEMA)
    lake.write_table(
        lake.raw_path(provider, endpoint, day), table, metadata={"source_context": context or {}}
    )


def dialnexa_day(lake: Lake) -> None:
    """The page examples of 2024-05-01 (the 2024-03-01 example is moved onto that day)."""
    calls, logs = fixture("dialnexa_calls.json"), fixture("dialnexa_call_logs.json")
    for record in (calls[0], logs[0]):
        record["created_at"] = "2024-05-01T10:00:00.000Z"
    calls[0]["ended_at"] = "2024-05-01T10:02:25.000Z"
    write_raw(lake, "dialnexa", "calls", DAY, calls)
    write_raw(lake, "dialnexa", "call_logs", DAY, logs)


def leadconnector_day(lake: Lake) -> None:
    record = fixture("leadconnector_call_logs.json")[0]
    record["createdAt"] = "2024-05-01T10:30:00.000Z"
    write_raw(lake, "leadconnector", "call_logs", DAY, [record])


def omnidimension_day(lake: Lake, timezone: str = "Asia/Kolkata") -> None:
    record = fixture("omnidimension_call_logs.json")[0]
    record["time_of_call"] = "05/01/2024 14:46:15"  # 09:16:15 UTC in Asia/Kolkata
    write_raw(lake, "omnidimension", "call_logs", DAY, [record], {"timezone": timezone})


def no_calls_elsewhere(lake: Lake, *days: str) -> None:
    """Every endpoint without a raw file for these days gets an empty one: it had no calls then
    (as ingestion records a quiet day; a day never fetched fails normalization instead)."""
    for day in days:
        for provider in PROVIDERS:
            for endpoint in provider.endpoints:
                if not lake.exists(lake.raw_path(provider.name, endpoint.name, day)):
                    write_raw(lake, provider.name, endpoint.name, day, [])


def materialize(tmp_path: Path, privacy: Privacy | None = None, run_config=None) -> dg.ExecuteInProcessResult:
    no_calls_elsewhere(Lake(root=str(tmp_path)), DAY)
    return dg.materialize(
        ASSETS,
        resources={"lake": Lake(root=str(tmp_path)), "privacy": privacy or Privacy()},
        partition_key=DAY,
        run_config=run_config,
        raise_on_error=True,
    )


def query(tmp_path: Path, sql: str) -> list[tuple]:
    sql = sql.replace("LAKE", str(tmp_path))
    return duckdb.sql(sql).fetchall()


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }


@pytest.fixture
def full_day(tmp_path: Path) -> Path:
    lake = Lake(root=str(tmp_path))
    dialnexa_day(lake)
    leadconnector_day(lake)
    omnidimension_day(lake)
    return tmp_path


def test_a_day_of_three_providers_becomes_one_calls_table(full_day: Path):
    result = materialize(full_day)
    assert result.success
    rows = query(
        full_day,
        "SELECT provider, status, count(*) "
        "FROM read_parquet('LAKE/calls/**/*.parquet', hive_partitioning=true) GROUP BY ALL ORDER BY ALL",
    )
    assert rows == [
        ("dialnexa", "completed", 2),
        ("dialnexa", "no_answer", 1),
        ("leadconnector", "completed", 1),
        ("omnidimension", "completed", 1),
    ]
    (started,) = query(
        full_day,
        "SELECT started_at FROM read_parquet('LAKE/calls/**/*.parquet', hive_partitioning=true) "
        "WHERE provider = 'omnidimension'",
    )[0:1]
    assert started[0] == datetime(2024, 5, 1, 9, 16, 15, tzinfo=UTC)  # local Asia/Kolkata -> UTC


def test_the_partition_columns_come_from_the_folder_names(full_day: Path):
    materialize(full_day)
    rows = query(
        full_day,
        "SELECT DISTINCT date, provider FROM read_parquet('LAKE/interactions/**/*.parquet', "
        "hive_partitioning=true) ORDER BY ALL",
    )
    assert [(str(d), p) for d, p in rows] == [
        ("2024-05-01", "leadconnector"),
        ("2024-05-01", "omnidimension"),
    ]


def test_actions_join_to_their_calls(full_day: Path):
    materialize(full_day)
    rows = query(
        full_day,
        "SELECT a.provider, a.action_type, count(*) "
        "FROM read_parquet('LAKE/actions/**/*.parquet', hive_partitioning=true) a "
        "JOIN read_parquet('LAKE/calls/**/*.parquet', hive_partitioning=true) c USING (provider, call_id) "
        "GROUP BY ALL ORDER BY ALL",
    )
    assert rows == [
        ("leadconnector", "appointment_booking", 1),
        ("leadconnector", "custom_api", 1),
        ("leadconnector", "data_extraction", 2),
        ("leadconnector", "knowledge_base", 1),
        ("leadconnector", "sms", 1),
        ("leadconnector", "transfer", 1),
        ("leadconnector", "workflow", 1),
        ("omnidimension", "function_call", 1),
        ("omnidimension", "webhook", 1),
    ]


def test_no_credential_reaches_any_table(full_day: Path):
    materialize(full_day)
    for table in ("calls", "actions", "interactions", "quarantine"):
        text = "\n".join(
            str(row) for row in query(full_day, f"SELECT * FROM read_parquet('LAKE/{table}/**/*.parquet')")
        )
        assert "secret_key_" not in text
        assert "token123" not in text


def test_materialization_metadata_counts_each_providers_rows(full_day: Path):
    result = materialize(full_day)
    rows = {
        m.asset_key.to_user_string(): m.materialization.metadata["dagster/row_count"].value
        for m in result.get_asset_materialization_events()
    }
    assert {p.name: rows[key(p.name, "calls")] for p in PROVIDERS} == {
        "dialnexa": 3,
        "leadconnector": 1,
        "omnidimension": 1,
    }
    assert {p.name: rows[key(p.name, "interactions")] for p in PROVIDERS} == {
        "dialnexa": 0,
        "leadconnector": 2,
        "omnidimension": 7,
    }
    (calls,) = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key.to_user_string() == key("dialnexa", "calls")
    ]
    assert calls.materialization.metadata["paths"].value == [
        str(full_day / "calls" / f"date={DAY}" / "provider=dialnexa" / "data.parquet")
    ]


def test_all_checks_pass_on_clean_data(full_day: Path):
    result = materialize(full_day)
    checks = check_results(result)
    assert len(checks) == 13 * len(PROVIDERS)
    assert all(checks.values()), checks


def test_an_empty_day_still_writes_every_file(tmp_path: Path):
    result = materialize(tmp_path)
    assert result.success
    for table in ("calls", "actions", "interactions", "quarantine"):
        for provider in REGISTRY:
            assert (tmp_path / table / f"date={DAY}" / f"provider={provider}" / "data.parquet").exists()
    assert query(tmp_path, "SELECT count(*) FROM read_parquet('LAKE/calls/**/*.parquet')") == [(0,)]
    assert all(check_results(result).values())


def test_rematerializing_replaces_the_day(full_day: Path):
    materialize(full_day)
    materialize(full_day)
    assert query(full_day, "SELECT count(*) FROM read_parquet('LAKE/calls/**/*.parquet')") == [(5,)]
    assert not list(full_day.rglob(".tmp-*"))


def test_a_call_outside_the_day_fails_the_window_check(tmp_path: Path):
    lake = Lake(root=str(tmp_path))
    record = fixture("leadconnector_call_logs.json")[0]  # createdAt 2024-01-15, filed under 2024-05-01
    write_raw(lake, "leadconnector", "call_logs", DAY, [record])
    checks = check_results(materialize(tmp_path))
    assert checks[f"{key('leadconnector', 'calls')}:started_at_in_partition"] is False
    assert checks[f"{key('leadconnector', 'calls')}:call_id_unique"] is True
    assert checks[f"{key('dialnexa', 'calls')}:started_at_in_partition"] is True  # its own verdict


def test_duplicate_ids_and_bad_records_fail_or_warn(tmp_path: Path):
    lake = Lake(root=str(tmp_path))
    good = fixture("leadconnector_call_logs.json")[0]
    good["createdAt"] = "2024-05-01T10:30:00.000Z"
    changed = copy.deepcopy(good)
    changed["duration"] = 5
    no_id = {k: v for k, v in good.items() if k != "id"}
    write_raw(lake, "leadconnector", "call_logs", DAY, [good, good, changed, no_id])
    result = materialize(
        tmp_path, run_config={"ops": {"normalize_leadconnector": {"config": {"max_quarantine_share": 0.5}}}}
    )
    checks = check_results(result)
    # the exact copy is dropped, the conflict quarantined
    assert checks[f"{key('leadconnector', 'calls')}:call_id_unique"] is True
    assert checks[f"{key('leadconnector', 'quarantine')}:quarantine_share_below_threshold"] is False  # 2 of 3
    evaluation = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "quarantine_share_below_threshold"
        and e.asset_key.path[-1].startswith("leadconnector")
    )
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["reasons"].value == {"duplicate_id": 1, "missing_id": 1}
    rows = query(
        tmp_path,
        "SELECT reason, record_id FROM read_parquet('LAKE/quarantine/**/*.parquet') ORDER BY reason",
    )
    assert rows == [("duplicate_id", "507f1f77bcf86cd799439011"), ("missing_id", None)]


def test_hash_pii_pseudonymizes_numbers_and_masks_contacts_in_text(full_day: Path):
    materialize(full_day, privacy=Privacy(hash_pii=True, salt="pepper"))
    numbers = query(
        full_day,
        "SELECT from_number FROM read_parquet('LAKE/calls/**/*.parquet', hive_partitioning=true) "
        "WHERE provider = 'leadconnector'",
    )
    assert numbers == [(salted_hash("+1234567890", "pepper"),)]
    texts = query(
        full_day,
        "SELECT text FROM read_parquet('LAKE/interactions/**/*.parquet', hive_partitioning=true) "
        "WHERE text LIKE 'aok%'",
    )
    assert texts == [("aok [email]",)]
    extracted = query(
        full_day,
        "SELECT extracted FROM read_parquet('LAKE/calls/**/*.parquet', hive_partitioning=true) "
        "WHERE provider = 'leadconnector'",
    )[0][0]
    assert "john.doe@example.com" not in extracted and "[email]" in extracted
    assert json.loads(extracted)["phoneNumber"] == "[phone]"


def test_privacy_from_env_reads_the_flag_and_keeps_the_salt_an_env_var(monkeypatch, full_day: Path):
    monkeypatch.setenv("CALLLOG_HASH_SALT", "s3cret")
    privacy = privacy_from_env({"CALLLOG_HASH_PII": "true", "CALLLOG_HASH_SALT": "s3cret"})
    assert privacy.hash_pii is True
    assert isinstance(privacy.salt, dg.EnvVar)  # the value never enters run config
    materialize(full_day, privacy=privacy)
    numbers = query(full_day, "SELECT from_number FROM read_parquet('LAKE/calls/*/provider=leadconnector/*')")
    assert numbers == [(salted_hash("+1234567890", "s3cret"),)]
    assert privacy_from_env({}).hash_pii is False
    assert privacy_from_env({}).salt == ""


def test_each_provider_has_its_own_step_fed_by_its_own_raw_assets():
    for provider, normalize in zip(PROVIDERS, ASSETS, strict=True):
        assert normalize.node_def.name == f"normalize_{provider.name}"
        assert normalize.keys == {normalized_asset_key(provider.name, t) for t in TABLES}
        assert all(normalize.group_names_by_key[k] == "normalized" for k in normalize.keys)
        assert all(
            normalize.tags_by_key[k]["provider"] == provider.name
            and normalize.tags_by_key[k]["layer"] == "normalized"
            for k in normalize.keys
        )
        assert normalize.can_subset is False
        deps = {d for k in normalize.keys for d in normalize.asset_deps[k]}
        assert deps == {raw_asset_key(provider.name, e.name) for e in provider.endpoints}
        assert normalize.backfill_policy == dg.BackfillPolicy.single_run()
        assert normalize.node_def.pools == {normalize_pool(provider.name)}


def test_a_ranged_run_normalizes_each_day(full_day: Path):
    lake = Lake(root=str(full_day))
    record = fixture("leadconnector_call_logs.json")[0]
    record["createdAt"] = "2024-04-30T23:59:59.000Z"
    record["id"] = "607f1f77bcf86cd799439011"
    write_raw(lake, "leadconnector", "call_logs", "2024-04-30", [record])
    no_calls_elsewhere(lake, "2024-04-30", DAY)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ASSETS,
            resources={"lake": lake, "privacy": Privacy()},
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2024-04-30",
                "dagster/asset_partition_range_end": "2024-05-01",
            },
        )
    days = {(m.asset_key.to_user_string(), m.partition) for m in result.get_asset_materialization_events()}
    calls = key("leadconnector", "calls")
    assert (calls, "2024-04-30") in days and (calls, "2024-05-01") in days
    rows = {
        m.asset_key.to_user_string(): m.materialization.metadata["rows_by_day"].value
        for m in result.get_asset_materialization_events()
        if m.partition == "2024-05-01" and m.asset_key.path[-1].endswith("_calls")
    }
    assert rows == {
        key("dialnexa", "calls"): {"2024-04-30": 0, "2024-05-01": 3},
        key("leadconnector", "calls"): {"2024-04-30": 1, "2024-05-01": 1},
        key("omnidimension", "calls"): {"2024-04-30": 0, "2024-05-01": 1},
    }
    checks = check_results(result)
    assert all(checks.values()), checks  # each day's calls are checked against that day's window
    rows = query(
        full_day,
        "SELECT date, count(*) FROM read_parquet('LAKE/calls/*/*/*.parquet', hive_partitioning=true) "
        "GROUP BY ALL ORDER BY ALL",
    )
    assert [(str(d), n) for d, n in rows] == [("2024-04-30", 1), ("2024-05-01", 5)]


def test_the_queries_in_docs_schema_md_run_as_written(tmp_path: Path, monkeypatch):
    lake_dir = tmp_path / "data"
    lake = Lake(root=str(lake_dir))
    dialnexa_day(lake)
    leadconnector_day(lake)
    omnidimension_day(lake)
    materialize(lake_dir)
    doc = (Path(__file__).parents[1] / "docs" / "schema.md").read_text()
    queries = re.findall(r"```sql\n(.*?)```", doc, flags=re.DOTALL)
    assert len(queries) >= 5
    monkeypatch.chdir(tmp_path)  # the doc reads from ./data, the default CALLLOG_DATA_DIR
    results = [duckdb.sql(q).fetchall() for q in queries]
    assert all(results[:-1]), "every query but the quarantine one returns rows on this day"
    assert results[0][0] == ("dialnexa", "completed", 2)


def test_a_second_writer_of_the_same_provider_day_waits_visibly(full_day: Path, tmp_path: Path, monkeypatch):
    """A backfill run holds leadconnector's normalize slot; the schedule's run of the same provider-day
    waits for it (the project's dagster.yaml: pools of limit 1), then writes."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(Path(__file__).parents[1] / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    (asset,) = [a for a in ASSETS if a.node_def.name == "normalize_leadconnector"]
    pool = normalize_pool("leadconnector")
    calls = full_day / "calls" / f"date={DAY}" / "provider=leadconnector" / "data.parquet"
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(pool)
        assert storage.get_concurrency_info(pool).slot_count == 1
        assert storage.claim_concurrency_slot(pool, "backfill-run", asset.node_def.name).is_claimed

        outcome: dict = {}

        def scheduled_run():
            outcome["result"] = dg.materialize(
                [asset],
                resources={"lake": Lake(root=str(full_day)), "privacy": Privacy()},
                partition_key=DAY,
                instance=instance,
            )

        second = threading.Thread(target=scheduled_run)
        second.start()
        blocked = _wait_for(lambda: _blocked_messages(instance, pool))
        assert blocked and not calls.exists(), "the second writer must wait before writing anything"
        storage.free_concurrency_slots_for_run("backfill-run")  # the backfill finishes
        second.join(timeout=120)
        assert outcome["result"].success and calls.exists()
        assert storage.get_concurrency_info(pool).active_slot_count == 0


def _blocked_messages(instance: dg.DagsterInstance, pool: str) -> list[str]:
    return [
        record.user_message
        for run in instance.get_runs()
        for record in instance.all_logs(run.run_id)
        if f"blocked by limit for pool {pool}" in record.user_message
    ]


def _wait_for(condition, deadline_s: float = 60.0):
    """Poll until ``condition()`` is truthy (a deadline against hanging, not a performance limit)."""
    give_up = time.monotonic() + deadline_s
    while not (value := condition()) and time.monotonic() < give_up:
        time.sleep(0.1)
    return value


def test_a_mapping_bug_in_one_provider_fails_only_that_provider(full_day: Path):
    def broken(raw):
        raise KeyError("agent_id")  # a mapping bug
        yield  # pragma: no cover - makes this a generator like the real mappings

    providers = [dataclasses.replace(p, normalize=broken) if p.name == "dialnexa" else p for p in PROVIDERS]
    result = dg.materialize(
        build_normalized_assets(providers, PARTITIONS),
        resources={"lake": Lake(root=str(full_day)), "privacy": Privacy()},
        partition_key=DAY,
        raise_on_error=False,
    )
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "normalize_dialnexa"
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("DialNexa: normalizing 1 of 1 day(s) failed (2024-05-01)")
    assert "KeyError" in message and "re-run normalize_dialnexa" in message
    assert not list((full_day / "calls").glob("*/provider=dialnexa/*")), "nothing half-written"
    written = query(
        full_day,
        "SELECT provider, count(*) FROM read_parquet('LAKE/calls/*/*/*.parquet', hive_partitioning=true) "
        "GROUP BY ALL ORDER BY ALL",
    )
    assert written == [("leadconnector", 1), ("omnidimension", 1)]


def test_a_word_outside_the_vocabulary_fails_its_providers_check(full_day: Path):
    real = next(p for p in PROVIDERS if p.name == "leadconnector")

    def new_word(raw):  # a mapping that lets a provider's own status word through
        for table, batch in real.normalize(raw):
            if table == "calls":
                at = batch.schema.get_field_index("status")
                batch = batch.set_column(at, batch.schema.field(at), pa.array(["Completed"] * batch.num_rows))
            yield table, batch

    providers = [dataclasses.replace(p, normalize=new_word) if p is real else p for p in PROVIDERS]
    result = dg.materialize(
        build_normalized_assets(providers, PARTITIONS),
        resources={"lake": Lake(root=str(full_day)), "privacy": Privacy()},
        partition_key=DAY,
        raise_on_error=False,
    )
    checks = check_results(result)
    assert checks[f"{key('leadconnector', 'calls')}:values_in_vocabulary"] is False
    assert checks[f"{key('dialnexa', 'calls')}:values_in_vocabulary"] is True
    (evaluation,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "values_in_vocabulary"
        and e.asset_key.to_user_string() == key("leadconnector", "calls")
    ]
    assert evaluation.metadata["unknown_values"].value == {"status": ["Completed"]}


def test_a_ranged_run_names_the_days_that_fail_a_check(tmp_path: Path):
    lake = Lake(root=str(tmp_path))
    leadconnector_day(lake)  # 2024-05-01: clean
    stray = fixture("leadconnector_call_logs.json")[0]  # createdAt 2024-01-15, filed under 2024-04-30
    write_raw(lake, "leadconnector", "call_logs", "2024-04-30", [stray])
    (asset,) = [a for a in ASSETS if a.node_def.name == "normalize_leadconnector"]
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset],
            resources={"lake": lake, "privacy": Privacy()},
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2024-04-30",
                "dagster/asset_partition_range_end": "2024-05-01",
            },
        )
    evaluations = {
        e.check_name: e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.path[-1].endswith("_calls")
    }
    window = evaluations["started_at_in_partition"]
    assert window.passed is False
    assert window.metadata["failing_days"].value == {"2024-04-30": 1}
    assert window.metadata["partitions"].value == ["2024-04-30", "2024-05-01"]
    assert (
        evaluations["call_id_unique"].passed
        and evaluations["call_id_unique"].metadata["failing_days"].value == {}
    )


def test_a_day_never_fetched_fails_naming_the_missing_raw_asset(full_day: Path):
    """An empty normalized day would read as "no calls": a missing raw file fails the day instead."""
    (full_day / "raw" / "dialnexa" / "calls" / f"date={DAY}" / "data.parquet").unlink()
    result = dg.materialize(
        ASSETS,
        resources={"lake": Lake(root=str(full_day)), "privacy": Privacy()},
        partition_key=DAY,
        raise_on_error=False,
    )
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "normalize_dialnexa"
    message = failure.step_failure_data.user_failure_data.description
    assert f"no raw file for {raw_asset_key('dialnexa', 'calls').to_user_string()} on {DAY}" in message
    assert not list((full_day / "calls").glob("*/provider=dialnexa/*"))
    assert {e.asset_key.path[-1] for e in result.get_asset_materialization_events()} == {
        f"{p}_{t}" for p in ("leadconnector", "omnidimension") for t in TABLES
    }
