"""features -> predictions (+ events.dlq for a model that raises): predict, score, learn."""

from __future__ import annotations

import faust

from online_models.events import FeatureVector
from online_models.exceptions import InvalidEventError
from streams.context import StreamContext, origin_of


def register(app: faust.App, ctx: StreamContext) -> faust.types.AgentT:
    # concurrency=1: a model must see its partition's events in order, one at a time.
    @app.agent(ctx.topics.features, name="learn", concurrency=1)
    async def learn(stream: faust.StreamT) -> None:
        async for event in stream.events():
            ctx.metrics.learn_events.inc()
            try:
                vector = FeatureVector.from_json(event.message.value)
            except InvalidEventError as error:
                await ctx.reject(error, event.message)
                continue
            origin = origin_of(event.message)
            result = ctx.learner_for(origin.partition).learn(vector, origin)
            for prediction in result.predictions:
                ctx.metrics.predictions_by_model[prediction.model].inc()
                await ctx.topics.predictions.send(key=prediction.event_id.encode(), value=prediction.to_json())
            for letter in result.dead_letters:
                await ctx.send_dead_letter(letter)

    return learn
