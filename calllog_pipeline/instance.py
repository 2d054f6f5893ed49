"""Which Dagster instance configuration a deployment uses, chosen by ``CALLLOG_INSTANCE``.

``sqlite`` (the default) keeps runs and event logs in files under ``$DAGSTER_HOME``;
``postgres`` keeps them in PostgreSQL, connected through the ``DAGSTER_PG_*`` variables that
``dagster.postgres.yaml`` reads when the instance loads (the password is never written to a file).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from calllog_pipeline.settings import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_FILES = {"sqlite": "dagster.yaml", "postgres": "dagster.postgres.yaml"}
POSTGRES_VARS = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
)


def instance_kind(env: Mapping[str, str] = os.environ) -> str:
    kind = (env.get("CALLLOG_INSTANCE") or "sqlite").strip().lower()
    if kind not in INSTANCE_FILES:
        raise SettingsError(f"CALLLOG_INSTANCE must be one of {', '.join(INSTANCE_FILES)}, got {kind!r}")
    return kind


def instance_yaml(env: Mapping[str, str] = os.environ) -> Path:
    """The project's ``dagster.yaml`` variant for this environment."""
    return PROJECT_ROOT / INSTANCE_FILES[instance_kind(env)]


def missing_instance_settings(env: Mapping[str, str] = os.environ) -> list[str]:
    """Variables the chosen instance needs and the environment lacks."""
    needed = POSTGRES_VARS if instance_kind(env) == "postgres" else ("DAGSTER_HOME",)
    return [name for name in needed if not env.get(name)]


def prepare_home(home: Path, env: Mapping[str, str] = os.environ) -> Path:
    """Create ``home`` with the chosen variant as its ``dagster.yaml`` unless it already has one
    (a user's own instance settings win)."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copy(instance_yaml(env), target)
    return target
