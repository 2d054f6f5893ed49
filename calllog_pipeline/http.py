"""The one HTTP layer every provider goes through.

Bearer auth, connect/read timeouts, a client-side rate limit per provider (the full configured
rate, kept to in the provider's own window of arrivals: ``ServerBudget``), and retries with
exponential backoff and jitter on 429, 5xx, timeouts and unreadable bodies. A server's own
``Retry-After`` / rate-limit headers win over our backoff, and pause every concurrent request,
not only the one that was refused. Where the provider reports how many requests its window has
left (``X-RateLimit-Remaining``), the client never has more requests on their way than that.
Errors that retrying cannot fix (401, 403, 400, 422) fail at once with a message saying what to
change. No message ever contains the API key.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import contextlib
import email.utils
import json
import logging
import math
import time
import urllib.request
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import aiohttp
import httpx
import orjson
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from calllog_pipeline.redact import redact_text

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
UTF8_BOM = b"\xef\xbb\xbf"
NO_CONTENT = 204  # an empty listing, as some servers answer it: no body to parse
# The least a server's asked-for wait is taken for (still capped by ``max_backoff_s``).
MIN_ASKED_WAIT_S = 1.0
# Retry reasons the advice after the last attempt recognises.
CONNECT_TIMEOUT = "connect timeout"
READ_TIMEOUT = "read timeout"
REQUEST_TIME_LIMIT = "answer not finished within the request time limit"
HOST_NOT_FOUND = "host name not found (DNS)"
NO_CONNECTION = "connection refused or host unreachable"


class ProviderError(Exception):
    """A provider call failed in a way the user has to act on; the message says how."""


class ProviderAuthError(ProviderError):
    pass


class ProviderConfigError(ProviderError):
    pass


class ProviderRequestError(ProviderError):
    """The provider refused the request itself (a 4xx other than auth and rate limits)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status, when an answer said it


class ProviderUnavailable(ProviderError):
    pass


class ProviderQuotaExhausted(ProviderError):
    """The provider's daily request quota is spent: no retry can succeed before it resets."""


class ProviderResponseError(ProviderError):
    """A well-formed answer that lacks what the documented contract promises."""


