"""An API app against a real redis-server, with its own namespace, and a registry to feed it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.main import create_app
from api.settings import ApiSettings
from online_models import snapshot
from online_models.config import ModelSpec
from online_models.datasets import samples
from online_models.evaluation import PrequentialModel
from online_models.storage.redis_registry import ModelRegistry
from streams.testing import SIGNING_KEY, StreamEnv

KEY = "api-test-signing-key-0123456789"
ADMIN = "admin-key-for-tests"


def trained(n: int, name: str = "lr", recipe: str = "logistic_regression", seed: int = 1) -> PrequentialModel:
    model = PrequentialModel(ModelSpec(name=name, recipe=recipe, task="binary"))
    for x, y in samples("agrawal", n, seed=seed):
        model.step(x, y)
    return model


@dataclass
class ApiEnv:
    client: TestClient
    namespace: str
    redis_url: str

    def register(self, model: PrequentialModel, *, tamper: bool = False) -> int:
        """Snapshot and save ``model`` as a worker would (``tamper``: then flip a metadata field
        after signing); returns its version."""

        async def save() -> int:
            connection = aioredis.from_url(self.redis_url)
            registry = ModelRegistry(connection, self.namespace, KEY.encode())
            try:
                version = await registry.next_version(model.slot)
                snap = snapshot.take(model, version=version, partition=0, offsets={}, reason="test", key=KEY.encode())
                if tamper:
                    snap = snapshot.Snapshot(snap.blob, {**snap.metadata, "events_seen": 0}, snap.signature)
                await registry.save(snap)
                return version
            finally:
                await connection.aclose()

        return asyncio.run(save())

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)


def api_env(redis_url: str, config: Path | None) -> Iterator[ApiEnv]:
    namespace = f"api-{uuid.uuid4().hex[:10]}"
    settings = ApiSettings(
        kafka_bootstrap="",  # no workers to tell of champion changes
        redis_url=redis_url,
        redis_namespace=namespace,
        snapshot_key=SecretStr(KEY),
        api_key=SecretStr(ADMIN),
        config=config,
        reload_poll_seconds=0.5,
        max_batch=5,
        max_body_bytes=20_000,
    )
    with TestClient(create_app(settings)) as client:
        yield ApiEnv(client, namespace, redis_url)
    connection = redis.Redis.from_url(redis_url)
    for key in connection.scan_iter(f"{namespace}:*"):
        connection.delete(key)


def stream_api_settings(env: StreamEnv, **extra: Any) -> ApiSettings:
    """The settings of an API in ``env``'s world: its broker and topics, its Redis namespace, its key."""
    return ApiSettings(
        kafka_bootstrap=env.bootstrap,
        topic_prefix=env.prefix,
        redis_url=env.redis_url,
        redis_namespace=env.name,
        snapshot_key=SecretStr(SIGNING_KEY),
        **extra,
    )
