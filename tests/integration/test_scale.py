"""Scale out: whatever the partitions and workers, a model name is one model that learned every event.

Judged as a user would: by what ``/predict`` serves for each name, after two workers shared four
partitions, with events produced by librdkafka's partitioner.
"""

from __future__ import annotations

import signal

import orjson
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from online_models.datasets import synthetic_events
from streams.kafka.producer import encode_event
from streams.testing import StreamEnv, wait_for
from tests.integration.faults import model_status, produce_like_librdkafka
from tests.support.api import stream_api_settings

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

MODELS = [
    {"name": "lr", "recipe": "logistic_regression", "task": "binary"},
    {"name": "nb", "recipe": "naive_bayes", "task": "binary"},
    {"name": "ht", "recipe": "hoeffding_tree", "task": "binary"},
    {"name": "hat", "recipe": "hoeffding_adaptive_tree", "task": "binary", "params": {"seed": 42}},
]
X = {"salary": 50_000.0, "commission": 10_000.0, "age": 40, "elevel": 2, "car": 5, "zipcode": 3,
     "hvalue": 200_000.0, "hyears": 10, "loan": 100_000.0}  # fmt: skip


def test_two_workers_over_four_partitions_serve_per_name_a_model_that_learned_every_event(
    stream_env: StreamEnv,
) -> None:
    n = 6000
    stream_env.partitions = 4
    stream_env.write_config(MODELS)
    stream_env.create_topics()
    events = list(synthetic_events("agrawal", n, seed=9))
    produce_like_librdkafka(stream_env.bootstrap, [(stream_env.topic("events.raw"), *encode_event(e)) for e in events])
    workers = [stream_env.start_worker(), stream_env.start_worker()]

    def hosted() -> dict[int, dict[str, int]]:
        return {w.pid: stream_env.health(w)[1].get("engine", {}).get("models", {}) for w in workers}

    def learned() -> dict[str, list[int]]:
        return {m["name"]: [s["labeled"] for s in model_status(stream_env, m["name"]).values()] for m in MODELS}

    wait_for(
        lambda: all(counts == [n] for counts in learned().values()),
        timeout=240,
        what=f"each model learned all {n} events on one partition",
        describe=lambda: f"labeled per model and partition: {learned()}; hosted per worker: {hosted()}",
    )
    names = sorted(m["name"] for m in MODELS)
    wait_for(  # both workers learn, each name on one of them (the group may still be settling)
        lambda: all((placed := hosted()).values()) and sorted(m for ms in placed.values() for m in ms) == names,
        timeout=60,
        what="the models spread over both workers",
        describe=lambda: f"hosted per worker: {hosted()}; health: {[stream_env.health(w) for w in workers]}",
    )
    for worker in workers:
        stream_env.stop_worker(worker, signal.SIGTERM)  # the final snapshots

    settings = stream_api_settings(stream_env, config=None)
    with TestClient(create_app(settings)) as api:
        for model in MODELS:
            answer = wait_for(
                lambda m=model: (
                    (r := api.post("/predict", json={"model": m["name"], "features": X})).status_code == 200
                    and orjson.loads(r.content)
                ),
                timeout=30,
                what=f"{model['name']} served",
            )
            assert (answer["events_seen"], answer["labeled"]) == (n, n), answer
