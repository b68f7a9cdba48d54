"""events.labels -> features | events.dlq: validate a label and key it by its event_id.

Producers may key labels any way (or not at all); re-keying with Faust's partitioner puts each
label in the partition of its event's feature vector, which is keyed by event_id too. Labels go
into the ``features`` log itself (marked by a header), so each partition's learning order is one
log that a replay after a crash reads in exactly the same order.
"""

from __future__ import annotations

import faust

from online_models.exceptions import InvalidEventError
from online_models.labels import LabelEvent
from streams.context import StreamContext, broker_time
from streams.topics import LABEL_HEADER


def register(app: faust.App, ctx: StreamContext) -> faust.types.AgentT:
    @app.agent(ctx.topics.labels, name="labels", concurrency=1)
    async def labels(stream: faust.StreamT) -> None:
        async for event in stream.events():
            ctx.metrics.label_events.inc()
            try:
                label = ctx.pipeline.validate_label(event.message.value, broker_time(event.message))
            except InvalidEventError as error:
                await ctx.reject(error, event.message)
                continue
            key = routing_key(label, by_event_key=False)
            await ctx.topics.features.send(key=key, value=label.to_json(), headers=[LABEL_HEADER])

    return labels


def routing_key(label: LabelEvent, by_event_key: bool) -> bytes:
    """Its event_id for the features log; its event's key for events.raw (the chained fast path)."""
    if not by_event_key:
        return label.event_id.encode()
    if label.key is None:
        raise InvalidEventError("label_key_required", "with STREAMWISE_CHAIN a label must carry its event's key")
    return label.key.encode()
