"""The alert webhook sink against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx

from online_models.alerts import Alert
from streams.webhook import WebhookSink
from tests.support.http_sink import recording_server


def alert(i: int) -> Alert:
    return Alert("ht", "concept_drift", "ddm", None, f"e{i}", i, datetime(2026, 1, 1, tzinfo=UTC), {"n": i})


async def deliver_all(sink: WebhookSink, alerts: list[Alert]) -> None:
    async with httpx.AsyncClient(timeout=sink.timeout) as client:
        for a in alerts:
            await sink.deliver(client, a)


async def test_failed_posts_are_retried_with_backoff_until_delivered() -> None:
    with recording_server(fail_first=2) as server:
        sink = WebhookSink(server.url, retries=3, backoff=0.05)
        started = time.monotonic()
        await deliver_all(sink, [alert(1)])
        elapsed = time.monotonic() - started

    assert (sink.stats.delivered, sink.stats.failed, sink.stats.attempts) == (1, 0, 3)
    assert [r["alert_id"] for r in server.received] == [alert(1).alert_id]
    assert elapsed >= 0.05 + 0.1  # two waits: 0.05 s, then doubled


async def test_the_sink_gives_up_after_its_retries_and_goes_on() -> None:
    with recording_server(fail_first=3) as server:
        sink = WebhookSink(server.url, retries=2, backoff=0.01)
        await deliver_all(sink, [alert(1), alert(2)])
    assert (sink.stats.delivered, sink.stats.failed) == (1, 1)
    assert [r["event_id"] for r in server.received] == ["e2"]


async def test_an_unreachable_endpoint_is_counted_not_raised() -> None:
    with recording_server() as server:
        url = server.url
    sink = WebhookSink(url, retries=1, backoff=0.01, timeout=1)  # the server is gone: connection refused
    await deliver_all(sink, [alert(1)])
    assert (sink.stats.delivered, sink.stats.failed, sink.stats.attempts) == (0, 1, 2)


async def test_offer_never_waits_and_a_full_queue_drops_the_oldest() -> None:
    sink = WebhookSink("http://127.0.0.1:9/", queue_size=3)
    for i in range(5):
        sink.offer(alert(i))
    assert sink.stats.dropped == 2
    assert [sink.queue.get_nowait().event_id for _ in range(3)] == ["e2", "e3", "e4"]


async def test_run_delivers_what_is_offered_in_the_background() -> None:
    with recording_server() as server:
        sink = WebhookSink(server.url)
        task = asyncio.create_task(sink.run())
        for i in range(3):
            sink.offer(alert(i))
        for _ in range(100):
            if sink.stats.delivered == 3:
                break
            await asyncio.sleep(0.02)
        task.cancel()
    assert [r["event_id"] for r in server.received] == ["e0", "e1", "e2"]


async def test_any_error_of_a_delivery_is_counted_and_the_sink_goes_on() -> None:
    sink = WebhookSink("http://[::1", retries=1, backoff=0.01)  # not even a valid URL
    await deliver_all(sink, [alert(1)])
    assert (sink.stats.failed, sink.stats.attempts) == (1, 2)
