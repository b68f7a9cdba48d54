"""Detection delay and false alarms of every concept-drift detector on the demo stream.

    python bench/drift_detectors.py [--n 20000] [--recipe hoeffding_tree] [--label-delay 100]

The demo stream (``make run``) is agrawal_drift: Agrawal function 0, then function 4 from event
n/2 on. Each detector watches the model's prequential 0/1 errors with the ``alert`` policy and
no cool-down, so every alarm counts. Delay = events from the switch to the first concept_drift at
or after it; false alarms = concept_drift alerts before the switch.
"""

from __future__ import annotations

import argparse

import orjson

from online_models.config import parse_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.drift import BINARY_DETECTORS
from online_models.pipeline import EmbeddedRunner, Pipeline


def drift_indices(detector: str, recipe: str, n: int, label_delay: int) -> list[int]:
    model = {"name": "m", "recipe": recipe, "task": "binary", "drift": {"detector": detector}}
    runner = EmbeddedRunner(Pipeline(parse_config({"models": [model], "alerts": {"cooldown_events": 0}})))
    index = {e["event_id"]: i for i, e in enumerate(synthetic_events("agrawal_drift", n, 42))}
    found = []
    for kind, message in with_delayed_labels(synthetic_events("agrawal_drift", n, 42), label_delay):
        data = orjson.dumps(message)
        result = runner.process(data) if kind == EVENT else runner.process_label(data)
        found += [index[a.event_id] for a in result.alerts if a.kind == "concept_drift"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--recipe", default="hoeffding_tree")
    parser.add_argument("--label-delay", type=int, default=100)
    args = parser.parse_args()
    switch = args.n // 2
    print(f"agrawal_drift n={args.n}, switch at {switch}, {args.recipe}, labels {args.label_delay} events late")
    print(f"{'detector':<10}{'first drift':>12}{'delay':>8}{'false alarms':>14}{'alarms after':>14}")
    for detector in BINARY_DETECTORS:
        found = drift_indices(detector, args.recipe, args.n, args.label_delay)
        after = [i for i in found if i >= switch]
        first = after[0] if after else None
        delay = first - switch if first is not None else None
        print(f"{detector:<10}{first!s:>12}{delay!s:>8}{len(found) - len(after):>14}{len(after):>14}")


if __name__ == "__main__":
    main()
