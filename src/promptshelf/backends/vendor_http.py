"""The one HTTP client the vendor backends share: pooled connections, timeouts, retries, throttling.

What it decides, so that every vendor behaves the same:

- An *idempotent* call (GET, HEAD, PUT, DELETE by default) is retried on 429, 5xx, timeouts and network
  errors, with exponential backoff and jitter, honouring ``Retry-After`` (seconds or an HTTP date).
- A *non-idempotent* call (POST, PATCH) is retried only when the vendor certainly did not apply it: the
  connection was never made, or the vendor answered 429 (a throttled request is rejected, not run).
  Anything else (a 5xx, a timeout after sending, a dropped connection) may have been applied, so it is
  reported at once as ``UnavailableError`` with ``may_have_been_applied=True`` and never sent twice.
- When retries run out, ``UnavailableError`` names the vendor, the last status and the attempts made.
- A 429 pauses every request of this client until its ``Retry-After`` has passed: a burst of concurrent
  callers waits once instead of each hammering the throttled vendor.
- An optional ``rate_limiter`` keeps mutations under a vendor's quota; a burst waits for a free slot
  rather than failing.
- An optional ``attempt_budget`` counts every attempt (reads, writes and retries alike) for vendors whose
  quota counts rejected attempts too (Statsig). An attempt waits for a slot only up to ``max_backoff``;
  beyond that it is not sent and the call fails as ``UnavailableError`` with ``retry_after``: a 429 is
  retried only while the budget has room, so retries never burn the quota.
- Secrets never reach a message or a log line: each text built from a request or a response passes
  through ``redact``, and query strings are left out of messages altogether.

Other responses (2xx, 3xx, 4xx but 429) go back to the caller, which maps them to promptshelf errors.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import httpx

from promptshelf.errors import UnavailableError

logger = logging.getLogger("promptshelf.vendor_http")

# httpx logs every request line with its full URL (query included) at INFO; httpcore traces at DEBUG.
_LIBRARY_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class RateLimiter(Protocol):
    async def acquire(self) -> None:
        """Return when one more request may be sent (waiting as long as needed)."""
        ...


class SlidingWindowLimiter:
    """At most ``max_requests`` in any ``window`` seconds; callers beyond that wait their turn (FIFO)."""

    def __init__(
        self, max_requests: int, window: float, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        if max_requests < 1 or window <= 0:
            raise ValueError("a rate limit needs max_requests >= 1 and window > 0")
        self.max_requests = max_requests
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        # The lock makes waiters queue in arrival order; only the head of the queue sleeps.
        async with self._lock:
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                if len(self._sent) < self.max_requests:
                    self._sent.append(now)
                    return
                await self._sleep(self._sent[0] + self.window - now)


class MultiWindowLimiter:
    """Sliding windows at once, ``((count, seconds), ...)``: a slot is free when every window has room.

    ``delay()`` says how long until the next slot without taking it, so a caller can refuse to wait.
    """

    def __init__(
        self,
        tiers: tuple[tuple[int, float], ...],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not tiers or any(count < 1 or window <= 0 for count, window in tiers):
            raise ValueError("every rate limit tier needs count >= 1 and window > 0")
        self.tiers = tiers
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._longest = max(window for _, window in tiers)
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        now = self._clock()
        while self._sent and self._sent[0] <= now - self._longest:
            self._sent.popleft()
        wait = 0.0
        for count, window in self.tiers:
            inside = [t for t in self._sent if t > now - window]
            if len(inside) >= count:
                # The slot frees when the oldest send that keeps this window full leaves it.
                wait = max(wait, inside[len(inside) - count] + window - now)
        return wait

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self.delay()) > 0:
                await self._sleep(wait)
            self._sent.append(self._clock())


class VendorHttp:
    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        secret_values: list[str],
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff_base: float = 0.2,
        max_backoff: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        vendor: str,
        rate_limiter: RateLimiter | None = None,
        attempt_budget: MultiWindowLimiter | None = None,
        max_connections: int = 20,
        jitter: bool = True,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.vendor = vendor
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self.rate_limiter = rate_limiter
        self.attempt_budget = attempt_budget
        self._secrets = [value for value in secret_values if value]
        self._jitter = jitter
        self._sleep = sleep
        self._clock = clock
        self._paused_until = 0.0
        self._log_filter = _RedactingFilter(self.redact)
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"VendorHttp(vendor={self.vendor!r}, base_url={self.redact(str(self._client.base_url))!r})"

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def aclose(self) -> None:
        await self._client.aclose()
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).removeFilter(self._log_filter)

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        extra_headers: Mapping[str, str] | None = None,
        rate_limited: bool | None = None,
    ) -> httpx.Response:
        """Send one logical request (retrying as the module docstring says) and return the response.

        ``rate_limited`` (default: every method but GET/HEAD/OPTIONS) says whether the call counts
        against ``rate_limiter``.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        if rate_limited is None:
            rate_limited = method not in READ_METHODS
        what = f"{method} {self._describe(path_or_url)}"
        attempt = 0
        while True:
            attempt += 1
            await self._wait_out_pause()
            if rate_limited and self.rate_limiter is not None:
                await self.rate_limiter.acquire()
            if self.attempt_budget is not None:
                wait = self.attempt_budget.delay()
                if wait > self.max_backoff:
                    raise self._unavailable(
                        f"{self.vendor}'s request quota is spent: {what} was not sent (attempt {attempt}), "
                        f"as the next free slot is {wait:.0f} s away; try again later",
                        status=None,
                        attempts=attempt - 1,
                        may_have_been_applied=False,
                        cause=None,
                        retry_after=wait,
                    )
                await self.attempt_budget.acquire()
            status: int | None = None
            retry_after: float | None = None
            error: Exception | None
            try:
                response = await self._client.request(
                    method, path_or_url, params=params, json=json, headers=extra_headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never left this process: safe to send again whatever the method.
                problem, sent, error = f"could not connect ({type(exc).__name__})", False, exc
            except httpx.TimeoutException as exc:
                problem, sent, error = f"timed out ({type(exc).__name__})", True, exc
            except httpx.TransportError as exc:
                problem, sent, error = f"connection failed ({type(exc).__name__})", True, exc
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    return response
                error = None
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                problem = f"answered HTTP {status}"
                # 429 means the vendor refused the request without running it.
                sent = status != 429
                if status == 429:
                    self._pause(retry_after if retry_after is not None else self._backoff(attempt))

            retryable = idempotent or not sent
            if not retryable:
                raise self._unavailable(
                    f"{self.vendor} {problem} to {what}; it may or may not have been applied, so it was "
                    "not retried: read the current state before trying again",
                    status=status,
                    attempts=attempt,
                    may_have_been_applied=True,
                    cause=error,
                )
            if attempt > self.max_retries:
                raise self._unavailable(
                    f"{self.vendor} {problem} to {what}; gave up after {attempt} attempts (retries ran out)",
                    status=status,
                    attempts=attempt,
                    may_have_been_applied=sent and not idempotent,
                    cause=error,
                )
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            if delay > self.max_backoff:
                raise self._unavailable(
                    f"{self.vendor} {problem} to {what} and asked to wait {delay:.0f} s, longer than the "
                    f"{self.max_backoff:.0f} s this client waits; try again later",
                    status=status,
                    attempts=attempt,
                    may_have_been_applied=False,
                    cause=error,
                    retry_after=delay,
                )
            logger.info(
                "%s %s; retrying in %.2f s (attempt %d of %d)",
                self.vendor,
                self.redact(f"{problem} to {what}"),
                delay,
                attempt,
                self.max_retries + 1,
            )
            await self._sleep(delay)

    # -- plumbing ------------------------------------------------------------------------------------

    def _describe(self, path_or_url: str) -> str:
        # Only the path: query strings are where some clients put tokens.
        url = self._client.base_url.join(path_or_url) if "://" not in path_or_url else httpx.URL(path_or_url)
        return self.redact(url.path)

    def _backoff(self, attempt: int) -> float:
        delay: float = min(self.max_backoff, self.backoff_base * 2 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0) if self._jitter else delay

    def _pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + min(seconds, self.max_backoff))

    async def _wait_out_pause(self) -> None:
        remaining = self._paused_until - self._clock()
        if remaining > 0:
            await self._sleep(remaining)

    def _unavailable(self, message: str, *, cause: Exception | None, **details: Any) -> UnavailableError:
        error = UnavailableError(self.redact(message), vendor=self.vendor, **details)
        # Chained so tracebacks keep the transport error; its text is redacted on the way in too.
        if cause is not None:
            error.__cause__ = httpx.TransportError(self.redact(str(cause)))
        return error


class _RedactingFilter(logging.Filter):
    """Rewrites library log records so no secret of this client reaches any handler."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; ``None`` if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
