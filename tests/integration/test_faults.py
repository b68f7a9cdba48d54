"""Fault tests on a real broker and redis-server: crashes lose nothing and learn nothing twice.

Each test prints a row of the fault table: events produced, predicted, learned, lost, learned twice.
"Learned" counts labeled events in the final state; the final state of every model must equal a
fault-free run's (a state digest over the whole River model, and every prequential metric).
"""

from __future__ import annotations

import random
import signal

import pytest

from online_models.config import parse_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.pipeline import EmbeddedRunner, Pipeline
from streams.producer import encode_event, encode_label, produce
from tests.integration.conftest import StreamEnv, wait_for
from tests.integration.faults import (
    FaultRow,
    final_learner,
    model_status,
    predicted_ids,
    print_table,
    replay_log,
    same_state,
)

MODELS = [
    {"name": "lr", "recipe": "logistic_regression", "task": "binary"},
    {"name": "ht", "recipe": "hoeffding_tree", "task": "binary", "drift": {"detector": "ddm", "policy": "reset"}},
]
# Small checkpoint intervals, so that crashes land between checkpoints and replay is exercised.
CHECKPOINTS = {"STREAMWISE_CHECKPOINT_EVERY_EVENTS": "3000", "STREAMWISE_CHECKPOINT_EVERY_SECONDS": "2"}


def labeled(env: StreamEnv, model: str = "lr") -> int:
    return sum(status["labeled"] for status in model_status(env, model).values())


def test_kill_9_five_times_mid_stream_loses_nothing_and_learns_nothing_twice(stream_env: StreamEnv) -> None:
    n = 50_000
    stream_env.write_config(MODELS)
    config = parse_config({"models": MODELS})
    events = list(synthetic_events("agrawal_drift", n, seed=11))  # labels inline: learned on arrival
    stream_env.create_topics()
    report = produce(stream_env.bootstrap, [(stream_env.topic("events.raw"), *encode_event(e)) for e in events])
    assert not report.errors

    worker = stream_env.start_worker(**CHECKPOINTS)
    kills = sorted(random.Random(7).sample(range(2_000, n - 5_000), 5))
    for at in kills:
        wait_for(lambda at=at: labeled(stream_env) >= at, timeout=180, interval=0.2, what=f"{at} events learned")
        stream_env.stop_worker(worker, signal.SIGKILL)
        worker = stream_env.start_worker(**CHECKPOINTS)
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


@pytest.mark.parametrize("partitions", [4])
def test_two_workers_over_four_partitions_one_killed(stream_env: StreamEnv, partitions: int) -> None:
    n = 20_000
    stream_env.partitions = partitions
    stream_env.write_config(MODELS)
    config = parse_config({"models": MODELS})
    messages = list(with_delayed_labels(synthetic_events("agrawal_drift", n, seed=12), 200))
    events = [(stream_env.topic("events.raw"), *encode_event(m)) for kind, m in messages if kind == EVENT]
    labels = [(stream_env.topic("events.labels"), *encode_label(m)) for kind, m in messages if kind != EVENT]
    stream_env.create_topics()
    assert not produce(stream_env.bootstrap, events + labels).errors

    first = stream_env.start_worker(**CHECKPOINTS)
    second = stream_env.start_worker(**CHECKPOINTS)
    wait_for(lambda: labeled(stream_env) >= n // 3, timeout=180, interval=0.2, what="a third learned")
    stream_env.stop_worker(first, signal.SIGKILL)  # its partitions move to the second worker
    wait_for(lambda: labeled(stream_env) == n, timeout=300, interval=0.5, what="every label learned")
    stream_env.stop_worker(second, signal.SIGTERM)

    reference = replay_log(stream_env, config, partitions)
    finals = {p: final_learner(stream_env, config, p) for p in range(partitions)}
    predictions = predicted_ids(stream_env)
    learned = sum(f.models[0].labeled for f in finals.values())
    print_table(
        [
            FaultRow(
                "2 workers, 4 partitions, one kill -9", n, len(predictions), learned, n - len(predictions), learned - n
            )
        ]
    )
    assert len(predictions) == n
    assert learned == n
    for p in range(partitions):
        assert same_state(finals[p], reference[p]), f"partition {p} differs from a fault-free replay of its log"
