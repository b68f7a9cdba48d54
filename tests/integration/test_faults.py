"""Fault tests on a real broker and redis-server: crashes lose nothing and learn nothing twice.

Each test prints a row of the fault table: events produced, predicted, learned, lost, learned twice.
"Learned" counts labeled events in the final state; the final state of every model must equal a
fault-free run's (a state digest over the whole River model, and every prequential metric). A wait
that times out prints where the stream stood (messages per topic and partition, what each learn
partition learned, which workers run).
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.prometheus import ApiMetrics
from api.settings import ApiSettings
from online_models.config import StreamwiseConfig, parse_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.learner import Learner
from online_models.pipeline import EmbeddedRunner, Pipeline
from streams.kafka.consumer import read_topic
from streams.kafka.producer import encode_event, encode_label, produce
from streams.testing import ROOT, SIGNING_KEY, StreamEnv, wait_for
from tests.integration.faults import (
    FaultRow,
    counts,
    final_learner,
    learned,
    own_redis,
    predicted_ids,
    print_table,
    produce_like_librdkafka,
    replay_log,
    same_state,
)

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.redis]

MODELS = [
    {"name": "lr", "recipe": "logistic_regression", "task": "binary"},
    {"name": "ht", "recipe": "hoeffding_tree", "task": "binary", "drift": {"detector": "ddm", "policy": "reset"}},
]
# Small checkpoint intervals, so that crashes land between checkpoints and replay is exercised.
CHECKPOINTS = {"STREAMWISE_CHECKPOINT_EVERY_EVENTS": "3000", "STREAMWISE_CHECKPOINT_EVERY_SECONDS": "2"}
KAFKA = [str(ROOT / "infra" / "kafka" / "kafka.sh")]
STOPPED_WITHIN = 30.0  # seconds from SIGTERM to exit, whatever is unreachable


def until_learned(env: StreamEnv, at_least: int, timeout: float = 300, model: str = "lr") -> None:
    wait_for(
        lambda: learned(env, model) >= at_least,
        timeout=timeout,
        interval=0.2,
        what=f"{at_least} events learned by {model}",
        describe=lambda: counts(env, model),
    )


def test_kill_9_five_times_loses_nothing_and_learns_nothing_twice(stream_env: StreamEnv) -> None:
    n = 50_000
    events, reference = run_with_inline_labels(stream_env, n, seed=11)
    worker = stream_env.start_worker(**CHECKPOINTS)
    kills = sorted(random.Random(7).sample(range(2_000, n - 5_000), 5))
    for at in kills:
        until_learned(stream_env, at)
        stream_env.stop_worker(worker, signal.SIGKILL)
        worker = stream_env.start_worker(**CHECKPOINTS)
    until_learned(stream_env, n)
    stream_env.stop_worker(worker, signal.SIGTERM)  # the last checkpoint
    finish(stream_env, f"kill -9 x5 at {kills} events", events, reference)
    assert "Traceback" not in stream_env.worker_logs()


def test_two_workers_over_four_partitions_one_killed_labels_by_event_id(stream_env: StreamEnv) -> None:
    """Events keyed by their entity with librdkafka's partitioner, labels carrying only their event_id
    and no key: each label finds its event through the learn log, across a kill -9 and a rebalance."""
    n, partitions = 20_000, 4
    stream_env.partitions = partitions
    stream_env.write_config(MODELS)
    config = parse_config({"models": MODELS})
    messages = list(with_delayed_labels(synthetic_events("agrawal_drift", n, seed=12), 200))
    stream_env.create_topics()
    produce_events_and_labels(stream_env, messages, keyed_labels=False)

    first = stream_env.start_worker(**CHECKPOINTS)
    second = stream_env.start_worker(**CHECKPOINTS)
    until_learned(stream_env, n // 3)
    stream_env.stop_worker(first, signal.SIGKILL)  # its partitions move to the second worker
    until_learned(stream_env, n)
    stream_env.stop_worker(second, signal.SIGTERM)

    fault = "2 workers, 4 partitions, one kill -9; labels by event_id only, events by librdkafka's partitioner"
    finals, reference, predictions, total = outcome(stream_env, config, partitions, fault, n)
    assert len(predictions) == n
    assert total == n
    for p, final in finals.items():
        assert same_state(final, reference[p]), f"partition {p} differs from a fault-free replay of its log"
    assert read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), timeout=5, idle=2) == []


def test_after_an_outage_a_backlog_of_events_and_their_labels_joins_every_label(stream_env: StreamEnv) -> None:
    """While no worker runs, 20,000 events (200 s of event time) and their labels, each 100 events
    late, pile up in their topics. Read one topic after the other, the labels would come 20,000
    events late: past their predictions' time to live (60 s) and past the 3,000 that may wait."""
    n, partitions = 20_000, 2
    stream_env.partitions = partitions
    labels = {"ttl_seconds": 60, "max_pending": 3000}
    stream_env.write_config(MODELS, labels=labels)
    config = parse_config({"models": MODELS, "labels": labels})
    messages = list(with_delayed_labels(synthetic_events("agrawal_drift", n, seed=17), 100))
    stream_env.create_topics()
    produce_events_and_labels(stream_env, messages, keyed_labels=True)
    worker = stream_env.start_worker(**CHECKPOINTS)
    until_learned(stream_env, n)
    stream_env.stop_worker(worker, signal.SIGTERM)

    letters = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), timeout=5, idle=2)
    row = f"backlog after an outage: {n} events and their labels (ttl 60 s, max 3000 waiting)"
    finals, reference, predictions, total = outcome(stream_env, config, partitions, row, n)
    assert [orjson.loads(r.value)["reason"] for r in letters] == []  # no label expired or unmatched
    assert (total, len(predictions)) == (n, n)
    assert all(same_state(final, reference[p]) for p, final in finals.items())


