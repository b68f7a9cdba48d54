"""A person's change of a model's champion, as the control topic carries it to the workers.

``streamwise models promote`` / ``rollback`` and the API's admin routes change the champion in the
registry, then publish this record on ``models.control``; each worker forwards it into every
partition of its learn log, so that every promotion judge learns of it in log order (and a replay
after a crash learns of it at the same point)::

    {"name": "fraud", "candidate": "fraud-tree", "version": 7, "pinned": true,
     "event": "promoted", "by": "api", "reason": "v7 is better", "ts": "2026-12-03T10:00:00.000+00:00"}

>>> change = parse_champion_change(b'{"name": "lr", "candidate": "lr-ht", "version": 3, "pinned": true}')
>>> change.name, change.candidate, change.pinned, change.event
('lr', 'lr-ht', True, 'promoted')
>>> parse_champion_change(b'{"name": "lr", "version": 3}')
Traceback (most recent call last):
...
online_models.exceptions.InvalidEventError: invalid_type: candidate must be a non-empty string
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from online_models.events import (
    MAX_EVENT_BYTES,
    MAX_LEARN_RECORD_BYTES,
    Origin,
    _decode,
    _format_ts,
    _parse_ts,
    _source_json,
    parse_source,
)
from online_models.exceptions import InvalidEventError

EVENTS = ("promoted", "rolled_back", "unpinned")


@dataclass(frozen=True, slots=True)
class ChampionChange:
    """Model ``name`` is served by ``candidate`` (version ``version``) from now on.

    ``pinned``: a person chose it, and automatic promotion stays off until it is unpinned.

    Examples
    --------
    >>> change = ChampionChange("fraud", "fraud-tree", 7, True, ts=datetime(2026, 12, 3, 10, tzinfo=UTC))
    >>> record = orjson.loads(change.to_json())
    >>> record["candidate"], record["pinned"], record["ts"]
    ('fraud-tree', True, '2026-12-03T10:00:00.000+00:00')
    >>> decode_control_record(change.to_json()) == change
    True
    """

    name: str
    candidate: str
    version: int
    pinned: bool
    event: str = "promoted"
    by: str = ""
    reason: str = ""
    ts: datetime | None = None
    source: Origin | None = None

    def to_json(self) -> bytes:
        """Encode it as the control topic and the learn log carry it (``ts``: now, when it has none)."""
        record: dict[str, Any] = {
            "name": self.name,
            "candidate": self.candidate,
            "version": self.version,
            "pinned": self.pinned,
            "event": self.event,
            "by": self.by,
            "reason": self.reason,
            "ts": _format_ts(self.ts or datetime.now(tz=UTC)),
        }
        if self.source is not None:
            record["source"] = _source_json(self.source)
        return orjson.dumps(record)


def parse_champion_change(data: bytes | None, *, max_bytes: int = MAX_EVENT_BYTES) -> ChampionChange:
    """Decode and validate one control message; InvalidEventError names what is wrong."""
    return _parse(_decode(data, max_bytes))


def decode_control_record(data: bytes) -> ChampionChange:
    """Decode a champion change as the learn log carries it (with its source)."""
    obj = _decode(data, MAX_LEARN_RECORD_BYTES)
    return replace(_parse(obj), source=parse_source(obj.get("source")))


def _parse(obj: dict[str, Any]) -> ChampionChange:
    name, candidate = _text(obj, "name"), _text(obj, "candidate")
    version = obj.get("version")
    if type(version) is not int or version < 1:
        raise InvalidEventError("invalid_type", "version must be a positive integer")
    pinned = obj.get("pinned")
    if not isinstance(pinned, bool):
        raise InvalidEventError("invalid_type", "pinned must be true or false")
    event = obj.get("event", "promoted")
    if event not in EVENTS:
        raise InvalidEventError("invalid_type", f"event must be one of {', '.join(EVENTS)}")
    by, reason = obj.get("by", ""), obj.get("reason", "")
    if not isinstance(by, str) or not isinstance(reason, str):
        raise InvalidEventError("invalid_type", "by and reason must be strings")
    ts = _parse_ts(obj.get("ts"), datetime.now(tz=UTC))
    return ChampionChange(name, candidate, version, pinned, event, by[:200], reason[:2000], ts)


def _text(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value or len(value) > 256:
        raise InvalidEventError("invalid_type", f"{name} must be a non-empty string")
    return value


# How a champion change reaches the workers (the control topic): None once delivered, else why not.
Control = Callable[[ChampionChange], Awaitable[str | None]]
