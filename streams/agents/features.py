"""events.valid -> features, with per-key aggregate state in a Faust table (changelog-backed)."""

from __future__ import annotations

import faust

from online_models.exceptions import InvalidEventError
from streams.context import StreamContext, key_bytes


def register(app: faust.App, ctx: StreamContext, state: faust.types.TableT) -> faust.types.AgentT:
    @app.agent(ctx.topics.valid, name="features", concurrency=1)
    async def features(stream: faust.StreamT) -> None:
        async for event in stream.events():
            ctx.metrics.featurized.inc()
            try:
                vector = ctx.pipeline.featurize(ctx.pipeline.validate(event.message.value), state)
            except InvalidEventError as error:
                await ctx.reject(error, event.message)
                continue
            await ctx.topics.features.send(key=key_bytes(vector.key), value=vector.to_json())

    return features
