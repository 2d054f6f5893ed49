"""The one redaction policy: what counts as a credential, wherever a value is written or said.

Everything that leaves the process goes through here: raw payloads and normalized JSON columns
(``redact_json``), other record values such as transcript text (``redact_value``), log lines
(``RedactingFilter``, tracebacks included) and error and alert messages (``redact_text``).
Providers echo secrets back in their records: LeadConnector custom actions carry
``authenticationValue`` and ``Authorization`` header entries, OmniDimension webhook payloads are
JSON documents inside a string, embedding ``call_sid: secret_key_...``, and recording URLs may be
presigned (``X-Amz-Signature``).

The policy:

* a key whose name contains a credential fragment (secret, token, password/pass/pwd, api key,
  auth, credential, signature, private key, cookie, session) has its value replaced; under such a
  key every string and number inside a container is replaced. Booleans and nulls carry no secret
  and are kept; numbers are kept only under counters that only look like secrets
  (``ALLOWED_KEYS`` such as ``total_tokens``, any count of ``tokens``, names ending in ``count``);
  an error's name (``ProviderAuthError: ...``) is not a credential name, nor is a word that only
  holds a fragment (``passenger``, ``passage``, ``passive``, ``passed``, ``passing``, ``compass``,
  ``bypass``, ``secretary``, ``tokenizer``, ``author``, ``authority``);
* header entries ``{key|name|header|field: <name>, value|val: <credential>}`` (also spelled
  ``Key``/``Name``/``Value``, ...) and ``[name, value]`` pairs in a list of pairs: the value of
  one naming a credential, under the same rules as a key;
* inside any string: the known secret values (API keys), ``Bearer``/``Basic``/``Token``
  credentials in any case, OmniDimension ``secret_key_...`` values, secret URL query parameters
  (``X-Amz-Signature``, ``X-Goog-Signature``, ``X-Amz-Credential``, ``token``, ``sig``, ``key``,
  ...), also in a URL encoded once or twice inside another, the password of a URL
  (``https://user:password@host``, also URL-encoded), ``name=value`` / ``name: value``
  assignments with a credential name, and credentials known by their shape: JWTs, the body of a
  PEM private key, Stripe (``sk_live_``, ``sk_test_``), ElevenLabs (``sk_<hex>``),
  OpenAI/Anthropic (``sk-...``), Slack (``xox?-``) and Google (``AIza...``) keys, and the path of
  a Slack or Discord webhook URL (``https://hooks.slack.com/services/[REDACTED]``);
* a string holding a JSON document is redacted as a document, recursively, and so is a JSON
  document quoted inside a longer text ("HTTP 400: {...}", a traceback); a string holding JSON escapes of
  letters or slashes (``\\u0070assword``, ``https:\\/\\/user:pw@host``) is read with them
  resolved, so an escape hides nothing (where that finds a credential, the text is given back
  resolved);
* a known secret used as a key is replaced as well.

``redact_value`` walks decoded values; ``redact_serialized``/``redact_json`` read the JSON text
and walk only what the text cannot answer (credential-named keys holding containers, header
entries and pairs not in the common order, strings holding escapes of their own). Both give the
same bytes, and a second pass finds nothing more (normalize relies on it: see ``policy_fingerprint``).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import logging
import operator
import os
import re
import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from ahocorasick_rs import AhoCorasick, BytesAhoCorasick, MatchKind

REDACTED = "[REDACTED]"

_FRAGMENTS = (
    "secret",
    "token",
    "pass",  # password, passwd, pass
    "pwd",
    "apikey",
    "auth",  # authorization, auth_token, x-auth-token, authenticationValue
    "credential",
    "signature",
    "privatekey",
    "cookie",
    "session",
)
# Counters and flags that only look like secrets (names compared as ``_normal`` makes them): their
# numbers and booleans are kept; a string under one of them is still redacted.
ALLOWED_KEYS = frozenset(
    {
        "totaltokens",
        "prompttokens",
        "completiontokens",
        "inputtokens",
        "outputtokens",
        "maxtokens",
        "tokencount",
        "tokensused",
        "authenticationrequired",
        "authrequired",
        "sessioncount",
        "sessionduration",
    }
)
# URL query parameters that are credentials although their names carry no fragment.
_SECRET_PARAMS = frozenset({"key", "sig"})
_NORMALIZE = str.maketrans("", "", "_-. ")


@lru_cache(maxsize=4096)
def _normal(name: str) -> str:
    return name.translate(_NORMALIZE).lower()


@lru_cache(maxsize=4096)
def is_credential_name(name: str) -> bool:
    """Whether a key, header or parameter name says its value is a credential. An error's name
    (``ProviderAuthError: DialNexa refused ...``, ``"token_error": "expired"``) introduces a
    message, not a credential; words that only contain a fragment (``passenger``, ``author``)
    name none."""
    normal = _BENIGN.sub("", _normal(name))
    return any(fragment in normal for fragment in _FRAGMENTS) and not normal.endswith(_MESSAGE_NAMES)


_MESSAGE_NAMES = ("error", "errors", "exception")
# Ordinary words holding a fragment: "author" (not "authoriz"/"authoris", which names a credential).
_BENIGN = re.compile(r"passeng|passag|passiv|passed|passing|compass|bypass|secretar|tokeniz|author(?!i[sz])")


@lru_cache(maxsize=4096)
def is_counter_name(name: str) -> bool:
    """Whether a credential-looking name counts something, so a number under it is kept: the
    ``ALLOWED_KEYS``, and any name of a count of tokens (``tokens_per_call``: a credential is a
    token, never "tokens") or ending in ``count``."""
    normal = _normal(name)
    return normal in ALLOWED_KEYS or "tokens" in normal or normal.endswith(("count", "counts"))


def _kept(name: str, value: Any) -> bool:
    """Whether a credential-named field's value stays: booleans and nulls carry no secret, and
    the allow-listed counters keep their numbers."""
    if value is None or isinstance(value, bool):
        return True
    return isinstance(value, (int, float)) and is_counter_name(name)


# --- known secret values --------------------------------------------------------------------------

_MIN_SECRET = 6  # shorter values would redact ordinary words
_remembered: set[str] = set()
_from_env: frozenset[str] | None = None
_cache: dict[object, tuple[tuple[str, ...], _InJson]] = {}


def remember_secrets(values: Iterable[str]) -> None:
    """Add configured credential values (API keys) to those redacted everywhere in this process."""
    _remembered.update(v for v in values if v and len(v) >= _MIN_SECRET)
    _cache.clear()


def known_secrets() -> frozenset[str]:
    """Every remembered credential value, plus the values of environment variables named like a
    credential (``DIALNEXA_API_KEY``, ``AWS_SESSION_TOKEN``, ``CALLLOG_SMTP_PASSWORD``), read once
    per process."""
    global _from_env
    if _from_env is None:
        _from_env = frozenset(
            value
            for name, value in os.environ.items()
            if name.upper().rsplit("_", 1)[-1] in _SECRET_ENV_ENDINGS
            and len(value) >= _MIN_ENV_SECRET
            and not value.startswith("/")  # a path (SSH_AUTH_SOCK's kin), not a credential
        )
    return _from_env | _remembered


_SECRET_ENV_ENDINGS = frozenset(
    {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "PWD", "CREDENTIALS"}
)
_MIN_ENV_SECRET = 8


class _InJson:
    """The secrets as they appear inside JSON text, and how a payload is searched for them."""

    def __init__(self, plain: tuple[str, ...]):
        self.texts = tuple(orjson.dumps(s).decode()[1:-1] for s in plain)
        self._raw = tuple(text.encode() for text in self.texts)
        # The markers and the secrets (lower-cased) in one automaton: one pass over a payload
        # instead of one more per secret. A match never overlaps another, so a secret is missed
        # only where a marker's end is its beginning: ``_overlaps`` lists those to look at.
        lowered = [raw.lower() for raw in self._raw]
        # Token counters holding a number get patterns of their own, listed first so they win
        # where 'tokens":' would match (unless a secret could begin inside one: then none).
        counters = [] if _overlapping(_COUNTERS, lowered) else list(_COUNTERS)
        self._shift = len(counters)  # the markers' indexes in ``_scan`` are theirs plus this
        self._scan = BytesAhoCorasick(
            counters + [m.encode() for m in _MARKERS] + lowered + list(_ESCAPES_IN_JSON),
            matchkind=MatchKind.LeftmostFirst,
        )
        first_escape = self._shift + len(_MARKERS) + len(lowered)
        self._escapes = frozenset(range(first_escape, first_escape + len(_ESCAPES_IN_JSON)))
        self._overlaps: dict[int, list[tuple[int, bytes]]] = {}
        for index, marker in enumerate(m.encode() for m in _MARKERS):
            for secret in lowered:
                for size in range(1, len(marker) + 1):
                    if marker[-size:] == secret[:size]:
                        self._overlaps.setdefault(index, []).append((size, secret))
        self._secret_markers = frozenset(range(len(_MARKERS), len(_MARKERS) + len(lowered)))
        self._special = self._secret_markers | frozenset(self._overlaps)  # hits that need a look
        # Hits that change nothing: token counters, and URLs without a password (``_passwords``)
        # unless a secret may begin inside their "://" ("/K9f..." after "https:/").
        self._plain = frozenset(range(self._shift))
        if _URL not in self._overlaps:
            self._plain |= {_URL + self._shift}
        self._not_plain = frozenset(range(first_escape + len(_ESCAPES_IN_JSON))) - self._plain
        self._url = -1 if _URL in self._overlaps else _URL + self._shift  # -1: no URL hit is plain

    def find(
        self, data: bytes, lowered: bytes, found: list[tuple[int, int, int]] | None = None, begin: int = 0
    ) -> tuple[list[tuple[int, int, int]], list[str] | None]:
        """The markers in ``lowered`` (``data.lower()``), as ``_SCAN`` finds them, and the secrets
        ``data`` holds, as they appear in it; None for those if a string in ``data`` holds JSON
        escapes of its own (``\\u0041``, ``\\/``), which may hide anything: it is walked.
        ``found``: this automaton's matches in ``lowered``, if the caller has them already, at
        their offsets plus ``begin`` (in a page, where ``data`` begins at ``begin``: renumbered
        here in the same pass)."""
        if found is None:
            found = self._scan.find_matches_as_indexes(lowered)
        if not found:
            return found, []
        ids = set(map(_FIRST, found))
        if not self._escapes.isdisjoint(ids):
            return found, None  # the matches are not read: the value is walked
        if ids <= self._plain and not (b"@" in data and self._passwords(lowered, found, begin)):
            # Only counters and URLs without a password: all ``_triage`` would drop. Most
            # OmniDimension records (six counters and a recording URL each).
            return [], []
        # URLs without an "@" after them hold no password (``_triage`` drops them): dropped here
        # too where the payload has none, unless a secret may begin inside their "://".
        shift = self._shift  # counters dropped (``_triage`` keeps them), markers renumbered
        if self._url != -1 and b"@" not in data:
            url = self._url
            found = [(m - shift, s - begin, e - begin) for m, s, e in found if m >= shift and m != url]
        elif shift or begin:
            found = [(m - shift, s - begin, e - begin) for m, s, e in found if m >= shift]
        special = self._special.intersection(map(_FIRST, found))  # C-level: most records have none
        if not special or (special.isdisjoint(self._secret_markers) and not self._hidden(lowered, found)):
            return found, []
        # Something like a secret (in any case): the exact, slower way.
        present = [text for text, raw in zip(self.texts, self._raw, strict=True) if raw in data]
        return _SCAN.find_matches_as_indexes(lowered), present

    def _passwords(self, lowered: bytes, found: list[tuple[int, int, int]], begin: int = 0) -> bool:
        """Whether a URL among the matches may hold a password: an "@" after its "://", before
        its string ends (where ``_triage`` looks)."""
        url = _URL + self._shift
        return any(marker == url and _password_after(lowered, end - begin) for marker, _, end in found)

    def changing(self, payloads: Sequence[bytes]) -> list[tuple[int, bytes, list[tuple[int, int, int]], int]]:
        """The payloads of a page that ``find`` and ``_redact_scanned`` may change, each with its
        index, lower-cased, its matches and where it begins in the page (the matches' offsets are
        the page's, for ``find`` to renumber); the others hold only counters, URLs without a
        password and no "=", which those give back as they are. One pass over the page joined (a
        call per payload cost more than the scan of a small one; scanning a few payloads at a time
        was no faster). No pattern holds a newline, so no match spans two payloads and each one's
        matches are those it has alone."""
        # Where each payload begins in the page (each is followed by a newline): at C speed.
        starts = list(
            itertools.accumulate(map(operator.add, map(len, payloads), itertools.repeat(1)), initial=0)
        )
        joined = b"\n".join(payloads)
        lowered = _ascii_lower(joined)
        found = self._scan.find_matches_as_indexes(lowered)
        # Filtered at C speed (an OmniDimension record has seven hits, most of them plain).
        markers, found_at = list(map(_FIRST, found)), list(map(_SECOND, found))
        at = list(itertools.compress(found_at, map(self._not_plain.__contains__, markers)))
        at += _positions(joined, b"=")
        if (url := self._url) != -1 and (urls := markers.count(url)) and b"@" in joined:
            # A URL's password: an "@" after its "://" in the same string. Looked for from
            # whichever the page has fewer of (OmniDimension: URLs; LeadConnector: e-mails).
            if len(signs := _positions(joined, b"@", urls)) < urls:
                at += [a for a in signs if _url_before(joined, a)]
            else:
                ends = itertools.compress(map(_THIRD, found), map(url.__eq__, markers))
                at += [end for end in ends if _password_after(lowered, end)]
        if not at:
            return []
        changing = []
        for i in sorted(set(map(partial(bisect.bisect_right, starts), at))):
            i -= 1
            begin, end = starts[i], starts[i + 1] - 1
            hits = found[bisect.bisect_left(found_at, begin) : bisect.bisect_left(found_at, end)]
            changing.append((i, lowered[begin:end], hits, begin))
        return changing

    def _hidden(self, lowered: bytes, found: list[tuple[int, int, int]]) -> bool:
        """Whether a secret may begin inside a marker's match, where the automaton cannot see it."""
        for marker, _, end in found:
            for size, secret in self._overlaps.get(marker, ()):
                if lowered.startswith(secret, end - size):
                    return True
        return False


def _ascii_lower(data: bytes) -> bytes:
    """``data.lower()`` (ASCII letters only), by Arrow's vectorized kernel where ``data`` is a
    large page (OmniDimension's, about 650 kB): ``bytes.lower`` goes a byte at a time (about six
    instructions a byte: a quarter of an OmniDimension record's redaction), Arrow's a vector at
    a time; but a call costs tens of microseconds, the first in a process about a millisecond,
    which pages of 50 kB (DialNexa's, LeadConnector's) did not repay in the ingest benchmark."""
    if len(data) < _ARROW_LOWER_FROM:
        return data.lower()
    offsets = pa.py_buffer(struct.pack("<2q", 0, len(data)))
    strings = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    return pc.ascii_lower(strings).buffers()[2].to_pybytes()


_ARROW_LOWER_FROM = 256 * 1024


_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
_THIRD = operator.itemgetter(2)


def _password_after(lowered: bytes, end: int) -> bool:
    """Whether an "@" follows a URL's "://" (ending at ``end``) in the same JSON string."""
    quote = lowered.find(b'"', end)
    return quote != -1 and lowered.find(b"@", end, quote) != -1


def _url_before(data: bytes, at: int) -> bool:
    """Whether a "://" comes before the "@" at ``at`` in the same JSON string."""
    return data.find(b"://", data.rfind(b'"', 0, at) + 1, at) != -1


# "\\u" and "\\/" as serialized JSON shows them (orjson writes no other): a string holding an
# escape of a letter or a slash (a JSON document inside it, or text copied out of one).
_ESCAPES_IN_JSON = (b"\\\\u", b"\\\\/")
# A token counter holding a number ("total_tokens":12), as ``_triage`` keeps it without a look.
_COUNTERS = tuple(b'tokens":' + bytes([c]) for c in b"-0123456789")


def _overlapping(patterns: Iterable[bytes], secrets: Iterable[bytes]) -> bool:
    """Whether a secret may begin inside one of the patterns' matches."""
    return any(
        pattern[-size:] == secret[:size]
        for pattern in patterns
        for secret in secrets
        for size in range(1, len(pattern) + 1)
    )


def _secrets(known: Iterable[str] | None) -> tuple[tuple[str, ...], _InJson]:
    """The values to replace: ``known`` and ``known_secrets()``, longest first (a key may contain
    another), as they are and as they appear inside JSON text; cached, because every record asks."""
    key = known if known is None or isinstance(known, (tuple, frozenset)) else tuple(known)
    if (found := _cache.get(key)) is None:
        values = known_secrets() | {s for s in key or () if s}
        plain = tuple(sorted(values, key=len, reverse=True))
        if len(_cache) > 64:
            _cache.clear()
        found = _cache[key] = (plain, _InJson(plain))
    return found


# --- finding candidates -----------------------------------------------------------------------------

# Regexes over whole texts are slow (case-blind ones more so), and most records hold no
# credential. One Aho-Corasick pass over the lower-cased text (a SIMD scan, about as fast as
# serializing the record) finds the few places worth a look; the checks below run only there.
_MARKERS = (
    "secret",
    'tokens":',  # the end of a key counting tokens ("total_tokens":12), found instead of "token"
    "token",
    "pass",
    "pwd",
    "api",
    "auth",
    "credential",
    "signature",
    "private",
    "cookie",
    "session",
    "bearer",
    "basic",
    "://",  # a URL, which may carry a password before its host (https://user:password@host)
    "%3d",  # an URL-encoded "=" (a URL carried inside a query parameter)
    "%253d",  # the same encoded twice (a URL inside a URL inside a query parameter)
    "%3a%2f%2f",  # an URL-encoded "://"
    "%253a%252f%252f",  # and encoded twice
    # Credentials known by their shape, wherever they stand (an LLM prompt, a tool call's
    # arguments, an error body): JWTs, private keys, and API keys with a published prefix.
    "eyj",  # a JWT's header: base64 of '{"'
    "-----begin",  # a PEM block
    # Each marker costs scan time on every record (these six: ~0.25 us on a 5 kB OmniDimension
    # record): only the kinds a voice agent's prompt, tools or integrations are likely to hold.
    "sk_",  # Stripe sk_live_/sk_test_, ElevenLabs sk_<hex>
    "sk-",  # OpenAI sk-..., sk-proj-..., Anthropic sk-ant-...
    "xox",  # Slack xoxb-, xoxp-, ...
    "aiza",  # Google API keys
    # Webhook URLs whose path is the credential (anyone holding one can post to the channel):
    # an OmniDimension Slack delivery or a tool's configuration carries them.
    "hooks.slack.com/",
    "discord.com/api/webhooks/",
    "discordapp.com/api/webhooks/",
)
_NAME_MARKERS = _MARKERS.index("bearer")  # markers before this one are parts of credential names
_EQUALS = len(_MARKERS)  # "=" (query parameters, assignments) is found with str.find: a one-byte
# pattern would turn the automaton's fast scan off.
_EQUALS_SIGNS = frozenset({_EQUALS, _MARKERS.index("%3d"), _MARKERS.index("%253d")})
_ENCODED_URLS = frozenset({_MARKERS.index("%3a%2f%2f"), _MARKERS.index("%253a%252f%252f")})
_SHAPES = frozenset(range(_MARKERS.index("eyj"), len(_MARKERS)))
_SCAN = BytesAhoCorasick([m.encode() for m in _MARKERS], matchkind=MatchKind.LeftmostFirst)
_SCAN_TEXT = AhoCorasick(_MARKERS, matchkind=MatchKind.LeftmostFirst)  # for non-ASCII text
# Authorization schemes, whose value is the credential.
_SCHEME_WORDS = ("bearer", "basic", "token")  # HTTP Authorization schemes
_SCHEMES = frozenset(_MARKERS.index(word) for word in _SCHEME_WORDS)
_SECRET = _MARKERS.index("secret")
_TOKEN = _MARKERS.index("token")
_COUNTER_KEY = _MARKERS.index('tokens":')
_URL = _MARKERS.index("://")


def _lower(text: str) -> str:
    """Lower-cased, position for position: "İ", the one letter ``str.lower`` lengthens (to "i"
    and a combining dot), becomes "i". Every other letter is lowered as ``str.lower`` does, the
    Kelvin sign to "k" included, whatever else the text (or a joined batch) holds."""
    return text.replace("\u0130", "i").lower()


def _hits(lowered: str) -> list[tuple[int, int, int]]:
    """``(marker index, start, end)`` of every marker in a lower-cased text, "=" included."""
    if lowered.isascii():  # byte offsets are character offsets
        return _SCAN.find_matches_as_indexes(lowered.encode()) + _equals(lowered)
    return _SCAN_TEXT.find_matches_as_indexes(lowered) + _equals(lowered)


def _equals(text: str) -> list[tuple[int, int, int]]:
    """Every "=" (its URL-encoded form is one of the ``_MARKERS``)."""
    return [(_EQUALS, at, at + 1) for at in _positions(text, "=")]


# Name markers whose hit ``_span_at`` reads for more than an assignment: "secret" (OmniDimension's
# ``secret_key_...``) and "token" (an Authorization scheme).
_READ_AROUND = frozenset({_SECRET, _TOKEN})
_NAME_END = re.compile(r"[\w.\-]*")  # names (keys, parameters, assignment targets)


def _is_name_char(c: str) -> bool:
    return c.isalnum() or c in "_.-"


def _name_around(lowered: str, start: int, end: int) -> tuple[int, int]:
    return _name_start(lowered, start), _name_end(lowered, end)


# At most _LONGEST_NAME characters either way: a long run of name characters holding many
# markers ("tokentoken...") would otherwise be read once per marker.
def _name_start(lowered: str, start: int) -> int:
    floor = max(0, start - _LONGEST_NAME)
    while start > floor and _is_name_char(lowered[start - 1]):
        start -= 1
    return start


def _name_end(lowered: str, end: int) -> int:
    return _NAME_END.match(lowered, end, end + _LONGEST_NAME).end()


_LONGEST_NAME = 64


# --- text: inline credentials ---------------------------------------------------------------------

# Every pattern stops at quotes and backslashes, so running them over serialized JSON can never
# break the JSON: a replacement only ever changes characters inside one string value.
_URL_PASSWORD = re.compile(r"[^\s/@:\"'\\]+:([^\s/@\"'\\]+)@")  # after "://": user:password@
_SECRET_KEY_VALUE = re.compile(r"(?i)secret_key_[A-Za-z0-9_\-]+")  # OmniDimension's call_sid credential
# The same over ASCII text, where it matches alike: a case-blind class costs 1 us a match, this 0.2.
_SECRET_KEY_VALUE_ASCII = re.compile(r"[sS][eE][cC][rR][eE][tT]_[kK][eE][yY]_[A-Za-z0-9_\-]+")
# Whitespace and quotes may come JSON-escaped (``\n``, ``\"``): the patterns also run over JSON text.
_SCHEME_VALUE = re.compile(r"(?:\s|\\[nrt])+([A-Za-z0-9._~+/\-]+=*)")
_QUERY_VALUE = re.compile(r"[^&#\s\"'\\]+")


@lru_cache(maxsize=4)
def _encoded_query_value(percent: str) -> re.Pattern:
    """A parameter's value in a URL encoded once (``percent`` "%") or twice ("%25"), up to its
    encoded "&"."""
    return re.compile(rf"(?:[^&#%\s\"'\\]|%(?!{percent[1:]}26)[0-9A-Fa-f]{{2}})+")


@lru_cache(maxsize=4)
def _encoded_url_password(percent: str) -> re.Pattern:
    """``user:password@`` after an encoded "://" (``user%3Apassword%40``), encoded as ``percent``."""
    sep, at = percent + "3a", percent + "40"
    return re.compile(rf"(?i)[^\s/@:%\"'\\&?#]+{sep}((?:[^\s/@%\"'\\&?#]|%(?!{at[1:]})[0-9a-f]{{2}})+){at}")


# Credentials by their shape (``_MARKERS`` finds where they may begin; matched in their case).
_SHAPED = re.compile(
    r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"  # JWT: header.payload.signature
    r"|sk_(?:live|test)_[A-Za-z0-9]{8,}|sk_[0-9a-f]{32,}"
    r"|sk-(?=[A-Za-z0-9_\-]*\d)[A-Za-z0-9_\-]{20,}"
    r"|xox[abeprs]-[A-Za-z0-9\-]{10,}"
    r"|AIza[A-Za-z0-9_\-]{35}"
)
# A webhook URL's secret path: Slack's services/workflows/triggers ids and token, Discord's id and token.
_WEBHOOK_PATH = re.compile(
    r"(?i)(?:hooks\.slack\.com/(?:services|workflows|triggers)/|(?:discord|discordapp)\.com/api/webhooks/)"
    r"([A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+)*)"
)
# A private key's body, up to its END line (newlines may come JSON-escaped).
_PEM_BODY = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----((?:[A-Za-z0-9+/=\s:,\-]|\\+[nr])+?)-----END")
# "name = value": what comes between them (quotes may be escaped once or more: a JSON document
# inside a string, seen in JSON text), and the value.
_VALUE = re.compile(r"[^\s\"'\\&,;)\]}]+")
# A credential's name written as two words, the second "key" (the first holds the marker).
# A space or a tab between a name and what is assigned to it; a tab comes JSON-escaped ("\t")
# where the patterns run over JSON text, and a text may hold one escaped again.
_BLANK = r"(?:[ \t]|\\+t)"
_KEY_WORD = re.compile(rf"{_BLANK}+key\b")
_ASSIGNED = re.compile(rf"(?:\\*['\"])?{_BLANK}*(?::=|[:=]){_BLANK}*(?:\\*['\"])?(?=[^\s\"'\\&,;)\]}}])")
# Whether ``_assignment_span`` can find anything after a marker: the rest of its name (as
# ``_name_end`` reads it, at most _LONGEST_NAME characters), "key" as a second word, an
# assignment; one match where a word holds a marker with nothing assigned (most such hits).
_ASSIGNABLE = re.compile(r"[\w.\-]{0,64}+(?:" + _KEY_WORD.pattern + ")?" + _ASSIGNED.pattern)


def _continues_word(text: str, start: int) -> bool:
    """Whether ``text[start]`` is inside a word ("total_tokens"): after a letter, digit or "_"
    that is not the end of a JSON escape (``\nBearer ...`` in JSON text begins a word)."""
    if not start or not (text[start - 1].isalnum() or text[start - 1] == "_"):
        return False
    # After any backslash: JSON text and the decoded text read alike (both see "\\n").
    return not (text[start - 1] in "nrtbf" and text[start - 2 : start - 1] == "\\")


def _scheme_span(text: str, lowered: str, start: int, end: int) -> tuple[int, int] | None:
    if _continues_word(lowered, start):
        return None  # inside a word: "total_tokens"
    if lowered.startswith("bearer:", start):
        end += 1  # "Bearer: <credential>", as some logs print it
    if not (m := _SCHEME_VALUE.match(text, end)):
        return None
    value = m.group(1)
    # "Bearer" is only ever followed by a credential; "basic" and "token" are English words too, so
    # only a credential-looking value (long, with a digit in it, or Basic's base64) is taken for one.
    scheme = lowered[start:end]
    if scheme == "bearer":
        secret = len(value) >= 6
    else:
        secret = len(value) >= 20 or (len(value) >= 8 and any(c.isdigit() for c in value))
        secret = secret or (scheme == "basic" and _is_basic_credential(value))
    return m.span(1) if secret else None


_BASE64 = re.compile(r"[A-Za-z0-9+/]{6,}={0,2}")


def _is_basic_credential(value: str) -> bool:
    """Base64 of ``user:password`` as Basic sends it: a whole number of 4-character groups, with
    padding, a symbol or a capital letter past the first (``dXNlcjpwYXNz``; not "basic Questions")."""
    return (
        len(value) % 4 == 0
        and _BASE64.fullmatch(value) is not None
        and (value.endswith("=") or "+" in value or "/" in value or not value[1:].islower())
    )


def _query_span(text: str, lowered: str, at: int, end: int) -> tuple[int, int] | None:
    start, _ = _name_around(lowered, at, at)
    percent = lowered[at : end - 2]  # "name%3Dvalue" inside an encoded URL ("%"), "%253D" twice ("%25")
    # After "%3F"/"%26" ("%253F"/"%2526") the name scan also took the separator's hex digits.
    separator = next((s for s in ("3f", "26") if lowered.startswith(percent[1:] + s, start)), None)
    if percent and separator and lowered[start - 1 : start] == "%":
        start += len(percent) - 1 + len(separator)
    elif start == 0 or text[start - 1] not in "?&":
        return None
    name = lowered[start:at]
    if name and (name in _SECRET_PARAMS or is_credential_name(name)):
        m = (_encoded_query_value(percent) if percent else _QUERY_VALUE).match(text, end)
        return m.span() if m else None
    return None


def _assignment_span(text: str, lowered: str, start: int, end: int) -> tuple[int, int] | None:
    # Whether something is assigned first: most markers stand in words ("api.example.com", "API")
    # with nothing assigned, and the name need not be read back.
    if _ASSIGNABLE.match(lowered, end) is None:
        return None
    m = _ASSIGNED.match(text, end := _name_end(lowered, end))
    if m is None and (key := _KEY_WORD.match(lowered, end)):  # "API Key: ...", "Secret Key = ..."
        m = _ASSIGNED.match(text, end := key.end())
    if m is None:
        return None
    start = _name_start(lowered, start)
    if not is_credential_name(lowered[start:end]):
        return None
    value_start, value_end = m.end(), _run_end(text, m.end())
    if value_end - value_start > 64:  # no word or number kept below is longer (nor copied: see _run_end)
        return value_start, value_end
    value = text[value_start:value_end]
    if value == REDACTED or value.lower() in ("true", "false", "null", "none"):
        return None
    if is_counter_name(lowered[start:end]) and _is_number(value):
        return None
    # "Authorization: Basic <credential>": the assigned word is the scheme and the credential follows
    # it. The name says it is a credential, so it goes however short (the scheme's own rule guesses).
    if value.lower() in _SCHEME_WORDS and (credential := _SCHEME_VALUE.match(text, value_end)):
        return credential.span(1)
    return value_start, value_end


def _run_end(text: str, start: int) -> int:
    """Where the assigned value beginning at ``start`` ends. The last run found is remembered: in
    "token=token=token=..." every marker's value ends where the first one's does, and reading it
    again for each would cost the square of the text's length."""
    global _last_run
    seen, run_start, run_end = _last_run
    if seen is text and run_start <= start < run_end:
        return run_end
    run_end = _VALUE.match(text, start).end()
    _last_run = (text, start, run_end)  # one tuple, replaced whole: safe across threads
    return run_end


_last_run: tuple[str, int, int] = ("", 0, 0)


def _shaped_span(text: str, start: int) -> tuple[int, int] | None:
    """A credential known by its shape beginning at ``start``, not inside a longer word."""
    if _continues_word(text, start):
        return None
    if (m := _PEM_BODY.match(text, start)) or (m := _WEBHOOK_PATH.match(text, start)):
        return m.span(1)
    return m.span() if (m := _SHAPED.match(text, start)) else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _span_at(text: str, lowered: str, marker: int, start: int, end: int) -> tuple[int, int] | None:
    """The credential to replace at one marker found in the text, if there is one."""
    if marker == _COUNTER_KEY:
        marker, end = _TOKEN, start + len("token")
    if marker in _EQUALS_SIGNS:
        span = _query_span(text, lowered, start, end)
    elif marker == _SECRET and (
        m := (_SECRET_KEY_VALUE_ASCII if text.isascii() else _SECRET_KEY_VALUE).match(text, start)
    ):
        span = m.span()
    elif marker == _URL:
        span = m.span(1) if (m := _URL_PASSWORD.match(text, end)) else None
    elif marker in _ENCODED_URLS:
        span = (
            m.span(1)
            if (
                m := _encoded_url_password("%25" if lowered.startswith("%25", start) else "%").match(
                    text, end
                )
            )
            else None
        )
    elif marker in _SHAPES:
        span = _shaped_span(text, start)
    else:
        span = _scheme_span(text, lowered, start, end) if marker in _SCHEMES else None
        span = span or _assignment_span(text, lowered, start, end)
    # Already replaced (a second pass, or a known secret replaced first) stays as it is.
    return span if span and not text.startswith(REDACTED, span[0]) else None


def _scrub(
    text: str,
    secrets: Sequence[str],
    scanned: tuple[str, list] | None = None,
    values: Sequence[tuple[int, int]] = (),
) -> str:
    """``text`` with its inline credentials replaced (also run over serialized JSON: see above).
    ``scanned``: the text's ``(_lower(text), _hits(...))`` if the caller has them already;
    ``values``: spans of it replaced whole (string values ``_triage`` found under a credential
    name; the caller passes none when a secret is to be replaced, which would move them)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
            scanned = None
    lowered, hits = scanned or _scan(text)
    if not hits and not values:
        return text
    spans = list(values)
    for marker, start, end in hits:
        if span := _span_at(text, lowered, marker, start, end):
            spans.append(span)
    if not spans:
        return text
    parts, done = [], 0
    for start, negative_end in sorted((start, -end) for start, end in spans):  # the longest first
        end = -negative_end
        if start >= done:  # spans may overlap: ?token=... is also an assignment
            parts += (text[done:start], REDACTED)
            done = end
    return "".join(parts) + text[done:]


# --- structure ------------------------------------------------------------------------------------

_HEADER_NAME_KEY = re.compile(r'"(?:key|name|header|field)\\*"\s*:\s*\\*\Z')
# A string opening a ``[name, value]`` pair (a header list as ``requests`` and ``httpx`` take it).
_PAIR_OPEN = re.compile(r"\[\s*\\*\Z")
_PAIR_NAME_END = re.compile(r'\\*"\s*,')


_AFTER_KEY = re.compile(r"[\s\\]*:[\s\\]*(.)")  # after a key's closing quote: the value's first character


_KEPT_STARTS = frozenset("-0123456789tfn")  # a number, true, false or null


def _triage(
    lowered_json: str, hits: list[tuple[int, int, int]], text_json: str | None = None
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]] | None:
    """What a (lower-cased) JSON text needs: None if it holds a credential only its structure
    shows and that must be walked (a credential-named key or a header entry naming a credential
    whose value is not a plain string; keys of JSON documents embedded in strings, their quotes
    escaped, count too). Otherwise the hits still worth a look inside string values (kept keys
    such as ``"total_tokens":12`` dropped) and the spans of the string values that go whole
    (``"authenticationValue":"sk_..."``, ``{"key":"Authorization","value":"Bearer ..."}``).
    ``text_json``: the text before lower-casing, where the letter case of a header entry's keys
    matters (``"Key"`` is left to the walk)."""
    text, left, values = lowered_json, [], []
    cased = text_json or lowered_json
    for hit in hits:
        marker, at, end = hit
        if values and values[-1][0] <= at < values[-1][1]:
            continue  # inside a string that goes whole ("authenticationValue":"sk_live_...")
        if marker == _COUNTER_KEY:
            # Most records count tokens, several times: "...tokens":<number, true, false or null>
            # is a kept counter, known without looking further. Anything else is read as "token".
            if text[end : end + 1] in _KEPT_STARTS:
                continue
            marker = _TOKEN
            hit = (marker, at, end := at + len("token"))
        if marker == _URL:
            # A URL's password sits before an "@" in the same string: most URLs have none.
            if text.find("@", end, max(text.find('"', end), end)) != -1:
                left.append(hit)
            continue
        if marker >= _NAME_MARKERS:  # "bearer", "basic", "=": not parts of a credential name
            left.append(hit)
            continue
        open_quote, close_quote = text.rfind('"', 0, at), text.find('"', at)
        if open_quote == -1 or close_quote == -1:
            left.append(hit)
            continue
        # A credential-name marker is decided by ``_decide``, which reads only a window around
        # the string when a string ends at ``close_quote`` (see ``_decide``): a custom action's
        # keys and texts repeat from call to call, so their decisions are remembered by it.
        if (
            text[close_quote + 1 : close_quote + 2] in _STRING_ENDS
            and close_quote - open_quote <= _DECIDED_LENGTH
        ):
            decision = _window_decision(text, cased, marker, at, end, open_quote, close_quote)
        else:
            decision = _decide(
                text, marker, at, end, open_quote, close_quote, cased[open_quote - 6 : open_quote]
            )
        if decision is _DROP:
            continue
        if decision is _LEFT:
            left.append(hit)
            continue
        if decision is _WALK:
            return None
        # The value's span, read from the text each time (the secret in it changes from call to call).
        if (
            span := _string_after(
                *((text, close_quote, ":") if decision is _KEY_VALUE else (cased, close_quote, ',"value":'))
            )
        ) is None:
            return None
        if span[1] > span[0]:  # an empty string stays empty
            values.append(span)
    return left, values


# What ``_decide`` says of a credential-name marker's hit.
_DROP, _LEFT, _WALK = "drop", "left", "walk"  # nothing there; a look inside the string; the walk
_KEY_VALUE = "key value"  # the value of the key the hit is in goes whole (if a plain string)
_ENTRY_VALUE = "entry value"  # the "value" of the header entry whose "key" the string is goes whole
_STRING_ENDS = frozenset(":,}]")  # what follows a string's closing quote in orjson's output
_BEFORE_STRING = 24  # the most ``_decide`` reads before a string's opening quote
_DECIDED_LENGTH = 96  # longer strings (texts, a secret in a URL) are decided each time
_DECISIONS = 4096
_decisions: dict[tuple[int, int, str | bytes, str | bytes], str] = {}


def _window_decision(
    lowered: str | bytes,
    cased: str | bytes,
    marker: int,
    at: int,
    end: int,
    open_quote: int,
    close_quote: int,
) -> str:
    """``_decide`` for a hit in a string of at most ``_DECIDED_LENGTH`` characters followed by one
    of ":,}]", from its window (text or ASCII bytes, lower-cased and as written) and remembered by
    it: the window is all ``_decide`` reads there."""
    start = open_quote - _BEFORE_STRING if open_quote > _BEFORE_STRING else 0
    window, entry_key = lowered[start : close_quote + 3], cased[open_quote - 6 : open_quote]
    if (decision := _decisions.get(key := (marker, at - start, window, entry_key))) is None:
        if len(_decisions) >= _DECISIONS:
            _decisions.clear()
        if isinstance(window, bytes):
            window, entry_key = window.decode(), entry_key.decode()
        decision = _decisions[key] = _decide(
            window, marker, at - start, end - start, open_quote - start, close_quote - start, entry_key
        )
    return decision


def _decide(
    text: str, marker: int, at: int, end: int, open_quote: int, close_quote: int, entry_key: str
) -> str:
    """What the credential-name marker ``marker`` at ``at:end``, inside the string quoted at
    ``open_quote`` and ``close_quote`` of the lower-cased ``text``, calls for (``_triage``).
    ``entry_key``: the six characters before the string as written (``"key":`` or not).

    Where the character after ``close_quote`` is one of ":,}]" (as after every string orjson
    writes), it reads nothing outside ``text[max(0, open_quote - 24) : close_quote + 3]``, the
    window: before the string, two searches of 8 and 24 characters that end at its quote; the
    string; after it, ``close_quote + 1`` and ``+ 2`` (a key's value's first character). The
    patterns that could read further stop at ``close_quote + 1``: ``_AFTER_KEY`` and
    ``_PAIR_NAME_END`` go on only over blanks and backslashes, and ``_ASSIGNABLE``, run from
    ``end``, reads name characters and blanks up to the closing quote at the latest, may take
    that quote, and then needs a blank or a sign. No pattern looks behind where it starts. So
    the window decides (the one place it is not: a value's span, which ``_triage`` reads each
    time): ``_triage`` remembers a decision by ``(marker, at, window, entry_key)``, the window's
    offsets counted from its start, and decides it on the window alone
    (``test_redaction_pages.test_a_window_decides_as_the_whole_text`` holds the two alike)."""
    if text[close_quote + 1 : close_quote + 2] == ":":  # a key, as orjson writes them
        first = text[close_quote + 2 : close_quote + 3]
    else:
        first = value.group(1) if (value := _AFTER_KEY.match(text, close_quote + 1)) else None
    if first is not None:  # the string is a key
        name = text[open_quote + 1 : close_quote].rstrip("\\")
        if not is_credential_name(name):
            return _DROP
        if first in "tfn" or (first in "-0123456789" and is_counter_name(name)):
            return _DROP  # true, false, null, or an allow-listed counter: kept
        return _KEY_VALUE
    # A value: a credential only as the name of a header entry or of a [name, value] pair
    # (checked first: the string may be a long text, and names are cached).
    if _PAIR_OPEN.search(text, max(0, open_quote - 8), open_quote) and _PAIR_NAME_END.match(
        text, close_quote - 1 if text[close_quote - 1] == "\\" else close_quote
    ):
        if is_credential_name(text[open_quote + 1 : close_quote].rstrip("\\")):
            return _WALK  # the walk tells a list of pairs from any other list
        return _LEFT
    if _HEADER_NAME_KEY.search(text, max(0, open_quote - 24), open_quote) and is_credential_name(
        text[open_quote + 1 : close_quote].rstrip("\\")
    ):
        # Only {"key": <name>, "value": "<string>"} in that order and that case is read here:
        # other names and a value first are left to the walk.
        return _ENTRY_VALUE if entry_key == '"key":' else _WALK
    if marker not in _READ_AROUND and _ASSIGNABLE.match(text, end) is None:
        return _DROP  # a word with nothing assigned after it ("external API", an API's host)
    return _LEFT


def _string_after(text: str, close_quote: int, separator: str) -> tuple[int, int] | None:
    """The span of the characters of the JSON string that follows ``separator`` right after the
    unescaped quote at ``close_quote`` (as orjson writes them: no spaces), or None where the text
    is not so (a number or container follows, or the quote is escaped: a JSON document inside a
    string, which is walked)."""
    if text[close_quote - 1] == "\\" or not text.startswith(separator + '"', close_quote + 1):
        return None
    start = end = close_quote + 1 + len(separator) + 1
    while (end := text.find('"', end)) != -1:
        before = end
        while text[before - 1] == "\\":
            before -= 1
        if (end - before) % 2 == 0:  # not escaped
            return start, end
        end += 1
    return None


def _walked(triaged: tuple[list, list] | None) -> bool:
    """Whether a JSON document inside a string is walked: whenever its structure holds a credential."""
    return triaged is None or bool(triaged[1])


# The keys of a header entry (``{"key": "Authorization", "value": ...}``), as APIs spell them.
_ENTRY_VALUES = ("value", "Value", "VALUE", "val")
_ENTRY_NAMES = ("key", "name", "Key", "Name", "KEY", "NAME", "header", "Header", "field", "Field")


def _secret_entry(entry: dict) -> str | None:
    """The key holding the credential of a header entry whose name is a credential's, if it is one."""
    for value_key in _ENTRY_VALUES:
        if value_key in entry:
            break
    else:
        return None
    for name_key in _ENTRY_NAMES:
        name = entry.get(name_key)
        if isinstance(name, str) and is_credential_name(name) and not _kept(name, entry[value_key]):
            return value_key
    return None


def _is_pair_list(value: list) -> bool:
    """``[[name, value], ...]``: headers or parameters as pairs."""
    return bool(value) and all(
        type(item) is list and len(item) == 2 and type(item[0]) is str for item in value
    )


def _secret_pair(pair: list) -> int | None:
    """1 (the value's index) if a ``[name, value]`` pair names a credential."""
    name, value = pair
    return 1 if is_credential_name(name) and not _kept(name, value) else None


def _redact_document(value: Any, secrets: tuple[str, ...]) -> Any:
    """A copy of decoded JSON with every credential replaced: credential-named fields and header
    entries by the copy (``_copy``), strings by ``_redact_string``. A record holds dozens of
    strings and only the few with a marker, "=" or a known secret in them can change, so they are
    looked at together (``_changing``) and the copy is patched where one changed."""
    if not isinstance(value, (dict, list)):
        return _redact_string(value, secrets) if isinstance(value, str) else value
    strings: list[str] = []
    places: list[tuple[dict | list, Any]] = []  # where each of ``strings`` sits in the copy
    copy = _copy(value, strings, places, False)
    for i in _changing(strings, secrets):
        container, key = places[i]
        container[key] = _redact_string(strings[i], secrets)
    return copy


def _copy(
    value: dict | list, strings: list[str], places: list, secret: bool, pair: bool = False
) -> dict | list:
    """``value`` copied, with what ``secret``, a credential name or a header entry or pair naming
    a credential marks replaced; every other string is noted with its place in the copy (in
    ``strings`` and ``places``). ``pair``: ``value`` is an item of a list of ``[name, value]``."""
    pairs = False
    if isinstance(value, dict):
        out: dict | list = {}
        header = None if secret else _secret_entry(value)
        items = value.items()
    else:
        out, items = [None] * len(value), enumerate(value)
        header = _secret_pair(value) if pair and not secret else None
        pairs = not secret and _is_pair_list(value)
    for key, item in items:
        hidden = secret
        if header is not None and key == header:
            hidden = True
        elif not secret and isinstance(key, str) and is_credential_name(key):
            if _kept(key, item):
                out[key] = item
                continue
            hidden = True
        # Inline, not a call per value: most values are strings and numbers.
        if isinstance(item, str):
            if hidden:
                item = REDACTED if item else item
            else:
                strings.append(item)
                places.append((out, key))
        elif isinstance(item, (dict, list)):
            item = _copy(item, strings, places, hidden, pairs)
        elif hidden and isinstance(item, (int, float)) and not isinstance(item, bool):
            item = REDACTED
        out[key] = item
    return out


def _scan(text: str) -> tuple[str, list[tuple[int, int, int]]]:
    lowered = _lower(text)
    return lowered, _hits(lowered)


def _redact_string(text: str, secrets: tuple[str, ...]) -> str:
    scanned = _scan(text)
    stripped = text.strip()
    escaped = "\\" in text and _LETTER_ESCAPE.search(text) is not None
    if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
        if escaped or _walked(_triage(*scanned)):
            try:
                document = orjson.loads(text)
            except orjson.JSONDecodeError:
                document = None
            if isinstance(document, (dict, list)):
                redacted = _redact_document(document, secrets)
                return text if redacted == document else _dumps(redacted, secrets).decode()
    elif (inside := _document_inside(text)) is not None:
        # A message quoting a JSON body ("HTTP 400: {...}"): the body is read as a document, the
        # words around it as text.
        start, end = inside
        return "".join(_redact_string(part, secrets) for part in (text[:start], text[start:end], text[end:]))
    if escaped:
        # Text copied out of JSON (``https:\/\/user:pw@host``): read with its escapes resolved,
        # and kept as it was where that finds nothing.
        plain = _unescaped(text)
        if (redacted := _redact_string(plain, secrets)) != plain:
            return redacted
    return _scrub(text, secrets, scanned)


# A JSON escape standing for a letter or a slash (``\u0070``, ``\/``; surrogates, which stand for
# neither, are left). Inside a JSON document carried by a string, or text copied out of one, it
# hides a credential's name, a URL or a known secret from every pattern.
_LETTER_ESCAPE = re.compile(r"\\(?:u(?![dD][89a-fA-F])[0-9a-fA-F]{4}|/)")


def _document_inside(text: str) -> tuple[int, int] | None:
    """The span of the first JSON object or array inside a longer text, if it holds one (a few
    openings are tried: a traceback quotes a body more than once, amid other brackets)."""
    at = _OPENING.search(text)
    for _ in range(8):
        if at is None:
            return None
        if (end := _balanced_end(text, at.start())) is not None:
            try:
                document = orjson.loads(text[at.start() : end])
            except orjson.JSONDecodeError:
                document = None
            if isinstance(document, (dict, list)):
                return at.start(), end
        at = _OPENING.search(text, at.end())
    return None


_OPENING = re.compile(r"[{\[]")
_JSON_SYNTAX = re.compile(r'[{}\[\]"\\]')


def _balanced_end(text: str, start: int) -> int | None:
    """Where the brackets opened at ``start`` close, strings (and their escapes) skipped."""
    depth, in_string, skip = 0, False, -1
    for m in _JSON_SYNTAX.finditer(text, start):
        at, c = m.start(), m.group()
        if at < skip:
            continue
        if c == "\\":
            skip = at + 2
        elif c == '"':
            in_string = not in_string
        elif not in_string:
            depth += 1 if c in "{[" else -1
            if depth == 0:
                return at + 1
    return None


def _unescaped(text: str) -> str:
    return _LETTER_ESCAPE.sub(lambda m: "/" if m[0] == "\\/" else chr(int(m[0][2:], 16)), text)


# --- the entry points -------------------------------------------------------------------------------


def redact_value(value: Any, known_secrets: Iterable[str] | None = None) -> Any:
    """A copy of ``value`` (decoded JSON: dict, list, str, number, ...) with every credential
    replaced by ``[REDACTED]``. ``known_secrets``: credential values to replace wherever they
    appear, in addition to ``known_secrets()``."""
    secrets = _secrets(known_secrets)[0]
    redacted = _redact_document(value, secrets)
    if isinstance(redacted, (dict, list)) and secrets:
        # A known secret used as a key (usage counted per API key) is replaced too, as in JSON text.
        data = orjson.dumps(redacted, option=orjson.OPT_NON_STR_KEYS)
        if (replaced := _dumps_replaced(data, secrets)) is not data:
            return orjson.loads(replaced)
    return redacted


def redact_strings(
    texts: Sequence[str | None], known_secrets: Iterable[str] | None = None
) -> list[str | None]:
    """``[redact_value(t) for t in texts]`` for a column of strings (transcript turns), faster: one
    pass over all of them, joined, finds the few holding a marker, "=" or a known secret; only
    those are redacted one by one (the others would come back unchanged)."""
    secrets = _secrets(known_secrets)[0]
    out = list(texts)
    for i in _changing(texts, secrets):
        out[i] = _redact_string(texts[i], secrets)
    return out


def _changing(texts: Sequence[str | None], secrets: tuple[str, ...]) -> set[int]:
    """Indexes of the texts that hold a marker, "=" or a known secret, found in one pass over all
    of them joined: only those can be changed by ``_redact_string``."""
    starts = list(itertools.accumulate((len(text or "") + 1 for text in texts), initial=0))
    joined = "\n".join(text or "" for text in texts)  # no marker holds "\n": none spans two texts
    lowered = _lower(joined)
    at = [start for _, start, _ in _hits(lowered)]
    if "\\" in joined:
        at += [m.start() for m in _LETTER_ESCAPE.finditer(joined)]
    for secret in secrets:
        found = joined.find(secret)
        while found != -1:
            at.append(found)
            found = joined.find(secret, found + 1)
    return {i for position in at if texts[i := bisect.bisect_right(starts, position) - 1] is not None}


def redact_text(text: str, known_secrets: Iterable[str] | None = None) -> str:
    """A log line, error or alert message with every credential in it replaced."""
    return _redact_string(text, _secrets(known_secrets)[0])


def redact_json(value: Any, known_secrets: Iterable[str] | None = None, option: int = 0) -> bytes:
    """``orjson.dumps(redact_value(value), option=option)``, fast (see ``redact_serialized``)."""
    return redact_serialized(value, orjson.dumps(value, option=option), known_secrets, option)


def redact_serialized(
    value: Any, data: bytes, known_secrets: Iterable[str] | None = None, option: int = 0
) -> bytes:
    """``data`` (``orjson.dumps(value, option=option)``) with every credential in ``value`` redacted.

    The value is walked only when its serialized text shows a credential-named key or header
    entry; otherwise the inline patterns run over the JSON text itself (they cannot break it,
    see ``_scrub``). Most records take that path, and one without any marker word or known
    secret (most DialNexa calls) costs a single scan of its bytes."""
    plain, in_json = _secrets(known_secrets)
    lowered = data.lower()  # ASCII letters only: offsets stay byte offsets
    return _redact_scanned(value, data, lowered, *in_json.find(data, lowered), plain, option)


def redact_serialized_many(
    values: Sequence[Any],
    payloads: Sequence[bytes],
    known_secrets: Iterable[str] | None = None,
    option: int = 0,
) -> list[bytes]:
    """``redact_serialized`` for each value and its payload (a page of records), the secrets
    looked up once and the page scanned in one pass (``_InJson.changing``): only the payloads
    it shows may change are looked at one by one (most pages: none, or a few)."""
    if len(values) != len(payloads):
        raise ValueError(f"{len(values)} values for {len(payloads)} payloads")
    plain, in_json = _secrets(known_secrets)
    out = list(payloads)
    for i, lowered, found, begin in in_json.changing(payloads):
        data = payloads[i]
        out[i] = _redact_scanned(
            values[i], data, lowered, *in_json.find(data, lowered, found, begin), plain, option
        )
    return out


def _positions(data: bytes | str, byte: bytes | str, most: int = -1) -> list[int]:
    """Every offset of ``byte`` in ``data`` (the first ``most`` of them, if ``most`` is given)."""
    found = []
    at = data.find(byte)
    while at != -1 and len(found) != most:
        found.append(at)
        at = data.find(byte, at + 1)
    return found


def _redact_scanned(
    value: Any,
    data: bytes,
    lowered_bytes: bytes,
    hits: list[tuple[int, int, int]],
    present: list[str] | None,
    plain: tuple[str, ...],
    option: int,
) -> bytes:
    """``redact_serialized`` once ``data`` is lower-cased and its markers (``hits``) and the
    secrets it holds (``present``, as they appear in JSON; None: walk the value) are found."""
    if present is None:
        return _dumps(_redact_document(value, plain), plain, option)
    if not hits and not present and b"=" not in data:
        return data  # nothing to redact
    if not present and (spans := _decided_spans(data, lowered_bytes, hits)) is not None:
        return _replaced(data, spans) if spans else data
    if data.isascii():  # byte offsets are character offsets
        lowered = lowered_bytes.decode()
        hits = hits + _equals(lowered)
    else:
        lowered, hits = _scan(data.decode())
    if (triaged := _triage(lowered, hits, text := data.decode())) is None or (present and triaged[1]):
        return _dumps(_redact_document(value, plain), plain, option)
    left, values = triaged
    if not left and not values and not present:
        return data
    scrubbed = _scrub(text, present, (lowered, left), values)  # only the secrets it holds: each is a search
    return data if scrubbed is text else scrubbed.encode()


def _decided_spans(
    data: bytes, lowered: bytes, hits: list[tuple[int, int, int]]
) -> list[tuple[int, int]] | None:
    """What ``_triage`` and then ``_scrub`` replace in ``data``, an ASCII JSON text holding no
    known secret, read from its bytes: ``_triage``'s steps in its order, each credential-name hit
    decided by its window (``_decide``, remembered), and each hit left for ``_scrub`` read by
    ``_span_at`` in the string holding it alone (``_left_span``; an OmniDimension
    ``secret_key_...`` by its pattern over the bytes). None where that cannot be told so (text
    not ASCII, a hit outside a string, or in one followed by other than ":,}]", a value
    ``_triage`` would walk): the text path reads it. Custom actions (``"authenticationValue"``,
    ``Authorization`` header entries) and OmniDimension's webhook payloads take this way: no
    decoding, lower-casing, scanning and re-encoding of the whole text, and a configuration's
    keys and texts, the same from call to call, are not read again."""
    if not data.isascii():  # offsets must be characters'
        return None
    values, spans, left = [], [], []
    signs = _positions(data, b"=")  # "=" hits come after the others, as ``_equals`` adds them
    for marker, at, end in itertools.chain(hits, ((_EQUALS, at, at + 1) for at in signs)) if signs else hits:
        if values and values[-1][0] <= at < values[-1][1]:
            continue  # inside a string that goes whole
        if marker == _COUNTER_KEY:
            if lowered[end : end + 1] in _KEPT_STARTS_BYTES:
                continue
            marker, end = _TOKEN, at + len("token")
        if marker == _URL:
            if lowered.find(b"@", end, max(lowered.find(b'"', end), end)) != -1:
                left.append((marker, at, end))  # a URL's password
            continue
        if marker >= _NAME_MARKERS:
            left.append((marker, at, end))
            continue
        open_quote, close_quote = lowered.rfind(b'"', 0, at), lowered.find(b'"', at)
        if (
            open_quote == -1
            or close_quote == -1
            or lowered[close_quote + 1 : close_quote + 2] not in _STRING_ENDS_BYTES
            or close_quote - open_quote > _DECIDED_LENGTH
        ):
            return None
        decision = _window_decision(lowered, data, marker, at, end, open_quote, close_quote)
        if decision is _DROP:
            continue
        if decision is _KEY_VALUE:
            span = _bytes_string_after(lowered, close_quote, b":")
        elif decision is _ENTRY_VALUE:
            span = _bytes_string_after(data, close_quote, b',"value":')
        elif decision is _LEFT:
            left.append((marker, at, end))
            continue
        else:
            return None
        if span is None:
            return None  # walked
        if span[1] > span[0]:
            values.append(span)
    for marker, at, end in left:
        if marker == _SECRET and (m := _SECRET_KEY_VALUE_BYTES.match(data, at)):
            spans.append(m.span())  # as ``_span_at`` reads it (no match begins "[REDACTED]")
        elif (span := _left_span(data, lowered, marker, at, end)) is _UNTOLD:
            return None
        elif span is not None:
            spans.append(span)
    return values + spans


_UNTOLD = (-1, -1)


def _left_span(data: bytes, lowered: bytes, marker: int, at: int, end: int) -> tuple[int, int] | None:
    """``_span_at`` for a hit of the ASCII JSON text ``data``, read in the string value holding
    it alone; ``_UNTOLD`` where the hit is not inside a string followed by one of ",}]".

    ``_span_at`` reads nothing before that string's opening quote (a name is read back over
    name characters, then the one character before it), nor past the character after its
    closing quote: every pattern it runs forward stops at a quote, but ``_ASSIGNED``, which may
    take one and then needs a blank or a sign where one of ",}]" stands (after a key's quote a
    ":" would let it read the key's value); and ``_run_end`` remembers runs of the text it is
    given only. So the string and the character after it decide (``test_redaction_pages``
    holds the two alike)."""
    open_quote, close_quote = lowered.rfind(b'"', 0, at), lowered.find(b'"', at)
    if (
        open_quote == -1
        or close_quote == -1
        or lowered[close_quote + 1 : close_quote + 2] not in _VALUE_ENDS_BYTES
    ):
        return _UNTOLD
    stop = close_quote + 2
    span = _span_at(
        data[open_quote:stop].decode(),
        lowered[open_quote:stop].decode(),
        marker,
        at - open_quote,
        end - open_quote,
    )
    return None if span is None else (span[0] + open_quote, span[1] + open_quote)


_KEPT_STARTS_BYTES = frozenset(bytes([c]) for c in b"-0123456789tfn")
_STRING_ENDS_BYTES = frozenset(bytes([c]) for c in b":,}]")
_VALUE_ENDS_BYTES = frozenset(bytes([c]) for c in b",}]")  # after a value, not a key
_SECRET_KEY_VALUE_BYTES = re.compile(_SECRET_KEY_VALUE_ASCII.pattern.encode())


def _bytes_string_after(text: bytes, close_quote: int, separator: bytes) -> tuple[int, int] | None:
    """``_string_after`` over bytes."""
    if text[close_quote - 1] == 0x5C or not text.startswith(separator + b'"', close_quote + 1):
        return None
    start = end = close_quote + 1 + len(separator) + 1
    while (end := text.find(b'"', end)) != -1:
        before = end
        while text[before - 1] == 0x5C:  # a backslash
            before -= 1
        if (end - before) % 2 == 0:  # not escaped
            return start, end
        end += 1
    return None


def _replaced(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    """``data`` with each span replaced by ``[REDACTED]``, as ``_scrub`` replaces them."""
    parts, done = [], 0
    for start, negative_end in sorted((start, -end) for start, end in spans):  # the longest first
        if start >= done:
            parts += (data[done:start], _REDACTED_BYTES)
            done = -negative_end
    return b"".join(parts) + data[done:]


_REDACTED_BYTES = REDACTED.encode()


def _dumps(document: Any, secrets: Sequence[str], option: int = 0) -> bytes:
    """A walked document as JSON text: the walk replaces values; a known secret written as a
    key is replaced here, as the passes over JSON text replace it."""
    return _dumps_replaced(orjson.dumps(document, option=option), secrets)


def _dumps_replaced(data: bytes, secrets: Sequence[str]) -> bytes:
    for secret in secrets:
        if (in_json := _json_form(secret)) in data:
            data = data.replace(in_json, REDACTED.encode())
    return data


@lru_cache(maxsize=256)
def _json_form(secret: str) -> bytes:
    return orjson.dumps(secret)[1:-1]


# --- what a text was redacted under ---------------------------------------------------------------

REDACTION_KEY = "redaction"  # the raw file footer entry holding the ``policy_fingerprint``
_POLICY_CODE = hashlib.sha256(Path(__file__).read_bytes()).digest()  # any edit here is a new policy


def policy_fingerprint(known_secrets: Iterable[str] | None = None) -> str:
    """Names one redaction: this module's code (the policy) and the exact set of secret values it
    replaces (``known_secrets`` and ``known_secrets()``), as one digest. Texts redacted under the
    same fingerprint were redacted alike; another policy or another set of secrets gives another
    fingerprint. The secrets themselves appear only inside the digest."""
    digest = hashlib.sha256(_POLICY_CODE)
    for secret in sorted(_secrets(known_secrets)[0]):
        digest.update(b"\x00" + secret.encode())
    return digest.hexdigest()[:32]


class RedactingFilter(logging.Filter):
    """Redacts every log record's message; attach it to a logger (``context.log``) or handler.
    ``known_secrets`` defaults to ``known_secrets()`` at the time each record is logged."""

    def __init__(self, known_secrets: Iterable[str] | None = None):
        super().__init__()
        self.known = None if known_secrets is None else tuple(known_secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message, self.known)
        if redacted != message:
            record.msg, record.args = redacted, ()
        # A traceback (``log.exception``, ``exc_info=True``) prints the exception's message, which
        # may quote a request or a body: formatted here, redacted, and kept for the handler to use.
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self.known)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, self.known)
        return True


_FORMATTER = logging.Formatter()


# The filter for Dagster's ``context.log`` (one instance, so adding it twice is a no-op).
LOG_FILTER = RedactingFilter()
