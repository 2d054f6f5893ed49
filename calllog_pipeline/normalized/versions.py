"""What a normalized provider-day is computed from, as one fingerprint (its data version).

The raw content hashes of the provider's endpoints for the day, the code that maps and writes
them, and the privacy settings. Equal fingerprint, equal files: the day is kept as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from calllog_pipeline.lake import Lake
from calllog_pipeline.normalized.privacy import Privacy
from calllog_pipeline.providers.base import Provider
from calllog_pipeline.raw.versions import stored_content_hash
from calllog_pipeline.versions import code_version, fingerprint

# Modules whose source shapes the normalized files, besides the provider's own mapping.
_SHARED_CODE = (
    "calllog_pipeline.mapping",
    "calllog_pipeline.schemas",
    "calllog_pipeline.normalized.privacy",
    "calllog_pipeline.normalized.writer",
)


def raw_versions(lake: Lake, provider: Provider, day: str) -> dict[str, str | None]:
    """Each endpoint's stored content hash for the day: ``ABSENT`` when it was never fetched, None
    when its file predates content hashes."""
    return {e.name: stored_content_hash(lake, provider.name, e.name, day) for e in provider.endpoints}


def input_version(raw: Mapping[str, str | None], privacy: Privacy, provider: Provider) -> str | None:
    """The day's fingerprint from its ``raw_versions``; None when a raw file predates content hashes
    (recompute)."""
    salt = hashlib.sha256(privacy.salt.encode()).hexdigest()[:16] if privacy.hash_pii else ""
    return fingerprint(
        {
            "raw": dict(raw),
            "privacy": {"hash_pii": privacy.hash_pii, "salt": salt},  # the salt's hash, never the salt
            "code": code_version(provider.normalize.__module__, *_SHARED_CODE),
        }
    )
