"""What delayed labels and drift detection cost, as a ratio to the core loop (no Kafka, one process).

    python bench/overhead.py [--n 50000]

The core loop is the embedded pipeline (decode, validate, features, predict, score, learn) over
events with their label inline, logistic_regression. The variants: labels ``delay`` events late
on their own messages (the pending join holds each prediction until its label), drift detectors
on (DDM on the model's errors, ADWIN data drift on every numeric feature), and both. A ratio of
1.25 means the variant takes 25% longer per event than the core loop.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import orjson

from online_models.config import parse_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.pipeline import EmbeddedRunner, Pipeline

MODEL = {"name": "m", "recipe": "logistic_regression", "task": "binary"}
DRIFT = {"models": [{**MODEL, "drift": {"detector": "ddm", "policy": "alert"}}], "data_drift": {"detector": "adwin"}}


def messages(n: int, delay: int | None) -> list[tuple[bool, bytes]]:
    """Return the messages of ``n`` events as (is_event, bytes) in stream order.

    Labels are inline when ``delay`` is None, else on their own messages, ``delay`` events late.
    """
    events = synthetic_events("agrawal_drift", n, seed=1)
    if delay is None:
        return [(True, orjson.dumps(e)) for e in events]
    return [(kind == EVENT, orjson.dumps(m)) for kind, m in with_delayed_labels(events, delay)]


def seconds(config: dict[str, Any], stream: list[tuple[bool, bytes]]) -> float:
    """Return the wall time (s) of a new embedded runner of ``config`` over ``stream``, its predictions encoded."""
    runner = EmbeddedRunner(Pipeline(parse_config(config)))
    start = time.perf_counter()
    for is_event, data in stream:
        result = runner.process(data) if is_event else runner.process_label(data)
        for prediction in result.predictions:
            prediction.to_json()
    return time.perf_counter() - start


def run(n: int = 50_000, delay: int = 500) -> dict[str, Any]:
    """Measure the core loop and its variants over ``n`` events; return events/s and ratios to the core loop.

    Each variant's figure is the best of 3 runs (the least disturbed); labels are ``delay`` events
    late in the variants with delayed labels. A ratio is a variant's seconds per event over the core loop's.
    """
    inline, delayed = messages(n, None), messages(n, delay)
    core = {"models": [MODEL]}
    variants = {"core": (core, inline), "labels": (core, delayed), "drift": (DRIFT, inline), "both": (DRIFT, delayed)}
    best = {name: min(seconds(c, s) for _ in range(3)) for name, (c, s) in variants.items()}  # least disturbed
    return {
        "events": n,
        "label_delay_events": delay,
        "events_per_s": {name: round(n / s, 1) for name, s in best.items()},
        "ratios": {name: round(s / best["core"], 3) for name, s in best.items() if name != "core"},
    }


def main() -> None:
    """Print the figures of ``run`` as JSON, for the ``--n`` of the command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    print(json.dumps(run(parser.parse_args().n), indent=2))


if __name__ == "__main__":
    main()