class ShapeChanged(ValueError):
    """Raised by a ``parse`` function: the answer is readable but a documented field is missing or
    of the wrong type. Not retried: the same request gets the same shape."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"field {field!r}: {problem}")
        self.field, self.problem = field, problem


class FlakyAnswer(ValueError):
    """Raised by a ``parse`` function: the server answered 200 with an error object; retried."""


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class Response:
    status: int
    body: Any  # decoded JSON; None for 304
    headers: Mapping[str, str]  # looked up case-insensitively
    size: int
    fetched_at: float = field(default_factory=time.time)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429 answers
    not_modified: int = 0
    bytes: int = 0
    retry_reasons: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class ClientSettings:
    provider_title: str
    base_url: str
    headers: dict[str, str]
    secrets: tuple[str, ...]
    api_key_env: str
    rate_limit_requests: int
    rate_limit_period_s: float
    max_concurrency: int
    connect_timeout_s: float
    read_timeout_s: float
    max_attempts: int
    max_backoff_s: float
    throttle_wait_s: float | None = None  # wait after a 429 that names no time of its own
    base_url_env: str = "the base URL setting"  # named when the URL finds no API
    max_backoff_env: str = "the maximum backoff setting"  # named when a server asks for longer
    connect_timeout_env: str = "the connect timeout setting"  # named when connecting keeps timing out
    read_timeout_env: str = "the read timeout setting"  # named when answers keep timing out
    # Bounds a whole request, connecting to the last byte: the read timeout is between bytes, so a
    # server (or proxy) trickling a byte now and then would otherwise hold a request forever.
    request_timeout_s: float | None = None
    request_timeout_env: str = "the request time limit setting"  # named when answers keep outlasting it


@dataclass
class _Sent:
    at: float  # monotonic time the request left
    answered: float | None = None  # when its answer (or its failure) came back


class ServerBudget:
    """The provider's window, kept from our side: when a request may go so that the provider's
    count of arrivals never passes its limit.

    Two rules, both needed at the full configured rate:

    * Our own requests. The provider counts a request when it arrives, which is after we send it
      and before we read its answer. So a request that was answered more than one period ago has
      certainly left any window of that length, and one still in flight or answered within the
      period may still be in it: with ``limit`` such requests on the books none goes. This holds
      whatever the network or a busy server does to arrival times (paced sending alone does not:
      two arrivals squeezed together put one too many into a sliding window).
    * The provider's count (``X-RateLimit-Remaining``), which includes what we cannot know: a run
      that started right after another, in another process or pod, shares its window. No more
      requests go than the newest answer's remaining minus those sent after it, plus the requests
      of ours that count in that remaining and have certainly left since (sent within the period
      before that answer came, answered over a period ago). Until the first answer says whether
      the provider reports it, one request at a time; a provider that does not (OmniDimension)
      gets the first rule only.
    """

    def __init__(self, limit: int, period_s: float):
        self.limit, self.period_s = limit, period_s
        self.sent = 0  # sequence number of the last request sent
        self.requests: dict[int, _Sent] = {}  # those that may still count somewhere, by number
        self.reported: tuple[int, int, float] | None = None  # (request, remaining, answered at)
        self.counts: bool | None = None  # does the provider report remaining? None: not known yet
        self.drained_at = 0.0  # monotonic time when a window reported full has emptied
        self._changed = asyncio.Condition()

    def _gone(self, request: _Sent, now: float) -> bool:
        return request.answered is not None and request.answered + self.period_s <= now

    def _own_room(self, now: float) -> tuple[int, float | None]:
        """Requests the first rule allows now, and when one of ours next leaves the window."""
        # ``_gone`` spelled out: this runs over the window's requests before every request.
        period, staying, leaving = self.period_s, 0, []
        for r in self.requests.values():
            if r.answered is None:
                staying += 1
            elif r.answered + period > now:
                staying += 1
                leaving.append(r.answered + period)
        return self.limit - staying, min(leaving, default=None)

    def _server_room(self, now: float) -> tuple[int, float | None] | None:
        """Requests the provider's count allows now, and when that next grows; None when the
        provider reports no count."""
        if self.counts is False:
            return None
        if self.reported is None:  # the first request alone, to learn the provider's count
            return 1 - sum(r.answered is None for r in self.requests.values()), None
        request, remaining, answered_at = self.reported
        left, leaving = remaining, []
        for number, sent in self.requests.items():
            counted = number <= request and sent.at > answered_at - self.period_s  # in that count
            if number > request or counted:
                if self._gone(sent, now):
                    left += counted  # in the count, and out of the window since
                else:
                    left -= number > request
                    if sent.answered is not None:
                        leaving.append(sent.answered + self.period_s)
        return left, min(leaving, default=None)

    def _forget(self, now: float) -> None:
        """Drop requests that can no longer change either rule."""
        since = self.reported[2] - self.period_s if self.reported else math.inf
        period = self.period_s
        for number in [
            n
            for n, r in self.requests.items()
            if r.at <= since and r.answered is not None and r.answered + period <= now  # gone
        ]:
            del self.requests[number]

    async def _wait(self, until: float | None) -> None:
        """Until an answer arrives or (when given) monotonic time ``until``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(None if until is None else max(until - time.monotonic(), 0.0)):
                await self._changed.wait()

    async def send(self) -> int:
        """Wait until the provider's window has room for one more request; returns its number."""
        async with self._changed:
            while True:
                now = time.monotonic()
                self._forget(now)
                own, own_next = self._own_room(now)
                server = self._server_room(now)
                if own > 0 and (server is None or server[0] > 0):
                    break
                wake = own_next if own <= 0 else server[1]
                if wake is not None or any(r.answered is None for r in self.requests.values()):
                    await self._wait(wake)  # one of ours leaves, or an answer says more
                    continue
                # Full of requests that are not ours: the window drains by the time reported (or
                # one whole window); then one request alone finds out where it stands.
                await asyncio.sleep(max(self.drained_at - now, 0.0))
                self.reported = None
            self.sent += 1
            self.requests[self.sent] = _Sent(time.monotonic())
            return self.sent

    async def answer(self, request: int, headers: httpx.Headers | None) -> None:
        """Note an answer (``headers`` None: the request got no answer)."""
        async with self._changed:
            now = time.monotonic()
            if (sent := self.requests.get(request)) is not None:
                sent.answered = now
            remaining = _number(headers.get("x-ratelimit-remaining", "")) if headers is not None else None
            if headers is not None and self.counts is None:
                self.counts = remaining is not None
            if remaining is not None and (self.reported is None or request > self.reported[0]):
                self.reported = (request, int(remaining), now)
                if remaining < 1:
                    wait = window_reset_seconds(headers)
                    self.drained_at = now + (self.period_s if wait is None else wait)
            self._changed.notify_all()

    async def close(self) -> None:
        """Leave a window the provider reported full only once it has room: the next run
        (another process, perhaps another pod, holding the provider's pool after us) starts with
        its first request alone and must not find the window full."""
        while self.reported is not None:
            now = time.monotonic()
            if (room := self._server_room(now)) is None:
                return  # a count seen only on some answers (DialNexa sends it with a 429): not kept
            left, wake = room
            if left >= 1 or self.drained_at <= now:
                return
            await asyncio.sleep(min(self.drained_at, wake or math.inf) - now)


