"""events.raw -> events.valid | events.dlq"""

from __future__ import annotations

import faust

from online_models.exceptions import InvalidEventError
from streams.context import StreamContext, broker_time, key_bytes


def register(app: faust.App, ctx: StreamContext) -> faust.types.AgentT:
    @app.agent(ctx.topics.raw, name="validate", concurrency=1)
    async def validate(stream: faust.StreamT) -> None:
        async for event in stream.events():
            ctx.metrics.validated.inc()
            try:
                valid = ctx.pipeline.validate(event.message.value, broker_time(event.message))
            except InvalidEventError as error:
                await ctx.reject(error, event.message)
                continue
            await ctx.topics.valid.send(key=key_bytes(valid.key), value=valid.to_json())

    return validate
