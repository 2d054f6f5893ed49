"""The Parquet lake: where each partition lives, and how it is written and read.

Every file is written whole or not at all: rows stream into a temporary file beside the target,
which is renamed over the target only when the writer closes cleanly. A crash leaves at most a
stray ``.tmp-*`` file, never a half-written partition.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from datetime import date

import dagster as dg
import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from calllog_pipeline import schemas

RAW_SCHEMA = schemas.without_descriptions(schemas.RAW)  # declared, with descriptions, in schemas.py
DATA_FILE = "data.parquet"
RAW_BATCH_ROWS = 5_000


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

    @contextlib.contextmanager
    def writer(self, path: str, schema: pa.Schema, metadata: Mapping[str, object] | None = None):
        """Stream record batches into ``path``; the file appears only if the block succeeds.

        ``metadata`` values are stored JSON-encoded in the Parquet footer; more can be added
        before the block ends with ``add_metadata(pw, {...})``.
        """
        fs = self.fs
        parent = path.rsplit("/", 1)[0]
        fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}.parquet"
        if metadata:
            schema = schema.with_metadata({k: orjson.dumps(v) for k, v in metadata.items()})
        try:
            with fs.open(tmp, "wb") as sink, pq.ParquetWriter(sink, schema, compression="zstd") as pw:
                yield pw
            fs.mv(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                fs.rm(tmp)
            raise

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
        with self.fs.open(path, "rb") as f:
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=columns)

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

    def source_context(self, endpoint: str) -> Mapping[str, str]:
        path = self.path(endpoint)
        if not self.lake.exists(path):
            return {}
        return self.lake.file_metadata(path).get("source_context", {})
