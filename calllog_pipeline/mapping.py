"""What every provider mapping shares: the raw-day interface, coercion, times, phone numbers,
transcripts, JSON, row buffers.

Nothing here knows a provider. The mapping modules (``providers/<name>/mapping.py``) hold the quirks
and call these helpers to turn raw records into canonical rows. This module sits below both the
provider packages and the normalized layer (which imports it), so it imports neither, nor Dagster or
DuckDB: a mapping can be loaded and tested on its own.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, NamedTuple, Protocol

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from calllog_pipeline import schemas, timeutil
from calllog_pipeline.redact import policy_fingerprint, redact_json, redact_strings, redact_value


class RawDay(Protocol):
    """Read access to one provider's raw partition, as normalization sees it."""

    def payloads(self, endpoint: str) -> Iterator[pa.Array]:
        """The endpoint's raw records as JSON text (a string array per bounded batch; nothing if the
        endpoint has no file)."""

    def records(self, endpoint: str) -> int:
        """How many raw records the endpoint holds (0 if it has no file), without reading them."""

    def redaction(self, endpoint: str) -> str | None:
        """The ``policy_fingerprint`` the endpoint's records were redacted under when fetched
        (None if unknown: a file from before fingerprints, or no file)."""

    def source_context(self, endpoint: str) -> Mapping[str, str]:
        """The provider's ``source_context()`` recorded when the endpoint was fetched."""


# table name ("calls", "actions", "interactions", "quarantine") -> a batch of rows in that table's schema
TableBatch = tuple[str, pa.RecordBatch]


class Reject(Exception):
    """A record cannot become a canonical row; it goes to the quarantine table instead."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def ingested_now() -> datetime:
    """The ``ingested_at`` stamp of one normalization run (tests replace it with a fixed time)."""
    return datetime.now(UTC)


# --- scalar coercion: the wrong type becomes None, never a guess -------------------------------------


def as_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # numeric ids (OmniDimension) are still ids
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_INT64 = range(-(2**63), 2**63)
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def as_int(value: Any) -> int | None:
    """An integer that fits the tables' int64 columns (JSON has no limit: a bigger one is invalid),
    also when sent as text, as ``as_float`` reads amounts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value in _INT64 else None


_BOOL_TEXT = {"true": True, "false": False}


def as_bool(value: Any) -> bool | None:
    """A JSON boolean, also when sent as text (``"true"``, ``"False"``)."""
    if isinstance(value, str):
        return _BOOL_TEXT.get(value.strip().lower())
    return value if isinstance(value, bool) else None


def direction_word(value: str) -> str | None:
    """``inbound`` / ``outbound`` from a direction as telephony stacks spell it: any case, also
    ``incoming`` / ``outgoing``, and Twilio's ``outbound-api`` / ``outbound-dial``; else None."""
    word = value.strip().lower()
    if word.startswith(("inbound", "incoming")):
        return "inbound"
    if word.startswith(("outbound", "outgoing")):
        return "outbound"
    return None


def as_object(value: Any) -> dict | None:
    """A JSON object, also when sent as JSON text (as OmniDimension's webhook ``payload`` is).

    An object decoded from text is redacted as it is decoded: its serialization is not a piece
    of the raw record's text, so the ingest's redaction does not vouch for it (see
    ``json_redacted_at_ingest``)."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = redact_value(orjson.loads(value))
        except orjson.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def as_list(value: Any) -> list | None:
    """A JSON array, also when sent as JSON text; redacted as it is decoded, like ``as_object``."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = redact_value(orjson.loads(value))
        except orjson.JSONDecodeError:
            return None
    return value if isinstance(value, list) else None


def absent(value: Any) -> bool:
    """No value at all: missing, null, blank, or the ``false`` some providers send for null."""
    return value is None or value is False or (isinstance(value, str) and not value.strip())


def take(record: Mapping[str, Any], key: str, coerce, invalid: dict[str, Any], false_is_null: bool = False):
    """``coerce(record[key])``; a present value that does not coerce is kept in ``invalid``.

    Missing, null and blank values are simply None. ``false_is_null`` reads ``false`` as "no value"
    for providers that send it in place of null (OmniDimension).
    """
    value = record.get(key)
    if value is None or value == "" or (false_is_null and value is False):
        return None
    out = coerce(value)
    if out is None:
        invalid[key] = value
    return out


def record_id_of(record: Any, *keys: str) -> str | None:
    """Best-effort id for a quarantined record (any of ``keys`` that holds a usable id)."""
    if not isinstance(record, dict):
        return None
    for key in keys:
        found = as_str(record.get(key))
        if found is not None:
            return found
    return None


# --- times --------------------------------------------------------------------------------------------


parse_iso_utc_or_none = timeutil.parse_iso_utc  # optional times: anything unusable is None


def parse_local(value: Any, field: str, zone: tzinfo, fmt: str) -> datetime:
    """A zone-less local time in ``fmt`` read in ``zone``, returned in UTC; raises ``Reject``."""
    _require_text(value, field)
    if (moment := local_time(value, zone, fmt)) is None:
        raise Reject("unparseable_time", f"{field} does not match {fmt}: {value!r}"[:200])
    return moment


def local_time(value: Any, zone: tzinfo, fmt: str) -> datetime | None:
    """``parse_local`` without the reasons: None for anything that is not a local time in ``fmt``."""
    if not isinstance(value, str) or not value:
        return None
    return _local_in_hour(value, fmt, zone) or timeutil.parse_local(value, fmt, zone)


# The zero-padded ``<date> HH:MM:SS`` layouts: such a time is its hour's start plus minutes and seconds.
_HOUR_LAYOUTS = {
    "%m/%d/%Y %H:%M:%S": re.compile(r"[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:([0-5][0-9]):([0-5][0-9])"),
    "%Y-%m-%d %H:%M:%S": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:([0-5][0-9]):([0-5][0-9])"),
}


