"""The transport-agnostic pipeline: raw bytes -> validated event -> feature vector -> predictions.

The Faust agents call ``validate``, ``featurize`` and ``Learner.learn`` one step per agent; the
embedded driver (``make run``, ``streamwise evaluate``) calls ``process`` which chains the same
steps in one process. Nothing here knows about Kafka, Faust, Redis or HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from online_models.config import StreamwiseConfig
from online_models.evaluation import PrequentialModel
from online_models.events import (
    MAX_EVENT_BYTES,
    DeadLetter,
    FeatureVector,
    Origin,
    Prediction,
    RawEvent,
    parse_raw_event,
)
from online_models.exceptions import InvalidEventError, ModelError
from online_models.features import FeatureEngineer, KeyState

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass
class LearnResult:
    """What one feature vector produced: a prediction per model, and a dead letter per failure."""

    predictions: list[Prediction] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


class Learner:
    """Every configured model of one stream partition, predicting and learning in River's order."""

    def __init__(self, config: StreamwiseConfig, clock: Clock = utc_now) -> None:
        self.clock = clock
        self.models = [PrequentialModel(spec, config.evaluation.history_every) for spec in config.models]

    def learn(self, vector: FeatureVector, origin: Origin | None = None) -> LearnResult:
        result = LearnResult()
        now = self.clock()
        for model in self.models:
            try:
                answer = model.step(vector.features, vector.label)
            except Exception as exc:  # a model raising on one event must not stop the stream
                error = ModelError(model.name, "learn", exc)
                result.dead_letters.append(
                    DeadLetter(
                        "model_error",
                        str(error),
                        vector.to_json(),
                        origin,
                        now,
                        event_id=vector.event_id,
                        model=model.name,
                    )
                )
                continue
            result.predictions.append(
                Prediction(vector.event_id, model.name, model.version, answer.prediction, answer.proba, vector.ts, now)
            )
        return result


@dataclass
class ProcessResult:
    """Everything one raw event produced in the embedded driver."""

    vector: FeatureVector | None
    predictions: list[Prediction]
    dead_letters: list[DeadLetter]


class Pipeline:
    """Validation and feature engineering, plus a factory of learners, built from one config."""

    def __init__(
        self, config: StreamwiseConfig, *, max_event_bytes: int = MAX_EVENT_BYTES, clock: Clock = utc_now
    ) -> None:
        self.config = config
        self.max_event_bytes = max_event_bytes
        self.clock = clock
        self.engineer = FeatureEngineer(config.features)

    def validate(self, data: bytes, default_ts: datetime | None = None) -> RawEvent:
        """Parse one raw message; InvalidEventError says why it is rejected.

        An event without ``ts`` gets ``default_ts`` (the broker's timestamp), else the clock's time.
        """
        return parse_raw_event(data, max_bytes=self.max_event_bytes, default_ts=default_ts or self.clock())

    def dead_letter(
        self, error: InvalidEventError, data: bytes | None, origin: Origin | None, key: bytes | None = None
    ) -> DeadLetter:
        return DeadLetter(error.reason, error.detail, data, origin, self.clock(), key=key)

    def featurize(self, event: RawEvent, key_states: MutableMapping[str, KeyState]) -> FeatureVector:
        """The model inputs of ``event``; updates its key's aggregates in ``key_states``.

        ``key_states`` is a dict (embedded) or a Faust table (worker); the new state is assigned,
        never mutated in place, because a table writes its changelog only on assignment.
        """
        key = event.key
        state = key_states.get(key) if key is not None and self.engineer.is_stateful else None
        x, new_state = self.engineer.transform(event.features, state, keyed=key is not None)
        if key is not None and new_state is not None:
            key_states[key] = new_state
        return FeatureVector(event.event_id, event.ts, key, x, event.label)

    def new_learner(self) -> Learner:
        return Learner(self.config, self.clock)


class EmbeddedRunner:
    """Runs the whole pipeline in one process with the key state in a dict: no Kafka, no Redis."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.learner = pipeline.new_learner()
        self.key_state: dict[str, KeyState] = {}

    def process(self, data: bytes, origin: Origin | None = None) -> ProcessResult:
        try:
            vector = self.pipeline.featurize(self.pipeline.validate(data), self.key_state)
        except InvalidEventError as error:
            return ProcessResult(None, [], [self.pipeline.dead_letter(error, data, origin)])
        result = self.learner.learn(vector, origin)
        return ProcessResult(vector, result.predictions, result.dead_letters)
