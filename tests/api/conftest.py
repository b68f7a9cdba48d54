"""An API app against a real redis-server, with its own namespace, and a registry to feed it."""

from __future__ import annotations

import asyncio
import faulthandler
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.main import create_app
from api.settings import ApiSettings
from online_models import snapshot
from online_models.config import ModelSpec
from online_models.datasets import samples
from online_models.evaluation import PrequentialModel
from online_models.storage.redis_registry import ModelRegistry

EXIT_WITHIN = 120  # seconds


def pytest_unconfigure(config: pytest.Config) -> None:
    """Bound the exit of the process. pytest-timeout fails a hung test and the session goes on, but an
    ASGI lifespan left hanging keeps schemathesis's event loop thread busy, and that thread is joined at
    exit (atexit): past ``EXIT_WITHIN``, print every thread's stack and exit with status 1."""
    faulthandler.dump_traceback_later(EXIT_WITHIN, exit=True, file=sys.__stderr__)


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


@pytest.fixture
def api(redis_url: str) -> Iterator[ApiEnv]:
    yield from api_env(redis_url, config=None)


@pytest.fixture
def configured_api(redis_url: str, tmp_path: Path) -> Iterator[ApiEnv]:
    """An API whose worker config has models ``lr`` then ``ht`` (the default-model rule of docs/serving.md)."""
    config = tmp_path / "models.yaml"
    models = [{"name": "lr", "recipe": "logistic_regression", "task": "binary"},
              {"name": "ht", "recipe": "hoeffding_tree", "task": "binary"}]  # fmt: skip
    config.write_text(yaml.safe_dump({"models": models}))
    yield from api_env(redis_url, config=config)


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
