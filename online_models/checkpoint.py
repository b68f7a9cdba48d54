"""Partition checkpoints: the whole state of one partition at an exact offset.

A checkpoint is a pickled per-partition state, signed like a model snapshot: a
:class:`~online_models.learner.Learner` (models, drift detectors, promotion judges, the
delayed-label join, source offsets) or a stateful :class:`~online_models.intake.Intake` (per-key
aggregates), with the offsets it includes. Each is a deterministic function of its log, so the
state after offset ``n`` is the same whoever computed it: restoring it and reading on from ``n``
ends exactly where a run without a crash would have.

>>> from online_models.config import StreamwiseConfig
>>> from online_models.learner import Learner
>>> config = StreamwiseConfig(models=[{"name": "nb", "recipe": "naive_bayes", "task": "binary"}])
>>> learner = Learner(config, partition=3)
>>> learner.offsets = {"features": {3: 42}}
>>> cp = take(learner, config, b"k" * 32)
>>> cp.position, cp.kind, restore(cp, config, b"k" * 32, Learner).partition
(42, 'learner', 3)
>>> restore(Checkpoint(cp.blob, {**cp.metadata, "position": 99}, cp.signature), config, b"k" * 32, Learner)
Traceback (most recent call last):
...
online_models.checkpoint.CheckpointError: tampered: learner checkpoint of partition 3 does not match its signature
"""

from __future__ import annotations

import hashlib
import pickle
import platform
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from online_models.config import StreamwiseConfig
from online_models.exceptions import StreamwiseError
from online_models.partition import PartitionState
from online_models.snapshot import RIVER_VERSION, SnapshotError, canonical, signature, unpickled, verify_signed

S = TypeVar("S", bound=PartitionState)
# What a checkpoint's bytes hold; a checkpoint of another format is refused (and the state starts fresh).
FORMAT = 2


class CheckpointError(StreamwiseError):
    """A checkpoint was refused. ``reason``: ``unsigned``, ``tampered``, ``corrupt``, ``config`` or ``format``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The pickled state of one partition, its metadata, and the signature over both.

    Examples
    --------
    >>> checkpoint = seal(b"state", {"kind": "intake", "position": 7}, b"k" * 32)
    >>> checkpoint.position, checkpoint.kind, checkpoint.metadata["size"]
    (7, 'intake', 5)
    """

    blob: bytes
    metadata: dict[str, Any]
    signature: str

    @property
    def position(self) -> int:
        """How far into its partition's log the state goes (the sum of its next offsets)."""
        return int(self.metadata["position"])

    @property
    def kind(self) -> str:
        """The kind of state it holds: ``learner`` or ``intake``."""
        return str(self.metadata.get("kind"))


def fingerprint(config: StreamwiseConfig) -> str:
    """Return the digest of ``config``: what the state depends on besides the log.

    A checkpoint of other models is not restored.
    """
    return hashlib.sha256(canonical(config.model_dump(mode="json"))).hexdigest()


def kind_name(kind: type[PartitionState]) -> str:
    """Return ``learner`` or ``intake``: part of the checkpoint's metadata and of its key."""
    return kind.__name__.lower()


def state_digest(obj: Any) -> str:
    """Return a sha256 over everything ``obj`` holds, by value: equal for equal learned state.

    Pickled bytes are not a fair comparison: pickle writes a string once per object identity,
    and identities differ after a restore, and River's Gaussian estimators each seed an unused
    ``random.Random`` from the OS. This walks the object graph instead, writing every value (a
    ``random.Random`` as a constant) in a canonical text form.
    """
    digest = hashlib.sha256()
    _walk(obj, digest, set())
    return digest.hexdigest()


def _walk(obj: Any, digest: Any, path: set[int]) -> None:
    write = digest.update
    if _leaf(obj, write, path):
        return
    path.add(id(obj))
    write(f"<{type(obj).__module__}.{type(obj).__qualname__}".encode())
    _contents(obj, digest, path)
    write(b">")
    path.discard(id(obj))


def _leaf(obj: Any, write: Any, path: set[int]) -> bool:
    """Write ``obj`` whole when it has no parts to walk (a scalar, a cycle, a random source)."""
    if obj is None or isinstance(obj, bool | int | float | str | bytes):
        write(f"{type(obj).__name__}:{obj!r};".encode())
    elif id(obj) in path:  # a cycle back to an object being written
        write(b"<cycle>;")
    elif type(obj) is random.Random:
        write(b"<random>;")
    else:
        return False
    return True


def _contents(obj: Any, digest: Any, path: set[int]) -> None:
    write = digest.update
    if isinstance(obj, dict):
        for key, value in obj.items():
            _walk(key, digest, path)
            _walk(value, digest, path)
    elif isinstance(obj, set | frozenset):
        for text in sorted(repr(item) for item in obj):
            write(text.encode())
    elif isinstance(obj, list | tuple) or type(obj).__name__ == "deque":
        for item in obj:
            _walk(item, digest, path)
    elif hasattr(obj, "tolist"):  # numpy arrays and scalars
        _walk(obj.tolist(), digest, path)
    elif hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"):
        fields = _fields(obj)
        for name in sorted(fields):
            write(name.encode())
            _walk(fields[name], digest, path)
    else:  # functions, classes, builtins: what they are, by name
        write(getattr(obj, "__qualname__", repr(type(obj))).encode())


def _fields(obj: Any) -> dict[str, Any]:
    """Return the attributes of ``obj``: its ``__dict__`` and the slots of every class it derives from."""
    fields = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(obj, name) and name not in fields:
                fields[name] = getattr(obj, name)
    return fields


def take(state: PartitionState, config: StreamwiseConfig, key: bytes) -> Checkpoint:
    """Pickle and sign ``state`` (CPU-bound; nothing may change it meanwhile)."""
    return seal(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), describe(state, config), key)


def describe(state: PartitionState, config: StreamwiseConfig) -> dict[str, Any]:
    """Return what a checkpoint of ``state`` says about it, besides its bytes (taken with the bytes)."""
    return {
        "kind": kind_name(type(state)),
        "format": FORMAT,
        "partition": state.partition,
        "position": state.position,
        "offsets": {topic: {str(p): o for p, o in parts.items()} for topic, parts in state.offsets.items()},
        "config": fingerprint(config),
        "created_at": datetime.now(tz=UTC).isoformat(timespec="milliseconds"),
        "river": RIVER_VERSION,
        "python": platform.python_version(),
    }


def seal(blob: bytes, metadata: dict[str, Any], key: bytes) -> Checkpoint:
    """Return the signed checkpoint of pickled bytes and their description (hashing may run in a thread)."""
    metadata = {**metadata, "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    return Checkpoint(blob, metadata, signature(blob, metadata, key))


def restore(checkpoint: Checkpoint, config: StreamwiseConfig, key: bytes, kind: type[S]) -> S:
    """Return the state of a checkpoint whose signature holds, of ``kind``, taken with ``config``."""
    name = kind_name(kind)
    label = f"{name} checkpoint of partition {checkpoint.metadata.get('partition')!s:.16}"
    try:
        verify_signed(checkpoint.blob, checkpoint.metadata, checkpoint.signature, key, label)
        if checkpoint.metadata.get("kind") != name or checkpoint.metadata.get("format") != FORMAT:
            raise CheckpointError("format", f"{label} holds another kind or format of state")
        if checkpoint.metadata.get("config") != fingerprint(config):
            raise CheckpointError("config", f"{label} was taken with another model config")
        return unpickled(checkpoint.blob, kind, label)
    except SnapshotError as exc:
        raise CheckpointError(exc.reason, exc.detail) from None
