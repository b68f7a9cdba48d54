"""Every Kafka client's settings, built in one place.

Where the brokers are and how to reach them (security), then what each kind of client needs.
Nothing else in Streamwise writes a librdkafka setting.

>>> kafka = KafkaConnection("127.0.0.1:9092")
>>> kafka.consumer("g")["group.id"], kafka.producer()["partitioner"]
('g', 'murmur2_random')
>>> KafkaConnection("b:9093", {"security.protocol": "SSL"}).admin()
{'bootstrap.servers': 'b:9093', 'security.protocol': 'SSL', 'socket.connection.setup.timeout.ms': 5000}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# A learn-log record is a raw event (up to STREAMWISE_MAX_EVENT_BYTES) plus its source: producers
# may send, and the topics created by Streamwise accept, messages up to this size.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class KafkaConnection:
    """The brokers and the security part of every client's config.

    The security part is ``Settings.kafka_client_config()``, which holds the SASL password: never log
    a config built here.
    """

    bootstrap: str
    security: Mapping[str, str] = field(default_factory=dict)
    compression: str = "none"

    def client(self, **extra: Any) -> dict[str, Any]:
        """Return the config every client shares (brokers and security), with ``extra`` added."""
        return {"bootstrap.servers": self.bootstrap, **self.security, **extra}

    def producer(self, **extra: Any) -> dict[str, Any]:
        """Return a producer's config, with ``extra`` added.

        Batched (5 ms), idempotent (no duplicates or reordering from retries), keys partitioned with
        murmur2 like Kafka's Java clients, compressed as configured (none by default: on a local
        network lz4 cost the worker 2 us per event for nothing).
        """
        return self.client(
            **{
                "linger.ms": 5,
                "enable.idempotence": True,
                "compression.type": self.compression,
                "partitioner": "murmur2_random",
                "message.max.bytes": MAX_MESSAGE_BYTES,
                **extra,
            }
        )

    def consumer(self, group: str, **extra: Any) -> dict[str, Any]:
        """Return the config of a member of ``group`` that commits its offsets itself, from the start of a new group."""
        return self.client(**{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False, **extra})

    def admin(self, **extra: Any) -> dict[str, Any]:
        """Return an admin client's config (it gives up connecting to a broker after 5 s), with ``extra`` added."""
        return self.client(**{"socket.connection.setup.timeout.ms": 5000, **extra})
