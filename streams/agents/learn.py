"""features + labels.by-event -> predictions, drift.alerts (+ events.dlq): predict, join, learn."""

from __future__ import annotations

import faust
from faust.types import Message

from online_models.events import FeatureVector, Origin
from online_models.exceptions import InvalidEventError
from online_models.labels import parse_label_event
from online_models.pipeline import Learner, LearnResult
from streams.context import StreamContext, origin_of


def register(app: faust.App, ctx: StreamContext) -> faust.types.AgentT:
    labels_topic = _name(ctx.topics.labels_by_event)

    def step(learner: Learner, message: Message, origin: Origin) -> LearnResult:
        if message.topic == labels_topic:
            return learner.join_label(parse_label_event(message.value), origin)
        return learner.learn(FeatureVector.from_json(message.value), origin)

    # concurrency=1: a model must see its partition's events and labels in order, one at a time.
    @app.agent(ctx.topics.learn_input, name="learn", concurrency=1)
    async def learn(stream: faust.StreamT) -> None:
        async for event in stream.events():
            ctx.metrics.learn_events.inc()
            origin = origin_of(event.message)
            learner = ctx.learner_for(origin.partition)
            try:
                result = step(learner, event.message, origin)
            except InvalidEventError as error:
                learner.consumed(origin)
                await ctx.reject(error, event.message)
                continue
            learner.consumed(origin)
            await publish(ctx, learner, result)

    return learn


async def publish(ctx: StreamContext, learner: Learner, result: LearnResult) -> None:
    ctx.metrics.observe_result(result)
    for prediction in result.predictions:
        await ctx.topics.predictions.send(key=prediction.event_id.encode(), value=prediction.to_json())
    for alert in result.alerts:
        await ctx.send_alert(alert)
    for letter in result.dead_letters:
        await ctx.send_dead_letter(letter)
    if ctx.snapshotter is not None:
        await ctx.snapshotter.after(learner, result)


def _name(channel: faust.ChannelT) -> str | None:
    try:
        return channel.get_topic_name()
    except NotImplementedError:  # an unnamed channel (agent tests): no labels come this way
        return None
