"""Data versions in the lake: each derived file records, in its footer, a fingerprint of the inputs
it was computed from, so a step can tell that re-computing a day would give the same files.

A step computes the fingerprint of a day's inputs (raw content hashes, upstream files' versions,
the code and settings that shape the output), compares it with what the day's files recorded and,
when equal, keeps them: no recompute, no write. Every layer uses the same two functions.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from calllog_pipeline.lake import Lake

DATA_VERSION = "data_version"  # footer key of a derived file


def fingerprint(inputs: Mapping[str, object]) -> str | None:
    """A stable hash of the inputs; None when any input is unknown (None), which means "recompute"."""
    if _has_unknown(inputs):
        return None
    return hashlib.sha256(orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _has_unknown(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, Mapping):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_unknown(v) for v in value)
    return False


def run_version(per_day: Mapping[str, str | None]) -> str | None:
    """The one data version Dagster records for a run, whatever partitions it covers: the day's own
    for a one-day run, a fingerprint of the days' for a ranged one (each day's is in the run's
    "data_versions" metadata); None when any day's is unknown."""
    if len(per_day) == 1:
        return next(iter(per_day.values()))
    return fingerprint(per_day)


ABSENT = "absent"


def stored_version(lake: Lake, path: str, key: str = DATA_VERSION) -> str | None:
    """The version a file recorded under ``key`` in its footer: ``ABSENT`` when there is no file (a
    stable answer: an input that does not exist yet), None when the file predates versions (unknown:
    recompute)."""
    try:
        value = lake.file_metadata(path).get(key)
    except FileNotFoundError:  # one request instead of an existence check and a read
        return ABSENT
    return str(value) if value else None


def current_rows(lake: Lake, paths: Mapping[str, str], version: str | None) -> dict[str, int] | None:
    """Rows per file when every file exists and recorded ``version``; None when any must be rebuilt."""
    if version is None:
        return None
    rows = {}
    for name, path in paths.items():
        try:
            with lake.fs.open(path, "rb") as f:
                meta = pq.read_metadata(f)
        except FileNotFoundError:
            return None
        recorded = (meta.metadata or {}).get(DATA_VERSION.encode())
        if recorded is None or orjson.loads(recorded) != version:
            return None
        rows[name] = meta.num_rows
    return rows


@cache
def code_version(*modules: str) -> str:
    """A hash of the source of the modules that shape a layer's output: a code change (a mapping
    fix, a new column) recomputes every day it touches, without anyone bumping a number."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        __import__(name)
        digest.update(Path(sys.modules[name].__file__).read_bytes())
    return digest.hexdigest()[:16]
