"""Partition checkpoints in Redis: one hash per consumer group, kind and partition."""

from __future__ import annotations

from typing import cast

import orjson
import redis.asyncio as aioredis

from online_models.checkpoint import Checkpoint, CheckpointError
from online_models.snapshot import canonical

# Saved only when it goes further than the stored one: a worker that lost its partition in a
# rebalance may still finish a checkpoint, and it must never take the stored state backwards.
_SAVE_IF_FURTHER = """
local stored = redis.call('HGET', KEYS[1], 'position')
if stored and tonumber(stored) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'position', ARGV[1], 'metadata', ARGV[2], 'blob', ARGV[3], 'signature', ARGV[4])
return 1
"""


class CheckpointStore:
    """Checkpoints in Redis, one hash per consumer group, kind and partition.

    The key is ``<ns>:checkpoints:<group>:<kind>:<p>`` (kind ``learner`` or ``intake``).
    """

    def __init__(self, client: aioredis.Redis, namespace: str, group: str) -> None:
        self.client = client
        self.namespace = namespace
        self.group = group
        self._save = client.register_script(_SAVE_IF_FURTHER)

    def key(self, kind: str, partition: int) -> str:
        """Return the Redis key of the ``kind`` checkpoint of ``partition``."""
        return f"{self.namespace}:checkpoints:{self.group}:{kind}:{partition}"

    async def save(self, checkpoint: Checkpoint) -> bool:
        """Store ``checkpoint``; False when the stored one already goes as far (it covers this one)."""
        args: list[bytes | str | int] = [
            checkpoint.position,
            canonical(checkpoint.metadata),
            checkpoint.blob,
            checkpoint.signature,
        ]
        key = self.key(checkpoint.kind, checkpoint.metadata["partition"])
        return bool(await self._save(keys=[key], args=args))

    async def load(self, kind: str, partition: int) -> Checkpoint | None:
        """Return the stored ``kind`` checkpoint of ``partition`` (not yet verified); None when there is none.

        A hash with a field missing or unreadable raises CheckpointError ``corrupt``.
        """
        fields = cast(dict[bytes, bytes], await self.client.hgetall(self.key(kind, partition)))
        if not fields:
            return None
        try:
            metadata = orjson.loads(fields[b"metadata"])
            return Checkpoint(fields[b"blob"], metadata, fields[b"signature"].decode())
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise CheckpointError("corrupt", f"checkpoint of partition {partition}: {exc}") from None
