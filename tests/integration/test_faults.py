"""Fault tests on a real broker and redis-server: crashes lose nothing and learn nothing twice.

Each test prints a row of the fault table: events produced, predicted, learned, lost, learned twice.
"Learned" counts labeled events in the final state; the final state of every model must equal a
fault-free run's (a state digest over the whole River model, and every prequential metric).
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.metrics import ApiMetrics
from api.settings import ApiSettings
from online_models.config import parse_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.pipeline import EmbeddedRunner, Pipeline
from streams.consumer import read_topic
from streams.producer import encode_event, encode_label, produce
from tests.integration.conftest import ROOT, SIGNING_KEY, StreamEnv, wait_for
from tests.integration.faults import (
    FaultRow,
    OwnRedis,
    final_learner,
    model_status,
    predicted_ids,
    print_table,
    replay_log,
    same_state,
)

pytestmark = pytest.mark.faults

MODELS = [
    {"name": "lr", "recipe": "logistic_regression", "task": "binary"},
    {"name": "ht", "recipe": "hoeffding_tree", "task": "binary", "drift": {"detector": "ddm", "policy": "reset"}},
]
# Small checkpoint intervals, so that crashes land between checkpoints and replay is exercised.
CHECKPOINTS = {"STREAMWISE_CHECKPOINT_EVERY_EVENTS": "3000", "STREAMWISE_CHECKPOINT_EVERY_SECONDS": "2"}


def labeled(env: StreamEnv, model: str = "lr") -> int:
    return sum(status["labeled"] for status in model_status(env, model).values())


def test_kill_9_five_times_loses_nothing_and_learns_nothing_twice(stream_env: StreamEnv) -> None:
    n = 50_000
    settings = CHECKPOINTS
    stream_env.write_config(MODELS)
    config = parse_config({"models": MODELS})
    events = list(synthetic_events("agrawal_drift", n, seed=11))  # labels inline: learned on arrival
    stream_env.create_topics()
    report = produce(stream_env.bootstrap, [(stream_env.topic("events.raw"), *encode_event(e)) for e in events])
    assert not report.errors

    worker = stream_env.start_worker(**settings)
    kills = sorted(random.Random(7).sample(range(2_000, n - 5_000), 5))
    for at in kills:
        wait_for(lambda at=at: labeled(stream_env) >= at, timeout=180, interval=0.2, what=f"{at} events learned")
        stream_env.stop_worker(worker, signal.SIGKILL)
        worker = stream_env.start_worker(**settings)
    wait_for(lambda: labeled(stream_env) == n, timeout=300, interval=0.5, what="every event learned")
    stream_env.stop_worker(worker, signal.SIGTERM)  # the last checkpoint

    reference = EmbeddedRunner(Pipeline(config))  # the same events, in one process, no faults
    for event in events:
        reference.process(encode_event(event)[1])
    final = final_learner(stream_env, config, partition=0)
    predictions = predicted_ids(stream_env)
    learned = final.models[0].labeled
    print_table(
        [
            FaultRow(
                f"kill -9 x5 at {kills} events",
                n,
                len(predictions),
                learned,
                n - len(predictions),
                learned - len({e["event_id"] for e in events}),
            )
        ]
    )
    assert set(predictions) == {e["event_id"] for e in events}
    assert [m.labeled for m in final.models] == [n, n]
    assert same_state(final, reference.learner), "the final models differ from a run without faults"
    assert "Traceback" not in stream_env.worker_logs()


def test_two_workers_over_four_partitions_one_killed(stream_env: StreamEnv) -> None:
    n, partitions = 20_000, 4
    settings = CHECKPOINTS
    stream_env.partitions = partitions
    stream_env.write_config(MODELS)
    config = parse_config({"models": MODELS})
    messages = list(with_delayed_labels(synthetic_events("agrawal_drift", n, seed=12), 200))
    events = [(stream_env.topic("events.raw"), *encode_event(m)) for kind, m in messages if kind == EVENT]
    labels = [(stream_env.topic("events.labels"), *encode_label(m)) for kind, m in messages if kind != EVENT]
    stream_env.create_topics()
    assert not produce(stream_env.bootstrap, events + labels).errors

    first = stream_env.start_worker(**settings)
    second = stream_env.start_worker(**settings)
    wait_for(lambda: labeled(stream_env) >= n // 3, timeout=180, interval=0.2, what="a third learned")
    stream_env.stop_worker(first, signal.SIGKILL)  # its partitions move to the second worker
    wait_for(lambda: labeled(stream_env) == n, timeout=300, interval=0.5, what="every label learned")
    stream_env.stop_worker(second, signal.SIGTERM)

    reference = replay_log(stream_env, config, partitions)
    finals = {p: final_learner(stream_env, config, p) for p in range(partitions)}
    predictions = predicted_ids(stream_env)
    learned = sum(f.models[0].labeled for f in finals.values())
    fault = "2 workers, 4 partitions, one kill -9"
    print_table([FaultRow(fault, n, len(predictions), learned, n - len(predictions), learned - n)])
    assert len(predictions) == n
    assert learned == n
    for p in range(partitions):
        assert same_state(finals[p], reference[p]), f"partition {p} differs from a fault-free replay of its log"


def run_with_inline_labels(env: StreamEnv, n: int, seed: int) -> tuple[list[dict], EmbeddedRunner]:
    """Produce ``n`` labeled events; return them and a fault-free embedded run over them."""
    env.write_config(MODELS)
    events = list(synthetic_events("agrawal_drift", n, seed=seed))
    env.create_topics()
    assert not produce(env.bootstrap, [(env.topic("events.raw"), *encode_event(e)) for e in events]).errors
    reference = EmbeddedRunner(Pipeline(parse_config({"models": MODELS})))
    for event in events:
        reference.process(encode_event(event)[1])
    return events, reference


def finish(env: StreamEnv, fault: str, events: list[dict], reference: EmbeddedRunner) -> None:
    """Every event predicted, every event learned once: the final state equals the reference's."""
    final = final_learner(env, reference.pipeline.config, partition=0)
    predictions = predicted_ids(env)
    learned = final.models[0].labeled
    n = len(events)
    print_table([FaultRow(fault, n, len(predictions), learned, n - len(predictions), learned - n)])
    assert set(predictions) == {e["event_id"] for e in events}
    assert same_state(final, reference.learner), "the final models differ from a run without faults"


