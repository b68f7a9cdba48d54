"""The transport-agnostic pipeline: raw bytes -> validated event -> feature vector -> predictions.

The Faust agents call ``validate``, ``featurize`` and ``Learner.learn`` one step per agent; the
embedded driver (``make run``, ``streamwise evaluate``) calls ``process`` which chains the same
steps in one process. Nothing here knows about Kafka, Faust, Redis or HTTP.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from online_models.alerts import Alert, AlertGate
from online_models.config import StreamwiseConfig
from online_models.dedupe import RecentIds
from online_models.drift import DataDriftMonitor, Signal
from online_models.evaluation import ModelAnswer, PrequentialModel
from online_models.events import (
    MAX_EVENT_BYTES,
    DeadLetter,
    FeatureVector,
    Label,
    Origin,
    Prediction,
    RawEvent,
    parse_raw_event,
)
from online_models.exceptions import InvalidEventError, ModelError
from online_models.features import FeatureEngineer, Features, KeyState
from online_models.labels import LabelEvent, parse_label_event
from online_models.pending import PendingEvent, PendingJoin, PendingLabel
from online_models.policy import DriftGuard, prediction_error
from online_models.promotion import Promotion, PromotionJudge
from online_models.stores import MemoryFeatureStore

Clock = Callable[[], datetime]
MAX_CLOCK_SKEW_MS = 86_400_000  # event times further ahead of the clock do not move event time


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass
class LearnResult:
    """What one feature vector or label produced: predictions, alerts, dead letters, join facts."""

    predictions: list[Prediction] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    label_delays: list[float] = field(default_factory=list)  # seconds from event to label
    promotions: list[Promotion] = field(default_factory=list)
    expired: Counter[str] = field(default_factory=Counter)  # predictions expired unlabeled, per model
    duplicate: bool = False  # a redelivered event: nothing learned or scored again


def epoch_ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


class Learner:
    """Every configured model of one stream partition: predict, join delayed labels, score and
    learn in River's order, watch for drift and apply the drift policies.

    Everything it knows (models, detectors, the label join, recent event ids, offsets) is one
    picklable object, so a checkpoint of it at an offset is the exact state after that offset.
    """

    def __init__(self, config: StreamwiseConfig, clock: Clock = utc_now, partition: int = 0) -> None:
        self.clock = clock
        self.models = [PrequentialModel(spec, config.evaluation.history_every) for spec in config.models]
        self.guards = {spec.name: DriftGuard(spec.drift, config.alerts.window) for spec in config.models if spec.drift}
        self.data_drift = DataDriftMonitor(**config.data_drift.model_dump()) if config.data_drift else None
        self.judges = {
            spec.name: PromotionJudge(spec.name, config.candidates(spec.name), spec.promotion)
            for spec in config.models
            if spec.promotion is not None and len(config.candidates(spec.name)) > 1
        }
        self.gate = AlertGate(config.alerts.cooldown_events, config.alerts.max_per_minute)
        self.pending = PendingJoin(int(config.labels.ttl_seconds * 1000), config.labels.max_pending)
        self.seen = RecentIds(config.dedupe.window)
        self.partition = partition
        self.events_seen = 0
        self.actions: Counter[tuple[str, str]] = Counter()
        # Next offset to read per topic and partition: what a snapshot of these models includes.
        self.offsets: dict[str, dict[int, int]] = {}
        # Per-key feature aggregates, when this learner also computes features (the chained fast
        # path): in the checkpoint with everything else, so they too recover exactly.
        self.key_states: dict[str, KeyState] = {}

    def consumed(self, origin: Origin) -> None:
        self.offsets.setdefault(origin.topic, {})[origin.partition] = origin.offset + 1

    def has_consumed(self, origin: Origin) -> bool:
        """True for a message this state already includes (replayed from before a checkpoint)."""
        return origin.offset < self.offsets.get(origin.topic, {}).get(origin.partition, 0)

    def learn(self, vector: FeatureVector, origin: Origin | None = None) -> LearnResult:
        """Predict with every model; learn now if the label is inline or already waiting, else hold."""
        result = LearnResult()
        found = self.pending.find(vector.event_id)
        if isinstance(found, PendingEvent) and vector.label is None:
            return self._republish(result, vector, found)
        if not self.seen.add(vector.event_id):  # learned, expired or dropped before: never twice
            result.duplicate = True
            return result
        self.events_seen += 1
        ts_ms = epoch_ms(vector.ts)
        if self.data_drift is not None:
            for signal in self.data_drift.update(vector.features):
                self._alert(result, None, signal, vector.event_id, vector.ts)
        waiting = found if isinstance(found, PendingLabel) else None
        if waiting is not None:
            self.pending.take(vector.event_id)
            if vector.label is not None:  # labeled inline and on the labels topic
                result.dead_letters.append(_duplicate(waiting, origin, self.clock()))
                waiting = None
        label = waiting.label if waiting is not None else vector.label
        answers: dict[str, ModelAnswer] = {}
        now = self.clock()
        for model in self.models:
            try:
                answer = model.predict(vector.features)
                if label is not None:
                    self._score_and_learn(result, model, vector.features, label, answer, vector.event_id, vector.ts)
            except Exception as exc:  # a model raising on one event must not stop the stream
                result.dead_letters.append(_model_error(model, vector.event_id, vector.to_json(), origin, exc, now))
                continue
            answers[model.name] = answer
            result.predictions.append(_prediction(vector, model, answer, now))
        if label is not None:
            self._judge(result)
        if ts_ms <= epoch_ms(now) + MAX_CLOCK_SKEW_MS:  # a bogus future ts must not expire everything
            self.pending.observe_time(ts_ms)
        if waiting is not None:
            result.label_delays.append((waiting.ts_ms - ts_ms) / 1000)
        elif label is None and answers:
            self.pending.hold_event(PendingEvent(vector.event_id, ts_ms, vector.features, answers))
        self._expire(result, self.pending.watermark_ms, origin, now)
        return result

    def _republish(self, result: LearnResult, vector: FeatureVector, held: PendingEvent) -> LearnResult:
        """A redelivered event still waiting for its label: the same answers again, nothing learned."""
        result.duplicate = True
        now = self.clock()
        for model in self.models:
            answer = held.answers.get(model.name)
            if answer is not None:
                result.predictions.append(_prediction(vector, model, answer, now))
        return result

    def join_label(self, label: LabelEvent, origin: Origin | None = None) -> LearnResult:
        """Score the stored predictions of the label's event and learn from its stored features.

        A label whose event has not come yet waits (bounded); one for an event that expired or
        was already labeled becomes a dead letter. Expired waiting labels are dead letters too.
        """
        result = LearnResult()
        now = self.clock()
        found = self.pending.find(label.event_id)
        if isinstance(found, PendingEvent):
            self.pending.take(label.event_id)
            self._join(result, found, label, origin, now)
        else:
            settled = "labeled" if found is not None else self.pending.settled_as(label.event_id)
            if settled is None:
                self.pending.hold_label(PendingLabel(label.event_id, label.label, epoch_ms(label.ts)))
            else:
                reason = "label_expired" if settled == "expired" else "label_duplicate"  # joined or labeled
                detail = f"event {label.event_id!r} was already {settled}"
                result.dead_letters.append(
                    DeadLetter(reason, detail, label.to_json(), origin, now, event_id=label.event_id)
                )
        self._expire(result, self.pending.watermark_ms, origin, now)
        return result

    def _join(
        self, result: LearnResult, event: PendingEvent, label: LabelEvent, origin: Origin | None, now: datetime
    ) -> None:
        result.label_delays.append((epoch_ms(label.ts) - event.ts_ms) / 1000)
        for model in self.models:
            answer = event.answers.get(model.name)
            if answer is None:  # the model failed on this event: it has nothing to score
                continue
            try:
                self._score_and_learn(result, model, event.x, label.label, answer, label.event_id, label.ts)
            except Exception as exc:
                result.dead_letters.append(_model_error(model, label.event_id, label.to_json(), origin, exc, now))
        self._judge(result)

    def _expire(self, result: LearnResult, ts_ms: int, origin: Origin | None, now: datetime) -> None:
        """Event time moved to ``ts_ms`` (labels do not move it: their clocks are not trusted)."""
        expired = self.pending.advance(ts_ms)
        for event in expired.events:
            result.expired.update(event.answers.keys())
        for label in expired.labels:
            result.dead_letters.append(_unmatched(label, origin, now))

    def _judge(self, result: LearnResult) -> None:
        for judge in self.judges.values():
            promotion = judge.labeled_event()
            if promotion is not None:
                result.promotions.append(promotion)

    def _score_and_learn(
        self,
        result: LearnResult,
        model: PrequentialModel,
        x: Features,
        y: Label,
        answer: ModelAnswer,
        event_id: str,
        ts: datetime,
    ) -> None:
        model.score_and_learn(x, y, answer)
        judge = self.judges.get(model.slot)
        if judge is not None:
            judge.observe(model.name, y, answer)
        guard = self.guards.get(model.name)
        if guard is None:
            return
        guard.learn_background(x, y)
        error = prediction_error(model, y, answer)
        if error is None:
            return
        for signal in guard.monitor.update(error):
            self._alert(result, model, signal, event_id, ts, guard)

    def _alert(
        self,
        result: LearnResult,
        model: PrequentialModel | None,
        signal: Signal,
        event_id: str,
        ts: datetime,
        guard: DriftGuard | None = None,
    ) -> None:
        name = model.name if model is not None else None
        seen = self.events_seen
        alert = Alert(name, signal.kind, signal.detector, signal.feature, event_id, seen, ts, signal.details)
        acts = guard is not None and guard.wants_action(signal)
        admitted = self.gate.admit(alert, has_action=acts)
        if admitted is None:
            return
        if acts and guard is not None and model is not None:
            action = guard.act(model, signal)
            self.actions[(model.name, action or "none")] += 1
            admitted = replace(admitted, action=action, details={**admitted.details, "model_version": model.version})
        result.alerts.append(admitted)


def _prediction(vector: FeatureVector, model: PrequentialModel, answer: ModelAnswer, now: datetime) -> Prediction:
    return Prediction(vector.event_id, model.name, model.version, answer.prediction, answer.proba, vector.ts, now)


def _model_error(
    model: PrequentialModel, event_id: str, value: bytes, origin: Origin | None, exc: Exception, now: datetime
) -> DeadLetter:
    error = ModelError(model.name, "learn", exc)
    return DeadLetter("model_error", str(error), value, origin, now, event_id=event_id, model=model.name)


def _label_json(label: PendingLabel) -> bytes:
    return LabelEvent(label.event_id, label.label, datetime.fromtimestamp(label.ts_ms / 1000, tz=UTC)).to_json()


def _unmatched(label: PendingLabel, origin: Origin | None, now: datetime) -> DeadLetter:
    detail = f"no event {label.event_id!r} arrived while the label waited"
    return DeadLetter("label_unmatched", detail, _label_json(label), origin, now, event_id=label.event_id)


def _duplicate(label: PendingLabel, origin: Origin | None, now: datetime) -> DeadLetter:
    detail = f"event {label.event_id!r} carried its own label"
    return DeadLetter("label_duplicate", detail, _label_json(label), origin, now, event_id=label.event_id)


@dataclass
class ProcessResult(LearnResult):
    """Everything one raw event or label produced in the embedded driver."""

    vector: FeatureVector | None = None


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

    def validate_label(self, data: bytes, default_ts: datetime | None = None) -> LabelEvent:
        """Parse one message of the labels topic; InvalidEventError says why it is rejected."""
        return parse_label_event(data, max_bytes=self.max_event_bytes, default_ts=default_ts or self.clock())

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

    def new_learner(self, partition: int = 0) -> Learner:
        return Learner(self.config, self.clock, partition)


class EmbeddedRunner:
    """Runs the whole pipeline in one process with the key state in a dict: no Kafka, no Redis."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.learner = pipeline.new_learner()
        self.key_state: dict[str, KeyState] = {}
        self.features = MemoryFeatureStore()  # the newest vector per key, for predictions by key

    def process(self, data: bytes, origin: Origin | None = None) -> ProcessResult:
        """One raw event: validate, featurize, then predict and learn (or hold for its label)."""
        try:
            vector = self.pipeline.featurize(self.pipeline.validate(data), self.key_state)
        except InvalidEventError as error:
            return ProcessResult(dead_letters=[self.pipeline.dead_letter(error, data, origin)])
        if vector.key is not None:
            self.features.put(vector.key, vector.features)
        return ProcessResult(**vars(self.learner.learn(vector, origin)), vector=vector)

    def process_label(self, data: bytes, origin: Origin | None = None) -> ProcessResult:
        """One message of the labels topic: join it with its event's predictions."""
        try:
            label = self.pipeline.validate_label(data)
        except InvalidEventError as error:
            return ProcessResult(dead_letters=[self.pipeline.dead_letter(error, data, origin)])
        return ProcessResult(**vars(self.learner.join_label(label, origin)))
