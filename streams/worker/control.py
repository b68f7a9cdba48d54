"""The control agent: a person's champion changes, forwarded into every partition of the learn log.

They come from ``models.control``; in the learn log, each partition's promotion judge reads them in order.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import faust

from online_models.events import DeadLetter, Origin
from online_models.pipeline import Pipeline
from streams.kafka.topics import CONTROL_HEADER

log = logging.getLogger("streamwise.control")


def register(
    app: faust.App,
    pipeline: Pipeline,
    control: faust.TopicT,
    learn_log: faust.TopicT,
    partitions: int,
    reject: Callable[[DeadLetter], Awaitable[None]],
) -> faust.types.AgentT:
    """Register and return the agent that forwards each champion change of ``control`` into ``learn_log``.

    It sends each change to every one of the ``partitions`` of ``learn_log``; a message that is not
    a valid change goes to ``reject`` as a dead letter.
    """

    @app.agent(control, name="control", concurrency=1)
    async def forward(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            origin = Origin(message.topic, message.partition, message.offset)
            change = pipeline.champion_change(message.value, message.key, origin)
            if isinstance(change, DeadLetter):
                await reject(change)
                continue
            # The audit line: who changed which champion, to what, when and why.
            when = change.ts.isoformat(timespec="seconds") if change.ts else "?"
            pin = "pinned" if change.pinned else "not pinned"
            log.warning("champion change: %s %s v%d (%s, %s) by %s at %s: %s", change.name, change.event,
                        change.version, change.candidate, pin, change.by or "?", when, change.reason)  # fmt: skip
            for partition in range(partitions):
                await learn_log.send(
                    key=change.name.encode(), value=change.to_json(), partition=partition, headers=[CONTROL_HEADER]
                )

    return forward
