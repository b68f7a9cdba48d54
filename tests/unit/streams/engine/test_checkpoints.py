"""Which parts a periodic checkpoint round takes: one freeze per round, however many fall due."""

from __future__ import annotations

from typing import Any

from streams.engine.checkpoints import Checkpoints
from streams.engine.parts import Part


def _checkpoints(now: float) -> Checkpoints:
    none: Any = None  # due() needs only the cadence and the clock
    return Checkpoints(none, none, none, none, none, b"", none, none, 100, 10.0, clock=lambda: now)


def _part(topic: str, partition: int, stateful: bool, since: int, last_time: float) -> Part:
    part = Part(topic, partition, None, stateful, last_time)
    part.since = since
    return part


def test_a_round_freezes_the_longest_waiting_state_and_commits_every_stateless_part() -> None:
    learners = [_part("features", p, True, 100, last_time=5.0 - p) for p in range(4)]
    labels = [_part("events.labels", p, False, 100, last_time=0.0) for p in range(2)]
    due = _checkpoints(now=20.0).due([*learners, *labels])
    assert [(p.topic, p.partition) for p in due] == [("features", 3), ("events.labels", 0), ("events.labels", 1)]


def test_parts_not_due_wait() -> None:
    parts = [_part("features", 0, True, 5, last_time=15.0), _part("features", 1, True, 100, last_time=15.0)]
    assert [p.partition for p in _checkpoints(now=20.0).due(parts)] == [1]
