"""Events and labels read in the order they were produced, across their two topics.

A label that comes long after its event is learned from its event's stored prediction; one that
comes much earlier, or an event whose label was produced long before it is read, makes the other
wait in memory, where it can expire. Live, both topics are read at their ends and the order takes
care of itself. After an outage both hold a backlog, and reading one topic far ahead of the other
would do exactly that: put every label behind the whole backlog of events (where their predictions
expire, by event time or by count), or every event behind its labels.

So each message may pass only when the other topic has been read up to its broker timestamp: an
event with timestamp ``t`` waits until every labels partition this worker reads has reached ``t``
(or its end), and a label likewise waits for the raw partitions.

"Its end" is the consumer's end-of-partition event, which says where the end was when it was
fetched. A worker idle at both ends that is sent a burst of events and their labels would otherwise
read one topic's share of the burst against the other's stale end: every event predicted before any
label was learned (or the reverse), whichever partition the fetch happened to serve first. So before
each batch (:meth:`refresh`), when the fetches that brought it have updated the consumer's high
watermarks, an end that a partition's watermark has moved past (``more``) stops counting until the
consumer reports the new one. (Pacing orders what the broker has: of a producer's burst to two
topics either part may land first, which no reader can tell from late labels; ``streamwise produce
--label-delay`` lands each label after its event.) What waits is held in memory, a partition with
too much held is paused, and everything is released, oldest first, as soon as the other side catches
up. Pacing only decides *when* a message is read; the learn log fixes the order that is learned and
replayed, so it never affects exactness.

>>> from streams.engine.parts import Part
>>> pacer = LabelPacer()
>>> raw, labels = Part("events.raw", 0, None, False, 0.0), Part("events.labels", 0, None, False, 0.0)
>>> pacer.assigned(raw, EVENTS); pacer.assigned(labels, LABELS)
>>> pacer.admit(raw, EVENTS, "e1", 1_000)   # the labels partition has not been read yet
False
>>> pacer.at_end(labels, 0); [message for _, message in pacer.release()]
['e1']
>>> pacer.admit(labels, LABELS, "l1", 900), pacer.admit(labels, LABELS, "l2", 2_000)
(True, False)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

from streams.engine.parts import Part

EVENTS, LABELS = 0, 1


class LabelPacer:
    """Hold events and labels until the other topic has been read up to their broker timestamp.

    ``more(part)``: whether the broker is known to hold messages of ``part`` past the offset of its
    last end event (None: an end event is trusted until the next message).
    """

    def __init__(self, more: Callable[[Part], bool] | None = None) -> None:
        self.more = more
        self.parts: tuple[dict[int, Part], dict[int, Part]] = ({}, {})
        # What may pass, per kind: the lowest frontier of the other kind (fixed between two updates).
        self.horizon = [math.inf, math.inf]

    def assigned(self, part: Part, kind: int) -> None:
        """Start pacing ``part``, of ``kind`` (``EVENTS`` or ``LABELS``), from nothing read and nothing held."""
        part.last_ts, part.caught_up, part.held = -1, False, deque()
        self.parts[kind][part.partition] = part
        self._update()

    def revoked(self, part: Part, kind: int) -> None:
        """Stop pacing ``part``, and drop its held messages (its next owner reads them from the committed offset)."""
        self.parts[kind].pop(part.partition, None)
        self._update()

    def admit(self, part: Part, kind: int, message: Any, timestamp: int) -> bool:
        """Return True when ``message`` may be read now; else hold it (the caller pauses a full part)."""
        part.caught_up = False  # a message after the end: the consumer sends a new end event
        if part.held or timestamp > self.horizon[kind]:
            part.held.append((timestamp, message))
            return False
        part.last_ts = timestamp
        return True

    def at_end(self, part: Part, offset: int) -> None:
        """Record that ``part`` was read to its end, ``offset`` (the consumer's end-of-partition event)."""
        part.caught_up, part.end = True, offset

    def refresh(self) -> None:
        """Update the ends and the frontiers before a batch.

        An end the broker has moved past is no end any more (the consumer sends another at the new
        end); then the frontiers are computed again.
        """
        if self.more is not None:
            for parts in self.parts:
                for part in parts.values():
                    if part.caught_up and self.more(part):
                        part.caught_up = False
        self._update()

    def held(self) -> int:
        """Return how many messages are held, over all parts."""
        return sum(len(part.held) for parts in self.parts for part in parts.values())

    def release(self) -> list[tuple[Part, Any]]:
        """Take out the held messages that may pass now, oldest first as far as the horizons allow."""
        released: list[tuple[Part, Any]] = []
        moved = True
        while moved:
            moved = False
            self._update()
            waiting = sorted(
                (
                    (part.held[0][0], kind, part)
                    for kind, parts in enumerate(self.parts)
                    for part in parts.values()
                    if part.held
                ),
                key=lambda entry: entry[0],
            )
            for _, kind, part in waiting:
                while part.held and part.held[0][0] <= self.horizon[kind]:
                    timestamp, message = part.held.popleft()
                    # caught_up stays: it says where the consumer is, and it fetched this message
                    # before its end-of-partition event (which comes once per end, not again).
                    part.last_ts = timestamp
                    released.append((part, message))
                    moved = True
                if moved:
                    break  # the other kind's horizon moved: look again
        self._update()
        return released

    def _update(self) -> None:
        events, labels = (min((_frontier(p) for p in parts.values()), default=math.inf) for parts in self.parts)
        self.horizon = [labels, events]


def _frontier(part: Part) -> float:
    """How far a part has been read: its oldest held message, else its newest read (its end: no limit)."""
    if part.held:
        return part.held[0][0]
    return math.inf if part.caught_up else part.last_ts
