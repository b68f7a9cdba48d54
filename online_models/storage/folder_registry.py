"""The registry in a local folder, for the embedded demo (``make run``): no Redis needed.

Same interface and rules as :class:`online_models.storage.redis_registry.ModelRegistry` (signed snapshots,
champion alias with pins, retention, history), without change notifications: readers poll.
One process writes it. Layout: ``<root>/<name>/index.json`` and ``<root>/<name>/v<version>.pkl``;
the index is replaced atomically (write, then rename).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

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
from online_models.snapshot import Snapshot, restore


class FileRegistry:
    """Versioned, signed model snapshots in a local folder (see the module for its layout).

    Examples
    --------
    >>> import asyncio, tempfile
    >>> from online_models.config import ModelSpec
    >>> from online_models.snapshot import take
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> _ = model.step({"x": 1.0}, True)
    >>> async def demo(root: str) -> None:
    ...     registry = FileRegistry(Path(root), key=b"k" * 32)
    ...     for reason in ("first", "second"):
    ...         version = await registry.next_version("nb")
    ...         snapshot = take(model, version=version, partition=0, offsets={}, reason=reason, key=registry.key)
    ...         champion = await registry.save(snapshot)   # a new version of the model: the champion
    ...     print(champion.version, champion.pinned, champion.by)
    ...     champion = await registry.rollback("nb", 1, by="alice", reason="worse")
    ...     print(champion.version, champion.pinned, champion.by)
    ...     restored, metadata = await registry.load("nb")   # verified, then unpickled
    ...     print(metadata["version"], metadata["reason"], restored.labeled)
    >>> with tempfile.TemporaryDirectory() as root:
    ...     asyncio.run(demo(root))
    2 False auto
    1 True alice
    1 first 1
    """

    def __init__(self, root: Path, key: bytes, retain: int = 10) -> None:
        self.root = root
        self.key = key
        self.retain = retain

    def _dir(self, name: str) -> Path:
        return self.root / name

    def _index(self, name: str) -> dict[str, Any]:
        path = self._dir(name) / "index.json"
        if not path.exists():
            return {"seq": 0, "versions": {}, "champion": None, "log": [], "partitions": {}}
        index: dict[str, Any] = orjson.loads(path.read_bytes())
        return index

    def _write_index(self, name: str, index: dict[str, Any]) -> None:
        path = self._dir(name) / "index.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(index))
        os.replace(tmp, path)

    # -- writing ----------------------------------------------------------------------------
    async def next_version(self, name: str) -> int:
        """Reserve the next version number of ``name`` (before the snapshot is taken and signed)."""
        index = self._index(name)
        index["seq"] += 1
        self._write_index(name, index)
        return int(index["seq"])

    async def save(self, snapshot: Snapshot) -> Champion | None:
        """Store a signed snapshot and drop old versions; return the champion it made, if it moved."""
        if not snapshot.signature:
            raise RegistryError(f"snapshot {snapshot.name} v{snapshot.version} is not signed")
        name, version = snapshot.name, snapshot.version
        blob = self._dir(name) / f"v{version}.pkl"
        blob.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(blob.write_bytes, snapshot.blob)
        index = self._index(name)
        index["versions"][str(version)] = {"meta": snapshot.metadata, "sig": snapshot.signature}
        index["partitions"][str(snapshot.metadata.get("partition", 0))] = version
        current = trusted_champion(name, index["champion"], self.key)
        moved = next_champion(current, snapshot)
        if moved is not None:
            index["champion"] = champion_record(name, moved, self.key)
        dropped = self._retain(index)
        self._write_index(name, index)  # the index first: it never names a deleted file
        for version in dropped:
            (self._dir(name) / f"v{version}.pkl").unlink(missing_ok=True)
        return moved

    def _retain(self, index: dict[str, Any]) -> list[int]:
        """Drop old versions from ``index``; the versions whose files can go."""
        versions = sorted(int(v) for v in index["versions"])
        keep = set(versions[-self.retain :]) | set(index["partitions"].values())
        if index["champion"]:
            keep.add(index["champion"]["version"])
        dropped = [v for v in versions if v not in keep]
        for version in dropped:
            del index["versions"][str(version)]
        return dropped

    async def promote(
        self, name: str, version: int | None, *, by: str, reason: str, pin: bool | None = None
    ) -> Champion:
        """Make ``version`` the champion, pinned by default.

        ``None`` unpins and serves the newest version of the champion's candidate again.
        """
        index = self._require(name, version)
        if version is None:
            current = _champion(name, index["champion"], None)
            candidate = current.candidate if current else name
            own = [int(v) for v, e in index["versions"].items() if e["meta"].get("candidate", name) == candidate]
            version, pin = max(own or map(int, index["versions"])), False
            self._require(name, version)
        return self._set_champion(name, index, version, True if pin is None else pin, by, reason, "promoted")

    async def auto_promote(self, name: str, version: int, reason: str) -> Champion | None:
        """Promote ``version`` automatically: done unless a person pinned the champion (then None)."""
        index = self._require(name, version)
        current = trusted_champion(name, index["champion"], self.key)
        if current is not None and current.pinned:
            return None
        return self._set_champion(name, index, version, False, "auto", reason, "promoted")

    async def rollback(self, name: str, version: int, *, by: str, reason: str) -> Champion:
        """Serve an older version again, pinned until promoted."""
        index = self._require(name, version)
        current = _champion(name, index["champion"], None)
        if current is not None and version >= current.version:
            raise RegistryError(f"rollback of {name!r} must go to a version older than {current.version}")
        return self._set_champion(name, index, version, True, by, reason, "rolled_back")

    def _set_champion(
        self, name: str, index: dict[str, Any], version: int, pinned: bool, by: str, reason: str, event: str
    ) -> Champion:
        meta = index["versions"][str(version)]["meta"]
        labeled = int(meta.get("labeled", 0))
        champion = Champion(version, pinned, by, reason, now_text(), meta.get("candidate", name), labeled)
        index["champion"] = champion_record(name, champion, self.key)
        index["log"] = [{"event": event, **champion.to_dict()}, *index["log"]][:LOG_LENGTH]
        self._write_index(name, index)
        return champion

    def _require(self, name: str, version: int | None) -> dict[str, Any]:
        index = self._index(name)
        if not index["versions"]:
            raise RegistryError(f"unknown model {name!r}")
        if version is not None and str(version) not in index["versions"]:
            raise RegistryError(f"model {name!r} has no version {version}")
        return index

    # -- reading ----------------------------------------------------------------------------
    async def names(self) -> list[str]:
        """Return the names of the models that have a version, sorted."""
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/index.json") if self._index(p.parent.name)["versions"])

    async def versions(self, name: str) -> list[dict[str, Any]]:
        """Return the metadata of every kept version, oldest first."""
        entries = self._index(name)["versions"]
        return [entries[v]["meta"] for v in sorted(entries, key=int)]

    async def champion(self, name: str) -> Champion | None:
        """Return the champion of ``name``; None when it has none yet."""
        return _champion(name, self._index(name)["champion"], None)

    async def served_champion(self, name: str) -> Champion | None:
        """Return the champion of ``name`` to serve; ChampionRefused unless its record is signed with the key."""
        return _champion(name, self._index(name)["champion"], self.key)

    async def history(self, name: str) -> list[dict[str, Any]]:
        """Return the promotions and rollbacks of ``name``, newest first."""
        return list(self._index(name)["log"])

    async def latest_for_partition(self, name: str, partition: int) -> int | None:
        """Return the newest version saved from ``partition`` (recovery starts there); None when none was."""
        version: int | None = self._index(name)["partitions"].get(str(partition))
        return version

    async def get(self, name: str, version: int | None = None) -> Snapshot:
        """Return the stored snapshot (not yet verified); the champion's when ``version`` is None."""
        index = self._index(name)
        if version is None:
            if not index["champion"]:
                raise RegistryError(f"model {name!r} has no champion yet")
            version = int(index["champion"]["version"])
        entry = index["versions"].get(str(version))
        if entry is None:
            raise RegistryError(f"model {name!r} has no version {version}")
        try:
            blob = await asyncio.to_thread((self._dir(name) / f"v{version}.pkl").read_bytes)
        except FileNotFoundError:
            raise RegistryError(f"model {name!r} version {version} has no snapshot file") from None
        return Snapshot(blob, entry["meta"], entry["sig"])

    async def load(self, name: str, version: int | None = None) -> tuple[PrequentialModel, dict[str, Any]]:
        """Return a verified, unpickled model and its metadata; SnapshotError when refused."""
        snapshot = await self.get(name, version)
        return restore(snapshot, self.key), snapshot.metadata

    async def ping(self) -> None:
        """Raise OSError when the registry folder does not exist."""
        if not self.root.exists():
            raise OSError(f"registry folder {self.root} does not exist")

    async def changes(self) -> AsyncIterator[dict[str, Any]]:
        """No notifications from a folder: readers poll."""
        return
        yield {}


def _champion(name: str, raw: dict[str, Any] | None, key: bytes | None) -> Champion | None:
    return champion_of(name, raw, key) if raw else None