def test_redis_restart_mid_stream_the_worker_and_the_api_recover(stream_env: StreamEnv, tmp_path: Path) -> None:
    own = OwnRedis(tmp_path)
    own.start()
    shared, stream_env.redis_url = stream_env.redis_url, own.url
    try:
        n = 20_000
        events, reference = run_with_inline_labels(stream_env, n, seed=13)
        worker = stream_env.start_worker(**CHECKPOINTS)
        settings = ApiSettings(
            redis_url=own.url, redis_namespace=stream_env.name, snapshot_key=SIGNING_KEY, config=None
        )
        with TestClient(create_app(settings, ApiMetrics())) as api:
            # A snapshot every 10,000 labeled events by default: the API loads version 1.
            wait_for(lambda: api.get("/readyz").status_code == 200, timeout=180, what="the API serving a model")
            own.stop()
            features = events[0]["features"]
            served = api.post("/predict", json={"model": "lr", "features": features})
            ready = api.get("/readyz")
            assert served.status_code == 200, served.text  # the loaded model keeps answering
            assert ready.status_code == 503 and "redis unreachable" in ready.json()["problems"][0]
            time.sleep(3)  # the worker goes on learning; its checkpoints wait for Redis
            own.start()
            wait_for(lambda: labeled(stream_env) == n, timeout=300, interval=0.5, what="every event learned")
            wait_for(lambda: api.get("/readyz").status_code == 200, timeout=30, what="the API ready again")
        stream_env.stop_worker(worker, signal.SIGTERM)
        assert "Traceback" not in stream_env.worker_logs()
        finish(stream_env, "redis-server stopped for 3 s mid-stream", events, reference)
    finally:
        stream_env.redis_url = shared
        own.stop()


def test_broker_restart_mid_stream_loses_nothing(stream_env: StreamEnv) -> None:
    n = 20_000
    events, reference = run_with_inline_labels(stream_env, n, seed=14)
    worker = stream_env.start_worker(**CHECKPOINTS)
    wait_for(lambda: labeled(stream_env) >= 4_000, timeout=180, interval=0.2, what="4000 events learned")
    kafka = [str(ROOT / "infra" / "kafka" / "kafka.sh")]
    subprocess.run([*kafka, "stop"], check=True, timeout=120)
    time.sleep(2)
    subprocess.run([*kafka, "start"], check=True, timeout=180)
    wait_for(lambda: labeled(stream_env) == n, timeout=300, interval=0.5, what="every event learned")
    assert worker.poll() is None, "the worker exited instead of reconnecting"
    stream_env.stop_worker(worker, signal.SIGTERM)
    finish(stream_env, "Kafka broker stopped and restarted mid-stream", events, reference)


def test_a_poison_event_goes_to_the_dlq_with_the_exception_and_the_stream_goes_on(stream_env: StreamEnv) -> None:
    stream_env.write_config([MODELS[0]])  # logistic regression: numbers only
    good = list(synthetic_events("agrawal", 1000, seed=15))
    poison = {"event_id": "poison", "ts": good[500]["ts"], "features": {"salary": "lots"}, "label": True}
    stream = [*good[:500], poison, *good[500:]]
    stream_env.create_topics()
    raw = stream_env.topic("events.raw")
    assert not produce(stream_env.bootstrap, [(raw, *encode_event(e)) for e in stream]).errors
    worker = stream_env.start_worker(**CHECKPOINTS)
    letters = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), expected=1, timeout=120)
    wait_for(lambda: labeled(stream_env) == 1000, timeout=120, interval=0.5, what="the good events learned")
    stream_env.stop_worker(worker, signal.SIGTERM)

    letter = orjson.loads(letters[0].value)
    predictions = predicted_ids(stream_env)
    print_table([FaultRow("poison event (a string for a linear model)", 1001, len(predictions), 1000, 0, 0)])
    assert (letter["reason"], letter["event_id"], letter["model"]) == ("model_error", "poison", "lr")
    assert "TypeError" in letter["detail"] or "str" in letter["detail"], letter["detail"]
    assert set(predictions) == {e["event_id"] for e in good}
