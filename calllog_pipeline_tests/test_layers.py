"""Lower layers never import higher ones: a provider package stands on the shared mapping base alone."""

from __future__ import annotations

import json
import subprocess
import sys

from calllog_pipeline.providers import REGISTRY


def modules_loaded_by(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``statement``."""
    probe = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def _under(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def test_provider_packages_do_not_import_the_normalized_layer_or_duckdb():
    for name in REGISTRY:
        loaded = modules_loaded_by(f"import calllog_pipeline.providers.{name}.mapping")
        assert not _under(loaded, "calllog_pipeline.normalized"), name
        assert not _under(loaded, "calllog_pipeline.raw"), name
        assert not _under(loaded, "duckdb"), name


def test_shared_mapping_base_stands_alone():
    loaded = modules_loaded_by("import calllog_pipeline.mapping")
    for package in ("dagster", "duckdb", "calllog_pipeline.normalized", "calllog_pipeline.providers"):
        assert not _under(loaded, package), package


def test_simulator_stands_alone_and_simulates_every_registered_provider():
    loaded = modules_loaded_by("import calllog_pipeline.simulator")
    pipeline = ("calllog_pipeline.providers", "calllog_pipeline.raw", "calllog_pipeline.normalized")
    for package in ("dagster", *pipeline):
        assert not _under(loaded, package), package
    from calllog_pipeline.simulator.app import PROVIDER_MODULES

    assert sorted(PROVIDER_MODULES) == sorted(REGISTRY)
