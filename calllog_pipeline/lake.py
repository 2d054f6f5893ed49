"""The Parquet lake: where each partition lives, and how it is written and read.

Every file is written whole or not at all. Rows stream into a staged file in ``<root>/_staging/``,
outside every table folder and named ``*.parquet.partial``, so no reader's glob
(``data/calls/**/*.parquet``, or even ``data/**/*.parquet``) can see it. When the writer closes
cleanly the file is flushed to disk (fsync) and renamed over the target, and the folder is
fsynced too. A crash (SIGKILL, OOM, power loss) leaves at most a stale staged file, swept by a
later write, and readers keep seeing the previous complete file.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import date

import dagster as dg
import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from calllog_pipeline import schemas
from calllog_pipeline.redact import REDACTION_KEY

RAW_SCHEMA = schemas.without_descriptions(schemas.RAW)  # declared, with descriptions, in schemas.py
DATA_FILE = "data.parquet"
RAW_BATCH_ROWS = 5_000
STAGING = "_staging"  # folder under the lake root for files being written
STAGED_SUFFIX = ".parquet.partial"
# A staged file untouched for this long belongs to a writer that died: a live writer appends to
# its file every batch (a few seconds at most), so an hour leaves a wide margin.
STALE_AFTER_S = 3600.0
SWEEP_EVERY_S = 600.0
_last_sweep: dict[str, float] = {}


class Lake(dg.ConfigurableResource):
    """The lake root: a local folder or any fsspec URL (s3://, gs://, file://)."""

    root: str = "./data"

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        fs, _ = fsspec.core.url_to_fs(self.root)
        return fs

    def _base(self) -> str:
        return fsspec.core.url_to_fs(self.root)[1].rstrip("/")

    def raw_path(self, provider: str, endpoint: str, day: date | str) -> str:
        return f"{self._base()}/raw/{provider}/{endpoint}/date={day}/{DATA_FILE}"

    def table_path(self, table: str, day: date | str, provider: str) -> str:
        return f"{self._base()}/{table}/date={day}/provider={provider}/{DATA_FILE}"

    def url(self, path: str) -> str:
        """A path as the user would open it (with the URL scheme, if any)."""
        protocol = self.fs.protocol
        scheme = protocol[0] if isinstance(protocol, tuple) else protocol
        return path if scheme in ("file", "local") else f"{scheme}://{path}"

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def delete(self, path: str) -> None:
        if self.fs.exists(path):
            self.fs.rm(path)

    def staging_dir(self) -> str:
        return f"{self._base()}/{STAGING}"

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    @contextlib.contextmanager
    def writer(
        self,
        path: str,
        schema: pa.Schema,
        metadata: Mapping[str, object] | None = None,
        together: list[tuple[str, str]] | None = None,
        use_dictionary: bool | list[str] = True,
    ):
        """Stream record batches into ``path``; the file appears only if the block succeeds.

        ``metadata`` values are stored JSON-encoded in the Parquet footer; more can be added
        before the block ends with ``add_metadata(pw, {...})``. With ``together`` (from
        ``publish_together``) the finished file is published with the others of that block.
        ``use_dictionary``: Parquet's setting; naming the few repetitive columns spares Arrow
        building, then dropping, a dictionary for columns of unique values (raw payloads).
        """
        self.sweep_staging()
        staged = f"{self.staging_dir()}/{uuid.uuid4().hex}{STAGED_SUFFIX}"
        if metadata:
            schema = schema.with_metadata({k: orjson.dumps(v) for k, v in metadata.items()})
        try:
            with (
                self._open_staged(staged) as sink,
                pq.ParquetWriter(sink, schema, compression="zstd", use_dictionary=use_dictionary) as pw,
            ):
                yield pw
        except BaseException:
            self._discard(staged)
            raise
        if together is None:
            self._publish(staged, path)
        else:
            together.append((staged, path))

    @contextlib.contextmanager
    def publish_together(self) -> Iterator[list[tuple[str, str]]]:
        """Writers given the yielded list publish their files only when this block ends, all
        together and only if it succeeds (the four tables of a provider-day: none of them is
        replaced unless all four were written completely)."""
        together: list[tuple[str, str]] = []
        try:
            yield together
        except BaseException:
            for staged, _ in together:
                self._discard(staged)
            raise
        for staged, path in together:
            self._publish(staged, path)

    @contextlib.contextmanager
    def _open_staged(self, staged: str):
        if not self.is_local:
            self.fs.makedirs(self.staging_dir(), exist_ok=True)
            with self.fs.open(staged, "wb") as sink:
                yield sink
            return
        os.makedirs(self.staging_dir(), exist_ok=True)
        with open(staged, "wb") as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())  # the data is on disk before the rename can be

    def _publish(self, staged: str, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        if not self.is_local:
            self.fs.makedirs(parent, exist_ok=True)
            self.fs.mv(staged, path)
            return
        os.makedirs(parent, exist_ok=True)
        os.replace(staged, path)  # atomic: readers see the old file or the new one
        _fsync_dir(parent)  # ... and the rename survives a power loss
        for stray in glob.glob(f"{glob.escape(parent)}/.tmp-*.parquet"):
            # Left by versions that staged beside the target; they break every reader's glob.
            with contextlib.suppress(FileNotFoundError):
                os.remove(stray)

    def _discard(self, staged: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(staged)

    def sweep_staging(self, older_than_s: float = STALE_AFTER_S, force: bool = False) -> list[str]:
        """Remove staged files of writers that died (untouched for ``older_than_s``); at most
        every ``SWEEP_EVERY_S`` per lake unless ``force``. Returns what was removed."""
        now = time.monotonic()
        if not force and now - _last_sweep.get(self.root, -SWEEP_EVERY_S) < SWEEP_EVERY_S:
            return []
        _last_sweep[self.root] = now
        fs, removed = self.fs, []
        try:
            entries = fs.ls(self.staging_dir(), detail=True)
        except FileNotFoundError:
            return removed
        cutoff = time.time() - older_than_s
        for entry in entries:
            name = entry["name"]
            if name.endswith(STAGED_SUFFIX) and _modified(fs, entry) < cutoff:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm(name)
                removed.append(name)
        return removed

    @staticmethod
    def add_metadata(pw: pq.ParquetWriter, metadata: Mapping[str, object]) -> None:
        pw.add_key_value_metadata({k: orjson.dumps(v) for k, v in metadata.items()})

    def write_table(self, path: str, table: pa.Table, metadata: Mapping[str, object] | None = None) -> None:
        with self.writer(path, table.schema, metadata) as pw:
            pw.write_table(table)

    def file_metadata(self, path: str) -> dict[str, object]:
        with self.fs.open(path, "rb") as f:
            raw = pq.read_metadata(f).metadata or {}
        return {k.decode(): orjson.loads(v) for k, v in raw.items() if not k.startswith(b"ARROW")}

    def iter_batches(self, path: str, columns: list[str] | None = None, batch_size: int = RAW_BATCH_ROWS):
        # pre_buffer off: with it, Arrow reads every row group of the file up front (a 1M-call raw
        # day is ~350 MiB of Parquet), and memory would grow with the day instead of the batch.
        with self.fs.open(path, "rb") as f:
            reader = pq.ParquetFile(f, pre_buffer=False)
            yield from reader.iter_batches(batch_size=batch_size, columns=columns)

    def raw_day(self, provider: str, day: date | str) -> RawPartition:
        return RawPartition(self, provider, day)


class RawPartition:
    """One provider-day of the raw lake, read in bounded batches (implements ``RawDay``)."""

    def __init__(self, lake: Lake, provider: str, day: date | str):
        self.lake, self.provider, self.day = lake, provider, day

    def path(self, endpoint: str) -> str:
        return self.lake.raw_path(self.provider, endpoint, self.day)

    def payloads(self, endpoint: str) -> Iterator[pa.Array]:
        path = self.path(endpoint)
        if not self.lake.exists(path):
            return
        for batch in self.lake.iter_batches(path, columns=["payload"]):
            yield batch.column(0)

    def records(self, endpoint: str) -> int:
        path = self.path(endpoint)
        if not self.lake.exists(path):
            return 0
        with self.lake.fs.open(path, "rb") as f:
            return pq.read_metadata(f).num_rows

    def redaction(self, endpoint: str) -> str | None:
        path = self.path(endpoint)
        return self.lake.file_metadata(path).get(REDACTION_KEY) if self.lake.exists(path) else None

    def source_context(self, endpoint: str) -> Mapping[str, str]:
        path = self.path(endpoint)
        if not self.lake.exists(path):
            return {}
        return self.lake.file_metadata(path).get("source_context", {})


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _modified(fs: fsspec.AbstractFileSystem, entry: Mapping) -> float:
    """A listing entry's modification time in epoch seconds (backends name it differently)."""
    for key in ("mtime", "LastModified", "updated", "last_modified"):
        if (value := entry.get(key)) is not None:
            return value.timestamp() if hasattr(value, "timestamp") else float(value)
    try:
        return fs.modified(entry["name"]).timestamp()
    except (NotImplementedError, OSError):
        return time.time()  # unknown: never treat as stale
