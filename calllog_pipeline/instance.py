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


# Each step pod's resources (docs/deployment.md, from docs/benchmarks.md): a raw asset peaks at
# 270-470 MiB, normalize at 345-456 MiB for 200,000 calls per provider-day and 847 MiB for
# 1,000,000 (DialNexa); both use about one core.
STEP_RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}


def executor_from_env(env: Mapping[str, str] = os.environ):
    """``CALLLOG_EXECUTOR=k8s``: every step of a run in its own Kubernetes pod (``k8s_job_executor``,
    from the ``k8s`` extra); otherwise None: the definitions' own default, steps in the run's process
    (``executor.py``)."""
    choice = (env.get("CALLLOG_EXECUTOR") or "default").strip().lower()
    if choice == "default":
        return None
    if choice != "k8s":
        raise SettingsError(f"CALLLOG_EXECUTOR must be default or k8s, got {choice!r}")
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured(
        {"step_k8s_config": {"container_config": {"resources": STEP_RESOURCES}}}, name="k8s_step_pods"
    )
