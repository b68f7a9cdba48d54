"""The worker's consumer lag per partition, read from Faust's consumer for the lag gauge."""

from __future__ import annotations

from typing import Any

import faust
from faust.exceptions import NotReady
from faust.types import TP

from streams.metrics import partition_lag


def consumer_lags(app: faust.App) -> dict[tuple[str, int], int]:
    """(topic, partition) -> high watermark minus position, for the partitions of the topics the
    agents read that are assigned to this worker and whose high watermark is known (a partition
    not assigned yet, or not fetched from yet, is left out)."""
    consumer = app.consumer
    try:
        assigned = consumer.assignment()
    except NotReady:  # the consumer thread has not started yet
        return {}
    read = {name for agent in app.agents.values() for name in agent.get_topic_names()}
    lags: dict[tuple[str, int], int] = {}
    for tp in assigned:
        if tp.topic not in read:
            continue
        try:
            high = consumer.highwater(tp)
        except AssertionError:  # aiokafka: revoked since assignment() answered
            continue
        lag = partition_lag(high, _position(consumer, tp))
        if lag is not None:
            lags[(tp.topic, tp.partition)] = lag
    return lags


def _position(consumer: Any, tp: TP) -> int | None:
    """The next offset the worker reads: after the last message its agents were handed (Faust's read
    offset) or, before any, the committed offset. (Right after a seek Faust's read offset is the
    committed offset itself: one too far until a message is read, so a caught-up partition reads 0.)"""
    read_offset = consumer._read_offset.get(tp)
    if read_offset is not None:
        return int(read_offset) + 1
    committed = consumer._committed_offset.get(tp)
    return int(committed) if committed is not None else None
