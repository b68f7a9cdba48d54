"""The model registry in Redis: signed snapshot versions, a champion alias, promotion history.

Keys, under ``<namespace>:registry:``::

    names                      SET of model names
    <name>:seq                 version counter (INCR)
    <name>:v:<version>         HASH blob, meta (JSON), sig
    <name>:versions            ZSET of the kept versions (score = version)
    <name>:partitions          HASH partition -> its newest version (recovery starts there)
    <name>:champion            JSON {"version", "pinned", "by", "reason", "at", ..., "sig"}: signed with the key
    <name>:log                 LIST of promotions and rollbacks, newest first (capped)
    changes                    pub/sub channel: {"name", "version", "event"}

A snapshot and its index entries are written in one MULTI/EXEC; the rules (champion, pins,
retention) are :mod:`online_models.registry`'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.exceptions import WatchError
from redis.typing import EncodableT, FieldT

from online_models.evaluation import PrequentialModel
from online_models.registry import (
    LOG_LENGTH,
    Champion,
    RegistryError,
    champion_of,
    champion_record,
    next_champion,
    now_text,
    trusted_champion,
)
from online_models.snapshot import Snapshot, canonical, restore


class ModelRegistry:
    """Versioned, signed model snapshots in Redis (``redis.asyncio``)."""

    def __init__(self, client: aioredis.Redis, namespace: str, key: bytes, retain: int = 10) -> None:
        self.client = client
        self.namespace = namespace
        self.key = key
        self.retain = retain

    # -- keys -------------------------------------------------------------------------------
    def _k(self, *parts: object) -> str:
        return ":".join([self.namespace, "registry", *map(str, parts)])

    @property
    def channel(self) -> str:
        """The pub/sub channel of registry changes."""
        return self._k("changes")

    # -- writing ----------------------------------------------------------------------------
    async def next_version(self, name: str) -> int:
        """Reserve the next version number of ``name`` (before the snapshot is taken and signed)."""
        return int(await self.client.incr(self._k(name, "seq")))

    async def save(self, snapshot: Snapshot) -> Champion | None:
        """Store a signed snapshot; return the champion it made, if it moved."""
        if not snapshot.signature:
            raise RegistryError(f"snapshot {snapshot.name} v{snapshot.version} is not signed")
        name, version = snapshot.name, snapshot.version
        champion_key = self._k(name, "champion")
        fields: dict[FieldT, EncodableT] = {
            "blob": snapshot.blob,
            "meta": canonical(snapshot.metadata),
            "sig": snapshot.signature,
        }
        async with self.client.pipeline(transaction=True) as pipe:
            while True:  # optimistic: redo if a person promoted meanwhile
                try:
                    await pipe.watch(champion_key)
                    current = trusted_champion(name, _record_of(await pipe.get(champion_key)), self.key)
                    moved = next_champion(current, snapshot)
                    pipe.multi()  # type: ignore[no-untyped-call]  # (redis-py leaves it untyped)
                    pipe.hset(self._k(name, "v", version), mapping=fields)
                    pipe.zadd(self._k(name, "versions"), {str(version): version})
                    pipe.sadd(self._k("names"), name)
                    pipe.hset(self._k(name, "partitions"), str(snapshot.metadata.get("partition", 0)), version)
                    if moved is not None:
                        pipe.set(champion_key, self._record(name, moved))
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        await self._apply_retention(name)
        await self._notify(name, version, "registered")
        return moved

    async def promote(
        self, name: str, version: int | None, *, by: str, reason: str, pin: bool | None = None
    ) -> Champion:
        """Make ``version`` the champion, pinned by default.

        ``None`` unpins and serves the newest version of the champion's candidate again.
        """
        if version is None:
            current = await self.champion(name)
            version = await self._newest(name, current.candidate if current else name)
            pin = False
        await self._require(name, version)
        return await self._set_champion(name, version, True if pin is None else pin, by, reason, "promoted")

    async def auto_promote(self, name: str, version: int, reason: str) -> Champion | None:
        """Promote ``version`` automatically: done unless a person pinned the champion (then None)."""
        champion_key = self._k(name, "champion")
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(champion_key)
                    current = trusted_champion(name, _record_of(await pipe.get(champion_key)), self.key)
                    if current is not None and current.pinned:
                        return None
                    meta = await pipe.hget(self._k(name, "v", version), "meta")
                    if meta is None:
                        raise RegistryError(f"model {name!r} has no version {version}")
                    meta_doc = orjson.loads(meta)
                    candidate = str(meta_doc.get("candidate", name))
                    champion = Champion(
                        version, False, "auto", reason, now_text(), candidate, int(meta_doc.get("labeled", 0))
                    )
                    pipe.multi()  # type: ignore[no-untyped-call]  # (redis-py leaves it untyped)
                    pipe.set(champion_key, self._record(name, champion))
                    pipe.lpush(self._k(name, "log"), orjson.dumps({"event": "promoted", **champion.to_dict()}))
                    pipe.ltrim(self._k(name, "log"), 0, LOG_LENGTH - 1)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        await self._notify(name, version, "promoted")
        return champion

    async def rollback(self, name: str, version: int, *, by: str, reason: str) -> Champion:
        """Serve an older version again, pinned until promoted."""
        await self._require(name, version)
        current = await self.champion(name)
        if current is not None and version >= current.version:
            raise RegistryError(f"rollback of {name!r} must go to a version older than {current.version}")
        return await self._set_champion(name, version, True, by, reason, "rolled_back")

    async def _set_champion(self, name: str, version: int, pinned: bool, by: str, reason: str, event: str) -> Champion:
        raw = await self.client.hget(self._k(name, "v", version), "meta")
        meta = orjson.loads(raw) if raw else {}
        labeled = int(meta.get("labeled", 0))
        champion = Champion(version, pinned, by, reason, now_text(), str(meta.get("candidate", name)), labeled)
        record = {"event": event, **champion.to_dict()}
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self._k(name, "champion"), self._record(name, champion))
            pipe.lpush(self._k(name, "log"), orjson.dumps(record))
            pipe.ltrim(self._k(name, "log"), 0, LOG_LENGTH - 1)
            await pipe.execute()
        await self._notify(name, version, event)
        return champion

    async def _apply_retention(self, name: str) -> None:
        versions = [int(cast(bytes, v)) for v in await self.client.zrange(self._k(name, "versions"), 0, -1)]
        if len(versions) <= self.retain:
            return
        keep = set(versions[-self.retain :])
        champion = await self.champion(name)
        if champion is not None:
            keep.add(champion.version)
        keep.update(int(v) for v in (await self.client.hgetall(self._k(name, "partitions"))).values())
        drop = [v for v in versions if v not in keep]  # see retained()
        if drop:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zrem(self._k(name, "versions"), *map(str, drop))
                pipe.delete(*(self._k(name, "v", v) for v in drop))
                await pipe.execute()

    async def ping(self) -> None:
        """Raise when Redis cannot be reached."""
        await self.client.ping()

    async def changes(self) -> AsyncIterator[dict[str, Any]]:
        """Yield registry changes as they are published (a new version, a promotion, a rollback)."""
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield orjson.loads(message["data"])
        finally:
            await pubsub.aclose()

    async def _notify(self, name: str, version: int, event: str) -> None:
        await self.client.publish(self.channel, orjson.dumps({"name": name, "version": version, "event": event}))

    # -- reading ----------------------------------------------------------------------------
    async def names(self) -> list[str]:
        """Return the names of the registered models, sorted."""
        return sorted(n.decode() if isinstance(n, bytes) else n for n in await self.client.smembers(self._k("names")))

    async def versions(self, name: str) -> list[dict[str, Any]]:
        """Return the metadata of every kept version, oldest first."""
        versions = await self.client.zrange(self._k(name, "versions"), 0, -1)
        metas = []
        for version in versions:
            meta = await self.client.hget(self._k(name, "v", int(cast(bytes, version))), "meta")
            if meta is not None:
                metas.append(orjson.loads(meta))
        return metas

    async def champion(self, name: str) -> Champion | None:
        """Return the champion of ``name``; None when it has none yet (not verified: for reports)."""
        return _champion(name, await self.client.get(self._k(name, "champion")), None)

    async def served_champion(self, name: str) -> Champion | None:
        """Return the champion of ``name`` to serve; ChampionRefused unless its record is signed with the key."""
        return _champion(name, await self.client.get(self._k(name, "champion")), self.key)

    def _record(self, name: str, champion: Champion) -> bytes:
        return orjson.dumps(champion_record(name, champion, self.key))

    async def history(self, name: str) -> list[dict[str, Any]]:
        """Return the promotions and rollbacks of ``name``, newest first."""
        return [orjson.loads(r) for r in await self.client.lrange(self._k(name, "log"), 0, -1)]

    async def latest_for_partition(self, name: str, partition: int) -> int | None:
        """Return the newest version saved from ``partition`` (recovery starts there); None when none was."""
        value = await self.client.hget(self._k(name, "partitions"), str(partition))
        return int(value) if value is not None else None

    async def get(self, name: str, version: int | None = None) -> Snapshot:
        """Return the stored snapshot (not yet verified); the champion's when ``version`` is None."""
        if version is None:
            champion = await self.champion(name)
            if champion is None:
                raise RegistryError(f"model {name!r} has no champion yet")
            version = champion.version
        fields = cast(dict[bytes, bytes], await self.client.hgetall(self._k(name, "v", version)))
        if not fields:
            raise RegistryError(f"model {name!r} has no version {version}")
        signature = fields.get(b"sig")
        return Snapshot(
            fields[b"blob"], orjson.loads(fields[b"meta"]), signature.decode() if signature is not None else None
        )

    async def load(self, name: str, version: int | None = None) -> tuple[PrequentialModel, dict[str, Any]]:
        """Return a verified, unpickled model and its metadata; SnapshotError when refused."""
        snapshot = await self.get(name, version)
        return restore(snapshot, self.key), snapshot.metadata

    async def _newest(self, name: str, candidate: str) -> int:
        metas = await self.versions(name)
        if not metas:
            raise RegistryError(f"unknown model {name!r}")
        own = [m["version"] for m in metas if m.get("candidate", name) == candidate]
        return int(own[-1] if own else metas[-1]["version"])

    async def _require(self, name: str, version: int) -> None:
        if not await self.client.exists(self._k(name, "v", version)):
            raise RegistryError(f"model {name!r} has no version {version}")


def _record_of(raw: bytes | str | None) -> dict[str, Any] | None:
    return orjson.loads(raw) if raw else None


def _champion(name: str, raw: bytes | str | None, key: bytes | None) -> Champion | None:
    record = _record_of(raw)
    return champion_of(name, record, key) if record else None
