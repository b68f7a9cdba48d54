"""Prequential (test-then-train) evaluation of one model, in River's exact order.

For each event: predict; if the label is known, update the metrics with that prediction (unless
it is a cold start: ``None`` or ``{}``), then learn. This is what
``river.evaluate.progressive_val_score`` does, so the final metrics are equal to it. Metrics that
River scores on probabilities (ROCAUC, LogLoss) get ``predict_proba_one``; the others get the label.

``predict`` and ``score_and_learn`` are separate so that a delayed label can be joined later with
the prediction that was made when the event arrived.

>>> from online_models.config import ModelSpec
>>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
>>> model.step({"x": 1.0}, True).prediction is None   # cold start: published, not scored
True
>>> model.metric_values()   # nothing scored: no value rather than River's 0
{}
>>> model.step({"x": 1.2}, True).prediction
True
>>> model.labeled, model.scored
(2, 1)
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, NamedTuple

from river import base

from online_models import metrics, pipelines
from online_models.config import ModelSpec
from online_models.events import Label
from online_models.features import Features

log = logging.getLogger(__name__)
ZERO_ONE: dict[Label, Label] = {False: 0, True: 1}  # shared, never changed
# Fields renamed since snapshots and checkpoints were first written: old pickles still load.
PREQUENTIAL_RENAMED = {"_zero_one": "_classes", "version": "generation"}


def _renamed(state: dict[str, Any], renamed: dict[str, str]) -> dict[str, Any]:
    return {renamed.get(k, k): v for k, v in state.items()}


class BinaryLabelError(ValueError):
    """A binary model got a label that is not a boolean or 0 or 1, and no positive class is set.

    Examples
    --------
    >>> from online_models.config import ModelSpec
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> model.step({"x": 1.0}, "fraud")
    Traceback (most recent call last):
    ...
    online_models.evaluation.BinaryLabelError: label 'fraud': binary labels are booleans or 0 and 1; set labels.positive
    """


def type_name(value: object) -> str:
    """Return the type of a feature's value: ``number``, ``bool`` or ``string``.

    Those are the types a feature can have (bool before int: a bool is an int).
    """
    if isinstance(value, bool):
        return "bool"
    return "string" if isinstance(value, str) else "number"


class ModelAnswer(NamedTuple):
    """A model's prediction for one input.

    The label (or value) and class probabilities; for an anomaly model, whether it flags the input
    and its anomaly score. (A tuple: one is made per model and event.)

    Examples
    --------
    >>> ModelAnswer(True, {False: 0.2, True: 0.8}).is_cold
    False
    >>> ModelAnswer(None, {}).is_cold   # a model that has learned nothing yet
    True
    """

    prediction: Label
    proba: dict[Any, float] | None
    score: float | None = None

    @property
    def is_cold(self) -> bool:
        """Whether it is a cold start: no prediction and no probabilities (published, not scored)."""
        return self.prediction is None and not self.proba


@dataclass
class HistoryPoint:
    """A model's metric values after ``labeled`` labels: one point of its history.

    Examples
    --------
    >>> from online_models.config import ModelSpec
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"), history_every=2)
    >>> for i in range(4):
    ...     _ = model.step({"x": float(i)}, i % 2 == 0)
    >>> [(point.labeled, point.events, point.generation) for point in model.history]
    [(2, 2, 1), (4, 4, 1)]
    >>> sorted(model.history[-1].metrics)
    ['Accuracy', 'F1', 'LogLoss', 'ROCAUC']
    """

    labeled: int
    events: int
    metrics: dict[str, float]
    generation: int = 1  # the generation that scored up to here (a drift action starts a new one)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled point; its ``model_version`` (the old name) becomes ``generation``."""
        self.__dict__.update(_renamed(state, {"model_version": "generation"}))


