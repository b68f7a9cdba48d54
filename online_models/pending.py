"""The delayed-label join: predictions waiting for their label, and labels waiting for their event.

Entries live in a dict keyed by event_id, as compact JSON-safe dicts (class probabilities as
``[label, p]`` pairs, which keep ``True`` and ``1`` apart). Memory is bounded twice: an entry
expires once the event time has moved ``ttl_ms`` past it, and the oldest entry goes when there
are more than ``max_pending``.

>>> join = PendingJoin(ttl_ms=1_000, max_pending=2)
>>> join.hold_event(PendingEvent("e1", 0, {"a": 1.0}, {"lr": ModelAnswer(True, {True: 0.6, False: 0.4})}))
>>> join.find("e1").answers["lr"].proba
{True: 0.6, False: 0.4}
>>> join.take("e1"); join.settled_as("e1"), join.find("e1")
('joined', None)
>>> join.hold_label(PendingLabel("e2", False, 500))   # the label came first: it waits
>>> expired = join.advance(2_000)                      # ... but its event never comes
>>> [label.event_id for label in expired.labels], len(join)
(['e2'], 0)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from online_models.evaluation import ModelAnswer
from online_models.events import Origin, Value
from online_models.features import Features

_EVENT, _LABEL = "e", "l"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event predicted without its label: the inputs used and every model's answer.

    Examples
    --------
    >>> event = PendingEvent("e1", 0, {"a": 1.0}, {"lr": ModelAnswer(True, {True: 0.6, False: 0.4})})
    >>> event.encode()
    {'k': 'e', 'ts': 0, 'x': {'a': 1.0}, 'a': {'lr': [True, [(True, 0.6), (False, 0.4)]]}}
    >>> PendingEvent.decode("e1", event.encode()) == event
    True
    """

    event_id: str
    ts_ms: int
    x: Features
    answers: dict[str, ModelAnswer]

    def encode(self) -> dict[str, Any]:
        """Return the entry the join stores for it (class probabilities as ``[label, p]`` pairs)."""
        answers = {name: _encode_answer(a) for name, a in self.answers.items()}
        return {"k": _EVENT, "ts": self.ts_ms, "x": self.x, "a": answers}

    @classmethod
    def decode(cls, event_id: str, entry: dict[str, Any]) -> PendingEvent:
        """Rebuild the event held under ``event_id`` from its stored entry."""
        answers = {name: _decode_answer(stored) for name, stored in entry["a"].items()}
        return cls(event_id, entry["ts"], entry["x"], answers)


def _encode_answer(answer: ModelAnswer) -> list[Any]:
    """Return a stored answer: ``[prediction, proba pairs]``, and the score of an anomaly model.

    The score is what a late label scores an anomaly model on: without it, ROCAUC has nothing to take.

    >>> _encode_answer(ModelAnswer(False, None, 0.25))
    [False, None, 0.25]
    """
    pairs = list(answer.proba.items()) if answer.proba is not None else None
    if answer.score is None:
        return [answer.prediction, pairs]
    return [answer.prediction, pairs, answer.score]


def _decode_answer(stored: list[Any]) -> ModelAnswer:
    """Rebuild a stored answer; one stored before scores were kept has none.

    >>> _decode_answer([False, None, 0.25])
    ModelAnswer(prediction=False, proba=None, score=0.25)
    >>> _decode_answer([True, [[True, 0.9], [False, 0.1]]])
    ModelAnswer(prediction=True, proba={True: 0.9, False: 0.1}, score=None)
    """
    prediction, pairs, *score = stored
    proba = {k: v for k, v in pairs} if pairs is not None else None
    return ModelAnswer(prediction, proba, score[0] if score else None)


@dataclass(frozen=True, slots=True)
class PendingLabel:
    """A label that arrived before its event (``source``: where it was read, for its dead letter).

    Examples
    --------
    >>> label = PendingLabel("e2", False, 500, Origin("events.labels", 0, 7))
    >>> label.encode()
    {'k': 'l', 'ts': 500, 'y': False, 's': ('events.labels', 0, 7)}
    >>> PendingLabel.decode("e2", label.encode()) == label
    True
    """

    event_id: str
    label: Value  # a label that came is never null
    ts_ms: int
    source: Origin | None = None

    def encode(self) -> dict[str, Any]:
        """Return the entry the join stores for it (its source as topic, partition and offset)."""
        source = self.source
        where = (source.topic, source.partition, source.offset) if source is not None else None
        return {"k": _LABEL, "ts": self.ts_ms, "y": self.label, "s": where}

    @classmethod
    def decode(cls, event_id: str, entry: dict[str, Any]) -> PendingLabel:
        """Rebuild the label held under ``event_id`` from its stored entry."""
        where = entry.get("s")
        return cls(event_id, entry["y"], entry["ts"], Origin(*where) if where is not None else None)


