"""Seeded event streams for demos, tests and benchmarks, built from River's generators.

Every generator yields raw event dicts in the wire format, so the same events can be written to a
JSONL file, produced to Kafka or fed to the embedded runner; ``read_jsonl`` reads such a file back.

>>> events = list(synthetic_events("agrawal", n=2, seed=7))
>>> events[0]["event_id"], sorted(events[0])
('agrawal-7-00000000', ['event_id', 'features', 'key', 'label', 'ts'])
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from river import datasets
from river.datasets import synth

from online_models.exceptions import ConfigError

EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: synthetic events are 10 ms apart from here
KEYS = 97
Sample = tuple[dict[str, Any], Any]  # features and label


def _agrawal_drift(n: int, seed: int) -> Iterable[Sample]:
    # The concept switches from Agrawal function 0 to 4 half-way through; River's sigmoid
    # overflows when width < position / 177, so the width scales with the position.
    position = max(n // 2, 1)
    return synth.ConceptDriftStream(
        stream=synth.Agrawal(classification_function=0, seed=seed),
        drift_stream=synth.Agrawal(classification_function=4, seed=seed),
        position=position,
        width=max(100, position // 50),
        seed=seed,
    )


def _agrawal_share(seed: int, positives: float) -> Iterator[Sample]:
    """Yield Agrawal function 0 (the demo stream's first concept), stationary, with a ``positives`` share of label 1.

    Its own share is 67 %: each sample's label is drawn first, then the next sample of that label is
    taken (rejection sampling), so drift policies can be tried on imbalanced streams.
    """
    rng = random.Random(seed)
    stream = iter(synth.Agrawal(classification_function=0, seed=seed))
    while True:
        wanted = int(rng.random() < positives)
        yield next((x, y) for x, y in stream if y == wanted)


def _named(stream: Iterable[Sample]) -> Iterable[Sample]:
    # Features numbered 0, 1, ... (Friedman's, LED's); JSON object keys are strings: x0, x1, ...
    return (({f"x{k}": v for k, v in x.items()}, y) for x, y in stream)


COUNTRIES = ("FR", "DE", "US", "GB", "ES")
DEVICES = ("web", "ios", "android")


def _shop(seed: int, value: bool) -> Iterator[Sample]:
    """Yield shop orders with mixed feature types, as the example event of docs/topics.md.

    Each has a number, two strings and a bool. The label (fraud) or the value (a risk score) depends
    on each of them.
    """
    rng = random.Random(seed)
    while True:
        x: dict[str, Any] = {
            "amount": round(rng.lognormvariate(3.5, 1.0), 2),
            "country": rng.choice(COUNTRIES),
            "device": rng.choice(DEVICES),
            "new_customer": rng.random() < 0.25,
        }
        risk = x["amount"] / 200 + 0.8 * (x["country"] in ("US", "GB")) + 1.2 * x["new_customer"]
        risk += 0.5 * (x["device"] == "web") + rng.gauss(0, 0.7)
        yield x, (round(risk, 4) if value else risk > 1.5)


def _shop_anomalies(seed: int, share: float = 0.01) -> Iterator[Sample]:
    """Yield shop orders (``_shop``) with a ``share`` of injected anomalies.

    An injected anomaly has an amount 20 to 60 times the usual, from a new customer. The label says
    whether the order was injected (for scoring only: an anomaly model learns without labels).
    """
    rng = random.Random(seed + 1)
    for x, _ in _shop(seed, value=False):
        injected = rng.random() < share
        if injected:
            x = {**x, "amount": round(x["amount"] * rng.uniform(20, 60), 2), "new_customer": True}
        yield x, injected


GENERATORS: dict[str, Callable[[int, int], Iterable[Sample]]] = {
    "agrawal_drift": _agrawal_drift,
    "agrawal": lambda n, seed: synth.Agrawal(classification_function=0, seed=seed),
    "agrawal_1pct": lambda n, seed: _agrawal_share(seed, 0.01),  # no change; 1 % positives
    "agrawal_5pct": lambda n, seed: _agrawal_share(seed, 0.05),
    "agrawal_50pct": lambda n, seed: _agrawal_share(seed, 0.5),
    "friedman": lambda n, seed: _named(synth.Friedman(seed=seed)),
    "phishing": lambda n, seed: datasets.Phishing(),
    "led": lambda n, seed: _named(synth.LED(seed=seed, noise_percentage=0.1)),  # 10 classes
    "shop": lambda n, seed: _shop(seed, value=False),
    "shop_value": lambda n, seed: _shop(seed, value=True),
    "shop_anomalies": lambda n, seed: _shop_anomalies(seed),
}


def samples(name: str, n: int, seed: int = 42) -> Iterator[Sample]:
    """Yield the first ``n`` (x, y) pairs of generator ``name`` (a bundled data set ends earlier)."""
    try:
        generator = GENERATORS[name]
    except KeyError:
        raise ConfigError("synthetic", f"unknown data set {name!r}; known: {', '.join(GENERATORS)}") from None
    for i, (x, y) in enumerate(generator(n, seed)):
        if i >= n:
            return
        yield x, y


def synthetic_events(name: str, n: int, seed: int = 42) -> Iterator[dict[str, Any]]:
    """Yield raw events (wire format) for the first ``n`` samples of ``name``."""
    for i, (x, y) in enumerate(samples(name, n, seed)):
        yield {
            "event_id": f"{name}-{seed}-{i:08d}",
            "ts": EPOCH_MS + 10 * i,
            "key": f"k{i % KEYS}",
            "features": x,
            "label": y,
        }


EVENT, LABEL = "event", "label"


def with_delayed_labels(events: Iterable[dict[str, Any]], delay: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield events without their label, each label sent ``delay`` events later on the labels stream.

    The order is that of ``river.stream.simulate_qa(moment=None, delay=delay)``: the label of
    event ``i - delay`` comes just before event ``i``; the last labels come after the last event.
    A label's ``ts`` is the time of the event it precedes (the moment it became known).

    >>> [(kind, m["event_id"][-1]) for kind, m in with_delayed_labels(synthetic_events("agrawal", 3), 1)]
    [('event', '0'), ('label', '0'), ('event', '1'), ('label', '1'), ('event', '2'), ('label', '2')]
    """
    waiting: deque[dict[str, Any]] = deque()
    last_ts = EPOCH_MS
    for i, event in enumerate(events):
        while waiting and waiting[0]["i"] + delay <= i:
            yield LABEL, _label_of(waiting.popleft(), event["ts"])
        waiting.append({**event, "i": i})
        last_ts = event["ts"]
        yield EVENT, {k: v for k, v in event.items() if k != "label"}
    while waiting:
        yield LABEL, _label_of(waiting.popleft(), last_ts)


def _label_of(event: dict[str, Any], ts: int) -> dict[str, Any]:
    return {"event_id": event["event_id"], "label": event["label"], "ts": ts}


def json_object(line: bytes) -> dict[str, Any] | None:
    """Return a JSONL line as the object it holds, or None when it holds none (not JSON, a list...).

    >>> json_object(b'{"event_id": "e1"}'), json_object(b"[1]"), json_object(b"{oops")
    ({'event_id': 'e1'}, None, None)
    """
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def read_jsonl(path: Path) -> Iterator[bytes]:
    """Yield the raw event bytes, one per non-blank line of a JSONL file.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "events.jsonl"
    ...     with path.open("w") as out:
    ...         for line in ['{"event_id": "e1"}', "", "  ", '{"event_id": "e2"}']:
    ...             print(line, file=out)
    ...     list(read_jsonl(path))   # blank lines are skipped
    [b'{"event_id": "e1"}', b'{"event_id": "e2"}']
    """
    with path.open("rb") as lines:
        for line in lines:
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line
