"""The shared vendor HTTP client: which calls it retries, how long it waits, what it reports.

Retry timing is checked with ``httpx.MockTransport`` and an injected sleep (no real waiting); the
behaviour over a real socket is covered by the PostHog tests against the fake server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from promptshelf.backends.vendor_http import (
    MultiWindowLimiter,
    SlidingWindowLimiter,
    VendorHttp,
    parse_retry_after,
)
from promptshelf.errors import UnavailableError

SECRET = "phx_secret_key_under_test"

pytestmark = pytest.mark.anyio


class Recorder:
    """The injected sleep: records each wait and advances a fake clock by it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


class VirtualTime:
    """An injected clock and sleep where time moves only when the test says: sleepers wait for it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, asyncio.Event]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.Event()
        self._sleepers.append((self.now + seconds, woken))
        await woken.wait()

    @property
    def sleeping(self) -> int:
        return len(self._sleepers)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for entry in [entry for entry in self._sleepers if entry[0] <= self.now]:
            self._sleepers.remove(entry)
            entry[1].set()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def client(
    handler: Callable[[httpx.Request], httpx.Response], recorder: Recorder, **options: object
) -> VendorHttp:
    return VendorHttp(
        base_url="https://vendor.example/api/",
        headers={"Authorization": f"Bearer {SECRET}"},
        secret_values=[SECRET],
        vendor="Acme",
        transport=httpx.MockTransport(handler),
        backoff_base=0.1,
        max_backoff=5.0,
        jitter=False,
        sleep=recorder.sleep,
        clock=recorder.clock,
        **{"max_retries": 3, **options},  # type: ignore[arg-type]
    )


def scripted(
    *answers: int | type[Exception], headers: dict[str, str] | None = None
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    """A handler answering each request with the next status (or raising the next exception)."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, type):
            raise answer("boom", request=request)  # type: ignore[call-arg]
        return httpx.Response(answer, json={"ok": answer < 400}, headers=headers or {})

    return handle, seen


async def test_get_is_retried_on_5xx_with_exponential_backoff() -> None:
    recorder = Recorder()
    handler, seen = scripted(503, 502, 200)
    http = client(handler, recorder)
    response = await http.request("GET", "things/")
    assert response.status_code == 200
    assert len(seen) == 3
    assert recorder.sleeps == [0.1, 0.2]
    await http.aclose()


async def test_retry_after_seconds_and_http_date_are_honoured() -> None:
    recorder = Recorder()
    handler, _ = scripted(429, 200, headers={"Retry-After": "2"})
    http = client(handler, recorder)
    assert (await http.request("GET", "x/")).status_code == 200
    assert recorder.sleeps == [2.0]
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (parse_retry_after(when) or 0) <= 30
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    await http.aclose()


async def test_when_retries_run_out_the_error_names_vendor_status_and_attempts() -> None:
    recorder = Recorder()
    handler, seen = scripted(500)
    http = client(handler, recorder)
    with pytest.raises(UnavailableError) as caught:
        await http.request("GET", "prompts/", params={"token": SECRET})
    error = caught.value
    assert len(seen) == 4
    assert "Acme" in error.message and "HTTP 500" in error.message and "retries ran out" in error.message
    assert error.details["attempts"] == 4 and error.details["status"] == 500
    assert SECRET not in error.message and SECRET not in str(error.to_dict())
    await http.aclose()


async def test_post_is_not_resent_after_a_5xx_or_a_timeout() -> None:
    for failure in (500, httpx.ReadTimeout, httpx.RemoteProtocolError):
        recorder = Recorder()
        handler, seen = scripted(failure, 201)
        http = client(handler, recorder)
        with pytest.raises(UnavailableError) as caught:
            await http.request("POST", "prompts/", json={"name": "x"})
        assert len(seen) == 1, failure
        assert caught.value.details["may_have_been_applied"] is True
        assert "not retried" in caught.value.message
        await http.aclose()


async def test_post_is_retried_when_it_certainly_did_not_run() -> None:
    for failure in (httpx.ConnectError, 429):
        recorder = Recorder()
        handler, seen = scripted(failure, 201)
        http = client(handler, recorder)
        response = await http.request("POST", "prompts/", json={"name": "x"})
        assert response.status_code == 201
        assert len(seen) == 2, failure
        await http.aclose()


async def test_client_errors_are_returned_for_the_caller_to_map() -> None:
    for status in (400, 401, 403, 404, 409):
        recorder = Recorder()
        handler, seen = scripted(status)
        http = client(handler, recorder)
        assert (await http.request("GET", "x/")).status_code == status
        assert len(seen) == 1 and recorder.sleeps == []
        await http.aclose()


