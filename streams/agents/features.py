"""events.valid -> features, with per-key aggregate state in a Faust table (changelog-backed).

events.valid is keyed by the entity key (aggregates live in its partition); feature vectors are
keyed by event_id, the key their delayed labels can be given.
"""

from __future__ import annotations

import faust

from online_models.exceptions import InvalidEventError
from streams.context import StreamContext


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
            if ctx.online is not None and vector.key is not None:
                ctx.online.remember_features(vector.key, vector.features)  # for predictions by key
            await ctx.topics.features.send(key=vector.event_id.encode(), value=vector.to_json())

    return features
