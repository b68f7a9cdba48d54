"""The windowed per-key features computed the slow, obvious way, to check the engineer's against.

For each event: the key's events so far (the current one included) with an event time in
``(newest - seconds, newest]``, where ``newest`` is the key's newest event time so far, and the
statistics of the window's source over them, each from scratch (``math.fsum``,
``statistics.variance``). No River, no state but the list of events.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from online_models.features import SINCE_PREVIOUS, Features, FeatureSpec, Window

# (key or None, event time in epoch ms, raw features)
Event = tuple[str | None, int, Features]
CLOSE = {"rel_tol": 1e-9, "abs_tol": 1e-9}
EXACT = ("count", "min", "max", SINCE_PREVIOUS)


def expected(spec: FeatureSpec, events: Iterable[Event]) -> Iterator[dict[str, float]]:
    """Per event, in order: its windowed features and ``seconds_since_previous``, as they should be."""
    history: dict[str, list[tuple[int, Mapping[str, Any]]]] = defaultdict(list)
    for key, ts_ms, features in events:
        out: dict[str, float] = {}
        if key is not None:
            seen = history[key]
            if spec.since_previous and seen:
                out[SINCE_PREVIOUS] = (ts_ms - max(t for t, _ in seen)) / 1000
            seen.append((ts_ms, features))
            newest = max(t for t, _ in seen)
            for window in spec.windows:
                out.update(_window(window, seen, newest))
        yield out


def _window(window: Window, seen: list[tuple[int, Mapping[str, Any]]], newest_ms: int) -> dict[str, float]:
    # In microseconds, as River's timedelta arithmetic has it (a period rounds to whole microseconds).
    period_us, newest_us = round(window.seconds * 1_000_000), newest_ms * 1000
    values = [
        float(f[window.source]) for t, f in seen if window.source in f and newest_us - period_us < t * 1000 <= newest_us
    ]
    if not values:
        return {}
    every = {
        "count": len(values),
        "sum": math.fsum(values),
        "mean": math.fsum(values) / len(values),
        "min": min(values),
        "max": max(values),
        "var": statistics.variance(values) if len(values) > 1 else 0.0,
    }
    return {window.feature(stat): every[stat] for stat in window.stats}


def stats_by_name(spec: FeatureSpec) -> dict[str, str]:
    """Every feature name the windows and since_previous can write, with what it is."""
    found = {w.feature(stat): stat for w in spec.windows for stat in w.stats}
    return found | ({SINCE_PREVIOUS: SINCE_PREVIOUS} if spec.since_previous else {})


def mismatch(spec: FeatureSpec, actual: Mapping[str, Any], want: Mapping[str, float]) -> str | None:
    """What differs between an event's windowed features and the expected ones (None: nothing):
    the same names; count, min, max and since_previous exactly, sum, mean and var within 1e-9."""
    kinds = stats_by_name(spec)
    got = {name: value for name, value in actual.items() if name in kinds}
    if got.keys() != want.keys():
        return f"features {sorted(got)} != expected {sorted(want)}"
    for name, value in want.items():
        exact = kinds[name] in EXACT
        if (got[name] != value) if exact else not math.isclose(got[name], value, **CLOSE):
            return f"{name} = {got[name]!r}, expected {value!r}"
    return None


def random_stream(seed: int, n: int, keys: int = 4) -> list[Event]:
    """Events of a few keys with features ``v`` (float, absent from a tenth) and ``w`` (int), mostly
    in time order: some at the same millisecond as the one before, some late (up to 6 s or up to
    2 min back), a few without a key."""
    rng = random.Random(seed)
    now, events = 1_767_225_600_000, []
    for _ in range(n):
        step = rng.random()
        if step < 0.1:
            ts = now - rng.randrange(0, rng.choice((6_000, 120_000)))  # late: inside a window, or past all
        elif step < 0.2:
            ts = now  # the same millisecond as the one before
        else:
            now += rng.randrange(0, 3_000)
            ts = now
        features: Features = {"v": round(rng.uniform(-50, 150), 2), "w": rng.randrange(-5, 20)}
        if rng.random() < 0.1:
            del features["v"]
        key = None if rng.random() < 0.03 else f"k{rng.randrange(keys)}"
        events.append((key, ts, features))
    return events