def _local_in_hour(value: str, fmt: str, zone: tzinfo) -> datetime | None:
    """``timeutil.parse_local`` for the usual layouts at a fraction of its cost (a zone conversion
    costs ~5 µs, and OmniDimension sends a local time per turn): the UTC instant of the local hour's
    start, cached, plus the minutes and seconds. None (use ``timeutil.parse_local``) for another
    layout or an hour in which the zone's offset changes."""
    layout = _HOUR_LAYOUTS.get(fmt)
    if layout is None or (found := layout.fullmatch(text := value.strip())) is None:
        return None
    start = _hour_start(text[:-6], fmt, zone)
    if start is None:
        return None
    return start + _SECONDS[int(found[1]) * 60 + int(found[2])]


@functools.lru_cache(maxsize=4096)
def _hour_start(hour: str, fmt: str, zone: tzinfo) -> datetime | None:
    """The UTC instant of ``<hour>:00:00`` local, if every second of that hour has the same offset."""
    start = timeutil.parse_local(f"{hour}:00:00", fmt, zone)
    end = timeutil.parse_local(f"{hour}:59:59", fmt, zone)
    if start is None or end is None or end - start != _HOUR_SPAN:
        return None
    return start


_HOUR_SPAN = timedelta(minutes=59, seconds=59)
_SECONDS = tuple(timedelta(seconds=s) for s in range(3600))  # built once: a timedelta costs ~1 µs


def _require_text(value: Any, field: str) -> None:
    if _not_text(value, field) is not None:  # raised unnamed: a named one would hold its frames
        raise _not_text(value, field)


def _not_text(value: Any, field: str) -> Reject | None:
    if value is None or value == "" or value is False:
        return Reject("missing_time", f"{field} is empty")
    if not isinstance(value, str):
        return Reject("unparseable_time", f"{field} is not a string: {value!r}"[:200])
    return None


# --- phone numbers ------------------------------------------------------------------------------------

_PHONE_PUNCTUATION = str.maketrans("", "", " -().\u00a0/")


def e164(value: Any) -> str | None:
    """``+<country><number>`` or None when the value is not an international phone number.

    Numbers without ``+`` or ``00`` are ambiguous (no country code), so they are not guessed.
    """
    if not isinstance(value, str):
        return None
    if value[:1] == "+" and 8 <= len(value) <= 16:  # already E.164 (most are): no translate, ~3x faster
        digits = value[1:]
        if digits.isdigit() and digits.isascii() and digits[0] != "0":
            return value
    compact = value.strip().translate(_PHONE_PUNCTUATION)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        return None
    digits = compact[1:]
    if digits.isascii() and digits.isdigit() and 7 <= len(digits) <= 15 and digits[0] != "0":
        return compact
    return None


# --- transcripts --------------------------------------------------------------------------------------


def split_turns(text: Any, speakers: Mapping[str, str], separator: re.Pattern[str]) -> list[tuple[str, str]]:
    """``[(speaker, text), ...]`` from a ``label: words`` transcript.

    ``speakers`` maps a lower-cased label to ``agent``/``user``. A line without a known label
    continues the current turn. Labels with no words (an empty ``user:``) produce no turn.
    """
    if not isinstance(text, str) or not text:
        return []
    turns: list[tuple[str, str]] = []
    current: str | None = None
    open_turn = False
    for line in separator.split(text):
        line = line.strip()
        if not line:
            continue
        label, colon, words = line.partition(":")
        speaker = speakers.get(label.strip().lower()) if colon else None
        if speaker is not None:
            current, words = speaker, words.strip()
            open_turn = bool(words)
            if words:
                turns.append((speaker, words))
        elif open_turn:
            turns[-1] = (turns[-1][0], f"{turns[-1][1]}\n{line}")
        elif current is not None:
            turns.append((current, line))
            open_turn = True
    return turns


# Characters ``str.strip`` removes besides " \t\r\n", and ones whose ``str.lower`` differs from
# Arrow's (İ, the Kelvin sign): transcripts holding one are split by ``split_turns`` itself.
_NOT_COLUMNAR = (
    "[\\x{0b}\\x{0c}\\x{1c}-\\x{1f}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}"
    "\\x{202f}\\x{205f}\\x{3000}\\x{130}\\x{212a}]"
)
_TRIM = " \t\r\n"


