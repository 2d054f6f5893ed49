"""A raw day's data version: a hash of its records' content, whatever order the pages arrived in.

Stored in the raw file's footer (``content_hash``) and reported as the materialization's Dagster
data version. It changes exactly when a record was added, removed or changed, so the layers above
can tell "re-read, same data" (nothing to recompute) from "changed".
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from calllog_pipeline.lake import Lake
from calllog_pipeline.versions import stored_version

CONTENT_HASH = "content_hash"
_MODULUS = 1 << 128


class ContentHash:
    """An order-independent hash of a multiset of records: the sum of their 128-bit BLAKE2b digests.

    Pages are fetched concurrently, so records arrive in varying order; summing per-record digests
    makes the result depend on the content only.
    """

    def __init__(self) -> None:
        self._sum = 0
        self.count = 0

    def add(self, payload: bytes) -> None:
        self.add_many((payload,))

    def add_many(self, payloads: Sequence[bytes]) -> None:
        """Add a page of records at once (one reduction per page instead of one per record)."""
        blake2b, from_bytes = hashlib.blake2b, int.from_bytes
        page = sum(from_bytes(blake2b(p, digest_size=16).digest(), "big") for p in payloads)
        self._sum = (self._sum + page) % _MODULUS
        self.count += len(payloads)

    def hexdigest(self) -> str:
        return f"{self.count}-{self._sum:032x}"


def stored_content_hash(lake: Lake, provider: str, endpoint: str, day: str) -> str | None:
    """The content hash of a stored raw day; ``ABSENT`` when there is no file, None when the file
    predates content hashes (treat it as changed)."""
    return stored_version(lake, lake.raw_path(provider, endpoint, day), CONTENT_HASH)
