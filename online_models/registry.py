"""The model registry: what any registry keeps and the rules it follows.

A name may have several candidates (a model and its challengers) whose snapshots are all its
versions; metadata ``candidate`` says whose. A new version of the champion's candidate becomes the
champion unless a person pinned one (promote or rollback); ``promote(name, None)`` unpins.
Retention keeps the newest ``retain`` versions, plus the champion and each partition's newest.
Two registries follow these rules: in Redis (:mod:`online_models.storage.redis_registry`) and in a
folder for the embedded demo (:mod:`online_models.storage.folder_registry`).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from online_models.control import ChampionChange
from online_models.evaluation import PrequentialModel
from online_models.exceptions import StreamwiseError
from online_models.snapshot import Frozen, Snapshot, freeze, seal, signature

LOG_LENGTH = 1000


class RegistryError(StreamwiseError):
    """An unknown model or version, or a refused change.

    Examples
    --------
    >>> error = RegistryError("model 'nb' has no version 9")
    >>> isinstance(error, StreamwiseError), str(error)
    (True, "model 'nb' has no version 9")
    """


class ChampionRefused(RegistryError):
    """A champion record that is not signed with the snapshot key: whoever wrote it cannot choose what is served.

    Examples
    --------
    >>> str(ChampionRefused("lr", "tampered"))
    "champion record of 'lr' refused: tampered (not signed with the snapshot key)"
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"champion record of {name!r} refused: {reason} (not signed with the snapshot key)")
        self.name = name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Champion:
    """The version that serves a model name, whether a person pinned it, who chose it, why and when.

    Examples
    --------
    >>> champion = Champion(3, True, "alice", "better recall", "2026-01-01T00:00:00.000+00:00", candidate="nb_fast")
    >>> change = champion.change("nb", "promoted")
    >>> change.name, change.candidate, change.version, change.pinned
    ('nb', 'nb_fast', 3, True)
    >>> Champion(**champion.to_dict()) == champion   # as a registry stores it and reads it back
    True
    """

    version: int
    pinned: bool
    by: str
    reason: str
    at: str
    candidate: str = ""  # the model (of the name's candidates) whose snapshots it follows
    labeled: int = 0  # labeled events its model had learned

    def change(self, name: str, event: str) -> ChampionChange:
        """Return this champion of model ``name`` as the control topic tells the workers of it."""
        return ChampionChange(name, self.candidate or name, self.version, self.pinned, event, self.by, self.reason)

    def to_dict(self) -> dict[str, Any]:
        """Return every field by name, as the registries store the champion."""
        return asdict(self)


def champion_record(name: str, champion: Champion, key: bytes) -> dict[str, Any]:
    """Return the champion of ``name`` as a registry stores it: its fields and their signature under ``key``.

    The signature covers the name, the version, the pin, who, why and when: a record written by
    someone without the key, or one of another name, is refused by :func:`champion_of`.

    Examples
    --------
    >>> record = champion_record("lr", Champion(3, True, "alice", "better", "2026-01-01T00:00:00.000+00:00"), b"k" * 32)
    >>> champion_of("lr", record, b"k" * 32).version
    3
    >>> champion_of("lr", {**record, "version": 1}, b"k" * 32)
    Traceback (most recent call last):
    ...
    online_models.registry.ChampionRefused: champion record of 'lr' refused: tampered (not signed with the snapshot key)
    >>> champion_of("lr", {**record, "version": 1}, None).version   # read without the key: not verified
    1
    """
    fields = champion.to_dict()
    return {**fields, "sig": signature(name.encode(), fields, key)}


def champion_of(name: str, record: dict[str, Any], key: bytes | None) -> Champion:
    """Return the champion a stored record holds; with ``key``, ChampionRefused unless the record is signed with it."""
    fields = {k: v for k, v in record.items() if k != "sig"}
    champion = Champion(**fields)
    if key is not None:
        sig = record.get("sig")
        if not isinstance(sig, str):
            raise ChampionRefused(name, "unsigned")
        if not hmac.compare_digest(sig, signature(name.encode(), fields, key)):
            raise ChampionRefused(name, "tampered")
    return champion


def trusted_champion(name: str, record: dict[str, Any] | None, key: bytes) -> Champion | None:
    """Return the champion a writer goes on from: a record not signed with ``key`` counts as none (it is replaced).

    >>> champion = Champion(2, True, "alice", "pinned", "2026-01-01T00:00:00.000+00:00")
    >>> trusted_champion("lr", champion_record("lr", champion, b"k" * 32), b"k" * 32).pinned
    True
    >>> trusted_champion("lr", champion_record("lr", champion, b"x" * 32), b"k" * 32) is None   # a forged pin
    True
    """
    try:
        return champion_of(name, record, key) if record else None
    except ChampionRefused:
        return None


def now_text() -> str:
    """Return the time of a registry record, now: UTC, ISO 8601, milliseconds."""
    return datetime.now(tz=UTC).isoformat(timespec="milliseconds")