class ApiClient:
    """An async client for one provider; use as ``async with ApiClient(settings) as client``."""

    def __init__(self, settings: ClientSettings, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        self.stats = ClientStats()
        # Evenly spaced at the full limit, no burst (a new run shares the window its predecessor
        # filled at the same pace); ``ServerBudget`` makes sure arrivals never exceed it.
        self._limiter = AsyncLimiter(1, settings.rate_limit_period_s / settings.rate_limit_requests)
        self._budget = ServerBudget(settings.rate_limit_requests, settings.rate_limit_period_s)
        self._paused_until = 0.0
        self._in_flight = asyncio.Semaphore(settings.max_concurrency)
        # Requests go out on aiohttp, through the proxy the environment names; a given httpx
        # ``transport`` (the tests' network edge) is the network itself, with no proxy.
        self._proxy = environment_proxy(settings.base_url) if transport is None else None
        self._wire = (
            _AiohttpWire(settings, self._proxy) if transport is None else _HttpxWire(settings, transport)
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            await self._budget.close()
        finally:
            await self._wire.close()

    async def get(
        self,
        path: str,
        params: dict[str, Any],
        headers: dict[str, str] | None = None,
        parse: Callable[[Any], Any] = lambda body: body,
    ) -> Response:
        """GET ``path``; ``parse`` turns the decoded body into what the caller needs.

        A body that cannot be read (cut off, not JSON) or that ``parse`` finds to be an error object
        is retried like a 5xx; one that ``parse`` finds has changed shape (``ShapeChanged``) fails
        at once with ``ProviderResponseError``.
        """
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            reraise=True,
        )
        started = time.monotonic()
        try:
            async for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.stats.retries += 1
                    return await self._get_once(path, params, headers or {}, parse)
        except _Retryable as exc:
            raise ProviderUnavailable(
                f"{self.settings.provider_title} {path} kept failing ({exc.reason}) after "
                f"{self.settings.max_attempts} attempts over {time.monotonic() - started:.0f}s. "
                "The provider looks down or overloaded; nothing was written for this partition and "
                f"earlier files are untouched. {self._what_to_do(exc.retry_after, exc.reason)}"
            ) from None
        raise AssertionError("unreachable")

    def _what_to_do(self, asked: float | None, reason: str = "") -> str:
        """Advice once the attempts are spent, with the wait the server last asked for."""
        if self._proxy is None and (advice := self._network_advice(reason)):
            return advice
        if asked is None and self._proxy is not None:
            return (
                f"Requests go through the proxy {self._proxy.address} (from {self._proxy.variable}): if "
                f"it is the proxy that is down or cannot reach the provider, fix {self._proxy.variable} (or "
                "list the provider's host in NO_PROXY). Re-run the partition once it works."
            )
        if asked is None:
            return "Re-run the partition once the provider recovers."
        back = datetime.now(UTC) + timedelta(seconds=asked)
        said = f"The provider asked to wait (Retry-After: {asked:.0f} s, until {back:%H:%M:%S} UTC)"
        if asked > self.settings.max_backoff_s:
            return (
                f"{said}, longer than the {self.settings.max_backoff_s:g} s {self.settings.max_backoff_env} "
                "allows between attempts: re-run the partition after that time (the step's outage "
                f"retries may do it), or raise {self.settings.max_backoff_env} to wait that long."
            )
        return f"{said}. Re-run the partition once the provider recovers."

    def _network_advice(self, reason: str) -> str | None:
        """What to check when the attempts failed for a reason on the way to the server (a timeout,
        a host not found, no connection), where no proxy stands between; else None."""
        settings = self.settings
        if reason.startswith(READ_TIMEOUT):
            # A slow provider (a large page at a busy hour) looks the same as one that is down.
            return (
                f"Each attempt waited {settings.read_timeout_s:g} s ({settings.read_timeout_env}) for "
                f"data: if the provider is slow rather than down, raise {settings.read_timeout_env}; "
                "else re-run the partition once it recovers."
            )
        if reason.startswith(REQUEST_TIME_LIMIT):
            # Bytes kept coming, too slowly to finish: a throttled or stuck server, or a page too
            # large for the limit.
            return (
                f"Each attempt was still receiving its answer after {settings.request_timeout_s:g} s "
                f"({settings.request_timeout_env}): if the provider's pages are that slow to arrive, "
                f"raise {settings.request_timeout_env}; else re-run the partition once it recovers."
            )
        if reason.startswith(CONNECT_TIMEOUT):
            return (
                f"No connection to {self._safe(settings.base_url)} within {settings.connect_timeout_s:g} s "
                f"({settings.connect_timeout_env}): check {settings.base_url_env} and that this machine "
                "can reach that host (firewall, DNS); else re-run the partition once the provider recovers."
            )
        # A typo in the base URL looks like an outage from here: retried (a resolver or a server
        # may be down for a moment), then named.
        if reason.startswith(HOST_NOT_FOUND):
            return (
                f"The host of {self._safe(settings.base_url)} was not found (DNS): check "
                f"{settings.base_url_env} for a typo and this machine's DNS; else re-run the partition "
                "once the name resolves."
            )
        if reason.startswith(NO_CONNECTION):
            return (
                f"Nothing accepted a connection at {self._safe(settings.base_url)}: check the host and "
                f"port in {settings.base_url_env} and that this machine can reach them; else re-run the "
                "partition once the provider recovers."
            )
        return None

    def _wait(self, retry_state) -> float:
        exc = retry_state.outcome.exception()
        backoff = wait_exponential_jitter(multiplier=0.5, max=self.settings.max_backoff_s)(retry_state)
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.settings.max_backoff_s)
        return backoff

    async def _get_once(self, path, params, headers, parse) -> Response:
        async with self._in_flight, self._limiter:
            # Checked after the wait for a slot, which may have outlasted a 429 that arrived meanwhile.
            while (pause := self._paused_until - time.monotonic()) > 0:
                await asyncio.sleep(pause)
            request = await self._budget.send()
            self.stats.requests += 1
            raw = None
            try:
                try:
                    async with asyncio.timeout(self.settings.request_timeout_s):
                        raw = await self._wire.get(path, params, headers, self)
                except TimeoutError:
                    # Only the limit above gets here: the wires turn their own timeouts into retries.
                    raise self._retry(f"{REQUEST_TIME_LIMIT}{self._via_proxy()}") from None
            finally:
                await self._budget.answer(request, raw.headers if raw is not None else None)
        self.stats.bytes += len(raw.content)
        response = self._interpret(path, raw)
        if not response.not_modified and response.status != NO_CONTENT:
            try:
                response.body = parse(response.body)
            except ShapeChanged as exc:
                raise ProviderResponseError(
                    f"{self.settings.provider_title} {path} answered {response.status} with a response "
                    f"whose shape changed: {exc} (it answered {self._safe(_outline(response.body))}). "
                    "The pipeline reads this endpoint as documented; the API may have changed. Not "
                    "retried: check the provider's changelog and update this provider's endpoint "
                    "definition (providers/<name>/api.py)."
                ) from None
            except FlakyAnswer as exc:
                raise self._retry(self._safe(str(exc))[:120]) from None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise self._retry(f"unreadable page ({type(exc).__name__})") from None
        return response

    def _interpret(self, path: str, raw: Answer) -> Response:
        status = raw.status
        if status == 304:
            self.stats.not_modified += 1
            return Response(status, None, raw.headers, len(raw.content))
        if status == NO_CONTENT:  # nothing to send: the caller reads it as it reads "nothing"
            return Response(status, None, raw.headers, len(raw.content))
        if status == 407:  # a forwarding proxy's answer (an http:// API)
            raise self._proxy_refused()
        if status == 429:
            self.stats.throttled += 1
            self._check_daily_quota(path, raw.headers)
            wait = retry_after_seconds(raw.headers, on_unreadable=partial(self._unreadable_header, 429))
            if wait is None:
                wait = self.settings.throttle_wait_s
            raise self._pause("429 rate limited", wait)
        if status in RETRYABLE_STATUS:
            # RFC 9110: a 503 (maintenance, overload) may say how long it lasts; any other
            # retryable answer that does is believed too.
            wait = retry_after_seconds(
                raw.headers, on_unreadable=partial(self._unreadable_header, status), rate_limit=False
            )
            raise self._pause(f"HTTP {status}", wait)
        if status in (401, 403):
            said = self._safe(raw.text)[:200].strip()
            if raw.moved_to is not None:
                # The key is not carried to another origin: the API has moved (or the base URL says
                # http:// where the API is https://), the key may be fine.
                moved_to = self._safe(raw.moved_to)
                raise ProviderAuthError(
                    f"{self.settings.provider_title} {path} redirected to {moved_to}, another host, port or "
                    f"scheme than {self.settings.base_url_env} names, which answered HTTP {status} (the API "
                    f"key is sent only to the base URL's own): if the API is there, set "
                    f"{self.settings.base_url_env} to it. Not retried."
                )
            raise ProviderAuthError(
                f"{self.settings.provider_title} refused the credentials for {path} (HTTP {status}"
                f"{': ' + said if said else ''}): check {self.settings.api_key_env} (and the account's "
                "access to this endpoint). Not retried."
            )
        if status == 404:
            raise ProviderRequestError(
                f"{self.settings.provider_title} has no {path} at {self._safe(self.settings.base_url)} "
                f"(HTTP 404: {self._safe(raw.text)[:200].strip()}): check {self.settings.base_url_env} "
                "against the provider's API reference. Not retried.",
                status,
            )
        if status >= 300:  # 304 and followed redirects are handled above
            raise ProviderRequestError(
                f"{self.settings.provider_title} rejected the request {path} with HTTP {status}: "
                f"{self._safe(raw.text)[:300]}. This is a bug or a changed API, not a transient error; "
                "not retried.",
                status,
            )
        content = raw.content
        if content.startswith(UTF8_BOM):  # some server stacks start UTF-8 JSON with a byte-order mark
            content = memoryview(content)[len(UTF8_BOM) :]
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            if (unpacked := _gunzipped(raw.content)) is not None:
                with contextlib.suppress(orjson.JSONDecodeError):
                    # Gzip that no Content-Encoding announced (a server that forgot the header, or
                    # a proxy that compressed an already compressed body): what the server meant.
                    return Response(status, orjson.loads(unpacked), raw.headers, len(raw.content))
            if (charset := raw.charset) and charset.replace("-", "").lower() != "utf8":
                with contextlib.suppress(orjson.JSONDecodeError, LookupError, ValueError):
                    # JSON is UTF-8 by its RFC, but a server may say it sends another charset.
                    return Response(status, orjson.loads(raw.text), raw.headers, len(raw.content))
            if (body := _lenient_json(raw.text)) is not None:
                return Response(status, body, raw.headers, len(raw.content))
            # Its type says what answered: a proxy's or a maintenance page's text/html, or cut-off JSON.
            kind = raw.headers.get("content-type", "no content type").split(";")[0]
            raise self._retry(f"unreadable JSON body ({self._safe(kind)[:40]})") from None
        return Response(status, body, raw.headers, len(raw.content))

    def _not_a_url(self) -> ProviderConfigError:
        return ProviderConfigError(
            f"{self.settings.provider_title}: the base URL {self._safe(self.settings.base_url)!r} "
            f"does not start with http:// or https://: fix {self.settings.base_url_env}."
        )

    def _untrusted_certificate(self, host: str, problem: Exception) -> ProviderConfigError:
        """The server's TLS certificate failed verification: the same on every attempt (an expired
        or self-signed certificate, a host name it does not cover, or a proxy or firewall that
        inspects TLS with a certificate authority of its own)."""
        said = getattr(problem, "verify_message", None) or type(problem).__name__
        return ProviderConfigError(
            f"{self.settings.provider_title}: the TLS certificate of {self._safe(host)}{self._via_proxy()} "
            f"is not trusted ({self._safe(str(said))[:80]}). If a proxy or firewall on this network "
            "inspects TLS, set SSL_CERT_FILE to its CA certificate (PEM); else check "
            f"{self.settings.base_url_env}. Not retried."
        )

    def _redirect_loop(self, path: str) -> ProviderRequestError:
        return ProviderRequestError(
            f"{self.settings.provider_title} {path} redirects in a loop (more than 5 redirects "
            f"from {self._safe(self.settings.base_url)}): check {self.settings.base_url_env}. "
            "Not retried."
        )

    def _via_proxy(self) -> str:
        return "" if self._proxy is None else f", through the proxy {self._proxy.address}"

    def _proxy_refused(self) -> ProviderConfigError:
        if self._proxy is None:
            return ProviderConfigError(
                f"{self.settings.provider_title}: a proxy between us and "
                f"{self._safe(self.settings.base_url)} asks for credentials (HTTP 407), and none is "
                "configured: set HTTPS_PROXY (HTTP_PROXY for an http:// URL) to "
                "http://user:password@proxy-host:port. Not retried."
            )
        return ProviderConfigError(
            f"{self.settings.provider_title}: the proxy {self._proxy.address} (from {self._proxy.variable}) "
            f"refused our credentials (HTTP 407): check the user and password in {self._proxy.variable} "
            "(http://user:password@host:port). Not retried."
        )

    def _check_daily_quota(self, path: str, headers: httpx.Headers) -> None:
        """A 429 that says the day's quota is spent (HighLevel: 200,000 requests a day per app and
        location, ``X-RateLimit-Daily-Remaining``) fails at once: waiting seconds cannot help."""
        if _number(headers.get("x-ratelimit-daily-remaining", "")) != 0:
            return
        limit = headers.get("x-ratelimit-limit-daily")
        raise ProviderQuotaExhausted(
            f"{self.settings.provider_title} {path} answered 429: the daily request quota"
            f"{f' ({limit} requests)' if limit else ''} is used up. Nothing was written for this "
            "partition and earlier files are untouched. Not retried: re-run the partition after the "
            "provider's daily reset, and spread long backfills over several days (docs/deployment.md)."
        )

    def _pause(self, reason: str, wait: float | None) -> _Retryable:
        """A retry after ``wait`` seconds (capped at ``max_backoff_s``), for which every request of
        this client holds: the server's state is shared by all of them, not just this one."""
        if wait is not None:
            # "Retry-After: 0" (whole seconds, the rest of a window rounded down) or a reset already
            # past is no "retry at once": every attempt would land in the same window.
            wait = max(wait, MIN_ASKED_WAIT_S)
            self._paused_until = max(
                self._paused_until, time.monotonic() + min(wait, self.settings.max_backoff_s)
            )
        return self._retry(reason, wait)

    def _retry(self, reason: str, retry_after: float | None = None) -> _Retryable:
        self.stats.retry_reasons[reason] += 1
        return _Retryable(reason, retry_after)

    def _unreadable_header(self, status: int, name: str, value: str) -> None:
        reason = f"{status} with unreadable {name} header"
        self.stats.retry_reasons[reason] += 1
        log.warning(
            "%s answered %s with an unreadable %s header (%r): backing off on our own schedule",
            self.settings.provider_title,
            status,
            name,
            self._safe(value[:40]),
        )

    def _safe(self, text: str) -> str:
        return redact_text(text, self.settings.secrets)


