"""The first step of every event, per partition of the raw topic: decode, validate, featurize.

An :class:`Intake` turns the bytes of one raw message into the feature vector the learn log
carries, or into a dead letter with its reason: no message can stop the partition. Its state is
the per-key features of the keys of its partition (aggregates, windows of event time, the time of
the key's newest event: :mod:`online_models.features`; events of one key stay in one partition),
so a checkpoint of it at an offset is exact, like a learner's.

>>> from online_models.config import parse_config
>>> intake = Intake(parse_config({"models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}]}))
>>> intake.event(b'{"event_id": "e1", "ts": 0, "features": {"x": 1}}', None, None, Origin("raw", 0, 0)).features
{'x': 1}
>>> letter = intake.event(b'{"event_id": "e2", "features": {}}', None, None, Origin("raw", 0, 1))
>>> letter.reason, letter.event_id, intake.offsets
('empty_features', 'e2', {'raw': {0: 2}})
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from online_models.clock import Clock, utc_now
from online_models.config import StreamwiseConfig
from online_models.events import (
    MAX_EVENT_BYTES,
    DeadLetter,
    FeatureVector,
    Origin,
    RawEvent,
    parse_raw_event,
    sampled,
    to_ms,
)
from online_models.exceptions import InvalidEventError
from online_models.features import FeatureEngineer, KeyState
from online_models.partition import PartitionState


class Intake(PartitionState):
    """The decode, validate and featurize step of one partition of the raw topic, with its per-key state.

    Examples
    --------
    >>> from online_models.config import parse_config
    >>> config = parse_config({
    ...     "models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}],
    ...     "features": {"aggregates": [{"source": "amount", "stats": ["count", "mean"]}]},
    ... })
    >>> intake = Intake(config)
    >>> intake.is_stateful
    True
    >>> first = b'{"event_id": "e1", "key": "k1", "features": {"amount": 3.0}}'
    >>> _ = intake.event(first, None, 0, Origin("raw", 0, 0))
    >>> second = intake.event(b'{"event_id": "e2", "features": {"amount": 5.0}}', b"k1", 0, Origin("raw", 0, 1))
    >>> second.key, second.features  # no key field: the message key is the entity key
    ('k1', {'amount': 5.0, 'amount_count_by_key': 2, 'amount_mean_by_key': 4.0})
    """

    def __init__(
        self,
        config: StreamwiseConfig,
        partition: int = 0,
        *,
        max_event_bytes: int = MAX_EVENT_BYTES,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(partition)
        self.engineer = FeatureEngineer(config.features)
        self.max_event_bytes = max_event_bytes
        self.clock = clock or utc_now
        self.key_states: dict[str, KeyState] = {}  # per-key aggregates and windows of this partition's keys
        # Its dead letters by reason (since it took the partition; a stateful intake's checkpoint keeps them).
        self.letters: Counter[str] = Counter()
        # Features left out of events for a bad value, as "feature: reason" (null, transform_failed, ...).
        self.dropped: Counter[str] = Counter()
        # Warnings for the dead-letter topic (the 1st, 10th, 100th... drop of each kind): the driver takes them.
        self.warnings: list[DeadLetter] = []

    @property
    def is_stateful(self) -> bool:
        """Whether it keeps state (per-key aggregates or windows) that a checkpoint must hold."""
        return self.engineer.is_stateful

    def event(
        self, value: bytes | None, key: bytes | None, broker_ms: int | None, origin: Origin | None
    ) -> FeatureVector | DeadLetter:
        """Return the feature vector of one raw message, or its dead letter.

        ``key`` is the message's key (the entity key of an event without a ``key`` field);
        ``broker_ms``, its broker timestamp, stands in for a missing ``ts``. Never raises.
        """
        if origin is not None:
            self.consumed(origin)
        event: RawEvent | None = None
        nulls: list[str] = []
        dropped: list[InvalidEventError] = []
        try:
            default = broker_ms if broker_ms is not None else to_ms(self.clock())
            event = parse_raw_event(value, max_bytes=self.max_event_bytes, default_ms=default, nulls=nulls)
            vector = self.featurize(event, origin, key, dropped)
        except InvalidEventError as error:
            self.letters[error.reason] += 1
            event_id = error.event_id or (event.event_id if event is not None else None)
            return DeadLetter(error.reason, error.detail, value, origin, self.clock(), key=key, event_id=event_id)
        except Exception as exc:  # a bug or a library failure on one message must not stop the stream
            self.letters["unexpected_error"] += 1
            detail = f"{type(exc).__name__}: {exc}"
            event_id = event.event_id if event is not None else None
            return DeadLetter("unexpected_error", detail, value, origin, self.clock(), key=key, event_id=event_id)
        if nulls or dropped:
            self._left_out(vector, nulls, dropped, value, origin, key)
        return vector

    def _left_out(
        self,
        vector: FeatureVector,
        nulls: list[str],
        dropped: list[InvalidEventError],
        value: bytes | None,
        origin: Origin | None,
        key: bytes | None,
    ) -> None:
        """Count the features a bad value cost this event; warn on the DLQ at the 1st, 10th, 100th... of a kind."""
        why = [(name, "null", "the value is null: a missing value") for name in nulls]
        why += [(error.feature or "?", error.reason, error.detail) for error in dropped]
        for feature, reason, detail in why:
            kind = f"{feature}: {reason}"
            self.dropped[kind] += 1
            count = self.dropped[kind]
            if sampled(count):
                text = f"feature {feature!r} left out of the event ({detail}); {count} so far; the event went on"
                letter = DeadLetter("feature_dropped", text, value, origin, self.clock(), key=key,
                                    event_id=vector.event_id)  # fmt: skip
                self.warnings.append(letter)

    def take_warnings(self) -> list[DeadLetter]:
        """Return the warnings for the dead-letter topic since the last call (the driver sends them)."""
        warnings, self.warnings = self.warnings, []
        return warnings

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled intake, with no dead letters counted when its checkpoint has no count."""
        self.__dict__.update({"letters": Counter(), "dropped": Counter(), "warnings": [], **state})  # older checkpoints

    def featurize(
        self,
        event: RawEvent,
        source: Origin | None = None,
        message_key: bytes | None = None,
        dropped: list[InvalidEventError] | None = None,
    ) -> FeatureVector:
        """Return the model inputs of ``event`` and update its key's state.

        An event that fails leaves the state as it was. Windows go by the event time, ``ts``. With
        ``dropped``, a transform that fails on a value leaves its feature out and says why there.
        """
        key = event.key if event.key is not None else _text(message_key)
        state = self.key_states.get(key) if key is not None and self.engineer.is_stateful else None
        x, new_state = self.engineer.transform(
            event.features, state, keyed=key is not None, ts_ms=event.ts_ms, dropped=dropped
        )
        if key is not None and new_state is not None:
            self.key_states[key] = new_state
        return FeatureVector(event.event_id, event.ts_ms, key, x, event.label, source)


def _text(key: bytes | None) -> str | None:
    """Return a message key as the entity key, when it is UTF-8 text."""
    if not key:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None
