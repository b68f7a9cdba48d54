"""Drift policies: what happens to a model when its error stream drifts.

- ``alert``: report only.
- ``reset``: on a confirmed drift, replace the model with a fresh one of the same recipe.
- ``background``: at a warning, start a fresh model that learns alongside the served one; on a
  confirmed drift, swap it in. Without a warning first (or with a detector that has no warning
  level, such as ADWIN) a drift falls back to a reset.

No policy acts on a model that has learned fewer than ``min_labeled`` labels (since it was built: at
the start, by a reset, or as the background model swapped in): a model still learning makes errors
that are not a change of concept, and on an imbalanced stream a detector's first few hundred errors
say little. Such a signal is still reported, as an alert without an action.

Prequential metrics keep running across an action: they score the model slot on the stream.
Each action bumps the model's version.
"""

from __future__ import annotations

from typing import Any

from online_models.config import DriftSpec
from online_models.drift import ConceptMonitor, Signal
from online_models.evaluation import ModelAnswer, PrequentialModel
from online_models.events import Label
from online_models.features import Features

RESET, BACKGROUND_START, BACKGROUND_SWAP = "reset", "background_start", "background_swap"


def prediction_error(model: PrequentialModel, y: Label, answer: ModelAnswer) -> float | None:
    """0/1 error of a classifier, absolute error of a regressor; None for a cold start."""
    if answer.prediction is None:
        return None
    if model.spec.task == "regression":
        return abs(float(y) - float(answer.prediction))  # type: ignore[arg-type]
    return float(answer.prediction != y)


class DriftGuard:
    """The concept-drift monitor of one model and its policy, with the background model if any.

    Examples
    --------
    >>> from online_models.config import DriftSpec, ModelSpec
    >>> from online_models.evaluation import PrequentialModel
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> guard = DriftGuard(DriftSpec(detector="ddm", policy="background", min_labeled=2))
    >>> warning, drift = Signal("concept_warning", "ddm", {}), Signal("concept_drift", "ddm", {})
    >>> guard.act(model, warning) is None  # too few labels learned yet: reported only
    True
    >>> for x in [1.0, -1.0]:
    ...     guard.learn_background({"x": x}, x > 0)
    >>> guard.act(model, warning), guard.act(model, drift), model.generation
    ('background_start', 'background_swap', 2)
    """

    def __init__(self, spec: DriftSpec, window: int = 100) -> None:
        self.spec = spec
        self.monitor = ConceptMonitor(spec.detector, spec.params, window)
        self.background: Any = None
        self.learned = 0  # labels the served model learned since it was built
        self._background_learned = 0

    @property
    def policy(self) -> str:
        """The drift policy: ``alert``, ``reset`` or ``background``."""
        return self.spec.policy

    def learn_background(self, x: Features, y: Label) -> None:
        """Count one label the served model learned, and train the background model with it if one was started.

        Called once for each label the served model learned.
        """
        self.learned += 1
        if self.background is not None:
            self.background.learn_one(x, y)
            self._background_learned += 1

    def wants_action(self, signal: Signal) -> bool:
        """Return whether the policy acts on ``signal`` now.

        Never for ``alert``, nor before the served model learned ``min_labeled`` labels; a warning
        only under ``background``, when no background model runs yet.
        """
        if self.policy == "alert" or self.learned < self.spec.min_labeled:
            return False
        if signal.kind == "concept_warning":
            return self.policy == "background" and self.background is None
        return signal.kind == "concept_drift"

    def act(self, model: PrequentialModel, signal: Signal) -> str | None:
        """Apply the policy to ``model`` for ``signal``; the action's name, or None."""
        if not self.wants_action(signal):
            return None
        if signal.kind == "concept_warning":
            self.background = model.spec.build()
            self._background_learned = 0
            return BACKGROUND_START
        if self.background is not None:
            model.replace(self.background)
            self.background, self.learned = None, self._background_learned
            return BACKGROUND_SWAP
        model.replace(model.spec.build())
        self.learned = 0
        return RESET