@dataclass
class Answer:
    """One HTTP answer, read whole, as the client needs it (whichever library read it)."""

    status: int
    headers: Mapping[str, str]  # looked up case-insensitively
    content: bytes
    charset: str | None  # as the Content-Type names it
    moved_to: str | None = None  # where a redirect that dropped the key led (no query), if one did

    @property
    def text(self) -> str:
        """The body as text, in its named charset (UTF-8 when it names none or an unknown one)."""
        charset = self.charset or "utf-8"
        with contextlib.suppress(LookupError):
            codecs.lookup(charset)
            return self.content.decode(charset, errors="replace")
        return self.content.decode("utf-8", errors="replace")


def _key_dropped(ours: Mapping[str, str], sent: Mapping[str, str]) -> bool:
    """Whether a followed redirect left the key behind: ours carry it, the last request did not."""
    return "authorization" in {k.lower() for k in ours} and "Authorization" not in sent


def _query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query parameters as strings, spelled as httpx spells them (True -> "true", None -> "")."""
    spelled = {True: "true", False: "false", None: ""}
    return [(k, spelled[v] if v is None or isinstance(v, bool) else str(v)) for k, v in params.items()]


class _AiohttpWire:
    """Requests on aiohttp's connections and C HTTP parser, with nothing between: httpx's own request
    building (its URL is parsed three times a request) cost twice what aiohttp does for a page
    (1.5-1.8 against 0.7-0.9 CPU-ms a 50-record LeadConnector page, body decode included), and a
    100,000-call day reads 2,000-2,200 pages. Redirects are followed (at most 5); aiohttp drops the
    Authorization header when one leads to another origin (host, port or scheme)."""

    def __init__(self, settings: ClientSettings, proxy: EnvironmentProxy | None):
        self.settings, self.proxy = settings, proxy
        self.base = settings.base_url.rstrip("/")
        # Sent with each request, not as the session's defaults: aiohttp adds a session's default
        # headers to a proxy's CONNECT too, and the key must never reach a proxy.
        self.headers = {**settings.headers, **(proxy.forwarding_headers() if proxy else {})}
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        """The session, made on first use: aiohttp wants it made inside the running event loop."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.settings.max_concurrency * 2,
                    # httpx's: certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR when set.
                    ssl=httpx.create_ssl_context(trust_env=True),
                ),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=self.settings.connect_timeout_s,
                    sock_read=self.settings.read_timeout_s,
                ),
                trust_env=False,  # the proxy is the one ``environment_proxy`` found, passed per request
            )
        return self._session

    async def get(
        self, path: str, params: Mapping[str, Any], headers: dict[str, str], client: ApiClient
    ) -> Answer:
        proxy = self.proxy
        answer = None
        try:
            async with self._open().get(
                self.base + path,
                params=_query(params),
                headers={**self.headers, **headers},
                max_redirects=5,
                proxy=str(proxy.proxy.url) if proxy else None,
                proxy_headers=dict(proxy.proxy.headers) if proxy else None,
            ) as answer:
                content = await answer.read()
        except aiohttp.ClientHttpProxyError as exc:  # the proxy refused the tunnel (an https API)
            if exc.status == 407:
                raise client._proxy_refused() from None
            raise client._retry(f"proxy error{client._via_proxy()}") from None
        except aiohttp.ClientProxyConnectionError:
            raise client._retry(f"proxy error{client._via_proxy()}") from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise client._untrusted_certificate(exc.host, exc.certificate_error) from None
        except aiohttp.ClientConnectorDNSError:
            raise client._retry(f"{HOST_NOT_FOUND}{client._via_proxy()}") from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc, aiohttp.ClientSSLError):
                raise client._retry(f"TLS error: {type(exc).__name__}{client._via_proxy()}") from None
            raise client._retry(f"{NO_CONNECTION}{client._via_proxy()}") from None
        except aiohttp.TooManyRedirects:
            raise client._redirect_loop(path) from None
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
            raise client._not_a_url() from None
        except aiohttp.ConnectionTimeoutError:
            raise client._retry(f"{CONNECT_TIMEOUT}{client._via_proxy()}") from None
        except TimeoutError:  # aiohttp's read timeout (SocketTimeoutError) is a TimeoutError too
            raise client._retry(f"{READ_TIMEOUT}{client._via_proxy()}") from None
        except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
            said = str(exc)
            if (at := said.lower().find("content-encoding:")) >= 0:
                # A body its Content-Encoding does not describe (a proxy that decoded it already),
                # or in one we do not decode (br, zstd: not asked for in our Accept-Encoding).
                named = answer.headers.get("content-encoding") if answer is not None else None
                encoding = named or said[at + len("content-encoding:") :].split(".")[0].strip()
                raise client._retry(
                    f"undecodable body (Content-Encoding: {client._safe(encoding)[:24]})"
                ) from None
            if "content length" in said.lower() or "not completed" in said.lower():
                raise client._retry(f"body cut short{client._via_proxy()}") from None
            raise client._retry(f"connection error: {type(exc).__name__}{client._via_proxy()}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise client._retry(f"connection error: {type(exc).__name__}{client._via_proxy()}") from None
        # aiohttp drops the key on a redirect to another origin: another host, port or scheme (an
        # http:// base URL sent on to https:// too). The last request's own headers say if it did.
        moved = answer.history and _key_dropped(self.headers, answer.request_info.headers)
        return Answer(
            answer.status,
            answer.headers,
            content,
            answer.charset,
            str(answer.url.with_query(None)) if moved else None,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class _HttpxWire:
    """Requests through a given httpx transport: the network edge tests stand in for."""

    def __init__(self, settings: ClientSettings, transport: httpx.AsyncBaseTransport):
        self._http = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers=settings.headers,
            timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
            follow_redirects=True,
            max_redirects=5,
            transport=transport,
        )

    async def get(
        self, path: str, params: Mapping[str, Any], headers: dict[str, str], client: ApiClient
    ) -> Answer:
        try:
            raw = await self._http.get(path, params=params, headers=headers)
        except httpx.ConnectTimeout:
            raise client._retry(CONNECT_TIMEOUT) from None
        except httpx.TimeoutException:
            raise client._retry(READ_TIMEOUT) from None
        except httpx.UnsupportedProtocol:
            raise client._not_a_url() from None
        except httpx.DecodingError:
            raise client._retry("undecodable body (Content-Encoding)") from None
        except httpx.TooManyRedirects:
            raise client._redirect_loop(path) from None
        except httpx.TransportError as exc:
            raise client._retry(f"connection error: {type(exc).__name__}") from None
        moved = raw.history and _key_dropped(self._http.headers, raw.request.headers)
        return Answer(
            raw.status_code,
            raw.headers,
            raw.content,
            raw.charset_encoding,
            str(raw.url.copy_with(query=None)) if moved else None,
        )

    async def close(self) -> None:
        await self._http.aclose()


@dataclass(frozen=True)
class EnvironmentProxy:
    variable: str  # e.g. HTTPS_PROXY
    proxy: httpx.Proxy  # its credentials as a Proxy-Authorization header, apart from its URL
    target_scheme: str  # the API's

    def forwarding_headers(self) -> dict[str, str]:
        """Headers for the requests themselves: aiohttp sends a proxy's headers only with the
        CONNECT of an https tunnel, and a forwarding proxy (an http:// API) reads them from each
        request. Never inside a tunnel, where the provider would read them."""
        if self.target_scheme != "http":
            return {}
        return {k: v for k, v in self.proxy.headers.items() if k.lower() == "proxy-authorization"}

    @property
    def address(self) -> str:
        """The proxy's host and port, never its credentials."""
        return f"{self.proxy.url.host}:{self.proxy.url.port or {'https': 443}.get(self.proxy.url.scheme, 80)}"


def environment_proxy(base_url: str) -> EnvironmentProxy | None:
    """The proxy the environment names for ``base_url``, as httpx's ``trust_env`` and curl read it:
    ``<scheme>_proxy`` (``HTTPS_PROXY`` for an https API), else ``ALL_PROXY``, either case; none
    for a host ``NO_PROXY`` lists. (urllib's reading: on macOS and Windows, where no variable is
    set, it also finds the system's proxy settings.)"""
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        return None
    proxies = urllib.request.getproxies()
    key = url.scheme if proxies.get(url.scheme) else "all"
    if not (address := proxies.get(key)) or urllib.request.proxy_bypass(url.host):
        return None
    variable = f"{key.upper()}_PROXY"
    if "://" not in address:  # "proxy:3128", as httpx reads it
        address = f"http://{address}"
    try:
        proxy = httpx.Proxy(address)
    except (ValueError, httpx.InvalidURL):
        raise ProviderConfigError(
            f"{variable} is not an http:// or https:// proxy URL ({redact_text(address, ())[:60]!r}): "
            "fix it (SOCKS proxies are not supported)."
        ) from None
    if proxy.auth:  # as a header: aiohttp deprecates the BasicAuth that httpx-aiohttp would pass
        basic = base64.b64encode(":".join(proxy.auth).encode()).decode()
        proxy = httpx.Proxy(proxy.url, headers={"Proxy-Authorization": f"Basic {basic}"})
    if proxy.url.scheme not in ("http", "https"):
        raise ProviderConfigError(
            f"{variable} names a {proxy.url.scheme} proxy: only http:// and https:// ones work."
        )
    return EnvironmentProxy(variable, proxy, url.scheme)


def retry_after_seconds(
    headers: httpx.Headers,
    now: float | None = None,
    on_unreadable: Callable[[str, str], None] = lambda _name, _value: None,
    rate_limit: bool = True,
) -> float | None:
    """How long a 429 asks us to wait, from whichever header the provider sends; None when no
    header says (or none can be read: ``on_unreadable`` hears of it and our backoff applies).
    ``rate_limit`` False (a 503): ``Retry-After`` alone, the one header such an answer defines."""
    now = time.time() if now is None else now
    if value := headers.get("retry-after"):
        if (seconds := _number(value)) is not None:
            return seconds
        try:
            return max(email.utils.parsedate_to_datetime(value).timestamp() - now, 0.0)
        except (TypeError, ValueError, IndexError):
            on_unreadable("Retry-After", value)
    if not rate_limit:
        return None
    if value := headers.get("x-ratelimit-reset"):
        if (reset := _number(value)) is not None:
            return _seconds_until(reset, now)
        on_unreadable("X-RateLimit-Reset", value)
    if headers.get("x-ratelimit-remaining") == "0" and (
        value := headers.get("x-ratelimit-interval-milliseconds")
    ):
        if (millis := _number(value)) is not None:
            return millis / 1000.0
        on_unreadable("X-RateLimit-Interval-Milliseconds", value)
    return None


def window_reset_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """When a spent window has room again, from ``X-RateLimit-Reset`` (epoch or relative seconds)
    or, for a sliding window, its length (``X-RateLimit-Interval-Milliseconds``); None if unsaid."""
    now = time.time() if now is None else now
    if (reset := _number(headers.get("x-ratelimit-reset", ""))) is not None:
        return _seconds_until(reset, now)
    if (millis := _number(headers.get("x-ratelimit-interval-milliseconds", ""))) is not None:
        return millis / 1000.0
    return None


def _seconds_until(reset: float, now: float) -> float:
    """``X-RateLimit-Reset`` as seconds from now: the header's unit is not standard, and epoch
    milliseconds, epoch seconds and seconds from now are all sent (told apart by size)."""
    if reset > 1e12:
        return max(reset / 1000.0 - now, 0.0)
    return max(reset - now, 0.0) if reset > 1e9 else reset


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


GZIP_MAGIC = b"\x1f\x8b"
MAX_GUNZIPPED = 256 * 2**20  # bytes: a page is a few MiB; a "gzip bomb" stops here


def _gunzipped(content: bytes) -> bytes | None:
    """``content`` decompressed when it is gzip (its magic number first), else None."""
    if not content.startswith(GZIP_MAGIC):
        return None
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(content, MAX_GUNZIPPED)
    except zlib.error:
        return None


def _lenient_json(text: str) -> Any:
    """JSON that orjson refuses but is still what the server meant, or None: a lone UTF-16
    surrogate escape (``"\\ud83d"``: a JavaScript server cutting a text in the middle of an emoji
    writes one) becomes U+FFFD, and ``NaN``/``Infinity`` (Python's ``json.dumps`` writes them) become
    null, as orjson writes them. Only on orjson's failure path: a well-formed body never gets here."""
    try:
        return _well_formed(json.loads(text))
    except (ValueError, RecursionError):  # RecursionError: nested deeper than orjson's 1024 levels
        return None


def _well_formed(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_well_formed(v) for v in value]
    if isinstance(value, dict):
        return {_well_formed(k): _well_formed(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _outline(body: Any) -> str:
    """A body's top level for a message: its keys, short scalars shown (an error such as
    ``{"success": false, "message": "Invalid API key"}`` says what went wrong), lists and objects
    only named (they may hold call records, which do not belong in messages and alerts)."""
    if isinstance(body, list):
        return f"a JSON list of {len(body)}"
    if not isinstance(body, dict):
        return f"a JSON {type(body).__name__}"

    def shown(value: Any) -> str:
        if isinstance(value, list):
            return f"[{len(value)} items]"
        if isinstance(value, dict):
            return "{...}"
        if isinstance(value, str) and len(value) > 80:
            return repr(value[:80] + "...")
        return repr(value) if isinstance(value, str) else json.dumps(value)

    return "{" + ", ".join(f"{key!r}: {shown(value)}" for key, value in list(body.items())[:12]) + "}"
