"""The Quix Streams peer of the learning-throughput benchmark (issue 6): the same River model, same metrics.

    .venv-quix/bin/python bench/quix_peer.py --bootstrap 127.0.0.1:9092 --in RAW --out OUT \
        --recipe logistic_regression --n 20000 --group G

Runs in its own venv (bench/requirements-quix.txt; bench/peers.py ensure_quix_venv makes it): quixstreams
pins an older confluent-kafka and pydantic than the project's, so this file cannot import the project and
builds the model from River with River's defaults, as online_models.recipes does. Per event, in order:
predict_proba_one, update Accuracy/F1/ROCAUC/LogLoss (online_models.metrics.for_task("binary")), learn_one,
then produce {event_id, model, proba, prediction} keyed by event_id. Prints one JSON line after n events.
"""

from __future__ import annotations

import argparse
import json
import numbers
import tempfile
import time
from collections.abc import Callable
from typing import Any

from quixstreams import Application
from river import base, compose, forest, linear_model, metrics, preprocessing, tree

# As online_models.recipes builds them (this peer runs in its own environment, without Streamwise).
RECIPES: dict[str, Callable[[], base.Classifier]] = {
    "logistic_regression": lambda: (
        (
            (compose.SelectType(numbers.Number) | preprocessing.StandardScaler())
            + (compose.SelectType(str) | preprocessing.OneHotEncoder(drop_zeros=True))
        )
        | linear_model.LogisticRegression()
    ),
    "hoeffding_tree": tree.HoeffdingTreeClassifier,
    "adaptive_random_forest": forest.ARFClassifier,
}
METRICS = (metrics.Accuracy, metrics.F1, metrics.ROCAUC, metrics.LogLoss)  # as online_models.metrics "binary"


def run(bootstrap: str, in_topic: str, out_topic: str, recipe: str, n: int, group: str) -> dict[str, Any]:
    """Run the Quix Streams application over ``n`` events of ``in_topic``; return its figures and metrics.

    Return the events, the seconds from the first event to the stop, the accuracy and every metric.
    """
    # The model and metrics live in process memory, like the DIY loop's: no Quix state store (a store
    # would add a RocksDB write and a changelog topic per event, and neither peer persists its model).
    model = RECIPES[recipe]()
    scores = {m.__name__: m() for m in METRICS}
    uses_proba = [(m, getattr(m, "requires_labels", True) is False) for m in scores.values()]
    with tempfile.TemporaryDirectory(prefix="quix-state-") as state_dir:
        app = Application(
            broker_address=bootstrap,
            consumer_group=group,
            auto_offset_reset="earliest",
            state_dir=state_dir,  # the default is ./state, created even without stores
            loglevel="WARNING",
        )
        source = app.topic(in_topic, value_deserializer="json")
        sink = app.topic(out_topic, key_serializer="str", value_serializer="json")
        done = 0
        start = 0.0

        def learn(event: dict[str, Any]) -> dict[str, Any]:
            nonlocal done, start
            if done == 0:
                start = time.perf_counter()
            x, y = event["features"], event["label"]
            proba = model.predict_proba_one(x)
            label = max(proba, key=proba.get) if proba else None
            for m, needs_proba in uses_proba:
                m.update(y, proba if needs_proba else label)
            model.learn_one(x, y)
            done += 1
            if done == n:
                app.stop()  # the loop ends after this message: the record below is still produced
            return {"event_id": event["event_id"], "model": recipe, "proba": proba.get(True), "prediction": label}

        sdf = app.dataframe(source).apply(learn)
        # to_topic() reuses the input message's timestamp; stamp the prediction with the time it was made,
        # as librdkafka does for the DIY loop (CreateTime), so both rates are read off the output topic.
        sdf = sdf.set_timestamp(lambda value, key, timestamp, headers: time.time_ns() // 1_000_000)
        sdf.to_topic(sink, key=lambda record: record["event_id"])
        app.run()  # flushes the producer and commits on stop
        seconds = time.perf_counter() - start
    summary = {name: float(m.get()) for name, m in scores.items()}
    return {"events": done, "seconds": seconds, "accuracy": summary["Accuracy"], "metrics": summary}


def main() -> None:
    """Run the peer with the arguments of the command line, and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--in", dest="in_topic", required=True)
    parser.add_argument("--out", dest="out_topic", required=True)
    parser.add_argument("--recipe", required=True, choices=sorted(RECIPES))
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args()
    print(json.dumps(run(args.bootstrap, args.in_topic, args.out_topic, args.recipe, args.n, args.group)))


if __name__ == "__main__":
    main()
