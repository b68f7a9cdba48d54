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
>>> model.step({"x": 1.2}, True).prediction
True
>>> model.labeled, model.scored
(2, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from river import base

from online_models import metrics, recipes
from online_models.config import ModelSpec
from online_models.events import Label
from online_models.features import Features


class ModelAnswer(NamedTuple):
    """A model's prediction for one input: the label (or value) and class probabilities (a tuple:
    one is made per model and event)."""

    prediction: Label
    proba: dict[Any, float] | None

    @property
    def is_cold(self) -> bool:
        return self.prediction is None and not self.proba


@dataclass
class HistoryPoint:
    labeled: int
    events: int
    metrics: dict[str, float]
    model_version: int = 1  # the version that scored up to here (a drift action bumps it)


@dataclass
class PrequentialModel:
    """A River model with its prequential metrics, learning one event at a time."""

    spec: ModelSpec
    history_every: int = 1000
    version: int = 1
    model: base.Estimator = field(init=False)
    metrics: dict[str, Any] = field(init=False)
    events: int = 0
    labeled: int = 0
    scored: int = 0
    history: list[HistoryPoint] = field(default_factory=list)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.spec.name  # read per event: an attribute, not a property
        self.model = recipes.build(self.spec.recipe, self.spec.params)
        self.metrics = metrics.for_task(self.spec.task)
        final = recipes.final_estimator(self.model)
        self._is_classifier = isinstance(final, base.Classifier)
        # River's default Classifier.predict_one is the argmax of predict_proba_one; where a model
        # keeps that default, one proba call gives both answers, bit-for-bit.
        self._label_from_proba = self._is_classifier and type(final).predict_one is base.Classifier.predict_one
        self._proba_metrics = [m for m in self.metrics.values() if metrics.needs_proba(m)]
        self._label_metrics = [m for m in self.metrics.values() if not metrics.needs_proba(m)]

    @property
    def slot(self) -> str:
        """The registry name of its snapshots (the champion's name for a challenger)."""
        return self.spec.slot

    def predict(self, x: Features) -> ModelAnswer:
        """Answer for ``x`` and count the event (the model itself does not change)."""
        self.events += 1
        return self.answer(x)

    def answer(self, x: Features) -> ModelAnswer:
        """Answer for ``x``, changing nothing: what serving calls."""
        if not self._is_classifier:
            return ModelAnswer(self.model.predict_one(x), None)
        proba = self.model.predict_proba_one(x)
        if not self._label_from_proba:
            return ModelAnswer(self.model.predict_one(x), proba)
        return ModelAnswer(max(proba, key=proba.get) if proba else None, proba)  # type: ignore[arg-type]

    def score_and_learn(self, x: Features, y: Label, answer: ModelAnswer) -> None:
        """Update the metrics with the answer given before ``y`` was known, then learn (x, y)."""
        if answer.prediction is not None:
            for m in self._label_metrics:
                m.update(y, answer.prediction)
        if answer.proba:
            for m in self._proba_metrics:
                m.update(y, answer.proba)
        if not answer.is_cold:
            self.scored += 1
        self.model.learn_one(x, y)
        self.labeled += 1
        if self.labeled % self.history_every == 0:
            self.history.append(HistoryPoint(self.labeled, self.events, self.metric_values(), self.version))

    def replace(self, estimator: base.Estimator) -> None:
        """Serve ``estimator`` from now on (a drift action); the metrics keep running."""
        self.model = estimator
        self.version += 1

    def step(self, x: Features, y: Label) -> ModelAnswer:
        """Predict, then score and learn when the label is known (test-then-train)."""
        answer = self.predict(x)
        if y is not None:
            self.score_and_learn(x, y, answer)
        return answer

    def metric_values(self) -> dict[str, float]:
        return {name: float(m.get()) for name, m in self.metrics.items()}

    def report(self) -> dict[str, Any]:
        """Counts, final metrics and history, as written by ``streamwise evaluate``."""
        return {
            "recipe": self.spec.recipe,
            "task": self.spec.task,
            "version": self.version,
            "events": self.events,
            "labeled": self.labeled,
            "scored": self.scored,
            "metrics": self.metric_values(),
            "history": [vars(p) for p in self.history],
        }
