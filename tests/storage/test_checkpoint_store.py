"""The checkpoint store on a real redis-server: the stored checkpoint never goes backwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from online_models import checkpoint
from online_models.learner import Learner
from online_models.storage.checkpoint_store import CheckpointStore
from tests.support.recovery import CONFIG, KEY, feed, learn_log, state

pytestmark = pytest.mark.redis


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[CheckpointStore]:
    client = aioredis.from_url(redis_url)
    namespace = f"t{uuid.uuid4().hex[:10]}"
    yield CheckpointStore(client, namespace, "group")
    async for key in client.scan_iter(f"{namespace}:*"):
        await client.delete(key)
    await client.aclose()


async def test_the_stored_checkpoint_never_goes_backwards(store: CheckpointStore) -> None:
    log = learn_log(200, delay=10)
    learner = Learner(CONFIG)
    feed(learner, log[:100])
    early = checkpoint.take(learner, CONFIG, KEY)
    feed(learner, log, start=100)
    late = checkpoint.take(learner, CONFIG, KEY)

    assert await store.save(late)
    assert not await store.save(early)  # a worker that lost the partition finishing late
    loaded = await store.load("learner", 0)
    assert loaded is not None and loaded.position == late.position == len(log)
    assert state(checkpoint.restore(loaded, CONFIG, KEY, Learner)) == state(learner)
    assert await store.load("learner", 5) is None and await store.load("intake", 0) is None