def transcript_turns(
    call_ids: pa.Array, transcripts: pa.Array, speakers: Mapping[str, str], separator: re.Pattern[str]
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """``split_turns`` over a whole column at once: (call_id, turn_index, speaker, text) arrays.

    Lines are numbered across the batch; a line belongs to the turn opened by the last labelled
    line of the same call before it (an empty label opens a turn that only its following lines
    fill); lines before a call's first label are dropped.
    """
    odd = _not_columnar(transcripts)
    if odd is not None and pc.any(odd).as_py():  # rare: leave those to the reference implementation
        slow = pc.indices_nonzero(odd).to_pylist()
        fast = _transcript_turns(
            call_ids.filter(pc.invert(odd)), transcripts.filter(pc.invert(odd)), speakers, separator
        )
        rows = [(c, i, s, t) for c, i, s, t in zip(*(a.to_pylist() for a in fast), strict=True)]
        for k in slow:
            call_id = call_ids[k].as_py()
            turns = split_turns(transcripts[k].as_py(), speakers, separator)
            rows.extend((call_id, i, speaker, text) for i, (speaker, text) in enumerate(turns))
        columns = list(zip(*rows, strict=True)) or [[], [], [], []]
        types = (pa.string(), pa.int32(), pa.string(), pa.string())
        return tuple(pa.array(list(c), t) for c, t in zip(columns, types, strict=True))
    return _transcript_turns(call_ids, transcripts, speakers, separator)


def _not_columnar(transcripts: pa.Array) -> pa.BooleanArray | None:
    """Which transcripts hold a ``_NOT_COLUMNAR`` character; None when none can: the batch's bytes
    are ASCII without its control characters (a byte scan, ~15x cheaper than the expression)."""
    data = transcripts.buffers()[2]
    text = data.to_pybytes() if data is not None else b""
    if text.isascii() and not any(c in text for c in _NOT_COLUMNAR_ASCII):
        return None
    return pc.fill_null(pc.match_substring_regex(transcripts, _NOT_COLUMNAR), False)


_NOT_COLUMNAR_ASCII = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")  # the rest is not ASCII


def _transcript_turns(call_ids, transcripts, speakers, separator):
    if separator.pattern == _LINE_BREAK:  # a plain split is ~5x faster; the trim below drops the "\r"
        parts = pc.split_pattern(transcripts, "\n")
    else:
        flags = "(?i)" if separator.flags & re.IGNORECASE else ""
        parts = pc.split_pattern_regex(transcripts, flags + separator.pattern)
    call_of_line = np.asarray(pc.list_parent_indices(parts))
    lines = pc.utf8_trim(pc.list_flatten(parts), _TRIM)
    present = np.asarray(pc.not_equal(lines, ""))
    lines, call_of_line = lines.filter(pa.array(present)), call_of_line[present]
    label, words = _split_at_colon(lines)
    label = pc.utf8_lower(pc.utf8_trim(label, _TRIM))
    words = pc.utf8_trim(words, _TRIM)
    keys = pa.array(list(speakers), pa.string())
    speaker = pc.take(pa.array(list(speakers.values()), pa.string()), pc.index_in(label, keys))
    labelled = np.asarray(pc.is_valid(speaker))
    position = np.arange(len(lines))
    opened = np.maximum.accumulate(np.where(labelled, position, -1)) if len(lines) else position
    in_turn = (opened >= 0) & (call_of_line[np.maximum(opened, 0)] == call_of_line)
    piece = pc.if_else(pa.array(labelled), words, lines)
    keep = in_turn & ~(labelled & np.asarray(pc.equal(pc.fill_null(words, ""), "")))
    piece, opened = piece.filter(pa.array(keep)), opened[keep]
    starts = np.flatnonzero(np.r_[True, opened[1:] != opened[:-1]]) if len(opened) else np.array([], int)
    offsets = pa.array(np.r_[starts, len(opened)].astype(np.int32))
    text = pc.binary_join(pa.ListArray.from_arrays(offsets, piece), "\n")
    first_line = opened[starts]
    call = call_of_line[first_line]
    new_call = np.r_[True, call[1:] != call[:-1]] if len(call) else np.array([], bool)
    turn = np.arange(len(call))
    turn_index = turn - np.maximum.accumulate(np.where(new_call, turn, 0)) if len(call) else turn
    return (
        pc.take(call_ids, pa.array(call)),
        pa.array(turn_index, pa.int32()),
        pc.take(speaker, pa.array(first_line)),
        text,
    )


_LINE_BREAK = r"\r?\n"


def _split_at_colon(lines: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(text before the first ":", text after it) of each line; both null without a colon (a
    plain split, ~4x faster than a regular expression)."""
    parts = pc.split_pattern(lines, ":", max_splits=1)
    starts = np.asarray(parts.offsets)
    has_colon = (starts[1:] - starts[:-1]) == 2
    first = starts[:-1]
    label = parts.values.take(pa.array(first, mask=~has_colon))
    words = parts.values.take(pa.array(np.where(has_colon, first + 1, first), mask=~has_colon))
    return label, words


# --- JSON, secrets, hashing ---------------------------------------------------------------------------


def dump_json(value: Any) -> str | None:
    """Compact JSON text with credentials removed, by the one redaction policy (None stays None)."""
    if value is None:
        return None
    if _JSON_REDACTED.get():
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return redact_json(value, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON_REDACTED: ContextVar[bool] = ContextVar("json_redacted", default=False)


@contextlib.contextmanager
def json_redacted_at_ingest(raw: RawDay, *endpoints: str) -> Iterator[bool]:
    """Within the block ``dump_json`` does not redact again when every record of ``endpoints`` was
    redacted at ingest under the current ``policy_fingerprint`` (same policy code, same secrets).

    The raw payload went through ``redact_serialized``, the very pass ``dump_json`` makes, and a
    value of a record serialized alone is a piece of the record's serialized text: a second pass
    finds nothing more (objects decoded from JSON text are not such pieces: ``as_object``
    redacts them itself). Raw files without a fingerprint, or with another one, are redacted as
    before. Free text is not covered: ``redact_texts`` redacts it decoded, its own pass, so a text
    never depends on how its escapes looked inside the record's JSON."""
    fingerprint = policy_fingerprint()
    trusted = all(raw.redaction(endpoint) == fingerprint for endpoint in endpoints)
    previous = _JSON_REDACTED.get()
    _JSON_REDACTED.set(trusted)
    try:
        yield trusted
    finally:
        _JSON_REDACTED.set(previous)


def salted_hash(value: str, salt: str) -> str:
    """A stable pseudonym for an identifier: the same number hashes the same across tables."""
    return hashlib.sha256(f"{salt}\x00{value}".encode()).hexdigest()[:32]


# --- columnar batches ---------------------------------------------------------------------------------


class RowBuffer:
    """Rows of one canonical table, emitted as a RecordBatch.

    Types come from the declared schema, never from the values: the rows (dicts keyed by column
    name; a missing key is null) are converted in one pass by Arrow as a struct array of the
    table's columns.
    """

    def __init__(self, table: str):
        self.table = table
        self.schema = schemas.TABLES[table]
        self.row_type = pa.struct([f for f in self.schema if f.name != "ingested_at"])
        self.rows: list[Mapping[str, Any]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, row: Mapping[str, Any]) -> None:
        self.rows.append(row)

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.rows.extend(rows)

    def take_batch(self, ingested_at: datetime) -> pa.RecordBatch:
        """The buffered rows as a batch in the table's schema; the buffer is emptied."""
        rows, self.rows = self.rows, []
        arrays = pa.array(rows, type=self.row_type).flatten()
        arrays.append(_repeat(ingested_at, len(rows)))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _repeat(moment: datetime, n: int) -> pa.Array:
    """``n`` copies of one time (a list of aware datetimes costs ~0.4 µs a value to convert)."""
    return pa.repeat(pa.scalar(moment, schemas.TIMESTAMP), n)


class TableBuffers:
    """What a provider-day's mapping gathers between batches: quarantined records and calls'
    transcripts; ``drain`` yields them as batches. Tables built from whole columns go through
    ``batch``.

    ``speakers``/``separator`` describe the provider's ``label: words`` transcripts: those added
    with ``add_transcript`` are split into turns a whole batch at a time (``transcript_turns``).
    """

    def __init__(
        self,
        provider: str,
        speakers: Mapping[str, str] | None = None,
        separator: re.Pattern[str] | None = None,
    ):
        self.provider = provider
        self.ingested_at = ingested_now()
        self.quarantine = RowBuffer("quarantine")
        self.speakers, self.separator = speakers or {}, separator
        self._transcripts: tuple[list[str], list[Any]] = ([], [])

    def drain(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        if len(self.quarantine):
            yield "quarantine", self.quarantine.take_batch(self.ingested_at)
        if self._transcripts[0]:
            call_ids, texts = self._transcripts
            self._transcripts = ([], [])
            yield from self.transcript_turns(pa.array(call_ids, pa.string()), pa.array(texts, pa.string()))

    def batch(self, table: str, n: int, columns: Mapping[str, Any]) -> TableBatch:
        """``n`` rows of ``table`` from whole columns: a list or Arrow array per column, or one value
        for every row; a column not given is null. ``provider`` and ``ingested_at`` are filled in;
        interaction texts are redacted (``redact_texts``)."""
        schema = schemas.TABLES[table]
        arrays = []
        for field in schema:
            if field.name == "provider":
                value = self.provider
            elif field.name == "ingested_at":
                value = self.ingested_at
            else:
                value = columns.get(field.name)
            if isinstance(value, pa.Array):
                arrays.append(value)
            elif isinstance(value, list):
                arrays.append(pa.array(value, field.type))
            elif value is None:
                arrays.append(pa.nulls(n, field.type))
            else:
                arrays.append(pa.repeat(pa.scalar(value, field.type), n))
        if table == "interactions":
            arrays[schema.get_field_index("text")] = redact_texts(arrays[schema.get_field_index("text")])
        return table, pa.RecordBatch.from_arrays(arrays, schema=schema)

    def reject(self, endpoint: str, record: Any, reason: str, detail: str, record_id: str | None) -> None:
        self.quarantine.append(
            {
                "provider": self.provider,
                "endpoint": endpoint,
                "record_id": record_id,
                "reason": reason,
                "detail": detail,
                "payload": dump_json(record) or "null",
            }
        )

    def add_transcript(self, call_id: str, text: Any) -> None:
        """The call's ``label: words`` transcript, split into turns when the buffers are drained."""
        if isinstance(text, str) and text:
            self._transcripts[0].append(call_id)
            self._transcripts[1].append(text)

    def transcript_turns(
        self, call_ids: pa.Array, transcripts: pa.Array
    ) -> Iterator[tuple[str, pa.RecordBatch]]:
        """Interaction rows of whole columns of calls' transcripts, as one batch."""
        call_id, turn_index, speaker, text = transcript_turns(
            call_ids, transcripts, self.speakers, self.separator
        )
        n = len(call_id)
        if not n:
            return
        columns = {
            "provider": pa.array([self.provider] * n, pa.string()),
            "call_id": call_id,
            "turn_index": turn_index,
            "speaker": speaker,
            "text": redact_texts(text),
            "at": pa.nulls(n, schemas.TIMESTAMP),
            "response_latency_s": pa.nulls(n, pa.float64()),
            "source": pa.array(["transcript"] * n, pa.string()),
            "ingested_at": _repeat(self.ingested_at, n),
        }
        yield "interactions", pa.RecordBatch.from_arrays(list(columns.values()), schema=schemas.INTERACTIONS)


def redact_texts(column: pa.Array) -> pa.Array:
    """``redact_value`` over a string column: free text is redacted by the one policy too."""
    return pa.array(redact_strings(column.to_pylist()), type=column.type)


class SeenIds:
    """Call ids already emitted for a provider-day, with a digest of their record's JSON text.

    The same record listed twice (pages drift while a newest-first listing is fetched) is dropped
    silently; the same id with different content is a real conflict and is quarantined. Ids are
    kept as 64-bit hashes (two ids sharing one is as likely as a digest collision, which this
    already accepts): the latest ``RECENT`` in a dict, older ones in two sorted numpy arrays, so
    a million-call day holds 16 bytes per call instead of a million-entry dict (about 100).
    """

    RECENT = 1 << 16

    def __init__(self) -> None:
        self._recent: dict[int, int] = {}
        self._keys = np.empty(0, np.int64)
        self._digests = np.empty(0, np.int64)

    def check(self, call_id: str, digest: int) -> bool:
        """True if the record is new; False if an identical copy was seen; raises on a conflict."""
        key = hash(call_id)
        previous = self._recent.get(key)
        if previous is None and len(self._keys):
            previous = self._older(key)
        if previous is None:
            self._recent[key] = digest
            if len(self._recent) >= self.RECENT:
                self._compact()
            return True
        if previous == digest:
            return False
        raise Reject("duplicate_id", f"call id {call_id} appears again with different content")

    def check_all(self, call_ids: list[str], digests: list[int]) -> list[bool | Reject]:
        """``check`` of each (id, digest) in order: True, False or the ``Reject`` it raises. A batch
        of ids new to the day and to each other (the usual one) is recorded at once."""
        keys = list(map(hash, call_ids))
        fresh = len(set(keys)) == len(keys) and not self._recent.keys() & keys
        if fresh and len(self._keys) and len(keys):
            at = np.minimum(self._keys.searchsorted(np.array(keys, np.int64)), len(self._keys) - 1)
            fresh = not (self._keys[at] == np.array(keys, np.int64)).any()
        if not fresh:
            return [self._verdict(call_id, digest) for call_id, digest in zip(call_ids, digests, strict=True)]
        self._recent.update(zip(keys, digests, strict=True))
        if len(self._recent) >= self.RECENT:
            self._compact()
        return [True] * len(keys)

    def _verdict(self, call_id: str, digest: int) -> bool | Reject:
        try:
            return self.check(call_id, digest)
        except Reject as conflict:  # kept without its traceback: its frames would hold the batch
            return conflict.with_traceback(None)

    def _older(self, key: int) -> int | None:
        at = int(self._keys.searchsorted(key))
        if at < len(self._keys) and self._keys[at] == key:
            return int(self._digests[at])
        return None

    def _compact(self) -> None:
        n = len(self._recent)
        keys = np.concatenate([self._keys, np.fromiter(self._recent.keys(), np.int64, n)])
        digests = np.concatenate([self._digests, np.fromiter(self._recent.values(), np.int64, n)])
        order = np.argsort(keys, kind="stable")
        self._keys, self._digests, self._recent = keys[order], digests[order], {}


MAPPING_BATCH = 1_000  # records decoded at once: their Python objects dominate a mapping's memory


def batches(raw: RawDay, endpoint: str) -> Iterator[pa.Array]:
    """The endpoint's payloads in slices of ``MAPPING_BATCH`` (zero-copy), for bounded memory."""
    for payloads in raw.payloads(endpoint):
        for start in range(0, len(payloads), MAPPING_BATCH):
            yield payloads.slice(start, MAPPING_BATCH)


def records(payloads: pa.Array) -> Iterator[tuple[Any, int]]:
    """(decoded record, digest of its JSON text) for each payload of a raw batch."""
    for text in payloads.to_pylist():
        yield orjson.loads(text), hash(text)


# --- column at a time ---------------------------------------------------------------------------------
#
# A mapping decodes a batch of raw records once, then builds each output column over the whole
# batch: one list comprehension per field (the coercions above applied per value), time parsing
# vectorized in Arrow. Per-record invalid values are collected per column, in column order, into
# ``Invalid`` (record position -> {field: value}), which becomes ``extra._invalid``.

Invalid = dict[int, dict[str, Any]]


def mapped_batches(
    raw: RawDay, endpoint: str, map_batch: Callable[[pa.Array], list[TableBatch]]
) -> Iterator[TableBatch]:
    """``map_batch(payloads)`` of each raw batch of ``endpoint``, each run with the collector
    paused (``gc_paused``); ``map_batch`` returns only Arrow batches, so the records it decoded
    are freed when it returns."""
    for payloads in batches(raw, endpoint):
        with gc_paused():
            mapped = map_batch(payloads)
        yield from mapped


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while one batch is mapped.

    A batch's decoded records stay alive until its columns are built, so the collector would
    traverse them again and again and move them to its older generations, whose collections
    traverse the whole heap (Dagster's objects included), to find no cycles: decoded JSON and
    the rows and columns built from it have none. Whatever ran inside must have dropped the
    batch's objects before the block ends (return only Arrow data from a function): they are
    then freed by reference counting, and the collector, enabled again, never sees them."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Admitted(NamedTuple):
    """The records of a batch that become calls (in batch order), their call ids and start times."""

    records: list[dict[str, Any]]
    call_ids: list[str]
    started_at: pa.Array  # ``schemas.TIMESTAMP``


def admit(
    out: TableBuffers,
    endpoint: str,
    payloads: pa.Array,
    seen: SeenIds,
    call_id: Callable[[dict[str, Any]], str | Reject],
    start: tuple[str, Callable[[list[Any]], pa.Array], str],
    id_keys: tuple[str, ...],
    id_key: str | None = None,
) -> Admitted:
    """Decode a raw batch; quarantine the records that cannot be calls and drop repeats.

    A record that is not a JSON object, has no call id (``call_id`` returns a ``Reject``) or no
    usable start time is quarantined with its reason; then, in batch order, a record whose id was
    seen with the same content is dropped and one seen with other content quarantined.
    ``start`` is (field, parser over a column of its values: null where unusable, how an unusable
    value is described: "is not an ISO-8601 time"). ``id_key``, if given, is the field whose
    non-blank text is the call id whenever it holds one (``call_id`` is then asked only about the
    other records: most records take no call).
    """
    texts = payloads.to_pylist()
    records = list(map(orjson.loads, texts))
    if id_key is None:
        ids = [call_id(r) if type(r) is dict else _NOT_AN_OBJECT for r in records]
    else:
        given = [r.get(id_key) if type(r) is dict else None for r in records]
        ids = [
            g if type(g) is str and g.strip() else call_id(r) if type(r) is dict else _NOT_AN_OBJECT
            for g, r in zip(given, records, strict=True)
        ]
    field, parse, unusable = start
    values = [r.get(field) if type(r) is dict else None for r in records]
    started_at = parse(values)
    unparsed = started_at.is_null().to_pylist() if started_at.null_count else None
    rejected: dict[int, Reject] = {}
    if unparsed is not None or set(map(type, ids)) != {str}:  # else every record has an id and a start
        for i, call in enumerate(ids):
            if type(call) is not str:
                rejected[i] = call if call is not _NOT_AN_OBJECT else _wrong_shape(records[i])
            elif unparsed is not None and unparsed[i]:
                rejected[i] = _time_reject(values[i], field, unusable)
    if rejected:
        usable = [i for i in range(len(ids)) if i not in rejected]
        verdicts = seen.check_all([ids[i] for i in usable], [hash(texts[i]) for i in usable])
    else:
        usable = range(len(ids))
        verdicts = seen.check_all(ids, list(map(hash, texts)))
    if verdicts.count(True) == len(verdicts):  # no repeats (the usual batch)
        keep = usable
    else:
        keep = [i for i, verdict in zip(usable, verdicts, strict=True) if verdict is True]
    if len(keep) < len(usable):
        rejected.update((i, v) for i, v in zip(usable, verdicts, strict=True) if isinstance(v, Reject))
    for i in sorted(rejected):  # in batch order, as they were met
        reason = rejected[i]
        out.reject(endpoint, records[i], reason.reason, reason.detail, record_id_of(records[i], *id_keys))
    if len(keep) == len(records):
        return Admitted(records, ids, started_at)
    return Admitted(
        [records[i] for i in keep], [ids[i] for i in keep], started_at.take(pa.array(keep, pa.int64()))
    )


_NOT_AN_OBJECT = Reject("wrong_shape", "")


def _wrong_shape(record: Any) -> Reject:
    return Reject("wrong_shape", f"expected a JSON object, got {type(record).__name__}")


def _time_reject(value: Any, field: str, unusable: str) -> Reject:
    return _not_text(value, field) or Reject("unparseable_time", f"{field} {unusable}: {value!r}"[:200])


def column(records: list[dict[str, Any]], key: str) -> list[Any]:
    return [r.get(key) for r in records]


def take_column(
    records: list[dict[str, Any]], key: str, coerce, invalid: Invalid, false_is_null: bool = False
) -> list[Any]:
    """``take`` over a column: ``coerce`` of each present value; values that do not coerce are
    kept in ``invalid``. A value already of the type ``coerce`` returns unchanged is kept without
    a call (most are)."""
    return _coerced([r.get(key) for r in records], key, coerce, invalid, false_is_null)


# --- whole columns as Arrow arrays: the values already in their final type (nearly all) are
# converted and checked by Arrow at once; a column holding anything else is read value by value
# as ``take_column`` reads it, the reference.


def text_column(records: list[dict[str, Any]], key: str, invalid: Invalid, false_is_null=False) -> pa.Array:
    """``take_column(records, key, as_str, invalid, false_is_null)`` as a string array."""
    return text_array([r.get(key) for r in records], key, invalid, false_is_null)


def text_array(values: list[Any], key: str, invalid: Invalid, false_is_null=False) -> pa.Array:
    """``text_column`` of values already taken from the records."""
    if values.count(None) == len(values):  # a field the batch does not carry
        return pa.nulls(len(values), pa.string())
    try:
        text = pa.array(values, pa.string())  # refuses anything but text and null
    except (TypeError, ValueError, OverflowError):
        return pa.array(_coerced(values, key, as_str, invalid, false_is_null), pa.string())
    # ``str.strip`` blanks: empty, or only the characters ``str.isspace`` accepts, which are the
    # ones Arrow's ``utf8_is_space`` accepts (test_columnar_mapping checks every code point).
    spaces = pc.utf8_is_space(text)
    empty = pc.equal(text, "")
    if not spaces.true_count and not empty.true_count:
        return text
    blank = pc.or_(spaces, empty)
    for i in pc.indices_nonzero(pc.fill_null(spaces, False)).to_pylist():  # not "": refused
        invalid.setdefault(i, {})[key] = values[i]
    return pc.if_else(blank, pa.scalar(None, pa.string()), text)


def number_column(records: list[dict[str, Any]], key: str, invalid: Invalid, false_is_null=False) -> pa.Array:
    """``take_column(records, key, as_float, invalid, false_is_null)`` as a float64 array."""
    values = [r.get(key) for r in records]
    try:
        numbers = pa.array(values)  # inferred: int64, double or null unless something else is there
    except (TypeError, ValueError, OverflowError):
        numbers = None
    if (
        numbers is None
        or numbers.type not in _NUMBER_TYPES  # text, booleans, objects, huge integers
        or (numbers.type == pa.float64() and bool in set(map(type, values)))  # Arrow reads true as 1.0
    ):
        return pa.array(_coerced(values, key, as_float, invalid, false_is_null), pa.float64())
    return numbers.cast(pa.float64(), safe=False)  # int64 -> double rounds to nearest, as float()


_NUMBER_TYPES = (pa.int64(), pa.float64(), pa.null())


def phone_column(records: list[dict[str, Any]], key: str, invalid: Invalid) -> pa.Array:
    """``take_column(records, key, e164, invalid)`` as a string array: text already in E.164 is
    kept by one regular expression (``e164``'s own first test), the rest read by ``e164``."""
    values = [r.get(key) for r in records]
    if values.count(None) == len(values):
        return pa.nulls(len(values), pa.string())
    try:
        text = pa.array(values, pa.string())
    except (TypeError, ValueError, OverflowError):
        return pa.array(_coerced(values, key, e164, invalid), pa.string())
    usual = pc.match_substring_regex(text, _E164_USUAL)
    if usual.true_count == len(text) - text.null_count:
        return text
    found = text.to_pylist()
    for i in pc.indices_nonzero(pc.invert(pc.fill_null(usual, True))).to_pylist():
        found[i] = None if values[i] == "" else e164(values[i])
    refused(values, found, key, invalid)
    return pa.array(found, pa.string())


_E164_USUAL = r"^\+[1-9][0-9]{6,14}$"  # what ``e164`` returns unchanged before any cleaning


def word_column(records: list[dict[str, Any]], key: str, coerce, invalid: Invalid) -> list[Any]:
    """``take_column`` for a ``coerce`` of the value alone, called once per distinct text of the
    batch (vocabularies: statuses, reasons); a column holding other than text and null is read
    value by value."""
    values = [r.get(key) for r in records]
    try:
        distinct = set(values)
    except TypeError:  # an object or a list
        return _coerced(values, key, coerce, invalid)
    if not all(type(v) is str or v is None for v in distinct):
        return _coerced(values, key, coerce, invalid)
    read = {v: None if v is None or v == "" else coerce(v) for v in distinct}
    out = [read[v] for v in values]
    refused(values, out, key, invalid)
    return out


def _coerced(values: list[Any], key: str, coerce, invalid: Invalid, false_is_null=False) -> list[Any]:
    """``take_column`` of values already taken from the records."""
    same = _UNCHANGED.get(coerce)
    out = [
        v
        if type(v) is same and (same is not str or v.strip())
        else None
        if v is None or v == "" or (false_is_null and v is False)
        else coerce(v)
        for v in values
    ]
    refused(values, out, key, invalid, false_is_null)
    return out


# Coercions that return a value of this type as it is (``as_str``: unless it is blank).
_UNCHANGED = {as_str: str, as_float: float, as_bool: bool}


def take_first(
    records: list[dict[str, Any]], fields: list[tuple[str, Any]], invalid: Invalid, false_is_null=False
) -> list[Any]:
    """Per record, the first of ``fields`` ((key, coerce) pairs) that gives a value: a field is
    read (and an invalid value in it kept) only when the ones before it gave nothing."""
    (key, coerce), *others = fields
    found = take_column(records, key, coerce, invalid, false_is_null)
    for key, coerce in others:
        if None not in found:
            break
        also: Invalid = {}
        more = take_column(records, key, coerce, also, false_is_null)
        for i, values in also.items():
            if found[i] is None:
                invalid.setdefault(i, {}).update(values)
        found = [f if f is not None else m for f, m in zip(found, more, strict=True)]
    return found


def local_times(values: list[Any], zone: tzinfo, fmt: str) -> pa.Array:
    """``local_time`` over a column, null where a value is not a time in ``fmt``.

    Values in the usual zero-padded layout are read as ``_local_in_hour`` reads one, a column at
    a time: each distinct hour's cached UTC start plus minutes and seconds (Arrow slices, NumPy
    sums); any other value, or one in an hour whose offset changes, by ``local_time`` itself."""
    micros = np.zeros(len(values), np.int64)
    found = np.zeros(len(values), np.bool_)
    text = pa.array([v if type(v) is str else None for v in values], pa.string())
    layout = _HOUR_COLUMNS.get(fmt)
    usual = pc.fill_null(pc.match_substring_regex(text, layout), False) if layout and len(text) else None
    if usual is not None and usual.true_count:
        at = np.flatnonzero(usual.to_numpy(zero_copy_only=False))
        usual_text = text.filter(usual)
        hours = pc.dictionary_encode(pc.utf8_slice_codeunits(usual_text, 0, 13))  # "<date> HH"
        starts = [_hour_start(hour, fmt, zone) for hour in hours.dictionary.to_pylist()]
        known = np.array([start is not None for start in starts], np.bool_)
        start_us = np.array([0 if s is None else (s - _EPOCH) // _MICROSECOND for s in starts], np.int64)
        hour = hours.indices.to_numpy()
        minute, second = (
            pc.cast(pc.utf8_slice_codeunits(usual_text, i, i + 2), pa.int64()).to_numpy() for i in (14, 17)
        )
        read = known[hour]
        micros[at[read]] = start_us[hour[read]] + ((minute * 60 + second) * 1_000_000)[read]
        found[at[read]] = True
    for i in np.flatnonzero(~found & text.is_valid().to_numpy(zero_copy_only=False)).tolist():
        if (moment := local_time(values[i], zone, fmt)) is not None:  # other layouts, offset changes
            micros[i], found[i] = (moment - _EPOCH) // _MICROSECOND, True
    return _timestamps(micros, found)


# ``_HOUR_LAYOUTS`` for Arrow (RE2): the whole value, which ``_local_in_hour`` strips first (a value
# with blanks around it is read by ``local_time``).
_HOUR_COLUMNS = {fmt: f"^{layout.pattern}$" for fmt, layout in _HOUR_LAYOUTS.items()}


def during_calls(times: pa.Array, started_at: pa.Array, zone: tzinfo) -> pa.Array:
    """``timeutil.during_call`` over a column: each time, read in the earlier pass of a repeated
    (DST fall-back) hour, moved to the later pass when that is nearer the start of its call
    (``started_at``, the same length)."""
    micros, found = _micros(times)
    start, started = _micros(started_at)
    later, repeated = _later_readings(micros, found, zone)
    nearer = repeated & started & (np.abs(later - start) < np.abs(micros - start))
    return _timestamps(np.where(nearer, later, micros), found)


def in_later_hours(times: pa.Array, zone: tzinfo, which: list[bool]) -> pa.Array:
    """``timeutil.in_later_hour`` of the times where ``which`` is true; the others unchanged."""
    micros, found = _micros(times)
    later, repeated = _later_readings(micros, found, zone)
    return _timestamps(np.where(repeated & np.array(which, np.bool_), later, micros), found)


def _later_readings(micros: np.ndarray, found: np.ndarray, zone: tzinfo) -> tuple[np.ndarray, np.ndarray]:
    """``timeutil.later_reading`` over microseconds since the epoch: (the later reading, whether
    there is one), from the fall-backs of each time's UTC year."""
    later, repeated = micros.copy(), np.zeros(len(micros), np.bool_)
    years = micros.astype("datetime64[us]").astype("datetime64[Y]").astype(np.int64) + 1970
    for year in np.unique(years[found]).tolist():
        if not 1 < year < 9999:  # as later_reading: no transitions at the calendar's edges
            continue
        for transition, step in timeutil.fall_backs(zone, year):
            end, size = (transition - _EPOCH) // _MICROSECOND, step // _MICROSECOND
            hit = found & ~repeated & (years == year) & (micros >= end - size) & (micros < end)
            later[hit] += size
            repeated |= hit
    return later, repeated


def _micros(times: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A timestamp column as (microseconds since the epoch, 0 where null; where it is not null)."""
    micros = pc.fill_null(times.cast(pa.int64()), 0).to_numpy()
    return micros, times.is_valid().to_numpy(zero_copy_only=False)


def _timestamps(micros: np.ndarray, found: np.ndarray) -> pa.Array:
    return pa.array(micros, pa.int64(), mask=~found).cast(schemas.TIMESTAMP)


def refused(
    values: list[Any], out: list[Any], key: str, invalid: Invalid, false_is_null: bool = False
) -> None:
    """Record in ``invalid`` each present value (not null, blank or, with ``false_is_null``,
    ``false``) whose mapped value is None."""
    if out.count(None) == values.count(None):  # nothing refused (a present value never maps to None here)
        return
    for i, (v, o) in enumerate(zip(values, out, strict=True)):
        if o is None and v is not None and v != "" and not (false_is_null and v is False):
            invalid.setdefault(i, {})[key] = v


def take_times(records: list[dict[str, Any]], key: str, invalid: Invalid) -> pa.Array:
    """``take(..., parse_iso_utc_or_none, ...)`` over a column, as an Arrow timestamp array."""
    values = [r.get(key) for r in records]
    times = iso_times(values)
    if times.null_count != values.count(None):  # else each null is a missing value: none refused
        refused(values, [None if null else True for null in times.is_null().to_pylist()], key, invalid)
    return times


# An ISO-8601 instant that Arrow and ``datetime.fromisoformat`` read alike: a four-digit year
# 1000-8999 (no overflow on conversion to UTC), a zone, at most microseconds. Anything else is
# parsed value by value (``timeutil.parse_iso_utc``).
_ISO_USUAL = (
    r"^[1-8][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


def iso_times(values: list[Any]) -> pa.Array:
    """``parse_iso_utc_or_none`` over a column: vectorized in Arrow for the usual layout, value
    by value for the rest (and for a batch Arrow refuses, e.g. a 30 February)."""
    if values.count(None) == len(values):  # a field the batch does not carry
        return pa.nulls(len(values), schemas.TIMESTAMP)
    try:
        text = pa.array(values, pa.string())  # text and nulls only (the usual batch)
        only_text = True
    except (TypeError, ValueError, OverflowError):
        text = pa.array([v if type(v) is str else None for v in values], pa.string())
        only_text = False
    try:
        usual = _in_millisecond_layout(text)
        if usual is None or not usual.true_count:  # another layout: the regular expression decides
            usual = pc.fill_null(pc.match_substring_regex(text, _ISO_USUAL), False)
        if only_text and usual.true_count == len(text) - text.null_count:  # the common batch: one cast
            return pc.cast(text, schemas.TIMESTAMP)
        times = pc.cast(pc.if_else(usual, text, pa.scalar(None, pa.string())), schemas.TIMESTAMP)
    except pa.ArrowInvalid:
        usual, times = pa.array([False] * len(text)), pa.nulls(len(text), schemas.TIMESTAMP)
    odd = pc.indices_nonzero(pc.and_(text.is_valid(), pc.invert(usual))).to_pylist()
    if not only_text:  # values that are not text (epoch numbers, or junk)
        odd += [i for i, v in enumerate(values) if v is not None and type(v) is not str]
    read = [(i, moment) for i in odd if (moment := timeutil.parse_iso_utc(values[i])) is not None]
    if not read:  # none of them is a time (the usual odd value: junk): they are null already
        return times
    micros = np.array(pc.fill_null(times.cast(pa.int64()), 0))
    missing = np.array(times.is_null())
    for i, moment in read:
        micros[i], missing[i] = (moment - _EPOCH) // _MICROSECOND, False
    return pa.array(micros, pa.int64(), mask=missing).cast(schemas.TIMESTAMP)


def _in_millisecond_layout(text: pa.Array) -> pa.BooleanArray | None:
    """Which values of ``text`` are ``YYYY-MM-DDTHH:MM:SS.fffZ`` within ``_ISO_USUAL``'s ranges,
    the layout most providers send, read on the bytes with NumPy (the regular expression costs
    ~0.15 µs a value); None when fewer than nine in ten are (another layout: not worth it)."""
    size = len(_MS_LOWEST)
    offsets = np.frombuffer(text.buffers()[1], np.int32, len(text) + 1, text.offset * 4)
    sized = np.diff(offsets) == size  # null slots included: they are masked out below
    if np.count_nonzero(sized) * 10 < (len(text) - text.null_count) * 9:
        return None
    data = np.frombuffer(text.buffers()[2], np.uint8)
    if not len(data):
        return None
    if sized.all():  # every slot is a value of the layout's length: their bytes are one block
        chars = data[offsets[0] : offsets[0] + size * len(text)].reshape(-1, size)
    else:
        chars = data[np.minimum(offsets[:-1, None] + np.arange(size), len(data) - 1)]
    month, day, hour = (
        chars[:, i].astype(np.int16) * 10 + chars[:, i + 1] - 11 * ord("0") for i in (5, 8, 11)
    )
    usual = (
        sized
        & ((chars >= _MS_LOWEST) & (chars <= _MS_HIGHEST)).all(axis=1)  # each byte in its range
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= 31)
        & (hour <= 23)
    )
    valid = text.is_valid().to_numpy(zero_copy_only=False) if text.null_count else None
    return pa.array(usual if valid is None else usual & valid)


# Per byte of ``YYYY-MM-DDTHH:MM:SS.fffZ``, the lowest and highest ``_ISO_USUAL`` allows there
# (years 1000-8999; minutes and seconds to 59); month, day and hour are checked as numbers.
_MS_LOWEST = np.frombuffer(b"1000-00-00T00:00:00.000Z", np.uint8)
_MS_HIGHEST = np.frombuffer(b"8999-19-39T29:59:59.999Z", np.uint8)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def datetimes(times: pa.Array) -> list[datetime | None]:
    """A UTC timestamp column as aware datetimes: ``to_pylist`` converts each value's zone and
    costs ~9 µs a value; from the integers, ~0.8."""
    return [None if us is None else _EPOCH + us * _MICROSECOND for us in times.cast(pa.int64()).to_pylist()]


def json_column(values: list[Any]) -> list[str | None]:
    """``dump_json`` over a column."""
    if _JSON_REDACTED.get():
        try:  # decoded JSON has only text keys: the same text as with OPT_NON_STR_KEYS, ~25% faster
            return [None if v is None else orjson.dumps(v).decode() for v in values]
        except TypeError:  # a key that is not text (or a value JSON cannot hold: raised again below)
            return [
                None if v is None else orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode()
                for v in values
            ]
    return [dump_json(v) for v in values]


def extra_column(
    records: list[dict[str, Any]], mapped: frozenset[str], invalid: Invalid, more: list | None = None
) -> list[str | None]:
    """The ``extra`` column: each record's unmapped, non-null fields, then ``more`` (a dict of
    fields per record, or None), then its ``_invalid`` values, as JSON text (null when empty)."""
    unmapped = set().union(*records) - mapped  # the batch's fields no column takes
    if len(unmapped) > 1:
        rests = [{k: v for k, v in r.items() if k not in mapped and v is not None} for r in records]
    elif unmapped:  # one such field (or none, below): read as a column, no record walked through
        (key,) = unmapped
        rests = [None if (v := r.get(key)) is None else {key: v} for r in records]
    else:
        rests = [None] * len(records)
    if more is not None:
        for i, fields in enumerate(more):
            if fields:
                rests[i] = {**rests[i], **fields} if rests[i] else dict(fields)
    for i, values in invalid.items():
        if rests[i] is None:
            rests[i] = {}
        rests[i]["_invalid"] = values
    return json_column([rest or None for rest in rests])
