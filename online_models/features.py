"""Feature engineering: stateless transforms declared in config, and per-key running aggregates.

The per-key state is a plain JSON-able dict, so the streaming driver can keep it in a Faust
table (with its changelog) and the embedded driver in a dict, and both compute the same thing.

>>> spec = FeatureSpec(transforms=[{"name": "amount_log", "op": "log1p", "source": "amount"}],
...                    aggregates=[{"source": "amount", "stats": ["count", "mean"]}])
>>> engineer = FeatureEngineer(spec)
>>> x, state = engineer.transform({"amount": 3.0}, None)  # a key seen for the first time
>>> x, state = engineer.transform({"amount": 5.0}, state)
>>> x["amount_count_by_key"], x["amount_mean_by_key"]
(2, 4.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from online_models.exceptions import InvalidEventError

FeatureValue = float | int | str | bool
Features = dict[str, FeatureValue]
KeyState = dict[str, dict[str, float]]

OPS: dict[str, Callable[[float], float]] = {
    "log1p": math.log1p,
    "sqrt": math.sqrt,
    "abs": abs,
    "square": lambda v: v * v,
}
Stat = Literal["count", "mean", "min", "max", "sum"]


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


class FeatureSpec(BaseModel):
    """The ``features:`` section of the config. Empty means features pass through unchanged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transforms: list[Transform] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)
    aggregates: list[Aggregate] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_outputs(self) -> FeatureSpec:
        names = [t.name for t in self.transforms]
        if len(names) != len(set(names)):
            raise ValueError("transform names must be unique")
        return self

    @property
    def is_identity(self) -> bool:
        return not (self.transforms or self.drop or self.aggregates)


def _numeric(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEventError("non_numeric_feature", f"feature {name!r} must be a number for this transform")
    return value


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


class FeatureEngineer:
    """Applies a FeatureSpec to one event's features."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec

    @property
    def is_stateful(self) -> bool:
        return bool(self.spec.aggregates)

    def transform(
        self, features: Features, state: KeyState | None, *, keyed: bool = True
    ) -> tuple[Features, KeyState | None]:
        """Return the model's feature vector and the key's new aggregate state.

        ``state`` is None for a key not seen before. An event without a key (``keyed=False``)
        gets no aggregates and leaves no state. The input dict is never modified.
        """
        if self.spec.is_identity:
            return features, state
        x = dict(features)
        for t in self.spec.transforms:
            if t.source in features:
                try:
                    x[t.name] = OPS[t.op](_numeric(t.source, features[t.source]))
                except ValueError as exc:
                    raise InvalidEventError("transform_failed", f"{t.op}({t.source}): {exc}") from None
        if keyed and self.is_stateful:
            state = self._aggregate(features, x, dict(state or {}))
        for name in self.spec.drop:
            x.pop(name, None)
        return x, state

    def _aggregate(self, features: Features, x: Features, state: KeyState) -> KeyState:
        for agg in self.spec.aggregates:
            if agg.source in features:
                state[agg.source] = _update_stats(state.get(agg.source, {}), _numeric(agg.source, features[agg.source]))
            stats = state.get(agg.source)
            if stats:
                for stat in agg.stats:
                    x[f"{agg.source}_{stat}_by_key"] = stats[stat]
        return state