def produce_events_and_labels(env: StreamEnv, messages: list[tuple[str, dict]], keyed_labels: bool) -> None:
    """Events keyed by their entity and labels keyed by their event_id (or with no key at all), in
    the given order, partitioned as librdkafka's default partitioner does."""
    produce_like_librdkafka(
        env.bootstrap,
        [
            (env.topic("events.raw"), *encode_event(m))
            if kind == EVENT
            else (env.topic("events.labels"), *(encode_label(m) if keyed_labels else (None, orjson.dumps(m))))
            for kind, m in messages
        ],
    )


def outcome(
    env: StreamEnv, config: StreamwiseConfig, partitions: int, fault: str, n: int
) -> tuple[dict[int, Learner], dict[int, Learner], Counter[str], int]:
    """Each hosting partition's final learner and a fault-free replay of its log, the predicted event
    ids and the events the first model learned (each model learns them all, on its own partition);
    the fault's row printed into the table."""
    reference = replay_log(env, config, partitions)
    finals = {p: final_learner(env, config, p) for p in reference}
    predictions = predicted_ids(env)
    models = {m.name: m for final in finals.values() for m in final.models}
    assert sorted(models) == sorted(m.name for m in config.models), "every model on one partition"
    total = models[config.models[0].name].labeled
    print_table([FaultRow(fault, n, len(predictions), total, n - len(predictions), total - n)])
    return finals, reference, predictions, total


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


def learning(env: StreamEnv, n: int, seed: int) -> tuple[list[dict], EmbeddedRunner, subprocess.Popen]:
    """``n`` labeled events produced and their fault-free run, and a worker that learned 4,000 of them."""
    events, reference = run_with_inline_labels(env, n, seed)
    worker = env.start_worker(**CHECKPOINTS)
    until_learned(env, 4_000)
    return events, reference, worker


def finish(env: StreamEnv, fault: str, events: list[dict], reference: EmbeddedRunner) -> None:
    """Every event predicted, every event learned once: the final state equals the reference's."""
    final = final_learner(env, reference.pipeline.config, partition=0)
    predictions = predicted_ids(env)
    n = len(events)
    total = final.models[0].labeled
    print_table([FaultRow(fault, n, len(predictions), total, n - len(predictions), total - n)])
    assert set(predictions) == {e["event_id"] for e in events}
    assert [m.labeled for m in final.models] == [n] * len(final.models)
    assert same_state(final, reference.learner), "the final models differ from a run without faults"


def degraded(env: StreamEnv, worker: subprocess.Popen, component: str) -> bool:
    status, report = env.health(worker)
    return status == 503 and not report["components"].get(component, {"ok": True})["ok"]


def test_redis_restart_mid_stream_the_worker_and_the_api_recover(stream_env: StreamEnv, tmp_path: Path) -> None:
    with own_redis(stream_env, tmp_path) as own:
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
            # The worker goes on learning; its health page shows Redis failing (its checkpoints wait).
            wait_for(lambda: degraded(stream_env, worker, "redis"), timeout=60, what="redis failing on /health")
            own.start()
            until_learned(stream_env, n)
            wait_for(lambda: api.get("/readyz").status_code == 200, timeout=30, what="the API ready again")
            wait_for(lambda: stream_env.health(worker)[0] == 200, timeout=60, what="the worker healthy again")
        stream_env.stop_worker(worker, signal.SIGTERM)
        assert "Traceback" not in stream_env.worker_logs()
        finish(stream_env, "redis-server stopped mid-stream, then started again", events, reference)


