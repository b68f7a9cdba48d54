"""Online state in Redis besides the registry: the feature store and the recent alerts.

- ``<namespace>:features:<key>``: the latest feature vector of an entity key (JSON, with a TTL),
  written by the worker's features step so that the API can predict by key.
- ``<namespace>:alerts``: a capped stream of recent drift alerts, for ``GET /alerts``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from online_models.alerts import Alert

Entries = list[tuple[bytes, dict[bytes, bytes]]]  # a Redis stream read: (id, fields) each


class FeatureStore:
    """The latest feature vector of each entity key, in Redis (JSON, with a TTL)."""

    def __init__(self, client: aioredis.Redis, namespace: str, ttl_seconds: int = 86_400) -> None:
        self.client = client
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds

    def key(self, entity: str) -> str:
        """Return the Redis key of ``entity``'s vector."""
        return f"{self.namespace}:features:{entity}"

    async def put_many(self, vectors: Mapping[str, dict[str, Any]]) -> None:
        """Write the newest vector of each key in one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            for entity, features in vectors.items():
                pipe.set(self.key(entity), orjson.dumps(features), ex=self.ttl_seconds)
            await pipe.execute()

    async def get(self, entity: str) -> dict[str, Any] | None:
        """Return the newest vector of ``entity``; None when there is none (or it expired)."""
        raw = await self.client.get(self.key(entity))
        return orjson.loads(raw) if raw is not None else None


class AlertLog:
    """Recent drift alerts in a capped Redis stream, for ``GET /alerts``."""

    def __init__(self, client: aioredis.Redis, namespace: str, max_length: int = 10_000) -> None:
        self.client = client
        self.stream = f"{namespace}:alerts"
        self.max_length = max_length

    async def append(self, alert: Alert) -> None:
        """Add ``alert`` to the stream, which keeps about ``max_length`` of them."""
        await self.client.xadd(self.stream, {"alert": alert.to_json()}, maxlen=self.max_length, approximate=True)

    async def since(self, since: datetime | None, limit: int) -> list[dict[str, Any]]:
        """Alerts logged at or after ``since`` (arrival time), oldest first."""
        start = f"{int(since.timestamp() * 1000)}-0" if since is not None else "-"
        entries = cast(Entries, await self.client.xrange(self.stream, min=start, max="+", count=limit))
        return [orjson.loads(fields[b"alert"]) for _, fields in entries]

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """Return the newest ``limit`` alerts, oldest first (the stream read backwards)."""
        entries = cast(Entries, await self.client.xrevrange(self.stream, count=limit))
        return [orjson.loads(fields[b"alert"]) for _, fields in reversed(entries)]


class MemoryFeatureStore:
    """The embedded driver's feature store: the newest vector of the last ``max_keys`` keys.

    Examples
    --------
    >>> import asyncio
    >>> store = MemoryFeatureStore(max_keys=2)
    >>> for key in ("a", "b", "c"):
    ...     store.put(key, {"amount": 1.0})
    >>> list(store.vectors), asyncio.run(store.get("a")), asyncio.run(store.get("c"))
    (['b', 'c'], None, {'amount': 1.0})
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self.vectors: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def put(self, entity: str, features: dict[str, Any]) -> None:
        """Store the newest vector of ``entity``; the least recently written key goes when over ``max_keys``."""
        self.vectors[entity] = features
        self.vectors.move_to_end(entity)
        if len(self.vectors) > self.max_keys:
            self.vectors.popitem(last=False)

    async def get(self, entity: str) -> dict[str, Any] | None:
        """Return the newest vector of ``entity``; None when there is none."""
        return self.vectors.get(entity)


class MemoryAlertLog:
    """The embedded driver's alerts, in the order they fired (``since`` compares their ``ts``).

    Examples
    --------
    >>> import asyncio
    >>> from datetime import UTC, datetime
    >>> alerts = [Alert("nb", "concept_drift", "ddm", None, f"e-{day}", day, datetime(2026, 1, day, tzinfo=UTC), {})
    ...           for day in (1, 2, 3)]
    >>> log = MemoryAlertLog(alerts)
    >>> [alert["event_id"] for alert in asyncio.run(log.since(datetime(2026, 1, 2, tzinfo=UTC), limit=10))]
    ['e-2', 'e-3']
    >>> [alert["ts"] for alert in asyncio.run(log.recent(1))]
    ['2026-01-03T00:00:00.000+00:00']
    """

    def __init__(self, alerts: Iterable[Alert]) -> None:
        self.alerts = list(alerts)

    async def since(self, since: datetime | None, limit: int) -> list[dict[str, Any]]:
        """Return the first ``limit`` alerts whose ``ts`` is at or after ``since``, oldest first."""
        chosen = [a for a in self.alerts if since is None or a.ts >= since]
        return [a.to_dict() for a in chosen[:limit]]

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """Return the newest ``limit`` alerts, oldest first."""
        # As JSON gives them back from Redis: NaN as null, keys as text.
        return [orjson.loads(a.to_json()) for a in self.alerts[-limit:]]
