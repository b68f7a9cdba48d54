"""Model snapshots: a pickled model, its metadata, and an HMAC-SHA256 signature over both.

Unpickling bytes from a store someone else can write is code execution, so :func:`restore`
refuses a snapshot without a valid signature before it unpickles anything.

>>> from online_models.config import ModelSpec
>>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
>>> _ = model.step({"x": 1.0}, True)
>>> snap = take(model, version=1, partition=0, offsets={"features": {0: 1}}, reason="test", key=b"k" * 32)
>>> restore(snap, b"k" * 32).labeled
1
>>> restore(Snapshot(snap.blob, {**snap.metadata, "events_seen": 99}, snap.signature), b"k" * 32)
Traceback (most recent call last):
...
online_models.snapshot.SnapshotError: tampered: snapshot nb v1 does not match its signature
"""

from __future__ import annotations

import hashlib
import hmac
import math
import pickle
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, TypeVar

import orjson

from online_models.config import SnapshotSpec
from online_models.evaluation import PrequentialModel
from online_models.exceptions import ConfigError, StreamwiseError

T = TypeVar("T")
MIN_KEY_BYTES = 16
# Only in development mode: anyone can forge a snapshot signed with a published key.
DEVELOPMENT_KEY = b"streamwise-development-signing-key"
RIVER_VERSION = metadata.version("river")  # in every snapshot's and checkpoint's metadata


class SnapshotError(StreamwiseError):
    """A snapshot was refused. ``reason``: ``unsigned``, ``tampered`` or ``corrupt``.

    Examples
    --------
    >>> error = SnapshotError("unsigned", "snapshot nb v1 has no signature")
    >>> error.reason, str(error)
    ('unsigned', 'unsigned: snapshot nb v1 has no signature')
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def signing_key(secret: str | None, dev: bool) -> bytes:
    """Return the snapshot key from the ``STREAMWISE_SNAPSHOT_KEY`` setting.

    Without the setting it is the development key, and only with ``STREAMWISE_DEV=1``; otherwise
    ConfigError names the setting.
    """
    if secret is not None:
        if len(secret.encode()) < MIN_KEY_BYTES:
            raise ConfigError("STREAMWISE_SNAPSHOT_KEY", f"must be at least {MIN_KEY_BYTES} bytes")
        return secret.encode()
    if dev:
        return DEVELOPMENT_KEY
    raise ConfigError(
        "STREAMWISE_SNAPSHOT_KEY",
        "required to sign and verify model snapshots (STREAMWISE_DEV=1 allows a development key)",
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The pickled model (``blob``), what it is (``metadata``) and the signature over both.

    Examples
    --------
    >>> from online_models.config import ModelSpec
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> snap = take(model, version=2, partition=0, offsets={}, reason="example", key=b"k" * 32)
    >>> snap.name, snap.version, snap.metadata["reason"], len(snap.signature)
    ('nb', 2, 'example', 64)
    """

    blob: bytes
    metadata: dict[str, Any]
    signature: str | None

    @property
    def name(self) -> str:
        """The model name the snapshot is stored under (a challenger's: its champion's name)."""
        return str(self.metadata.get("name"))

    @property
    def version(self) -> int:
        """The version number in the registry (0 when the metadata has none)."""
        return int(self.metadata.get("version", 0))


def canonical(metadata: dict[str, Any]) -> bytes:
    """Return ``metadata`` as signed and as stored: sorted keys, no whitespace, string keys."""
    return orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def signature(blob: bytes, metadata: dict[str, Any], key: bytes) -> str:
    """Return the HMAC-SHA256 (hex) of the canonical ``metadata``, a zero byte and ``blob``, under ``key``."""
    mac = hmac.new(key, canonical(metadata), hashlib.sha256)
    mac.update(b"\0")
    mac.update(blob)
    return mac.hexdigest()


