"""The Faust App, built from settings. Agents are registered by streams.worker."""

from __future__ import annotations

import faust

from streams.settings import Settings


def create_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=settings.faust_credentials(),  # None with PLAINTEXT
        store=settings.store,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        web_port=settings.web_port,
        web_host="127.0.0.1",
        producer_acks=-1,
        # A 5 ms linger lets the producer batch the per-event sends: 1.2k -> 2.1k events/s end to end.
        producer_linger=0.005,
        broker_session_timeout=settings.session_timeout,
        # The learn agent holds acks until a checkpoint includes the messages, so a rebalance or a
        # stop must not wait for every message to be acked: what is not acked is replayed, and
        # every stage tolerates a replay (the learner skips and dedupes it).
        stream_wait_empty=False,
        broker_heartbeat_interval=settings.session_timeout / 5,
    )
