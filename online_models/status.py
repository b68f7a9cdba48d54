"""Live model status in Redis: counts and prequential metrics per model and stream partition.

One hash per model, ``<namespace>:models:<name>:status``, with one field per partition holding a
JSON document. The worker writes it on a timer; the API and the CLI read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from online_models.evaluation import PrequentialModel


def model_status(model: PrequentialModel, partition: int, now: datetime) -> dict[str, Any]:
    return {
        "model": model.name,
        "partition": partition,
        "model_version": model.version,
        "recipe": model.spec.recipe,
        "task": model.spec.task,
        "events": model.events,
        "labeled": model.labeled,
        "scored": model.scored,
        "metrics": model.metric_values(),
        "updated_at": now.isoformat(timespec="milliseconds"),
    }


class ModelStatusStore:
    """Reads and writes model status documents in Redis."""

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    def key(self, model: str) -> str:
        return f"{self.namespace}:models:{model}:status"

    async def publish(self, statuses: Iterable[dict[str, Any]]) -> int:
        """Write the given status documents in one round trip; returns how many were written."""
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for status in statuses:
            pipe.hset(self.key(status["model"]), str(status["partition"]), orjson.dumps(status))
            count += 1
        if count:
            await pipe.execute()
        return count

    async def get(self, model: str) -> dict[int, dict[str, Any]]:
        """The status of ``model`` per partition (empty when the model has not reported yet)."""
        raw = await self.client.hgetall(self.key(model))
        return {int(partition): orjson.loads(doc) for partition, doc in raw.items()}
