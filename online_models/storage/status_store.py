"""Model and partition status in Redis, written by the worker, read by the API and the CLI.

- ``<namespace>:models:<model>:status``: HASH partition -> the model's status document there;
- ``<namespace>:models:status-names``: SET of the models that reported;
- ``<namespace>:partitions:status``: HASH ``intake:P`` / ``learner:P`` -> its document.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import redis.asyncio as aioredis


class ModelStatusStore:
    """Reads and writes model status documents in Redis."""

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    def key(self, model: str) -> str:
        """Return the Redis key of ``model``'s status hash."""
        return f"{self.namespace}:models:{model}:status"

    @property
    def names_key(self) -> str:
        """The Redis key of the set of models that reported."""
        return f"{self.namespace}:models:status-names"

    async def publish(self, statuses: Iterable[dict[str, Any]]) -> int:
        """Write the given status documents in one round trip; returns how many were written."""
        pipe = self.client.pipeline(transaction=False)
        names: set[str] = set()
        count = 0
        for status in statuses:
            pipe.hset(self.key(status["model"]), str(status["partition"]), orjson.dumps(status))
            names.add(status["model"])
            count += 1
        if count:
            pipe.sadd(self.names_key, *sorted(names))
            await pipe.execute()
        return count

    @property
    def parts_key(self) -> str:
        """The Redis key of the partitions' status hash."""
        return f"{self.namespace}:partitions:status"

    async def publish_parts(self, statuses: Iterable[dict[str, Any]]) -> None:
        """Write the partitions' documents (``learner_status``, ``intake_status``) in one round trip."""
        mapping = {status["part"]: orjson.dumps(status) for status in statuses}
        if mapping:
            await self.client.hset(self.parts_key, mapping=mapping)

    async def parts(self) -> list[dict[str, Any]]:
        """Every partition's document, intakes then learners, by partition."""
        docs = [orjson.loads(doc) for doc in (await self.client.hgetall(self.parts_key)).values()]
        return sorted(docs, key=lambda d: (d["part"].split(":")[0], d["partition"]))

    async def names(self) -> list[str]:
        """Every model that has reported a status."""
        return sorted(n.decode() if isinstance(n, bytes) else n for n in await self.client.smembers(self.names_key))

    async def get(self, model: str) -> dict[int, dict[str, Any]]:
        """Return the status of ``model`` per partition (empty when the model has not reported yet)."""
        raw = await self.client.hgetall(self.key(model))
        return {int(partition): orjson.loads(doc) for partition, doc in raw.items()}
