"""The learner of one partition of the learn log.

It predicts, joins delayed labels, scores and learns in River's order, watches for drift and applies
the drift policies.

The learn log carries three kinds of record, each with its ``source`` (where it was first read):
feature vectors (from the raw topic), labels (from the labels topic) and champion changes (from
the control topic). A learner is a deterministic function of that log, so a checkpoint of it at
an offset is the exact state after that offset. A record written to the log twice (a replay of
its source after a crash) is recognised by its source offset and skipped, so every source message
is learned exactly once without any window of event ids.

>>> from online_models.config import parse_config
>>> from online_models.events import FeatureVector
>>> learner = Learner(parse_config({"models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}]}))
>>> vector = FeatureVector("e1", 1_767_225_600_000, None, {"x": 1.0}, True, Origin("raw", 0, 7))
>>> len(learner.apply(vector).predictions), learner.apply(vector).duplicate   # the same source offset again
(1, True)
>>> learner.models[0].labeled
1
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from online_models.alerts import Alert, AlertGate
from online_models.clock import Clock, utc_now
from online_models.config import StreamwiseConfig
from online_models.control import ChampionChange
from online_models.dedupe import RecentIds
from online_models.drift import DataDriftMonitor, Signal
from online_models.evaluation import ModelAnswer, PrequentialModel
from online_models.events import DeadLetter, FeatureVector, Label, Origin, Prediction, from_ms
from online_models.exceptions import InvalidEventError, ModelError
from online_models.features import Features
from online_models.labels import LabelEvent
from online_models.learnlog import LearnRecord, decode_records
from online_models.partition import PartitionState
from online_models.pending import PendingEvent, PendingJoin, PendingLabel
from online_models.placement import Placement
from online_models.policy import DriftGuard, prediction_error
from online_models.promotion import Promotion, PromotionJudge

MAX_CLOCK_SKEW_MS = 86_400_000  # event times further ahead of the clock do not move event time


class _NothingExpired(Counter[str]):
    """The empty count of expired predictions that results share: it cannot be changed."""

    def __setitem__(self, key: str, value: int) -> None:
        raise TypeError("NOTHING_EXPIRED is shared: give the result a Counter of its own")

    def update(self, iterable: object = None, /, **kwargs: object) -> None:
        if iterable is not None or kwargs:  # (Counter's constructor calls it with nothing)
            raise TypeError("NOTHING_EXPIRED is shared: give the result a Counter of its own")


NOTHING_EXPIRED = _NothingExpired()


class LearnResult:
    """What one record produced: predictions, alerts, dead letters, join facts.

    (A plain class with slots, its rarely used parts empty and shared until needed: one is made per
    record.)

    Examples
    --------
    >>> result = LearnResult(duplicate=True)
    >>> result.predictions, result.duplicate, result.expired is NOTHING_EXPIRED
    ([], True, True)
    >>> sorted(result.fields())
    ['alerts', 'dead_letters', 'duplicate', 'expired', 'label_delays', 'predictions', 'promotions']
    """

    __slots__ = ("alerts", "dead_letters", "duplicate", "expired", "label_delays", "predictions", "promotions")

    def __init__(
        self,
        predictions: list[Prediction] | None = None,
        dead_letters: list[DeadLetter] | None = None,
        alerts: list[Alert] | None = None,
        label_delays: list[float] | None = None,
        promotions: list[Promotion] | None = None,
        expired: Counter[str] | None = None,
        duplicate: bool = False,
    ) -> None:
        self.predictions = predictions if predictions is not None else []
        self.dead_letters = dead_letters if dead_letters is not None else []
        self.alerts = alerts if alerts is not None else []
        self.label_delays = label_delays if label_delays is not None else []  # seconds from event to label
        self.promotions = promotions if promotions is not None else []
        # Predictions expired unlabeled, per model: rare, so one shared empty counter until one expires.
        self.expired = expired if expired is not None else NOTHING_EXPIRED
        self.duplicate = duplicate  # a record seen before (its source offset, or a redelivered event_id)

    def fields(self) -> dict[str, Any]:
        """Return every field (slot) by name, a subclass's too."""
        # A class's __slots__ names only its own: walk the classes it is made of.
        return {name: getattr(self, name) for cls in type(self).__mro__ for name in getattr(cls, "__slots__", ())}