def serialize(model: PrequentialModel) -> bytes:
    """Return ``model`` pickled (highest protocol)."""
    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def describe(
    model: PrequentialModel,
    blob: bytes,
    *,
    version: int,
    partition: int,
    offsets: dict[str, dict[int, int]],
    reason: str,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """Return the metadata of a snapshot of ``model`` whose pickled bytes are ``blob``.

    ``offsets`` are the next offsets to read per topic and partition: the state includes every
    message before them.
    """
    return {
        "name": model.slot,
        "candidate": model.name,
        "version": version,
        "generation": model.generation,
        "partition": partition,
        "created_at": (created_at or datetime.now(tz=UTC)).isoformat(timespec="milliseconds"),
        "reason": reason,
        "events_seen": model.events,
        "labeled": model.labeled,
        "offsets": {topic: {str(p): o for p, o in parts.items()} for topic, parts in offsets.items()},
        "metrics": model.metric_values(),
        "recipe": model.spec.recipe,
        "task": model.spec.task,
        "params": model.spec.params,
        "pipeline": model.spec.steps(),  # what was built, as data: rebuilt by River alone
        "river": RIVER_VERSION,
        "python": platform.python_version(),
        "size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
    }


def take(
    model: PrequentialModel,
    *,
    version: int,
    partition: int,
    offsets: dict[str, dict[int, int]],
    reason: str,
    key: bytes,
    created_at: datetime | None = None,
) -> Snapshot:
    """Pickle, describe and sign ``model`` (CPU-bound: call it from an executor for big models)."""
    return seal(freeze(model, partition=partition, offsets=offsets, reason=reason, created_at=created_at), version, key)


@dataclass(frozen=True, slots=True)
class Frozen:
    """A model pickled and described at one moment, not yet numbered nor signed.

    What the engine hands over while the model goes on learning (the version is reserved in the
    registry after).

    Examples
    --------
    >>> from online_models.config import ModelSpec
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> frozen = freeze(model, partition=0, offsets={}, reason="example")
    >>> _ = model.step({"x": 1.0}, True)   # the model learns on; the frozen copy does not change
    >>> frozen.name, frozen.metadata["labeled"], frozen.metadata["version"]
    ('nb', 0, 0)
    >>> seal(frozen, 7, b"k" * 32).version
    7
    """

    name: str
    blob: bytes
    metadata: dict[str, Any]


def freeze(
    model: PrequentialModel,
    *,
    partition: int,
    offsets: dict[str, dict[int, int]],
    reason: str,
    created_at: datetime | None = None,
) -> Frozen:
    """Pickle and describe ``model`` now (the caller keeps it still meanwhile)."""
    blob = serialize(model)
    metadata = describe(
        model, blob, version=0, partition=partition, offsets=offsets, reason=reason, created_at=created_at
    )
    return Frozen(model.slot, blob, metadata)


def seal(frozen: Frozen, version: int, key: bytes) -> Snapshot:
    """Give a frozen model its version and sign it (its size and sha256 are those of its bytes)."""
    blob = frozen.blob
    described = {**frozen.metadata, "version": version, "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    metadata = orjson.loads(canonical(described))  # exactly what is stored and read back
    return Snapshot(frozen.blob, metadata, signature(frozen.blob, metadata, key))


def verify(snapshot: Snapshot, key: bytes) -> None:
    """Raise SnapshotError unless the signature, and the sha256 it covers, match."""
    if not isinstance(snapshot.metadata, dict) or not isinstance(snapshot.blob, bytes):
        raise SnapshotError("corrupt", "a snapshot needs bytes and a metadata object")
    label = f"snapshot {snapshot.metadata.get('name')!s:.64} v{snapshot.metadata.get('version')!s:.16}"
    verify_signed(snapshot.blob, snapshot.metadata, snapshot.signature, key, label)


def verify_signed(blob: bytes, metadata: dict[str, Any], sig: str | None, key: bytes, label: str) -> None:
    """Raise SnapshotError unless ``sig`` is the HMAC of ``metadata`` and ``blob`` under ``key``.

    The metadata's sha256 must be the bytes' too (model snapshots and partition checkpoints alike).
    """
    if not sig:
        raise SnapshotError("unsigned", f"{label} has no signature")
    if not isinstance(sig, str) or not sig.isascii():
        raise SnapshotError("tampered", f"{label} has a malformed signature")
    try:
        expected = signature(blob, metadata, key)
    except (TypeError, ValueError) as exc:
        raise SnapshotError("corrupt", f"{label}: metadata cannot be signed: {exc}") from None
    if not hmac.compare_digest(expected, sig):
        raise SnapshotError("tampered", f"{label} does not match its signature")
    if hashlib.sha256(blob).hexdigest() != metadata.get("sha256"):
        raise SnapshotError("tampered", f"{label}: sha256 of the bytes differs from the metadata")


def restore(snapshot: Snapshot, key: bytes) -> PrequentialModel:
    """Return the model of a snapshot, once its signature is verified."""
    verify(snapshot, key)
    return unpickled(snapshot.blob, PrequentialModel, f"snapshot {snapshot.metadata.get('name')!s:.64}")


def unpickled(blob: bytes, kind: type[T], label: str) -> T:
    """Return the object in ``blob`` (already verified: pickle runs code), or raise SnapshotError ``corrupt``."""
    try:
        found = pickle.loads(blob)
    except Exception as exc:
        raise SnapshotError("corrupt", f"{label}: {exc}") from None
    if not isinstance(found, kind):
        raise SnapshotError("corrupt", f"{label} is not a {kind.__name__}")
    return found


class SnapshotSchedule:
    """Decides when one model is due for a snapshot under its :class:`SnapshotSpec`.

    Examples
    --------
    >>> spec = SnapshotSpec(every_events=100, every_seconds=None, first_after=10, idle_seconds=5.0)
    >>> schedule = SnapshotSchedule(spec, now=0.0)
    >>> schedule.due(labeled=9, now=1.0), schedule.due(labeled=10, now=1.0)   # a new model: soon servable
    (None, 'first_labels')
    >>> schedule.taken(labeled=10, now=1.0); schedule.due(labeled=109, now=2.0), schedule.due(labeled=110, now=2.0)
    (None, 'every_events')
    >>> schedule.taken(labeled=110, now=2.0); schedule.due(labeled=150, now=9.0, drift_action=True)
    'drift_action'
    >>> schedule.due(labeled=150, now=10.0), schedule.due(labeled=150, now=15.0)   # then the stream went idle
    (None, 'idle')
    """

    def __init__(self, spec: SnapshotSpec, now: float, labeled: int = 0) -> None:
        self.spec = spec
        self.last_labeled = 0
        self.last_time = now
        # A model that starts with fewer labels than ``first_after`` (not one restored from a checkpoint).
        self.first_pending = spec.first_after is not None and labeled < spec.first_after
        self._seen = (labeled, now)  # the labeled count when last asked, and since when it has not moved

    def due(self, labeled: int, now: float, drift_action: bool = False) -> str | None:
        """Return why a snapshot is due (``drift_action``, ``first_labels``, ``every_events``, ...), or None."""
        if drift_action and self.spec.on_drift:
            return "drift_action"
        if labeled == self.last_labeled:
            return None  # nothing new learned: the newest snapshot is still exact
        if self.first_pending and labeled >= (self.spec.first_after or 0):
            return "first_labels"
        if self.spec.every_events is not None and labeled - self.last_labeled >= self.spec.every_events:
            return "every_events"
        if self.spec.every_seconds is not None and now - self.last_time >= self.spec.every_seconds:
            return "every_seconds"
        if self.spec.idle_seconds is not None:
            if labeled != self._seen[0]:
                self._seen = (labeled, now)
            elif now - self._seen[1] >= self.spec.idle_seconds:
                return "idle"
        return None

    def taken(self, labeled: int, now: float) -> None:
        """Record a snapshot taken at ``labeled`` labeled events and time ``now``."""
        self.last_labeled = labeled
        self.last_time = now
        self.first_pending = False

    @property
    def next_labeled(self) -> float:
        """The count of labeled events at which the next snapshot is due by count (inf: never)."""
        every = self.spec.every_events
        at = self.last_labeled + every if every is not None else math.inf
        return min(at, self.spec.first_after or math.inf) if self.first_pending else at