@dataclass
class PrequentialModel:
    """A River model with its prequential metrics, learning one event at a time.

    Examples
    --------
    >>> from online_models.config import ModelSpec
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> for x in [1.0, -1.0, 1.2, -0.8, 0.9, -1.1]:
    ...     answer = model.step({"x": x}, x > 0)   # predict, score, then learn
    >>> model.labeled, model.scored   # the first answer was a cold start
    (6, 5)
    >>> {name: round(value, 3) for name, value in model.metric_values().items()}
    {'Accuracy': 0.6, 'F1': 0.667, 'ROCAUC': 0.583, 'LogLoss': 7.266}
    >>> model.answer({"x": 1.1}).prediction
    True
    """

    spec: ModelSpec
    history_every: int = 100
    # At most this many history points: when full, every other one goes and history_every doubles.
    history_points: int = 1000
    # The positive class of a binary model whose labels are not booleans or 0/1 (``labels.positive``).
    positive: Label = None
    generation: int = 1  # a drift action (reset, background swap) starts a new generation of the model
    # A River estimator or pipeline; its methods are the task's (checked when the spec was built).
    model: Any = field(init=False)
    metrics: dict[str, Any] = field(init=False)
    events: int = 0
    labeled: int = 0
    scored: int = 0
    history: list[HistoryPoint] = field(default_factory=list)
    # Events it raised on, per "stage: exception type" (each a model_error dead letter).
    failures: Counter[str] = field(default_factory=Counter)
    name: str = field(init=False)
    # The labels as produced for the model's False and True: ZERO_ONE once a label 0 or 1 (an int,
    # not a bool) came (River's binary linear models answer False/True whatever the labels were,
    # trees answer the labels); the positive class and the first other label when ``positive`` is set.
    _classes: dict[Label, Label] = field(init=False, default_factory=dict)
    # The type of each input feature as the stream first gave it: number, bool or string. Serving
    # refuses another type for it (``wrong_types``): the model would take it, but not as meant.
    inputs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Build the model and its metrics from ``spec``, and note what answering and scoring need."""
        self.name = self.spec.name  # read per event: an attribute, not a property
        self.model = self.spec.build()
        self.metrics = metrics.for_task(self.spec.task)
        final = pipelines.final_estimator(self.model)
        self.is_anomaly = self.spec.task == "anomaly"
        self._is_classifier = isinstance(final, base.Classifier)
        # River's default Classifier.predict_one is the argmax of predict_proba_one; where a model
        # keeps that default, one proba call gives both answers, bit-for-bit.
        self._label_from_proba = (
            self._is_classifier and getattr(type(final), "predict_one", None) is base.Classifier.predict_one
        )
        self._is_binary = self.spec.task == "binary"
        if self.positive is not None and self._is_binary:
            self._classes = {True: self.positive}  # the negative class: the first other label
        self._proba_metrics = [m for m in self.metrics.values() if metrics.needs_proba(m)]
        self._label_metrics = [m for m in self.metrics.values() if not metrics.needs_proba(m)]

    @property
    def slot(self) -> str:
        """The registry name of its snapshots (the champion's name for a challenger)."""
        return self.spec.slot

    def predict(self, x: Features) -> ModelAnswer:
        """Answer for ``x`` and count the event (the model itself does not change)."""
        answer = self.answer(x)
        self.events += 1
        if not self.inputs.keys() >= x.keys():  # a new feature (rare; the check is one C-level set test)
            for name, value in x.items():
                self.inputs.setdefault(name, type_name(value))
        return answer

    def wrong_types(self, x: Features) -> dict[str, str]:
        """Features of ``x`` whose type is not the one the stream gave them, each with the problem.

        >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
        >>> _ = model.predict({"amount": 12.5, "country": "FR"})
        >>> model.wrong_types({"amount": "900", "country": "DE", "new": True})
        {'amount': 'a number is expected (the stream gave numbers), not a string'}
        """
        problems = {}
        for name, value in x.items():
            expected, given = self.inputs.get(name), type_name(value)
            if expected is not None and expected != given:
                problems[name] = f"a {expected} is expected (the stream gave {expected}s), not a {given}"
        return problems

    def failed(self, stage: str, exc: Exception) -> None:
        """Count an event the model raised on; log the first of each stage and exception type.

        A model that cannot take a kind of event would otherwise log every event.
        """
        reason = f"{stage}: {type(exc).__name__}"
        if not self.failures[reason]:
            log.warning("model %r cannot %s an event (%s: %s); counted, not logged again", self.name, stage,
                        type(exc).__name__, exc)  # fmt: skip
        self.failures[reason] += 1

    def answer(self, x: Features) -> ModelAnswer:
        """Answer for ``x``, changing nothing: what serving calls.

        Labels come back of the type they were produced with (1, not True, when the labels were 0 and 1).
        """
        if self.is_anomaly:
            score = self.model.score_one(x)
            return ModelAnswer(self.model.classify(score), None, score)
        if not self._is_classifier:
            return ModelAnswer(self.model.predict_one(x), None)
        proba = self.model.predict_proba_one(x)
        label = self._label(x, proba)
        if self._classes:
            proba = self._as_produced(proba)
            # With a positive class, a negative answer before any negative label came has no label.
            label = self._classes.get(label, None if self.positive is not None else label)
        return ModelAnswer(label, proba)

    def _label(self, x: Features, proba: dict[Any, float]) -> Label:
        if self._label_from_proba:
            return max(proba, key=proba.get) if proba else None  # type: ignore[arg-type]
        label: Label = self.model.predict_one(x)
        return label

    def _as_produced(self, proba: dict[Any, float]) -> dict[Any, float]:
        classes = self._classes
        if self.positive is not None:  # a class not seen yet (the negative one) is no label to answer
            return {classes[k]: p for k, p in proba.items() if k in classes}
        return {classes.get(k, k): p for k, p in proba.items()}

    def learn_unlabeled(self, x: Features) -> None:
        """Learn ``x`` without its label.

        An anomaly model learns each event when it comes (a flagged one is left out by its filter).
        """
        self.model.learn_one(x)

    def score_and_learn(self, x: Features, y: Label, answer: ModelAnswer) -> None:
        """Learn (x, y), then update the metrics with the answer given before ``y`` was known.

        The metrics equal River's predict, score, learn order (the answer was made before learning);
        learning first means that an event the model cannot learn (it raises) leaves the counts and
        the metrics as they were: a model scores only what it learned from. An anomaly model learned
        ``x`` when it came: its label only scores the score it gave.
        """
        if self.is_anomaly:
            for m in self._proba_metrics:
                m.update(y, answer.score)
            self._count(answer)
            return
        if self._is_binary and self.positive is not None:
            return self._score_and_learn_positive(x, y, answer)
        if self._is_binary and y not in (0, 1):  # True and False are 1 and 0
            raise BinaryLabelError(f"label {y!r}: binary labels are booleans or 0 and 1; set labels.positive")
        self.model.learn_one(x, y)
        if type(y) is int and not self._classes and self._is_classifier and y in (0, 1):
            self._classes = ZERO_ONE  # the labels are numbers: answers use them, not False or True
        if answer.prediction is not None:
            for m in self._label_metrics:
                m.update(y, answer.prediction)
        if answer.proba:
            for m in self._proba_metrics:
                m.update(y, answer.proba)
        self._count(answer)

    def _score_and_learn_positive(self, x: Features, y: Label, answer: ModelAnswer) -> None:
        """Learn and score ``y == positive``: what a River user writes for labels like "fraud"/"ok"."""
        positive = y == self.positive
        self.model.learn_one(x, positive)
        if not positive and False not in self._classes:
            self._classes = {True: self.positive, False: y}
        if not answer.is_cold:  # (a negative answer before any negative label: None, scored as False)
            for m in self._label_metrics:
                m.update(positive, answer.prediction == self.positive)
        if answer.proba:
            proba = {k == self.positive: p for k, p in answer.proba.items()}
            for m in self._proba_metrics:
                m.update(positive, proba)
        self._count(answer)

    def _count(self, answer: ModelAnswer) -> None:
        if not answer.is_cold:
            self.scored += 1
        self.labeled += 1
        if self.labeled % self.history_every == 0:
            self.history.append(HistoryPoint(self.labeled, self.events, self.metric_values(), self.generation))
            if len(self.history) > self.history_points:  # a new list: a reader of the old one is unaffected
                self.history = self.history[1::2]
                self.history_every *= 2

    def replace(self, estimator: base.Estimator) -> None:
        """Serve ``estimator`` from now on (a drift action); the metrics keep running."""
        self.model = estimator
        self.generation += 1

    def step(self, x: Features, y: Label) -> ModelAnswer:
        """Predict, then score and learn when the label is known (test-then-train)."""
        answer = self.predict(x)
        if self.is_anomaly:
            self.learn_unlabeled(x)
        if y is not None:
            self.score_and_learn(x, y, answer)
        return answer

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled model, under the current field names."""
        # A snapshot or checkpoint pickled before a field was added: that field starts at its default.
        defaults = {f.name: f.default_factory() for f in fields(self) if f.default_factory is not MISSING}
        state = _renamed(state, PREQUENTIAL_RENAMED)
        defaults["_is_binary"] = state["spec"].task == "binary"
        self.__dict__.update({**defaults, "is_anomaly": state["spec"].task == "anomaly", **state})

    def metric_values(self) -> dict[str, float]:
        """Each metric's value; none before anything was scored (River's would read 0 or 0.5)."""
        if not self.scored:
            return {}
        return {name: float(m.get()) for name, m in self.metrics.items()}

    def report(self) -> dict[str, Any]:
        """Return the counts, final metrics and history, as written by ``streamwise evaluate``."""
        return {
            "recipe": self.spec.recipe,
            "estimator": self.spec.estimator,
            "task": self.spec.task,
            "generation": self.generation,
            "events": self.events,
            "labeled": self.labeled,
            "scored": self.scored,
            "failures": dict(self.failures),
            "metrics": self.metric_values(),
            "history": [vars(p) for p in self.history],
        }
