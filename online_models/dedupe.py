"""A bounded window of recent event ids: how a partition recognises a redelivered event.

Kafka delivers at least once: a producer retry or an upstream stage replaying after a crash can
put an event into the learn log twice. The window is part of the partition's learner, so it is
checkpointed with the models and consistent with them.

>>> seen = RecentIds(capacity=2)
>>> seen.add("a"), seen.add("b"), seen.add("a")
(True, True, False)
>>> seen.add("c"); "a" in seen, "b" in seen, len(seen)
True
(False, True, 2)
"""

from __future__ import annotations


class RecentIds:
    """The newest ``capacity`` ids, oldest forgotten first (insertion order of a dict).

    Examples
    --------
    >>> seen = RecentIds(capacity=2)
    >>> [seen.add(event_id) for event_id in ("a", "b", "a", "c", "a")]   # "c" pushes "a" out, then "b"
    [True, True, False, True, True]
    >>> "a" in seen, "b" in seen, "c" in seen, len(seen)
    (True, False, True, 2)
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: dict[str, None] = {}

    def __contains__(self, event_id: object) -> bool:
        """Return whether ``event_id`` is in the window."""
        return event_id in self._ids

    def __len__(self) -> int:
        """Return the number of ids in the window."""
        return len(self._ids)

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; False when it was already in the window."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.capacity:
            del self._ids[next(iter(self._ids))]
        return True