def test_broker_restart_mid_stream_loses_nothing(stream_env: StreamEnv) -> None:
    n = 20_000
    events, reference, worker = learning(stream_env, n, seed=14)
    subprocess.run([*KAFKA, "stop"], check=True, timeout=120)
    wait_for(lambda: degraded(stream_env, worker, "kafka"), timeout=60, what="kafka failing on /health")
    subprocess.run([*KAFKA, "start"], check=True, timeout=180)
    until_learned(stream_env, n)
    assert worker.poll() is None, "the worker exited instead of reconnecting"
    stream_env.stop_worker(worker, signal.SIGTERM)
    finish(stream_env, "Kafka broker stopped and restarted mid-stream", events, reference)


def stopped_in(env: StreamEnv, worker: subprocess.Popen) -> float:
    """Seconds from SIGTERM to the worker's exit (at most STOPPED_WITHIN, else the test fails)."""
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=STOPPED_WITHIN + 5)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise AssertionError(
            f"the worker did not stop within {STOPPED_WITHIN + 5} s of SIGTERM\n{counts(env)}"
        ) from None
    return time.monotonic() - started


def test_sigterm_with_the_broker_away_stops_the_worker_in_time_and_loses_nothing(stream_env: StreamEnv) -> None:
    n = 20_000
    events, reference, worker = learning(stream_env, n, seed=16)
    subprocess.run([*KAFKA, "stop"], check=True, timeout=120)
    try:
        seconds = stopped_in(stream_env, worker)
    finally:
        subprocess.run([*KAFKA, "start"], check=True, timeout=180)
    worker = stream_env.start_worker(**CHECKPOINTS)  # takes up from the last checkpoint
    until_learned(stream_env, n)
    stream_env.stop_worker(worker, signal.SIGTERM)
    finish(
        stream_env, f"SIGTERM with the broker stopped: exit after {seconds:.1f} s, then a new worker", events, reference
    )
    assert seconds <= STOPPED_WITHIN


def test_sigterm_with_redis_away_stops_the_worker_in_time_and_loses_nothing(
    stream_env: StreamEnv, tmp_path: Path
) -> None:
    with own_redis(stream_env, tmp_path) as own:
        n = 20_000
        events, reference, worker = learning(stream_env, n, seed=18)
        own.stop()
        try:
            seconds = stopped_in(stream_env, worker)
        finally:
            own.start()
        worker = stream_env.start_worker(**CHECKPOINTS)
        until_learned(stream_env, n)
        stream_env.stop_worker(worker, signal.SIGTERM)
        finish(
            stream_env, f"SIGTERM with Redis stopped: exit after {seconds:.1f} s, then a new worker", events, reference
        )
        assert seconds <= STOPPED_WITHIN


def test_a_poison_event_goes_to_the_dlq_with_the_exception_and_the_stream_goes_on(stream_env: StreamEnv) -> None:
    stream_env.write_config([MODELS[1]])  # a tree: salary, a number, splits as a number
    good = list(synthetic_events("agrawal", 1000, seed=15))
    poison = {"event_id": "poison", "ts": good[500]["ts"], "features": {"salary": "lots"}, "label": True}
    stream = [*good[:500], poison, *good[500:]]
    stream_env.create_topics()
    raw = stream_env.topic("events.raw")
    assert not produce(stream_env.bootstrap, [(raw, *encode_event(e)) for e in stream]).errors
    worker = stream_env.start_worker(**CHECKPOINTS)
    letters = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), expected=1, timeout=120)
    until_learned(stream_env, 1000, timeout=120, model="ht")
    stream_env.stop_worker(worker, signal.SIGTERM)

    letter = orjson.loads(letters[0].value)
    predictions = predicted_ids(stream_env)
    print_table([FaultRow("poison event (text for a tree's numeric feature)", 1001, len(predictions), 1000, 0, 0)])
    assert (letter["reason"], letter["event_id"], letter["model"]) == ("model_error", "poison", "ht")
    assert "TypeError" in letter["detail"] or "str" in letter["detail"], letter["detail"]
    assert set(predictions) == {e["event_id"] for e in good}