@dataclass
class Expired:
    """What one advance of the event time dropped."""

    events: list[PendingEvent] = field(default_factory=list)
    labels: list[PendingLabel] = field(default_factory=list)


NOTHING_EXPIRED = Expired((), ())  # type: ignore[arg-type]  # shared and empty: never appended to


class PendingJoin:
    """Bounded pending state of one partition, in arrival order.

    It is part of the partition's :class:`~online_models.pipeline.Learner`, so a checkpoint of
    the learner carries it and a restart finds every prediction still waiting for its label.

    Examples
    --------
    >>> join = PendingJoin(ttl_ms=60_000, max_pending=2)
    >>> for i in range(3):
    ...     join.hold_event(PendingEvent(f"e{i}", i, {}, {}))
    >>> expired = join.advance(2)  # one entry more than max_pending: the oldest goes
    >>> [event.event_id for event in expired.events], join.waiting(), join.settled_as("e0")
    (['e0'], (2, 0), 'expired')
    """

    def __init__(self, ttl_ms: int, max_pending: int) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.ttl_ms = ttl_ms
        self.max_pending = max_pending
        self.watermark_ms = 0
        self._order: OrderedDict[str, int] = OrderedDict()
        # Recently settled ids, so a late or repeated label gets the right reason (bounded too).
        self._settled: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        """Return how many entries wait: predictions and labels."""
        return len(self._order)

    def waiting(self) -> tuple[int, int]:
        """Return how many predictions wait for their label, and how many labels for their event.

        A scan: for a status every few seconds, not per event.
        """
        entries = list(self.store.values())  # one C-level copy: the engine's thread may change the dict
        labels = sum(1 for entry in entries if entry["k"] == _LABEL)
        return len(entries) - labels, labels

    def hold_event(self, event: PendingEvent) -> None:
        """Hold a prediction until its label comes."""
        # Held at the current event time, so the index stays in time order whatever the event's
        # own ts says (a late or a bogus future ts); its ts still gives the label delay.
        self._hold(event.event_id, self.watermark_ms or event.ts_ms, event.encode())

    def hold_label(self, label: PendingLabel) -> None:
        """Hold a label that came before its event, until the event comes."""
        # Its time to live counts from the earlier of its own ts and the event time it arrived at:
        # a label stamped in the future must neither stay nor hold back what follows it.
        held_at = min(label.ts_ms, self.watermark_ms) if self.watermark_ms else label.ts_ms
        self._hold(label.event_id, held_at, label.encode())

    def find(self, event_id: str) -> PendingEvent | PendingLabel | None:
        """Return what waits under ``event_id``, left in place: one store lookup."""
        entry = self.store.get(event_id)
        if entry is None:
            return None
        return (PendingEvent if entry["k"] == _EVENT else PendingLabel).decode(event_id, entry)

    def take(self, event_id: str) -> None:
        """Remove what waits under ``event_id``: it is joined."""
        del self.store[event_id]
        self._order.pop(event_id, None)
        self._settle(event_id, "joined")

    def settled_as(self, event_id: str) -> str | None:
        """Return ``joined`` or ``expired`` for an event settled recently, else None."""
        return self._settled.get(event_id)

    def observe_time(self, ts_ms: int) -> None:
        """Move the event time to ``ts_ms`` when it is newer: event time is the newest event ts seen."""
        if ts_ms > self.watermark_ms:
            self.watermark_ms = ts_ms

    def advance(self, ts_ms: int) -> Expired:
        """Move the event time forward and drop what is too old or too many."""
        self.observe_time(ts_ms)
        horizon = self.watermark_ms - self.ttl_ms
        if not self._order or (next(iter(self._order.values())) >= horizon and len(self._order) <= self.max_pending):
            return NOTHING_EXPIRED  # the common case, once per event: no allocation
        expired = Expired()
        while self._order:
            event_id, held_at = next(iter(self._order.items()))
            if held_at >= horizon and len(self._order) <= self.max_pending:
                break
            del self._order[event_id]
            entry = self.store.pop(event_id, None)
            if entry is None:
                continue
            if entry["k"] == _EVENT:
                expired.events.append(PendingEvent.decode(event_id, entry))
                self._settle(event_id, "expired")
            else:
                expired.labels.append(PendingLabel.decode(event_id, entry))
        return expired

    def _hold(self, event_id: str, held_at: int, entry: dict[str, Any]) -> None:
        self._order.pop(event_id, None)
        self._order[event_id] = held_at
        self.store[event_id] = {**entry, "h": held_at}

    def _settle(self, event_id: str, how: str) -> None:
        self._settled[event_id] = how
        self._settled.move_to_end(event_id)
        while len(self._settled) > self.max_pending:
            self._settled.popitem(last=False)
