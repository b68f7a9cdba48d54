"""The pipeline built from one config, and the embedded runner that drives it in one process.

The pipeline makes the per-partition states and runs the stateless steps.

Two drivers run the same steps and decide nothing themselves: the Kafka engine
(``streams.engine``), with an :class:`~online_models.intake.Intake` per partition of the raw topic
and a :class:`~online_models.learner.Learner` per partition of the learn log; and the
:class:`EmbeddedRunner` (``make run``, ``streamwise evaluate``), with one of each and no log in
between. Nothing here knows about Kafka, Faust, Redis or HTTP.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec

from online_models.clock import Clock, utc_now
from online_models.config import StreamwiseConfig
from online_models.control import ChampionChange, parse_champion_change
from online_models.events import MAX_EVENT_BYTES, DeadLetter, FeatureVector, Origin, to_ms
from online_models.exceptions import InvalidEventError
from online_models.intake import Intake
from online_models.labels import LabelEvent, parse_label_event
from online_models.learner import Learner, LearnResult
from online_models.placement import Placement
from online_models.storage.stores import MemoryFeatureStore


class Pipeline:
    """Per-partition states and the stateless steps (labels, champion changes) of one config.

    Examples
    --------
    >>> from online_models.config import parse_config
    >>> pipeline = Pipeline(parse_config({"models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}]}))
    >>> pipeline.new_intake(partition=1).partition, pipeline.new_learner(partition=1).partition
    (1, 1)
    >>> pipeline.label(b'{"event_id": "e1", "label": true, "ts": 0}', None, None, Origin("events.labels", 0, 3))
    LabelEvent(event_id='e1', label=True, ts_ms=0, source=Origin(topic='events.labels', partition=0, offset=3))
    >>> pipeline.label(b'{"label": true}', None, None, None).reason  # a dead letter
    'missing_event_id'
    """

    def __init__(
        self, config: StreamwiseConfig, *, max_event_bytes: int = MAX_EVENT_BYTES, clock: Clock = utc_now
    ) -> None:
        self.config = config
        self.max_event_bytes = max_event_bytes
        self.clock = clock
        self.placement = Placement(config)  # a driver with a learn log of several partitions places the models

    def place(self, partitions: int) -> None:
        """Place the models on a learn log of ``partitions`` partitions (before any learner is made)."""
        self.placement = Placement(self.config, partitions)

    def new_intake(self, partition: int = 0) -> Intake:
        """Return a fresh intake for ``partition`` of the raw topic."""
        return Intake(self.config, partition, max_event_bytes=self.max_event_bytes, clock=self.clock)

    def new_learner(self, partition: int = 0) -> Learner:
        """Return a fresh learner for ``partition`` of the learn log."""
        return Learner(self.config, self.clock, partition, self.placement)

    def label(
        self, value: bytes | None, key: bytes | None, broker_ms: int | None, origin: Origin | None
    ) -> LabelEvent | DeadLetter:
        """Parse one message of the labels topic into a label, or its dead letter.

        ``broker_ms`` stands in for a missing ``ts``. Never raises.
        """
        try:
            default = broker_ms if broker_ms is not None else to_ms(self.clock())
            label = parse_label_event(value, max_bytes=self.max_event_bytes, default_ms=default)
        except InvalidEventError as error:
            return self._dead_letter(error, value, key, origin)
        except Exception as exc:  # no message can stop the stream
            return DeadLetter("unexpected_error", f"{type(exc).__name__}: {exc}", value, origin, self.clock(), key=key)
        return msgspec.structs.replace(label, source=origin)

    def champion_change(
        self, value: bytes | None, key: bytes | None, origin: Origin | None
    ) -> ChampionChange | DeadLetter:
        """Parse one message of the control topic into a champion change, or its dead letter. Never raises."""
        try:
            change = parse_champion_change(value, max_bytes=self.max_event_bytes)
        except InvalidEventError as error:
            return self._dead_letter(error, value, key, origin)
        except Exception as exc:
            return DeadLetter("unexpected_error", f"{type(exc).__name__}: {exc}", value, origin, self.clock(), key=key)
        return replace(change, source=origin)

    def _dead_letter(
        self, error: InvalidEventError, value: bytes | None, key: bytes | None, origin: Origin | None
    ) -> DeadLetter:
        return DeadLetter(error.reason, error.detail, value, origin, self.clock(), key=key, event_id=error.event_id)


class ProcessResult(LearnResult):
    """Everything one raw event or label produced in the embedded driver: a ``LearnResult`` and its vector.

    Examples
    --------
    >>> result = ProcessResult(vector=None, duplicate=True)
    >>> result.vector is None, result.duplicate, sorted(result.fields())[-2:]
    (True, True, ['promotions', 'vector'])
    """

    __slots__ = ("vector",)

    def __init__(self, vector: FeatureVector | None = None, **fields: Any) -> None:
        super().__init__(**fields)
        self.vector = vector


class EmbeddedRunner:
    """The whole pipeline in one process, one partition: no Kafka, no Redis.

    Examples
    --------
    >>> from online_models.config import parse_config
    >>> config = parse_config({"models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}]})
    >>> runner = EmbeddedRunner(Pipeline(config))
    >>> result = runner.process(b'{"event_id": "e1", "ts": 0, "key": "k1", "features": {"x": 1.0}}')
    >>> [(p.model, p.event_id) for p in result.predictions], runner.learner.pending.waiting()
    ([('nb', 'e1')], (1, 0))
    >>> runner.process_label(b'{"event_id": "e1", "label": true, "ts": 2000}').label_delays  # in seconds
    [2.0]
    >>> runner.process(b'{"features": {}}').dead_letters[0].reason
    'missing_event_id'
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.intake = pipeline.new_intake()
        self.learner = pipeline.new_learner()
        self.features = MemoryFeatureStore()  # the newest vector per key, for predictions by key

    def process(self, data: bytes, origin: Origin | None = None) -> ProcessResult:
        """Process one raw event: validate, featurize, then predict and learn (or hold for its label)."""
        vector = self.intake.event(data, None, None, origin)
        if isinstance(vector, DeadLetter):
            return ProcessResult(dead_letters=[vector])
        warnings = self.intake.take_warnings() if self.intake.warnings else []  # features a bad value cost
        if vector.key is not None:
            self.features.put(vector.key, vector.features)
        result = ProcessResult(vector, **self.learner.apply(vector).fields())
        if warnings:
            result.dead_letters = [*warnings, *result.dead_letters]
        return result

    def process_label(self, data: bytes, origin: Origin | None = None) -> ProcessResult:
        """Process one message of the labels topic: join it with its event's predictions."""
        label = self.pipeline.label(data, None, None, origin)
        if isinstance(label, DeadLetter):
            return ProcessResult(dead_letters=[label])
        return ProcessResult(**self.learner.apply(label).fields())
