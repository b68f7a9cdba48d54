"""The Faust App of the worker, built from settings: the runtime of the engine, not its data path."""

from __future__ import annotations

import faust

from streams.settings import Settings


def create_app(settings: Settings) -> faust.App:
    """Return the worker's Faust app, configured from ``settings``."""
    # Its consumer group is not the engine's (which librdkafka runs): it only reads the control topic.
    return faust.App(
        f"{settings.app_id}.control",
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=settings.faust_credentials(),  # None with PLAINTEXT
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        web_port=settings.web_port,
        web_host=settings.metrics_host,
        producer_acks=-1,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.session_timeout / 5,
    )