class Learner(PartitionState):
    """Every configured model of one learn-log partition, with everything they depend on, in one picklable object.

    What they depend on: drift detectors, promotion judges, the delayed-label join, the source offsets.

    Examples
    --------
    An event without its label is predicted and waits; its label, when it comes, is learned:

    >>> from online_models.config import parse_config
    >>> from online_models.events import FeatureVector
    >>> from online_models.labels import LabelEvent
    >>> config = parse_config({"models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}]})
    >>> learner = Learner(config, clock=lambda: from_ms(1_767_225_600_000))
    >>> result = learner.learn(FeatureVector("e1", 1_767_225_600_000, None, {"x": 1.0}))
    >>> [prediction.model for prediction in result.predictions], learner.pending.waiting()
    (['nb'], (1, 0))
    >>> learner.join_label(LabelEvent("e1", True, 1_767_225_601_000)).label_delays   # seconds
    [1.0]
    >>> learner.models[0].labeled, learner.pending.waiting()
    (1, (0, 0))
    """

    def __init__(
        self, config: StreamwiseConfig, clock: Clock = utc_now, partition: int = 0, placement: Placement | None = None
    ) -> None:
        super().__init__(partition)
        self.clock = clock
        placement = placement or Placement(config)
        specs = placement.models_of(partition)
        # The first hosting partition reports what belongs to no model: a label's dead letters and delay, data drift.
        self.primary = partition == placement.primary
        history, positive = config.evaluation, config.labels.positive
        self.models = [
            PrequentialModel(spec, history.history_every, positive=positive, history_points=history.history_points)
            for spec in specs
        ]
        self.guards = {spec.name: DriftGuard(spec.drift, config.alerts.window) for spec in specs if spec.drift}
        watched = config.data_drift if self.primary else None
        self.data_drift = DataDriftMonitor(**watched.model_dump()) if watched is not None else None
        self.judges = {
            spec.name: PromotionJudge(spec.name, config.candidates(spec.name), spec.promotion)
            for spec in specs
            if spec.promotion is not None and len(config.candidates(spec.name)) > 1
        }
        self.gate = AlertGate(config.alerts.cooldown_events, config.alerts.max_per_minute)
        self.pending = PendingJoin(int(config.labels.ttl_seconds * 1000), config.labels.max_pending)
        # Optional: producers that may send one event twice (at two offsets) can have recent ids dropped.
        self.seen = RecentIds(config.dedupe.window) if config.dedupe.window else None
        self.events_seen = 0
        self.actions: Counter[tuple[str, str]] = Counter()
        self.letters: Counter[str] = Counter()  # its dead letters by reason (model errors by model: model.failures)
        self.sources: dict[tuple[str, int], int] = {}  # next offset per source topic and partition

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled learner; one from before the dead-letter count starts with none."""
        # A checkpoint from before the dead-letter count, or from before models were placed (each
        # partition had them all, so it reported its labels itself).
        self.__dict__.update({"letters": Counter(), "primary": True, **state})

    def placed_like(self, placement: Placement) -> bool:
        """Tell whether this learner hosts the models ``placement`` puts on its partition.

        A checkpoint taken with another layout of the learn log is not this partition's state.
        """
        names = [spec.name for spec in placement.models_of(self.partition)]
        return self.primary == (self.partition == placement.primary) and [m.name for m in self.models] == names

    # -- the entry points of a driver -------------------------------------------------------------

    def read(self, value: bytes | None, kind: str | None, origin: Origin) -> Iterator[LearnResult]:
        """Learn one message of the learn log, as bytes: a bundle of records or one.

        See :mod:`online_models.learnlog`. Yields the result of each record, as it is learned (its
        outputs go out before the next one is). Never raises: a message that holds no learn-log
        record becomes a dead letter and the partition goes on.
        """
        if self.has_consumed(origin):  # in the restored state already: a message read again
            return
        self.consumed(origin)
        try:
            records = decode_records(value, kind)
        except InvalidEventError as error:
            letter = DeadLetter(error.reason, error.detail, value, origin, self.clock(), event_id=error.event_id)
            self.letters[letter.reason] += 1
            yield LearnResult(dead_letters=[letter])
            return
        for record in records:
            yield self.apply(record)

    def apply(self, record: LearnRecord, origin: Origin | None = None) -> LearnResult:
        """Learn one record of the learn log (its message read at ``origin``, when it was read alone).

        Never raises: an unexpected failure becomes a dead letter and the partition goes on.
        """
        result = self._apply(record, origin)
        if result.dead_letters:
            self.letters.update(letter.reason for letter in result.dead_letters)
        return result

    def _apply(self, record: LearnRecord, origin: Origin | None) -> LearnResult:
        if origin is not None:
            if self.has_consumed(origin):  # in the restored state already: a record read again
                return LearnResult(duplicate=True)
            self.consumed(origin)
        if not self._first_time(record.source):
            return LearnResult(duplicate=True)
        try:
            if isinstance(record, FeatureVector):
                return self.learn(record, origin)
            if isinstance(record, LabelEvent):
                return self.join_label(record, origin)
            return self.change_champion(record, origin)
        except Exception as exc:  # a bug or a library failure on one record must not stop the stream
            letter = DeadLetter(
                "unexpected_error",
                f"{type(exc).__name__}: {exc}",
                record.to_json(),
                record.source or origin,
                self.clock(),
                event_id=getattr(record, "event_id", None),
            )
            return LearnResult(dead_letters=[letter])

    def _first_time(self, source: Origin | None) -> bool:
        """Record ``source`` as read; False when this learner has read it (or a later offset) before."""
        if source is None:
            return True
        key = (source.topic, source.partition)
        if source.offset < self.sources.get(key, 0):
            return False
        self.sources[key] = source.offset + 1
        return True

    # -- feature vectors ---------------------------------------------------------------------------

    def learn(self, vector: FeatureVector, origin: Origin | None = None) -> LearnResult:
        """Predict with every model; learn now if the label is inline or already waiting, else hold."""
        result = LearnResult()
        where = vector.source or origin
        found = self.pending.find(vector.event_id)
        if isinstance(found, PendingEvent) and vector.label is None:
            return self._republish(result, vector, found)
        if self.seen is not None and not self.seen.add(vector.event_id):
            result.duplicate = True
            return result
        self.events_seen += 1
        ts_ms = vector.ts_ms
        if self.data_drift is not None:
            for signal in self.data_drift.update(vector.features):
                self._alert(result, None, signal, vector.event_id, ts_ms)
        waiting = self._waiting_label(result, vector, found)
        label = waiting.label if waiting is not None else vector.label
        now = self.clock()
        now_ms = int(now.timestamp() * 1000)
        answers = self._predict_all(result, vector, where, label, now, now_ms)
        if label is not None:
            self._judge(result)
        if ts_ms <= now_ms + MAX_CLOCK_SKEW_MS:  # a bogus future ts must not expire everything
            self.pending.observe_time(ts_ms)
        if waiting is not None:
            if self.primary:  # one hosting learner says how late the label was
                result.label_delays.append((waiting.ts_ms - ts_ms) / 1000)
        elif label is None and answers:
            self.pending.hold_event(PendingEvent(vector.event_id, ts_ms, vector.features, answers))
        self._expire(result, self.pending.watermark_ms, now)
        return result

    def _waiting_label(self, result: LearnResult, vector: FeatureVector, found: object) -> PendingLabel | None:
        """Take the label that came before this event, unless the event carries its own."""
        if not isinstance(found, PendingLabel):
            return None
        self.pending.take(vector.event_id)
        if vector.label is not None:  # labeled inline and on the labels topic
            self._label_letter(result, _duplicate(found, self.clock()))
            return None
        return found

    def _predict_all(
        self,
        result: LearnResult,
        vector: FeatureVector,
        where: Origin | None,
        label: Label,
        now: datetime,
        now_ms: int,
    ) -> dict[str, ModelAnswer]:
        """Answer with every model, and score and learn now when the label is known.

        A model raising on the event becomes a dead letter: it must not stop the stream. A model
        that cannot learn it keeps its prediction, and learned and scored nothing.
        """
        answers: dict[str, ModelAnswer] = {}
        for model in self.models:
            try:
                answer = model.predict(vector.features)
            except Exception as exc:
                result.dead_letters.append(_model_error(model, "predict", vector, where, exc, now))
                continue
            answers[model.name] = answer
            result.predictions.append(_prediction(vector, model, answer, now_ms))
            if model.is_anomaly:
                self._watch(result, model, vector, answer, where, now)
            if label is not None:
                try:
                    self._score_and_learn(result, model, vector.features, label, answer, vector.event_id, vector.ts_ms)
                except Exception as exc:
                    result.dead_letters.append(_model_error(model, "learn", vector, where, exc, now))
        return answers

    def _watch(
        self,
        result: LearnResult,
        model: PrequentialModel,
        vector: FeatureVector,
        answer: ModelAnswer,
        where: Origin | None,
        now: datetime,
    ) -> None:
        """Let an anomaly model learn the event now, labeled or not, and alert on it when flagged.

        Each flagged event is an alert: the threshold decides how many.
        """
        try:
            model.learn_unlabeled(vector.features)
        except Exception as exc:
            result.dead_letters.append(_model_error(model, "learn", vector, where, exc, now))
        if answer.prediction:
            details = {"score": answer.score, "generation": model.generation}
            detector = model.spec.recipe or model.spec.estimator
            alert = Alert(model.name, "anomaly", detector, None, vector.event_id, self.events_seen,
                          from_ms(vector.ts_ms), details)  # fmt: skip
            result.alerts.append(alert)

    def _republish(self, result: LearnResult, vector: FeatureVector, held: PendingEvent) -> LearnResult:
        """Answer the same event again while it waits for its label: the same answers, nothing learned."""
        result.duplicate = True
        now_ms = int(self.clock().timestamp() * 1000)
        for model in self.models:
            answer = held.answers.get(model.name)
            if answer is not None:
                result.predictions.append(_prediction(vector, model, answer, now_ms))
        return result

    # -- labels ------------------------------------------------------------------------------------

    def join_label(self, label: LabelEvent, origin: Origin | None = None) -> LearnResult:
        """Score the stored predictions of the label's event and learn from its stored features.

        A label whose event has not come yet waits (bounded); one for an event that expired or
        was already labeled becomes a dead letter. Expired waiting labels are dead letters too.
        """
        result = LearnResult()
        now = self.clock()
        where = label.source or origin
        found = self.pending.find(label.event_id)
        if isinstance(found, PendingEvent):
            self.pending.take(label.event_id)
            self._join(result, found, label, where, now)
        else:
            settled = "labeled" if found is not None else self.pending.settled_as(label.event_id)
            if settled is None:
                self.pending.hold_label(PendingLabel(label.event_id, label.label, label.ts_ms, where))
            else:
                reason = "label_expired" if settled == "expired" else "label_duplicate"  # joined or labeled
                detail = f"event {label.event_id!r} was already {settled}"
                self._label_letter(
                    result, DeadLetter(reason, detail, label.to_json(), where, now, event_id=label.event_id)
                )
        self._expire(result, self.pending.watermark_ms, now)
        return result

    def _join(
        self, result: LearnResult, event: PendingEvent, label: LabelEvent, where: Origin | None, now: datetime
    ) -> None:
        if self.primary:
            result.label_delays.append((label.ts_ms - event.ts_ms) / 1000)
        for model in self.models:
            answer = event.answers.get(model.name)
            if answer is None:  # the model failed on this event: it has nothing to score
                continue
            try:
                self._score_and_learn(result, model, event.x, label.label, answer, label.event_id, label.ts_ms)
            except Exception as exc:
                result.dead_letters.append(_model_error(model, "learn", label, where, exc, now))
        self._judge(result)

    def _expire(self, result: LearnResult, ts_ms: int, now: datetime) -> None:
        """Expire what waited too long, event time having moved to ``ts_ms``.

        Labels do not move event time: their clocks are not trusted.
        """
        expired = self.pending.advance(ts_ms)
        for event in expired.events:
            if result.expired is NOTHING_EXPIRED:
                result.expired = Counter()
            result.expired.update(event.answers.keys())
        for label in expired.labels:
            self._label_letter(result, _unmatched(label, now))

    def _label_letter(self, result: LearnResult, letter: DeadLetter) -> None:
        """Add the dead letter of a label itself, not of a model: each hosting partition sees it, one says so."""
        if self.primary:
            result.dead_letters.append(letter)

    # -- champion changes --------------------------------------------------------------------------

    def change_champion(self, change: ChampionChange, origin: Origin | None = None) -> LearnResult:
        """Apply a person's promotion, rollback or unpin of a model: its judge compares against that champion."""
        judge = self.judges.get(change.name)
        if judge is not None:
            judge.change_champion(change.candidate, change.pinned)
        return LearnResult()

    # -- scoring, promotion and drift --------------------------------------------------------------

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
        ts_ms: int,
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
            self._alert(result, model, signal, event_id, ts_ms, guard)

    def _alert(
        self,
        result: LearnResult,
        model: PrequentialModel | None,
        signal: Signal,
        event_id: str,
        ts_ms: int,
        guard: DriftGuard | None = None,
    ) -> None:
        name = model.name if model is not None else None
        seen = self.events_seen
        alert = Alert(
            name, signal.kind, signal.detector, signal.feature, event_id, seen, from_ms(ts_ms), signal.details
        )
        acts = guard is not None and guard.wants_action(signal)
        admitted = self.gate.admit(alert, has_action=acts)
        if admitted is None:
            return
        if acts and guard is not None and model is not None:
            action = guard.act(model, signal)
            self.actions[(model.name, action or "none")] += 1
            admitted = replace(admitted, action=action, details={**admitted.details, "generation": model.generation})
        result.alerts.append(admitted)


