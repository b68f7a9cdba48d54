"""Champion and challengers: candidates of one model name compared over a rolling window.

Each candidate (the named model and the models declared ``challenger_of`` it) is scored on the
same labeled events, in a rolling window of ``window`` events. A challenger is promoted when its
windowed metric beats the champion's by ``margin``, once every candidate has a full window and
``cooldown_events`` labeled events have passed since the last promotion.

>>> from online_models.config import PromotionSpec
>>> from online_models.evaluation import ModelAnswer
>>> spec = PromotionSpec(metric="Accuracy", window=10, margin=0.1, cooldown_events=0)
>>> judge = PromotionJudge("lr", ["lr", "lr-ht"], spec)
>>> for i in range(10):
...     judge.observe("lr", True, ModelAnswer(i % 2 == 0, None))   # right half of the time
...     judge.observe("lr-ht", True, ModelAnswer(True, None))      # always right
...     decision = judge.labeled_event()
>>> decision.to_candidate, decision.champion_score, decision.challenger_score
('lr-ht', 0.5, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from river import metrics as river_metrics
from river import utils

from online_models.config import PromotionSpec
from online_models.evaluation import ModelAnswer
from online_models.events import Label
from online_models.metrics import needs_proba


@dataclass(frozen=True, slots=True)
class Promotion:
    """A challenger beat the champion: the worker snapshots it and makes it the champion.

    Examples
    --------
    >>> Promotion("lr", "lr", "lr-ht", "Accuracy", 0.5, 1.0, 10).reason
    'lr-ht Accuracy=1.0000 beat lr Accuracy=0.5000 over the last 10 labeled events'
    """

    name: str
    from_candidate: str
    to_candidate: str
    metric: str
    champion_score: float
    challenger_score: float
    window: int

    @property
    def reason(self) -> str:
        """Why the challenger was promoted, in one line (the registry's reason for the promotion)."""
        return (
            f"{self.to_candidate} {self.metric}={self.challenger_score:.4f} beat {self.from_candidate} "
            f"{self.metric}={self.champion_score:.4f} over the last {self.window} labeled events"
        )


class PromotionJudge:
    """Scores the candidates of one model name on the same labeled events and picks the champion.

    Examples
    --------
    A champion a person pinned stays, whatever the scores say:

    >>> from online_models.config import PromotionSpec
    >>> from online_models.evaluation import ModelAnswer
    >>> judge = PromotionJudge("lr", ["lr", "lr-ht"], PromotionSpec(window=10, cooldown_events=0))
    >>> judge.change_champion("lr-ht", pinned=True), judge.change_champion("other", pinned=False)
    (True, False)
    >>> for _ in range(10):
    ...     judge.observe("lr", True, ModelAnswer(True, None))
    ...     judge.observe("lr-ht", True, ModelAnswer(False, None))
    ...     promotion = judge.labeled_event()
    >>> promotion, judge.champion, judge.score("lr"), judge.score("lr-ht")
    (None, 'lr-ht', 1.0, 0.0)
    """

    def __init__(self, name: str, candidates: list[str], spec: PromotionSpec) -> None:
        self.name = name
        self.spec = spec
        self.champion = name
        factory = getattr(river_metrics, spec.metric)
        self.rolling: dict[str, Any] = {c: utils.Rolling(factory, window_size=spec.window) for c in candidates}
        self.scored = dict.fromkeys(candidates, 0)
        self._proba = needs_proba(factory())
        self._bigger_is_better = factory().bigger_is_better
        self.labeled = 0
        self.last_promotion = 0
        self.pinned = False  # a person chose the champion: no automatic promotion until unpinned

    def change_champion(self, candidate: str, pinned: bool) -> bool:
        """Record that a person made ``candidate`` the champion (``pinned``), or unpinned it.

        Return False for a candidate this judge does not know (a config without it).
        """
        if candidate not in self.rolling:
            return False
        self.champion = candidate
        self.pinned = pinned
        return True

    def observe(self, candidate: str, y: Label, answer: ModelAnswer) -> None:
        """Add ``candidate``'s answer for the label ``y`` to its rolling metric; a cold answer is not scored."""
        prediction: Any = answer.proba if self._proba else answer.prediction
        if prediction is None or prediction == {}:
            return
        self.rolling[candidate].update(y, prediction)
        self.scored[candidate] += 1

    def labeled_event(self) -> Promotion | None:
        """Count one labeled event and return the promotion it triggers, if any."""
        self.labeled += 1
        if self.pinned or not self.spec.auto or self.labeled - self.last_promotion < self.spec.cooldown_events:
            return None
        if min(self.scored.values()) < self.spec.window:
            return None
        champion = self.score(self.champion)
        best = max(self.rolling, key=lambda c: self._signed(self.score(c)))
        if best == self.champion or self._signed(self.score(best)) - self._signed(champion) <= self.spec.margin:
            return None
        promotion = Promotion(
            self.name, self.champion, best, self.spec.metric, champion, self.score(best), self.spec.window
        )
        self.champion = best
        self.last_promotion = self.labeled
        return promotion

    def score(self, candidate: str) -> float:
        """Return ``candidate``'s metric over its rolling window."""
        return float(self.rolling[candidate].get())

    def _signed(self, value: float) -> float:
        return value if self._bigger_is_better else -value
