"""Feature engineering: stateless transforms declared in config, and per-key features.

The per-key features are running aggregates since the start, windows over the last N seconds of
event time, and the time since the key's previous event.

>>> spec = FeatureSpec(transforms=[{"name": "amount_log", "op": "log1p", "source": "amount"}],
...                    aggregates=[{"source": "amount", "stats": ["count", "mean"]}])
>>> engineer = FeatureEngineer(spec)
>>> x, state = engineer.transform({"amount": 3.0}, None)  # a key seen for the first time
>>> x, state = engineer.transform({"amount": 5.0}, state)
>>> x["amount_count_by_key"], x["amount_mean_by_key"]
(2, 4.0)

A window holds the key's events with an event time in ``(newest - seconds, newest]``, the current
one included (River's ``utils.TimeRolling``): at 90 s, a 60 s window holds the events at 60 s and
90 s, not the one at 30 s.

>>> spec = FeatureSpec(windows=[{"source": "amount", "seconds": 60, "stats": ["count", "mean", "max"]}],
...                    since_previous=True)
>>> engineer, state = FeatureEngineer(spec), None
>>> for ts_ms, amount in [(0, 10.0), (30_000, 20.0), (60_000, 30.0), (90_000, 60.0)]:
...     x, state = engineer.transform({"amount": amount}, state, ts_ms=ts_ms)
>>> x["amount_count_60s"], x["amount_mean_60s"], x["amount_max_60s"], x["seconds_since_previous"]
(2, 45.0, 60.0, 30.0)

The per-key state is a dict that pickles (a stateful :class:`~online_models.intake.Intake` keeps one
per key of its partition, and its checkpoint holds them): under each aggregate's source, that
source's running statistics (a dict of numbers, replaced at each event); under :data:`RECENT`, a
:class:`Recent` (the key's newest event time and one ``TimeRolling`` per window), updated in place.
Every input of an event is checked before anything changes, so an event that fails (its dead
letter) leaves the state as it was, and the state after an event is a function of the key's events
before it: the embedded runner and the Kafka engine, with or without a crash, compute the same.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator
from river import stats, utils

from online_models.exceptions import ConfigError, InvalidEventError

FeatureValue = float | int | str | bool
Features = dict[str, FeatureValue]

OPS: dict[str, Callable[[float], float]] = {
    "log1p": math.log1p,
    "sqrt": math.sqrt,
    "abs": abs,
    "square": lambda v: v * v,
}
Stat = Literal["count", "mean", "min", "max", "sum"]
WindowStat = Literal["count", "sum", "mean", "min", "max", "var"]
SINCE_PREVIOUS = "seconds_since_previous"
# Event times are whole milliseconds: a shorter window is not one. A longer window than a year
# holds as many events per key; the running aggregates are the statistics since the start.
MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS = 0.001, 366 * 86_400


class Transform(BaseModel):
    """``name = op(source)`` on a numeric feature; skipped when the source is absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    op: Literal["log1p", "sqrt", "abs", "square"]
    source: str = Field(min_length=1)


