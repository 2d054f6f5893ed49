"""A fresh clone, used from its root: the instance file and the definitions load with no warning."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAGSTER = Path(sys.executable).with_name("dagster")
# Dagster's CLI announces its successor (`dg`) on every `dagster ...` command; that notice is about
# the command, not this project, and is the only warning allowed.
CLI_NOTICE = "is superseded and its usage is discouraged"


def test_definitions_validate_from_the_repo_root_without_dagster_home(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "CALLLOG_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [str(DAGSTER), "definitions", "validate", "-m", "calllog_pipeline.definitions"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "All code locations passed validation" in output
    warnings = [line for line in output.splitlines() if _warns(line) and CLI_NOTICE not in line]
    assert warnings == [], output


def test_the_instance_file_names_no_environment_variable():
    # Without DAGSTER_HOME, `dagster dev` and `dagster definitions validate` read ./dagster.yaml;
    # an `env:` reference in it fails them when that variable is unset.
    assert "env:" not in (ROOT / "dagster.yaml").read_text()


def _warns(line: str) -> bool:
    return "Warning" in line or "WARNING" in line or "Error" in line
