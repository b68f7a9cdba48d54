"""What every per-partition state has: its partition and how far into its input it has read.

An :class:`~online_models.intake.Intake` (per partition of the raw topic) and a
:class:`~online_models.learner.Learner` (per partition of the learn log) are each a deterministic
function of their input log; ``offsets`` records how far that goes, so a checkpoint of the state is
the exact state after those offsets and recovery reads on from them.

>>> state = PartitionState(partition=2)
>>> state.consumed(Origin("features", 2, 41)); state.offsets, state.position
({'features': {2: 42}}, 42)
>>> state.has_consumed(Origin("features", 2, 41)), state.has_consumed(Origin("features", 2, 42))
(True, False)
"""

from __future__ import annotations

from online_models.events import Origin


class PartitionState:
    """The partition of a per-partition state and the next offset it reads in each of its input topics.

    Examples
    --------
    >>> state = PartitionState(partition=0)
    >>> state.consumed(Origin("raw", 0, 9))
    >>> state.next_offset("raw"), state.next_offset("labels"), state.position
    (10, None, 10)
    """

    def __init__(self, partition: int = 0) -> None:
        self.partition = partition
        # Next offset to read per topic and partition: what a checkpoint of this state includes.
        self.offsets: dict[str, dict[int, int]] = {}

    def consumed(self, origin: Origin) -> None:
        """Record that this state now includes the message read at ``origin``."""
        self.offsets.setdefault(origin.topic, {})[origin.partition] = origin.offset + 1

    def has_consumed(self, origin: Origin) -> bool:
        """Return True for a message this state already includes (read again from before a checkpoint)."""
        return origin.offset < self.offsets.get(origin.topic, {}).get(origin.partition, 0)

    def next_offset(self, topic: str) -> int | None:
        """Return where to read ``topic`` on, in this partition, after a restore (None: from the committed offset)."""
        return self.offsets.get(topic, {}).get(self.partition)

    @property
    def position(self) -> int:
        """How far into its logs the state goes (the sum of its next offsets): checkpoints only move forward."""
        return sum(offset for parts in self.offsets.values() for offset in parts.values())
