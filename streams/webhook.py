"""The alert webhook sink: POST each drift alert as JSON, with retries and backoff, off the stream.

``offer`` never waits: alerts go to a bounded queue that a background task drains, so a slow or
dead endpoint delays nothing but its own deliveries. When the queue is full the oldest alert is
dropped and counted (the alert is still in the ``drift.alerts`` topic).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

from online_models.alerts import Alert

log = logging.getLogger("streamwise.webhook")


@dataclass
class WebhookStats:
    """A sink's counts: alerts delivered, given up on and dropped, and HTTP attempts made.

    Examples
    --------
    >>> stats = WebhookStats()
    >>> stats.attempts, stats.delivered = 3, 1   # one alert delivered at its third attempt
    >>> stats
    WebhookStats(delivered=1, failed=0, dropped=0, attempts=3)
    """

    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    attempts: int = 0


class WebhookSink:
    """Delivers alerts to ``url``; ``retries`` more attempts after the first, doubling ``backoff``.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> ts = datetime(2026, 1, 1, tzinfo=UTC)
    >>> alerts = [Alert("nb", "concept_drift", "ddm", None, f"e{i}", i, ts, {}) for i in range(3)]

    ``offer`` never waits: with room for two, the oldest alert is dropped.

    >>> sink = WebhookSink("https://hooks.example.com/alerts", queue_size=2)
    >>> for alert in alerts:
    ...     sink.offer(alert)
    >>> sink.queue.qsize(), sink.stats.dropped, sink.queue.get_nowait().event_id
    (2, 1, 'e1')

    ``deliver`` retries a failed POST; here an in-process endpoint (``httpx.MockTransport``)
    that answers 503 first, then 200.

    >>> import asyncio
    >>> answers = iter([503, 200])
    >>> transport = httpx.MockTransport(lambda request: httpx.Response(next(answers)))
    >>> sink = WebhookSink("https://hooks.example.com/alerts", retries=2, backoff=0.001)
    >>> async def deliver_one():
    ...     async with httpx.AsyncClient(transport=transport) as client:
    ...         return await sink.deliver(client, alerts[0])
    >>> asyncio.run(deliver_one()), sink.stats
    (True, WebhookStats(delivered=1, failed=0, dropped=0, attempts=2))
    """

    def __init__(
        self, url: str, *, retries: int = 5, backoff: float = 0.5, timeout: float = 5.0, queue_size: int = 1000
    ) -> None:
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=queue_size)
        self.stats = WebhookStats()

    def offer(self, alert: Alert) -> None:
        """Queue ``alert`` without waiting; a full queue drops its oldest alert (counted)."""
        if self.queue.full():
            self.queue.get_nowait()
            self.stats.dropped += 1
        self.queue.put_nowait(alert)

    async def run(self) -> None:
        """Deliver queued alerts until cancelled."""
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                alert = await self.queue.get()
                await self.deliver(client, alert)

    async def deliver(self, client: httpx.AsyncClient, alert: Alert) -> bool:
        """Send ``alert`` with ``client``, retrying with a doubling backoff; return whether it was delivered."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            self.stats.attempts += 1
            try:
                response = await client.post(
                    self.url, content=alert.to_json(), headers={"content-type": "application/json"}
                )
                if response.status_code < 300:
                    self.stats.delivered += 1
                    return True
                problem = f"HTTP {response.status_code}"
            except Exception as exc:  # any failure is this alert's, never the worker's
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < self.retries:
                log.info("webhook attempt %d for alert %s failed (%s)", attempt + 1, alert.alert_id, problem)
                await asyncio.sleep(delay)
                delay *= 2
        self.stats.failed += 1
        log.warning("webhook gave up on alert %s after %d attempts: %s", alert.alert_id, self.retries + 1, problem)
        return False
