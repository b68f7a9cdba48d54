"""The learn log's records of one batch, gathered per partition and written as bundles.

One message per partition and batch, not one per event: the second hop costs a produce and a
fetch per bundle (see :mod:`online_models.learnlog`). A bundle goes out early once it holds
``limit`` bytes of originals, so a learn-log message stays far below the topic's limit
(``MAX_MESSAGE_BYTES``) whatever the batch size and the events' sizes.

>>> written = []
>>> bundles = Bundles(2, lambda partition, value: written.append((partition, len(value))), limit=100)
>>> from online_models.labels import LabelEvent
>>> bundles.add(LabelEvent("e-1", True, 0, None), size=10)
>>> written
[]
>>> bundles.add(LabelEvent("e-1", False, 0, None), size=90)   # the limit: out at once
>>> [partition for partition, _ in written]
[0]
>>> bundles.add(LabelEvent("e-4", True, 0, None), size=10); bundles.flush()
>>> [partition for partition, _ in written]
[0, 1]
"""

from __future__ import annotations

from collections.abc import Callable

from online_models.events import FeatureVector
from online_models.labels import LabelEvent
from online_models.learnlog import encode_bundle, partition_of

BUNDLE_BYTES = 512 * 1024


class Bundles:
    """The records of the current batch, one bundle per learn-log partition, written by ``write``."""

    def __init__(self, partitions: int, write: Callable[[int, bytes], None], limit: int = BUNDLE_BYTES) -> None:
        self.partitions = partitions
        self.write = write
        self.limit = limit
        self._records: list[list[FeatureVector | LabelEvent]] = [[] for _ in range(partitions)]
        self._bytes = [0] * partitions

    def add(self, record: FeatureVector | LabelEvent, size: int) -> None:
        """Add ``record`` to the bundle of its event_id's partition; ``size``: its original's bytes."""
        partition = partition_of(record.event_id, self.partitions)
        self._records[partition].append(record)
        self._bytes[partition] += size
        if self._bytes[partition] >= self.limit:
            self._write(partition)

    def flush(self) -> None:
        """Write every bundle not yet written, one message per partition, records in read order."""
        for partition, records in enumerate(self._records):
            if records:
                self._write(partition)

    def _write(self, partition: int) -> None:
        self.write(partition, encode_bundle(self._records[partition]))
        self._records[partition].clear()
        self._bytes[partition] = 0
