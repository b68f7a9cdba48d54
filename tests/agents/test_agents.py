"""The agents, broker-less, through Faust's test_context: sinks are Faust's in-memory channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields

import faust
import orjson
import pytest

from online_models.config import parse_config
from online_models.pipeline import Pipeline
from streams.agents import features, labels, learn, validate
from streams.checkpoints import Checkpointer
from streams.context import StreamContext
from streams.metrics import StreamMetrics
from streams.topics import Topics

CONFIG = parse_config(
    {
        "models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}],
        "features": {"aggregates": [{"source": "a", "stats": ["count"]}]},
    }
)


@dataclass
class Harness:
    app: faust.App
    ctx: StreamContext
    agents: dict[str, faust.types.AgentT]
    sinks: dict[int, faust.ChannelT]  # a subscriber per output channel, keyed by id(channel)

    async def drain(self, channel: faust.ChannelT) -> list[dict]:
        sink = self.sinks[id(channel)]
        out = []
        while not sink.empty():
            out.append(orjson.loads((await sink.get()).value))
        return out


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    # No broker is contacted: test_context feeds the agent directly and the sinks are channels.
    app = faust.App("agents-test", broker="kafka://127.0.0.1:1", store="memory://", value_serializer="raw")
    schema = faust.Schema(key_serializer="raw", value_serializer="raw")
    channels = [app.channel(schema=schema, maxsize=1000) for _ in fields(Topics)]
    pipeline, metrics = Pipeline(CONFIG), StreamMetrics(["nb"])
    ctx = StreamContext(pipeline, Topics(*channels), metrics, Checkpointer(pipeline, metrics))
    table = app.Table("state", default=None)
    agents = {
        "validate": validate.register(app, ctx),
        "features": features.register(app, ctx, table),
        "learn": learn.register(app, ctx),
        "labels": labels.register(app, ctx),
    }
    sinks = {id(ch): ch.clone(is_iterator=True) for ch in channels}  # subscribed: receives what is sent
    app.finalize()
    app.conf.store = "memory://"
    app.flow_control.resume()
    yield Harness(app, ctx, agents, sinks)


def raw(i: int, **extra: object) -> bytes:
    return orjson.dumps({"event_id": f"e{i}", "ts": 0, "key": "k", "features": {"a": float(i)}, "label": True} | extra)


async def test_validate_forwards_valid_events_and_dead_letters_the_rest(harness: Harness) -> None:
    async with harness.agents["validate"].test_context() as agent:
        await agent.put(raw(1))
        await agent.put(b"not json")
    valid = await harness.drain(harness.ctx.topics.valid)
    letters = await harness.drain(harness.ctx.topics.dlq)
    assert [v["event_id"] for v in valid] == ["e1"]
    assert [(d["reason"], d["value"]) for d in letters] == [("invalid_json", "not json")]


async def test_features_keeps_per_key_state_in_the_table(harness: Harness) -> None:
    async with harness.agents["features"].test_context() as agent:
        for i in range(3):
            await agent.put(raw(i), key=b"k")
    vectors = await harness.drain(harness.ctx.topics.features)
    assert [v["features"]["a_count_by_key"] for v in vectors] == [1, 2, 3]


async def test_learn_publishes_one_prediction_per_model_and_learns(harness: Harness) -> None:
    async with harness.agents["learn"].test_context() as agent:
        for i in range(5):
            await agent.put(raw(i))
    predictions = await harness.drain(harness.ctx.topics.predictions)
    assert [(p["event_id"], p["model"]) for p in predictions] == [(f"e{i}", "nb") for i in range(5)]
    assert predictions[0]["prediction"] is None  # cold start: published, not scored
    learner = next(iter(harness.ctx.learners.values()))
    assert (learner.models[0].labeled, learner.models[0].scored) == (5, 4)


async def test_labels_are_keyed_by_event_id_and_invalid_ones_dead_lettered(harness: Harness) -> None:
    async with harness.agents["labels"].test_context() as agent:
        await agent.put(b'{"event_id": "e7", "label": false, "ts": 5}', key=b"anything")
        await agent.put(b'{"event_id": "e8"}')
    keyed = await harness.drain(harness.ctx.topics.features)
    letters = await harness.drain(harness.ctx.topics.dlq)
    assert [(k["event_id"], k["label"]) for k in keyed] == [("e7", False)]
    assert [d["reason"] for d in letters] == ["missing_label"]


def test_labels_are_routed_by_event_id_or_by_their_events_key() -> None:
    from online_models.exceptions import InvalidEventError
    from online_models.labels import parse_label_event

    keyed = parse_label_event(b'{"event_id": "e1", "label": true, "ts": 0, "key": "k1"}')
    assert labels.routing_key(keyed, by_event_key=False) == b"e1"
    assert labels.routing_key(keyed, by_event_key=True) == b"k1"  # the chained fast path
    keyless = parse_label_event(b'{"event_id": "e1", "label": true, "ts": 0}')
    with pytest.raises(InvalidEventError) as info:
        labels.routing_key(keyless, by_event_key=True)
    assert info.value.reason == "label_key_required"