class Registry(Protocol):
    """Signed, versioned model snapshots with a champion per name.

    What the worker, the API and the CLI use of a registry, whichever stores it.

    Examples
    --------
    A registry in a temporary folder (the embedded demo's kind):

    >>> import asyncio, tempfile
    >>> from pathlib import Path
    >>> from online_models.config import ModelSpec
    >>> from online_models.storage.folder_registry import FileRegistry
    >>> folder = tempfile.TemporaryDirectory()
    >>> registry: Registry = FileRegistry(Path(folder.name), key=b"k" * 32)
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> _ = model.step({"x": 1.0}, True)
    >>> snapshot = asyncio.run(register(registry, model, reason="example"))
    >>> snapshot.version, asyncio.run(registry.champion("nb")).version   # the first version serves
    (1, 1)
    >>> loaded, metadata = asyncio.run(registry.load("nb"))
    >>> loaded.labeled, metadata["reason"]
    (1, 'example')
    >>> folder.cleanup()
    """

    key: bytes  # the signing key: snapshots are verified against it when loaded

    async def next_version(self, name: str) -> int:
        """Reserve the next version number of ``name`` (before the snapshot is taken and signed)."""
        ...

    async def save(self, snapshot: Snapshot) -> Champion | None:
        """Store a signed snapshot; the champion it made, if it moved."""
        ...

    async def promote(
        self, name: str, version: int | None, *, by: str, reason: str, pin: bool | None = None
    ) -> Champion:
        """Make ``version`` the champion (pinned by default); ``None`` unpins."""
        ...

    async def auto_promote(self, name: str, version: int, reason: str) -> Champion | None:
        """Promote ``version`` automatically, unless a person pinned the champion (then return None)."""
        ...

    async def rollback(self, name: str, version: int, *, by: str, reason: str) -> Champion:
        """Serve an older version again, pinned until promoted."""
        ...

    async def names(self) -> list[str]:
        """Return the names of the models with versions, sorted."""
        ...

    async def versions(self, name: str) -> list[dict[str, Any]]:
        """Metadata of every kept version, oldest first."""
        ...

    async def champion(self, name: str) -> Champion | None:
        """Return the champion of ``name``; None before it has one (not verified: for reports)."""
        ...

    async def served_champion(self, name: str) -> Champion | None:
        """Return the champion of ``name`` to serve; ChampionRefused unless its record is signed with ``key``."""
        ...

    async def history(self, name: str) -> list[dict[str, Any]]:
        """Promotions and rollbacks, newest first."""
        ...

    async def latest_for_partition(self, name: str, partition: int) -> int | None:
        """Return the newest version of ``name`` saved from stream partition ``partition``; None if none."""
        ...

    async def get(self, name: str, version: int | None = None) -> Snapshot:
        """Return the stored snapshot (not yet verified); the champion's when ``version`` is None."""
        ...

    async def load(self, name: str, version: int | None = None) -> tuple[PrequentialModel, dict[str, Any]]:
        """Return a verified, unpickled model and its metadata; raise SnapshotError when refused."""
        ...

    async def ping(self) -> None:
        """Raise when the store cannot be reached."""
        ...

    def changes(self) -> AsyncIterator[dict[str, Any]]:
        """Yield changes as they happen (a new version, a promotion, a rollback); nothing where readers poll."""
        ...


async def register(
    registry: Registry,
    model: PrequentialModel,
    *,
    reason: str,
    partition: int = 0,
    offsets: dict[str, dict[int, int]] | None = None,
) -> Snapshot:
    """Snapshot ``model`` into ``registry``, pickling off the event loop.

    The caller must not change the model until this returns (the engine freezes it itself:
    register_frozen).
    """
    frozen = await asyncio.to_thread(
        functools.partial(freeze, model, partition=partition, offsets=offsets or {}, reason=reason)
    )
    return await register_frozen(registry, frozen)


async def register_frozen(registry: Registry, frozen: Frozen) -> Snapshot:
    """Reserve the next version of a frozen model, sign it (off the event loop) and save it."""
    version = await registry.next_version(frozen.name)
    snap = await asyncio.to_thread(seal, frozen, version, registry.key)
    await registry.save(snap)
    return snap


def next_champion(current: Champion | None, snapshot: Snapshot) -> Champion | None:
    """Return the champion after ``snapshot`` is saved, when it moves (else None).

    A new version of the champion's candidate (the name's own model at first) takes over unless a
    person pinned one.
    """
    name, candidate = snapshot.name, str(snapshot.metadata.get("candidate", snapshot.name))
    labeled = int(snapshot.metadata.get("labeled", 0))
    follows = current.candidate == candidate if current else candidate == name
    if not follows or (current is not None and (current.pinned or labeled < current.labeled)):
        return None  # (a model that learned less, say just after a restart, does not take over)
    reason = f"new version ({snapshot.metadata.get('reason')})"
    return Champion(snapshot.version, False, "auto", reason, now_text(), candidate, labeled)
