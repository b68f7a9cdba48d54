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
                raw = ctx.pipeline.validate(event.message.value)
                vector, new_state = ctx.pipeline.featurize(raw, state.get(raw.key) if raw.key else None)
            except InvalidEventError as error:
                await ctx.reject(error, event.message)
                continue
            if raw.key is not None and new_state is not None:
                state[raw.key] = new_state  # re-assign: only assignments reach the changelog
            await ctx.topics.features.send(key=key_bytes(raw.key), value=vector.to_json())

    return features
