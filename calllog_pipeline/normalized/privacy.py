"""Privacy rules: which columns may hold personal data, and how they are pseudonymized or masked."""

import os
from collections.abc import Mapping

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from calllog_pipeline.mapping import salted_hash

_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
_PHONE = r"\+[0-9][0-9 ().\-]{5,18}[0-9]"
# Free-text and JSON columns that can carry contact details, per table.
_TEXT_COLUMNS = {
    "calls": ("summary", "transcript", "extracted", "extra"),
    "actions": ("parameters", "result", "extra"),
    "interactions": ("text",),
    "quarantine": ("detail", "payload"),
}
_NUMBER_COLUMNS = {"calls": ("from_number", "to_number")}


class Privacy(dg.ConfigurableResource):
    """Pseudonymize personal data before it is written.

    With ``hash_pii`` phone-number columns become salted SHA-256 pseudonyms (the same number gives the
    same value in every table and provider, so joins and counts still work), and e-mail addresses and
    ``+``-prefixed phone numbers inside free text and JSON are masked as ``[email]`` / ``[phone]``.
    Without a salt the pseudonyms can be reversed by enumerating phone numbers: set one.
    """

    hash_pii: bool = False
    salt: str = ""

    def protect(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.hash_pii or batch.num_rows == 0:
            return batch
        columns = dict(zip(batch.schema.names, batch.columns, strict=True))
        for name in _NUMBER_COLUMNS.get(table, ()):
            values = columns[name].to_pylist()
            hashed = [None if v is None else salted_hash(v, self.salt) for v in values]
            columns[name] = pa.array(hashed, type=pa.string())
        for name in _TEXT_COLUMNS.get(table, ()):
            masked = pc.replace_substring_regex(columns[name], _EMAIL, "[email]")
            columns[name] = pc.replace_substring_regex(masked, _PHONE, "[phone]")
        return pa.RecordBatch.from_arrays(list(columns.values()), schema=batch.schema)


def privacy_from_env(env: Mapping[str, str] = os.environ) -> Privacy:
    """``CALLLOG_HASH_PII`` (1/true/yes/on) and ``CALLLOG_HASH_SALT`` (kept as an ``EnvVar``)."""
    hash_pii = env.get("CALLLOG_HASH_PII", "").strip().lower() in ("1", "true", "yes", "on")
    salt = dg.EnvVar("CALLLOG_HASH_SALT") if env.get("CALLLOG_HASH_SALT") else ""
    return Privacy(hash_pii=hash_pii, salt=salt)
