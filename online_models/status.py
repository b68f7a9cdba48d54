"""Live model status: counts, prequential metrics and their recent history per model and stream partition.

The worker writes them as documents to Redis (:mod:`online_models.storage.status_store`).

One hash per model, ``<namespace>:models:<name>:status``, with one field per partition holding a
JSON document, and a set of the model names that reported, ``<namespace>:models:status-names``
(readers list models without scanning the keyspace). The worker writes them on a timer; the API
(``/models``, ``/dashboard``) and the CLI read them.

The partitions' own counts (dead letters by reason, predictions waiting for a label, labels waiting
for their event) go in one hash, ``<namespace>:partitions:status``, a field per intake or learner.

A document carries the last ``HISTORY_POINTS`` points of the model's prequential history, each
with the model version that produced it, so the dashboard can draw the metric over the stream and
tell the versions apart without reading the worker's checkpoints.
"""

from __future__ import annotations

import math
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from online_models.evaluation import HistoryPoint, PrequentialModel
from online_models.intake import Intake
from online_models.learner import Learner

HISTORY_POINTS = 500  # per document: bounds what the worker writes every status interval


Point = dict[str, Any]  # a history point as the status document holds it


@dataclass
class _Trail:
    """What the publisher remembers of one model object between two status writes.

    The points it wrote, rendered once (a point never changes after it is recorded).
    """

    seen: int  # len(model.history) at the last write
    points: deque[Point] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))


# Keyed by id(model); an entry goes when its model is garbage collected (weakref.finalize), so
# an id is never reused while its entry lives. The worker's event loop is the only writer.
_TRAILS: dict[int, _Trail] = {}


def _point(point: HistoryPoint, at: str | None) -> Point:
    """Return ``point`` as the status document holds it, first published at ``at``."""
    return {
        "labeled": point.labeled,
        "events": point.events,
        "metrics": _finite(point.metrics),
        "generation": point.generation,
        "at": at,
    }


def _trail(model: PrequentialModel) -> _Trail:
    """Return the model's trail, started when it is first seen (the points it already had: no time)."""
    key = id(model)
    trail = _TRAILS.get(key)
    if trail is None or trail.seen > len(model.history):
        trail = _TRAILS[key] = _Trail(seen=len(model.history))
        weakref.finalize(model, _TRAILS.pop, key, None)
        trail.points.extend(_point(p, None) for p in model.history[-HISTORY_POINTS:])
    return trail


def _published_history(model: PrequentialModel, now: datetime) -> list[Point]:
    """Return the last points, each with when it was first published.

    The dashboard places a person's promotion or rollback on the events axis by these times.
    """
    trail = _trail(model)
    at = now.isoformat(timespec="milliseconds")
    trail.points.extend(_point(p, at) for p in model.history[trail.seen :][-HISTORY_POINTS:])
    trail.seen = len(model.history)
    return list(trail.points)


def _finite(metrics: dict[str, float]) -> dict[str, float | None]:
    """Return ``metrics`` ready for JSON, which has no NaN or infinity: a metric without a value yet is null."""
    return {name: value if math.isfinite(value) else None for name, value in metrics.items()}


def model_status(model: PrequentialModel, partition: int, now: datetime) -> dict[str, Any]:
    """Return the status document of ``model``."""
    history = _published_history(model, now)
    return {
        "model": model.name,
        "slot": model.slot,
        "partition": partition,
        "generation": model.generation,
        "recipe": model.spec.recipe,
        "estimator": model.spec.estimator,
        "task": model.spec.task,
        "events": model.events,
        "labeled": model.labeled,
        "scored": model.scored,
        "failures": dict(model.failures),
        "metrics": model.metric_values(),
        "updated_at": now.isoformat(timespec="milliseconds"),
        "history": history,
    }


def learner_status(learner: Learner, now: datetime) -> dict[str, Any]:
    """Return what a learn-log partition holds besides its models.

    Its dead letters by reason (model errors by model are each model's ``failures``), predictions
    waiting for their label and labels waiting for their event.
    """
    predictions, labels = learner.pending.waiting()
    return {
        "part": f"learner:{learner.partition}",
        "partition": learner.partition,
        "dead_letters": dict(learner.letters),
        "waiting_predictions": predictions,
        "waiting_labels": labels,
        "updated_at": now.isoformat(timespec="milliseconds"),
    }


def intake_status(intake: Intake, now: datetime) -> dict[str, Any]:
    """Return a raw partition's dead letters by reason (the events that never reached a model).

    Also the features that bad values cost events that went on (``feature: reason``).
    """
    return {
        "part": f"intake:{intake.partition}",
        "partition": intake.partition,
        "dead_letters": dict(intake.letters),
        "dropped_features": dict(intake.dropped),
        "updated_at": now.isoformat(timespec="milliseconds"),
    }


class StatusSource(Protocol):
    """Where the API reads model status: Redis, or the embedded demo's own models.

    Examples
    --------
    >>> import asyncio
    >>> source: StatusSource = MemoryModelStatus(lambda: [])
    >>> asyncio.run(source.names()), asyncio.run(source.get("nb")), asyncio.run(source.parts())
    ([], {}, [])
    """

    async def names(self) -> list[str]:
        """Return the names of the models that reported a status, sorted."""
        ...

    async def get(self, model: str) -> dict[int, dict[str, Any]]:
        """Return the status documents of ``model`` by partition (empty when it has not reported)."""
        ...

    async def parts(self) -> list[dict[str, Any]]:
        """Return the partitions' own documents (dead letters, waiting predictions and labels)."""
        ...


class MemoryModelStatus:
    """The embedded demo's status (one partition), made from its models when asked.

    Examples
    --------
    >>> import asyncio
    >>> from online_models.config import ModelSpec
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> _ = model.step({"x": 1.0}, True)
    >>> status = MemoryModelStatus(lambda: [model], clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    >>> asyncio.run(status.names())
    ['nb']
    >>> document = asyncio.run(status.get("nb"))[0]
    >>> document["labeled"], document["updated_at"]
    (1, '2026-01-01T00:00:00.000+00:00')
    """

    def __init__(
        self,
        models: Callable[[], Iterable[PrequentialModel]],
        clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
    ) -> None:
        self.models = models
        self.clock = clock

    async def names(self) -> list[str]:
        """Return the names of the demo's models, sorted."""
        return sorted(model.name for model in self.models())

    async def parts(self) -> list[dict[str, Any]]:
        """Return no partition documents."""
        return []  # the demo's one partition shows its dead letters in its own report

    async def get(self, model: str) -> dict[int, dict[str, Any]]:
        """Return the status document of ``model`` as partition 0's, as if read from Redis; empty when unknown."""
        found = next((m for m in self.models() if m.name == model), None)
        if found is None:
            return {}
        doc = model_status(found, 0, self.clock())
        return {0: orjson.loads(orjson.dumps(doc))}  # as read from Redis: NaN as null
