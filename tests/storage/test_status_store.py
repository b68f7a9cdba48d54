"""Model status documents in a real redis-server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from online_models.config import ModelSpec
from online_models.evaluation import PrequentialModel
from online_models.status import model_status
from online_models.storage.status_store import ModelStatusStore

pytestmark = pytest.mark.redis


async def test_status_round_trips_per_partition(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    store = ModelStatusStore(client, f"test-{uuid.uuid4().hex}")
    model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    for i in range(20):
        model.step({"x": float(i)}, i % 2 == 0)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        assert await store.publish([model_status(model, 0, now), model_status(model, 3, now)]) == 2
        statuses = await store.get("nb")
        assert sorted(statuses) == [0, 3]
        assert statuses[3]["labeled"] == 20 and statuses[3]["metrics"] == model.metric_values()
        assert await store.get("unknown") == {}
    finally:
        await client.delete(store.key("nb"))
        await client.aclose()