class Aggregate(BaseModel):
    """Running statistics of a numeric feature per event key, including the current event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    stats: list[Stat] = Field(min_length=1)


class Window(BaseModel):
    """Statistics of a numeric feature per event key over the last ``seconds`` of event time.

    Features ``{source}_{stat}_{seconds}s`` (``amount_mean_600s``); ``var`` is the sample variance
    (River's ``stats.Var``, ddof=1), which reads 0.0 while the window holds a single value.

    Examples
    --------
    >>> window = Window(source="amount", seconds=600, stats=["mean"])
    >>> window.name, window.feature("mean"), window.period
    ('amount_600s', 'amount_mean_600s', datetime.timedelta(seconds=600))
    >>> Window(source="amount", seconds=2.5, stats=["max"]).length
    '2.5s'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    seconds: float = Field(ge=MIN_WINDOW_SECONDS, le=MAX_WINDOW_SECONDS)
    stats: list[WindowStat] = Field(min_length=1)

    @property
    def length(self) -> str:
        """``600s``, ``2.5s``: the seconds as its features' names end."""
        return f"{int(self.seconds) if self.seconds.is_integer() else self.seconds!r}s"

    @property
    def name(self) -> str:
        """``amount_600s``: which window it is (its key in the state)."""
        return f"{self.source}_{self.length}"

    @property
    def period(self) -> dt.timedelta:
        """The ``seconds`` as a timedelta: the period of the window's ``utils.TimeRolling``."""
        return dt.timedelta(seconds=self.seconds)

    def feature(self, stat: WindowStat) -> str:
        """Return the name of the feature of ``stat`` over this window: ``amount_mean_600s``."""
        return f"{self.source}_{stat}_{self.length}"


class FeatureSpec(BaseModel):
    """The ``features:`` section of the config. Empty means features pass through unchanged.

    Examples
    --------
    >>> FeatureSpec().is_identity
    True
    >>> spec = FeatureSpec(drop=["card_number"], since_previous=True)
    >>> spec.is_identity, spec.is_timed
    (False, True)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    transforms: list[Transform] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)
    aggregates: list[Aggregate] = Field(default_factory=list)
    windows: list[Window] = Field(default_factory=list)
    since_previous: bool = False  # the feature seconds_since_previous

    @model_validator(mode="after")
    def _unique_outputs(self) -> FeatureSpec:
        names = [t.name for t in self.transforms]
        if len(names) != len(set(names)):
            raise ValueError("transform names must be unique")
        seen: set[str] = set()
        for i, window in enumerate(self.windows):
            if window.name in seen:  # the same features twice: one window per source and length
                raise ConfigError(f"windows[{i}]", f"a second window {window.name!r}; give its stats to the first")
            seen.add(window.name)
        return self

    @property
    def is_timed(self) -> bool:
        """Whether the per-key features need the event time (windows, seconds since the previous)."""
        return bool(self.windows) or self.since_previous

    @property
    def is_identity(self) -> bool:
        """Whether features pass through unchanged: no transforms, drops, aggregates or timed features."""
        return not (self.transforms or self.drop or self.aggregates or self.is_timed)


class WindowValues:
    """What one window of one key holds, for ``utils.TimeRolling`` to update and revert.

    River's ``stats.Var`` gives the count (its mean's ``n``), the mean and the variance, and
    ``stats.Sum`` the sum; min and max come from the same values kept sorted (bisect), because
    River's ``stats.Min`` and ``stats.Max`` keep only the extreme so far and cannot revert (and its
    rolling min and max are windows of a number of values, not of time). ``None`` is an event of
    the key without the source: it adds no value, but its time moves the window on.

    Examples
    --------
    >>> values = WindowValues()
    >>> for x in [3.0, None, 1.0, 2.0]:
    ...     values.update(x)
    >>> values.revert(3.0)  # the oldest value left the window
    >>> [round(values.get(stat), 6) for stat in ["count", "sum", "mean", "min", "max", "var"]]
    [2, 3.0, 1.5, 1.0, 2.0, 0.5]
    """

    def __init__(self) -> None:
        self.var = stats.Var()  # ddof=1, River's default
        self.sum = stats.Sum()
        self.sorted: list[float] = []

    def update(self, x: float | None) -> None:
        """Add a value that entered the window (None adds nothing)."""
        if x is None:
            return
        self.var.update(x)
        self.sum.update(x)
        bisect.insort(self.sorted, x)

    def revert(self, x: float | None) -> None:
        """Remove a value that left the window (None removes nothing)."""
        if x is None:
            return
        self.var.revert(x)
        self.sum.revert(x)
        del self.sorted[bisect.bisect_left(self.sorted, x)]
        if not self.sorted:  # empty: start afresh, so the rounding of reverts does not outlive its values
            self.var, self.sum = stats.Var(), stats.Sum()

    def get(self, stat: WindowStat) -> float | int:
        """Return the statistic ``stat`` of the values the window holds (``min`` and ``max`` need at least one)."""
        if stat == "count":
            return int(self.var.n)
        if stat == "sum":
            return self.sum.get()
        if stat == "mean":
            return self.var.mean.get()
        if stat == "min":
            return self.sorted[0]
        if stat == "max":
            return self.sorted[-1]
        return max(self.var.get(), 0.0)  # reverts' rounding can leave -1e-17 where it is 0


class Recent:
    """A key's time-dependent state: its newest event time, and one ``TimeRolling`` per window."""

    __slots__ = ("newest_ms", "windows")

    def __init__(self) -> None:
        self.newest_ms: int | None = None
        self.windows: dict[str, utils.TimeRolling[WindowValues]] = {}