def _prediction(vector: FeatureVector, model: PrequentialModel, answer: ModelAnswer, now_ms: int) -> Prediction:
    return Prediction(vector.event_id, model.name, model.generation, answer.prediction, answer.proba, vector.ts_ms,
                      now_ms, answer.score)  # fmt: skip


def _model_error(
    model: PrequentialModel,
    stage: str,
    record: FeatureVector | LabelEvent,
    where: Origin | None,
    exc: Exception,
    now: datetime,
) -> DeadLetter:
    """Return the dead letter of a model that raised on one record.

    The model counts it (and logs its first of a kind).
    """
    model.failed(stage, exc)
    detail = str(ModelError(model.name, stage, exc))
    return DeadLetter("model_error", detail, record.to_json(), where, now, event_id=record.event_id, model=model.name)


def _label_json(label: PendingLabel) -> bytes:
    return LabelEvent(label.event_id, label.label, label.ts_ms).to_json()


def _unmatched(label: PendingLabel, now: datetime) -> DeadLetter:
    detail = f"no event {label.event_id!r} arrived while the label waited"
    return DeadLetter("label_unmatched", detail, _label_json(label), label.source, now, event_id=label.event_id)


def _duplicate(label: PendingLabel, now: datetime) -> DeadLetter:
    detail = f"event {label.event_id!r} carried its own label"
    return DeadLetter("label_duplicate", detail, _label_json(label), label.source, now, event_id=label.event_id)