async def test_a_retry_after_longer_than_the_client_waits_fails_at_once() -> None:
    recorder = Recorder()
    handler, seen = scripted(429, headers={"Retry-After": "3600"})
    http = client(handler, recorder)
    with pytest.raises(UnavailableError) as caught:
        await http.request("GET", "x/")
    assert len(seen) == 1 and recorder.sleeps == []
    assert "asked to wait 3600 s" in caught.value.message
    await http.aclose()


async def test_a_429_pauses_the_next_requests_too() -> None:
    recorder = Recorder()
    handler, _ = scripted(429, 200, 200, headers={"Retry-After": "1"})
    http = client(handler, recorder)
    await http.request("GET", "a/")
    # The pause was already served by the first request's own wait: nothing more to wait.
    await http.request("GET", "b/")
    assert recorder.sleeps == [1.0]
    await http.aclose()


async def test_a_429_pauses_later_requests_even_when_its_own_request_gave_up() -> None:
    recorder = Recorder()
    handler, seen = scripted(429, 200, headers={"Retry-After": "3"})
    http = client(handler, recorder, max_retries=0)
    with pytest.raises(UnavailableError, match="retries ran out"):
        await http.request("GET", "a/")
    assert recorder.sleeps == []
    await http.request("GET", "b/")  # sent only once the vendor's pause is over
    assert recorder.sleeps == [3.0] and len(seen) == 2
    await http.aclose()


async def test_a_multi_window_limiter_waits_for_every_window() -> None:
    recorder = Recorder()
    limiter = MultiWindowLimiter(((2, 10.0), (3, 100.0)), clock=recorder.clock, sleep=recorder.sleep)
    for _ in range(5):
        await limiter.acquire()
    # The third waits out the 10 s window; the fourth the 100 s one (three sent since 1000).
    assert recorder.sleeps == [10.0, 90.0]
    assert limiter.delay() == 10.0  # two sent at 1100 fill the 10 s window again


async def test_the_attempt_budget_counts_retries_and_stops_before_sending_past_it() -> None:
    recorder = Recorder()
    budget = MultiWindowLimiter(((2, 60.0),), clock=recorder.clock, sleep=recorder.sleep)
    handler, seen = scripted(429, headers={"Retry-After": "1"})
    http = client(handler, recorder, attempt_budget=budget)
    with pytest.raises(UnavailableError, match="request quota is spent") as caught:
        await http.request("POST", "m/")
    # Two attempts fit the budget; the third would have waited 58 s, more than this client waits.
    assert len(seen) == 2 and recorder.sleeps == [1.0, 1.0]
    assert caught.value.details["retry_after"] == pytest.approx(58.0)
    assert caught.value.details["may_have_been_applied"] is False
    await http.aclose()


async def test_after_a_429_concurrent_requests_wait_out_the_pause_before_sending() -> None:
    time = VirtualTime()
    sent: list[tuple[str, float]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, time.now))
        if len(sent) == 1:
            return httpx.Response(429, headers={"Retry-After": "2"})
        return httpx.Response(200)

    http = VendorHttp(
        base_url="https://vendor.example/api/",
        headers={},
        secret_values=[],
        vendor="Acme",
        transport=httpx.MockTransport(handle),
        jitter=False,
        sleep=time.sleep,
        clock=time.clock,
    )
    throttled = asyncio.ensure_future(http.request("GET", "first/"))
    await settle()
    assert sent == [("/api/first/", 1000.0)] and time.sleeping == 1  # 429: it waits 2 s to retry
    burst = [asyncio.ensure_future(http.request("POST", f"burst-{k}/")) for k in range(3)]
    await settle()
    assert sent == [("/api/first/", 1000.0)]  # the burst arrived while throttled: nothing more sent
    time.advance(1.5)
    await settle()
    assert len(sent) == 1
    time.advance(0.5)  # the Retry-After has passed: everyone goes
    answers = await asyncio.gather(throttled, *burst)
    assert [answer.status_code for answer in answers] == [200] * 4
    assert sorted(sent[1:]) == [
        (f"/api/{path}/", 1002.0) for path in ("burst-0", "burst-1", "burst-2", "first")
    ]
    await http.aclose()


async def test_rate_limiter_slows_a_burst_instead_of_failing_it() -> None:
    recorder = Recorder()
    limiter = SlidingWindowLimiter(2, 10.0, clock=recorder.clock, sleep=recorder.sleep)
    handler, seen = scripted(200)
    http = client(handler, recorder, rate_limiter=limiter)
    for _ in range(5):
        assert (await http.request("POST", "m/")).status_code == 200
    await http.request("GET", "reads-are-not-limited/")
    assert len(seen) == 6
    assert recorder.sleeps == [10.0, 10.0]
    await http.aclose()


async def test_repr_and_logs_keep_the_secret_out(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    recorder = Recorder()
    handler, _ = scripted(503, 200)
    http = client(handler, recorder)
    await http.request("GET", f"things/?token={SECRET}")
    assert SECRET not in repr(http)
    assert SECRET not in caplog.text
    assert "retrying" in caplog.text
    await http.aclose()