# The state's key of the Recent part: no aggregate's source is empty (min_length=1), so it never clashes.
RECENT = ""
KeyState = dict[str, dict[str, float] | Recent]
# River's TimeRolling compares times with its naive start (year 1): the event time as naive UTC.
_EPOCH = dt.datetime(1970, 1, 1)
_EARLIEST = dt.datetime(1, 1, 1)


def event_time(ts_ms: int) -> dt.datetime:
    """Epoch milliseconds as a naive UTC datetime (exact: integer arithmetic).

    >>> event_time(1_500)
    datetime.datetime(1970, 1, 1, 0, 0, 1, 500000)
    """
    return _EPOCH + dt.timedelta(milliseconds=ts_ms)


def _numeric(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEventError("non_numeric_feature", f"feature {name!r} must be a number for this transform")
    return value


def _apply(op: str, source: str, value: Any) -> float:
    """Return ``op`` of a feature's value; InvalidEventError when it is no number or out of the op's domain."""
    try:
        return OPS[op](_numeric(source, value))
    except ValueError as exc:
        raise InvalidEventError("transform_failed", f"{op}({source}): {exc}") from None


def _update_stats(stats: dict[str, float], value: float) -> dict[str, float]:
    count = stats.get("count", 0) + 1
    mean = stats.get("mean", 0.0)
    return {
        "count": count,
        "mean": mean + (value - mean) / count,
        "sum": stats.get("sum", 0.0) + value,
        "min": min(stats.get("min", value), value),
        "max": max(stats.get("max", value), value),
    }


class _Plan(NamedTuple):
    """A window with its period and feature names worked out once (per event, they took a third of its time)."""

    name: str
    source: str
    period: dt.timedelta
    features: list[tuple[WindowStat, str]]  # (stat, feature name)


class FeatureEngineer:
    """Applies a FeatureSpec to one event's features.

    Examples
    --------
    >>> spec = FeatureSpec(transforms=[{"name": "amount_sqrt", "op": "sqrt", "source": "amount"}],
    ...                    drop=["amount"], aggregates=[{"source": "amount", "stats": ["sum"]}])
    >>> engineer = FeatureEngineer(spec)
    >>> engineer.transform({"amount": 16.0, "country": "FR"}, None)[0]
    {'country': 'FR', 'amount_sqrt': 4.0, 'amount_sum_by_key': 16.0}
    >>> engineer.transform({"amount": 16.0, "country": "FR"}, None, keyed=False)  # no key: no per-key features
    ({'country': 'FR', 'amount_sqrt': 4.0}, None)
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._windows = [_Plan(w.name, w.source, w.period, [(s, w.feature(s)) for s in w.stats]) for w in spec.windows]
        self._longest = max((w.period for w in self._windows), default=dt.timedelta(0))

    @property
    def is_stateful(self) -> bool:
        """Whether it keeps per-key state: aggregates, windows or the time since the previous event."""
        return bool(self.spec.aggregates) or self.spec.is_timed

    def transform(
        self,
        features: Features,
        state: KeyState | None,
        *,
        keyed: bool = True,
        ts_ms: int | None = None,
        dropped: list[InvalidEventError] | None = None,
    ) -> tuple[Features, KeyState | None]:
        """Return the model's feature vector and the key's new state.

        ``state`` is None for a key not seen before; ``ts_ms`` is the event time (epoch ms), needed
        by windows and ``since_previous``. An event without a key (``keyed=False``) gets no per-key
        features and leaves no state. The input dict is never modified; the state passed in may be
        (its windows), so only the returned one is to be kept. A transform that fails on its value
        (``log1p(-5)``, a string) leaves its feature out and adds why to ``dropped``: a bad value
        costs a feature, not the event. Without ``dropped`` (a request to the API), it raises
        InvalidEventError, with the state unchanged, when an input does not fit.

        >>> log_amount = {"name": "amount_log", "op": "log1p", "source": "amount"}
        >>> engineer = FeatureEngineer(FeatureSpec(transforms=[log_amount]))
        >>> why: list[InvalidEventError] = []
        >>> engineer.transform({"amount": -5.0, "country": "FR"}, None, dropped=why)[0], [e.reason for e in why]
        ({'amount': -5.0, 'country': 'FR'}, ['transform_failed'])
        """
        if self.spec.is_identity:
            return features, state
        x = dict(features)
        for t in self.spec.transforms:
            if t.source in features:
                try:
                    x[t.name] = _apply(t.op, t.source, features[t.source])
                except InvalidEventError as error:
                    if dropped is None:
                        raise
                    error.feature = t.name
                    dropped.append(error)
        if keyed and self.is_stateful:
            state = self._aggregate(features, x, dict(state or {}))
            if self.spec.is_timed:
                if ts_ms is None:
                    raise ValueError("windows and since_previous need the event time: pass ts_ms")
                recent = state.get(RECENT)
                state[RECENT] = self._advance(features, x, recent if isinstance(recent, Recent) else Recent(), ts_ms)
        for name in self.spec.drop:
            x.pop(name, None)
        return x, state

    def _aggregate(self, features: Features, x: Features, state: KeyState) -> KeyState:
        for agg in self.spec.aggregates:
            running = state.get(agg.source)
            if not isinstance(running, dict):  # a key without a value of it yet (RECENT is no source)
                running = {}
            if agg.source in features:
                running = state[agg.source] = _update_stats(running, _numeric(agg.source, features[agg.source]))
            if running:
                for stat in agg.stats:
                    x[f"{agg.source}_{stat}_by_key"] = running[stat]
        return state

    def _advance(self, features: Features, x: Features, recent: Recent, ts_ms: int) -> Recent:
        """Add the event to the key's windows and write their features into ``x``.

        An event as old as a window's length behind the key's newest is out of that window: it is
        not added (River's TimeRolling would count it until a newer event comes). A late event
        inside the window is added in time order; the window stays ``(newest - seconds, newest]``.
        """
        values = self._window_values(features)  # every check before the first change
        t = event_time(ts_ms)
        newest = event_time(recent.newest_ms) if recent.newest_ms is not None else None
        if t - _EARLIEST < self._longest:  # River computes t - period
            raise InvalidEventError("invalid_ts", "an event time this close to year 1 has no window before it")
        if self.spec.since_previous and recent.newest_ms is not None:
            x[SINCE_PREVIOUS] = (ts_ms - recent.newest_ms) / 1000  # negative for a late event
        for window, value in zip(self._windows, values, strict=True):
            rolling = recent.windows.get(window.name)
            if rolling is None:
                rolling = recent.windows[window.name] = utils.TimeRolling(WindowValues, period=window.period)
            if newest is None or t > newest - window.period:
                rolling.update(value, t=t)
            held = rolling.obj
            if held.sorted:  # a window without a value of its source has no statistics
                for stat, feature in window.features:
                    x[feature] = held.get(stat)
        recent.newest_ms = ts_ms if recent.newest_ms is None else max(recent.newest_ms, ts_ms)
        return recent

    def _window_values(self, features: Features) -> list[float | None]:
        """Each window's value of this event, as a float (None: the event lacks the source)."""
        return [float(_numeric(w.source, features[w.source])) if w.source in features else None for w in self._windows]
