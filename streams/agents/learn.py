"""features -> predictions, drift.alerts (+ events.dlq): predict, join delayed labels, learn.

The ``features`` log carries feature vectors and (under a header) their labels, keyed by
event_id: one partition is one learning order. Messages are acked only once a checkpoint of the
partition's learner includes them (see streams.checkpoints), so a crash replays, never skips.
"""

from __future__ import annotations

from collections.abc import Mapping

import faust
from faust.types import Message

from online_models.events import FeatureVector, Origin
from online_models.exceptions import InvalidEventError
from online_models.labels import parse_label_event
from online_models.pipeline import Learner, LearnResult
from streams.context import StreamContext, origin_of
from streams.topics import LABEL_HEADER


def register(app: faust.App, ctx: StreamContext) -> faust.types.AgentT:
    # concurrency=1: a model must see its partition's events and labels in order, one at a time.
    @app.agent(ctx.topics.features, name="learn", concurrency=1)
    async def learn(stream: faust.StreamT) -> None:
        async for event in stream.noack().events():
            origin = origin_of(event.message)
            learner = await ctx.checkpoints.learner(origin.partition)
            if learner.has_consumed(origin):  # below the restored checkpoint: already in the state
                ctx.metrics.replayed.inc()
                event.ack()
                continue
            ctx.metrics.learn_events.inc()
            async with ctx.checkpoints.lock:  # no checkpoint sees half an event
                try:
                    result: LearnResult | InvalidEventError = step(learner, event.message, origin)
                except InvalidEventError as error:
                    result = error
                learner.consumed(origin)
            if isinstance(result, InvalidEventError):
                await ctx.reject(result, event.message)
            else:
                await publish(ctx, learner, result)
            await ctx.checkpoints.after(learner, event)

    return learn


def step(learner: Learner, message: Message, origin: Origin) -> LearnResult:
    if is_label(message):
        return learner.join_label(parse_label_event(message.value), origin)
    return learner.learn(FeatureVector.from_json(message.value), origin)


def is_label(message: Message) -> bool:
    headers = message.headers or ()
    if isinstance(headers, Mapping):
        return headers.get(LABEL_HEADER[0]) == LABEL_HEADER[1]
    return LABEL_HEADER in headers or list(LABEL_HEADER) in headers


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
