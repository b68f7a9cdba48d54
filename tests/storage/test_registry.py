"""Snapshots and the model registry in a real redis-server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from online_models import snapshot
from online_models.config import ModelSpec
from online_models.datasets import samples
from online_models.evaluation import PrequentialModel
from online_models.registry import ChampionRefused, RegistryError, champion_record
from online_models.registry import register as registry_register
from online_models.snapshot import Snapshot, SnapshotError
from online_models.storage.folder_registry import FileRegistry
from online_models.storage.redis_registry import ModelRegistry

pytestmark = pytest.mark.redis
KEY = b"test-signing-key-0123456789abcdef"


async def redis_registry(redis_url: str) -> AsyncIterator[ModelRegistry]:
    client = aioredis.from_url(redis_url)
    namespace = f"test-{uuid.uuid4().hex[:10]}"
    yield ModelRegistry(client, namespace, KEY, retain=3)
    async for key in client.scan_iter(f"{namespace}:*"):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
async def registry(redis_url: str) -> AsyncIterator[ModelRegistry]:
    async for registry in redis_registry(redis_url):
        yield registry


@pytest.fixture(params=["redis", "files"])
async def any_registry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """Both implementations of the registry, for the rules they share."""
    if request.param == "files":
        yield FileRegistry(tmp_path / "registry", KEY, retain=3)
        return
    async for registry in redis_registry(request.getfixturevalue("redis_url")):
        yield registry


def trained(n: int, recipe: str = "hoeffding_tree", name: str = "ht") -> PrequentialModel:
    model = PrequentialModel(ModelSpec(name=name, recipe=recipe, task="binary"))
    for x, y in samples("agrawal", n, seed=1):
        model.step(x, y)
    return model


async def register(registry: Any, model: PrequentialModel, partition: int = 0) -> Snapshot:
    offsets = {"features": {partition: model.events}}
    return await registry_register(registry, model, reason="test", partition=partition, offsets=offsets)


async def test_a_snapshot_round_trip_gives_identical_predictions(any_registry: Any) -> None:
    model = trained(2000)
    await register(any_registry, model)
    loaded, meta = await any_registry.load("ht")
    xs = [x for x, _ in samples("agrawal", 300, seed=9)]
    assert [loaded.model.predict_proba_one(x) for x in xs] == [model.model.predict_proba_one(x) for x in xs]
    assert (meta["version"], meta["events_seen"], meta["labeled"], meta["recipe"]) == (1, 2000, 2000, "hoeffding_tree")
    assert meta["offsets"] == {"features": {"0": 2000}} and meta["metrics"] == model.metric_values()
    assert meta["sha256"] and meta["river"] and meta["python"]


async def test_tampered_and_unsigned_snapshots_are_refused(registry: ModelRegistry) -> None:
    snap = await register(registry, trained(200))
    key = registry._k("ht", "v", 1)
    client = registry.client

    await client.hset(key, "blob", snap.blob[:-1] + bytes([snap.blob[-1] ^ 1]))
    with pytest.raises(SnapshotError, match="tampered"):
        await registry.load("ht", 1)

    await client.hset(key, mapping={"blob": snap.blob, "meta": orjson.dumps({**snap.metadata, "labeled": 10**6})})
    with pytest.raises(SnapshotError, match="tampered"):
        await registry.load("ht", 1)

    await client.hset(key, mapping={"meta": orjson.dumps(snap.metadata), "sig": ""})
    with pytest.raises(SnapshotError, match="unsigned"):
        await registry.load("ht", 1)

    await client.hset(key, "sig", snapshot.signature(snap.blob, snap.metadata, b"another-key-0123456789"))
    with pytest.raises(SnapshotError, match="tampered"):
        await registry.load("ht", 1)


async def test_new_versions_become_champion_until_one_is_pinned(any_registry: Any) -> None:
    for n in (100, 200, 300):
        await register(any_registry, trained(n))
    assert (await any_registry.champion("ht")).version == 3

    await any_registry.rollback("ht", 2, by="alice", reason="v3 misbehaves")
    await register(any_registry, trained(400))
    champion = await any_registry.champion("ht")
    assert (champion.version, champion.pinned, champion.by) == (2, True, "alice")
    assert (await any_registry.load("ht"))[1]["version"] == 2

    await any_registry.promote("ht", None, by="bob", reason="follow the stream again")
    assert (await any_registry.champion("ht")).version == 4
    await register(any_registry, trained(500))
    assert (await any_registry.champion("ht")).version == 5
    assert [(r["event"], r["version"], r["by"]) for r in await any_registry.history("ht")] == [
        ("promoted", 4, "bob"),
        ("rolled_back", 2, "alice"),
    ]
    with pytest.raises(RegistryError, match="older"):
        await any_registry.rollback("ht", 5, by="x", reason="y")
    with pytest.raises(RegistryError, match="no version 99"):
        await any_registry.promote("ht", 99, by="x", reason="y")


async def test_retention_keeps_the_newest_the_champion_and_each_partitions_newest(any_registry: Any) -> None:
    await register(any_registry, trained(50), partition=1)  # v1: partition 1's newest, forever
    for _ in range(5):
        await register(any_registry, trained(50), partition=0)  # v2..v6
    await any_registry.rollback("ht", 4, by="carol", reason="pin an old one")
    await register(any_registry, trained(50), partition=0)  # v7

    assert [m["version"] for m in await any_registry.versions("ht")] == [1, 4, 5, 6, 7]
    assert await any_registry.latest_for_partition("ht", 1) == 1
    with pytest.raises(RegistryError):
        await any_registry.get("ht", 3)


async def test_registrations_are_announced_on_the_change_channel(registry: ModelRegistry) -> None:
    pubsub = registry.client.pubsub()
    await pubsub.subscribe(registry.channel)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    await register(registry, trained(10))
    message = None
    for _ in range(20):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message:
            break
    await pubsub.aclose()
    assert message is not None and orjson.loads(message["data"]) == {"name": "ht", "version": 1, "event": "registered"}
    assert await registry.names() == ["ht"]


async def test_saving_an_unsigned_snapshot_is_refused(any_registry: Any) -> None:
    snap = snapshot.take(trained(10), version=1, partition=0, offsets={}, reason="t", key=KEY)
    with pytest.raises(RegistryError, match="not signed"):
        await any_registry.save(Snapshot(snap.blob, snap.metadata, None))
    assert await asyncio.wait_for(any_registry.names(), 5) == []


async def test_a_less_trained_version_does_not_take_over_and_auto_promotion_respects_a_pin(any_registry: Any) -> None:
    await register(any_registry, trained(300))
    await register(any_registry, trained(100))  # say, a worker restarted without its state
    assert (await any_registry.champion("ht")).version == 1

    challenger = trained(300, name="ht-b")
    challenger.spec = challenger.spec.model_copy(update={"challenger_of": "ht"})
    await register(any_registry, challenger)  # v3, a challenger's snapshot: the champion does not follow it
    assert (await any_registry.champion("ht")).version == 1
    assert (await any_registry.auto_promote("ht", 3, "ht-b beat ht")).candidate == "ht-b"

    await any_registry.rollback("ht", 1, by="dora", reason="pinned by a person")
    assert await any_registry.auto_promote("ht", 3, "ht-b beat ht again") is None
    assert (await any_registry.champion("ht")).by == "dora"


async def test_a_champion_record_written_without_the_key_is_refused_and_the_next_save_replaces_it(
    any_registry: Any,
) -> None:
    await register(any_registry, trained(50))
    await any_registry.promote("ht", 1, by="alice", reason="pinned")
    await register(any_registry, trained(80))  # pinned: v1 stays champion
    assert (await any_registry.served_champion("ht")).version == 1
    record = champion_record("ht", replace(await any_registry.champion("ht"), version=2), b"another-key-" * 3)
    if isinstance(any_registry, ModelRegistry):
        await any_registry.client.set(any_registry._k("ht", "champion"), orjson.dumps(record))
    else:
        index = any_registry._index("ht")
        any_registry._write_index("ht", {**index, "champion": record})

    assert (await any_registry.champion("ht")).version == 2  # what reports read, unverified
    with pytest.raises(ChampionRefused, match="tampered"):
        await any_registry.served_champion("ht")
    await register(any_registry, trained(120))  # the worker's next version: the forged pin counts for nothing
    champion = await any_registry.served_champion("ht")
    assert (champion.version, champion.pinned, champion.by) == (3, False, "auto")
