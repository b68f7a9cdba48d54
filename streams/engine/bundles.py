"""The learn log's records of one batch, written as one bundle to every partition that hosts a model.

One message per hosting partition and batch, not one per event: the second hop costs a produce and
a fetch per bundle (see :mod:`online_models.learnlog`). Every hosting partition gets every record
(:mod:`online_models.placement`: a model learns the whole stream on its own partition), encoded
once. A bundle goes out early once it holds ``limit`` bytes of originals, so a learn-log message
stays far below the topic's limit (``MAX_MESSAGE_BYTES``) whatever the batch size and the events' sizes.

>>> written = []
>>> bundles = Bundles([0, 2], lambda partition, value: written.append((partition, len(value))), limit=100)
>>> from online_models.labels import LabelEvent
>>> bundles.add(LabelEvent("e-1", True, 0, None), size=10)
>>> written
[]
>>> bundles.add(LabelEvent("e-1", False, 0, None), size=90)   # the limit: out at once, to each host
>>> [partition for partition, _ in written]
[0, 2]
>>> bundles.add(LabelEvent("e-4", True, 0, None), size=10); bundles.flush()
>>> [partition for partition, _ in written]
[0, 2, 0, 2]
"""

from __future__ import annotations

from collections.abc import Callable

from online_models.events import FeatureVector
from online_models.labels import LabelEvent
from online_models.learnlog import encode_bundle

BUNDLE_BYTES = 512 * 1024


class Bundles:
    """The records of the current batch, written by ``write`` to each of the ``hosts`` partitions."""

    def __init__(self, hosts: list[int], write: Callable[[int, bytes], None], limit: int = BUNDLE_BYTES) -> None:
        self.hosts = hosts
        self.write = write
        self.limit = limit
        self._records: list[FeatureVector | LabelEvent] = []
        self._bytes = 0

    def add(self, record: FeatureVector | LabelEvent, size: int) -> None:
        """Add ``record`` to the bundle; ``size``: its original's bytes."""
        self._records.append(record)
        self._bytes += size
        if self._bytes >= self.limit:
            self.flush()

    def flush(self) -> None:
        """Write the records not yet written, in read order, as one message to each hosting partition."""
        if not self._records:
            return
        value = encode_bundle(self._records)
        for partition in self.hosts:
            self.write(partition, value)
        self._records.clear()
        self._bytes = 0
