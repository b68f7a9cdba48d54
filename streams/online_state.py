"""What the worker writes to Redis for the API: latest features per key, recent alerts, status.

The engine only hands over in-memory buffers (no Redis round trip per event); the status timer
flushes them. Buffers are bounded: features keep the newest vector per key until the next flush
(and are dropped if Redis is down: the next event of the key writes it again); alerts keep the
newest ``max_alerts``.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from online_models.alerts import Alert
from online_models.storage.stores import AlertLog, FeatureStore

log = logging.getLogger("streamwise.worker")


class OnlineState:
    """The features and alerts the engine hands over, buffered until ``flush`` writes them to Redis."""

    def __init__(
        self, client: aioredis.Redis, namespace: str, feature_ttl_seconds: int = 86_400, max_alerts: int = 1000
    ) -> None:
        self.features = FeatureStore(client, namespace, feature_ttl_seconds)
        self.alerts = AlertLog(client, namespace)
        self._features: dict[str, dict[str, Any]] = {}
        self._alerts: deque[Alert] = deque(maxlen=max_alerts)

    def remember_features(self, key: str, features: dict[str, Any]) -> None:
        """Keep ``features`` as the newest vector of ``key`` until the next flush."""
        self._features[key] = features

    def remember_many(self, features: dict[str, dict[str, Any]]) -> None:
        """Keep the newest vector per key of one batch of the engine (called on the event loop)."""
        self._features.update(features)

    def remember_alert(self, alert: Alert) -> None:
        """Keep ``alert`` until the next flush (the buffer keeps the newest ``max_alerts``)."""
        self._alerts.append(alert)

    async def flush(self) -> None:
        """Write the buffered features and alerts to Redis.

        If Redis fails, the features are dropped and the alerts not yet written wait for the next flush.
        """
        features, self._features = self._features, {}
        try:
            if features:
                await self.features.put_many(features)
            while self._alerts:
                await self.alerts.append(self._alerts[0])
                self._alerts.popleft()
        except (RedisError, OSError) as exc:
            log.warning("online state not written to Redis (retried on the next flush): %s", exc)
