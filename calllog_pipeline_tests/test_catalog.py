"""The catalog as a user reads it in the UI: every node names its provider, every column says what
it holds (the same words as docs/schema.md), and the graph changes only on purpose (snapshot)."""

import json
import os
import re
from pathlib import Path

import dagster as dg

from calllog_pipeline import schemas
from calllog_pipeline.definitions import build_definitions
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.settings import Settings

ROOT = Path(__file__).parents[1]
SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
UPDATE = "CALLLOG_UPDATE_SNAPSHOT"


def definitions() -> dg.Definitions:
    return build_definitions(
        Settings.from_env({"CALLLOG_START_DATE": "2026-01-01", "CALLLOG_DATA_DIR": "/x"})
    )


def documented_columns(table: str) -> dict[str, tuple[str, str]]:
    """``column -> (type, meaning)`` from the first table under ``## `<table>` `` in docs/schema.md."""
    doc = (ROOT / "docs" / "schema.md").read_text()
    section = doc[doc.index(f"## `{table}`") :]
    rows = re.search(r"\n(\| column \|.*?)\n\n", section, flags=re.DOTALL).group(1).splitlines()[2:]
    columns = {}
    for row in rows:
        name, type_, meaning = (cell.strip() for cell in row.strip("|").split("|")[:3])
        columns[name] = (type_, meaning.replace("`", ""))
    return columns


def test_docs_schema_md_and_the_code_describe_every_column_alike():
    for table, schema in {"raw": schemas.RAW, **schemas.TABLES}.items():
        documented = documented_columns(table)
        assert list(documented) == schema.names, f"{table}: docs/schema.md lists other columns"
        for field in schema:
            type_, meaning = documented[field.name]
            assert meaning == schemas.description(field), f"{table}.{field.name}: describe it alike in both"
            assert ("not null" in type_) == (not field.nullable), f"{table}.{field.name}: nullability"


def test_every_node_names_its_provider_and_every_column_is_described():
    graph = definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        provider = node.tags["provider"]
        assert provider in REGISTRY and key.path[-1].startswith(f"{provider}_"), key
        assert node.tags["layer"] == node.group_name == key.path[0], key
        columns = node.metadata.get("dagster/column_schema")
        assert columns is not None, key
        assert all(c.description for c in columns.columns), f"{key}: a column without description"


def snapshot(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        policy = node.backfill_policy
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "tags": {k: v for k, v in sorted(node.tags.items()) if not k.startswith("dagster/")},
            "kinds": sorted(node.kinds),
            "pools": sorted(node.pools or ()),
            "backfill_policy": None if policy is None else str(policy.policy_type.value),
            "checks": sorted(c.name for c in node.check_keys),
        }
    repo = defs.get_repository_def()
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repo.schedule_defs),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "resources": sorted(defs.resources),
    }


def test_the_definitions_match_their_snapshot():
    """A changed graph is a deliberate change: regenerate with CALLLOG_UPDATE_SNAPSHOT=1, review the diff."""
    current = snapshot(definitions())
    if os.environ.get(UPDATE):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text()), (
        f"the asset graph changed: if on purpose, run with {UPDATE}=1 and commit {SNAPSHOT.name}"
    )
