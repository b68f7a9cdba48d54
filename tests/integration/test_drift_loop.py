"""Delayed labels and drift end to end: real Kafka, real Redis, the worker in its own process."""

from __future__ import annotations

import signal

import orjson
import pytest
import redis

from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from streams.kafka.consumer import read_topic
from streams.kafka.producer import encode_event, encode_label, produce
from streams.testing import StreamEnv, wait_for
from tests.support.http_sink import recording_server
from tests.support.references import DRIFT_RESET_MODELS

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

N, P, DELAY = 4000, 2000, 50  # agrawal_drift switches concept at P; labels come DELAY events late


def test_a_drifting_stream_with_late_labels_raises_an_alert_and_resets_the_model(stream_env: StreamEnv) -> None:
    stream_env.write_config(DRIFT_RESET_MODELS, labels={"ttl_seconds": 3600})
    stream_env.create_topics()
    with recording_server(fail_first=1) as webhook:
        stream_env.start_worker(STREAMWISE_ALERT_WEBHOOK_URL=webhook.url, STREAMWISE_ALERT_WEBHOOK_BACKOFF="0.1")
        # A label whose event never comes, stamped over an hour before the stream: it expires as
        # soon as event time reaches the stream.
        ghost = orjson.dumps({"event_id": "ghost", "label": True, "ts": 1_767_225_600_000 - 3_600_001})
        assert not produce(stream_env.bootstrap, [(stream_env.topic("events.labels"), b"ghost", ghost)]).errors
        stream_env.cli("produce", "--synthetic", "agrawal_drift", "--n", str(N), "--label-delay", str(DELAY))

        tail = stream_env.cli("alerts", "tail", "--json", "--from-beginning", "--max", "1", "--timeout", "180")
        alerts = [orjson.loads(line) for line in tail.stdout.splitlines()]
        wait_for(lambda: webhook.received, timeout=30, what="the alert at the webhook")

    assert len(alerts) == 1, stream_env.worker_logs()[-3000:]
    alert = alerts[0]
    index = int(alert["event_id"].rsplit("-", 1)[1])
    assert (alert["kind"], alert["model"], alert["detector"], alert["action"]) == (
        "concept_drift",
        "ht",
        "fhddm",
        "reset",
    )
    assert P <= index < P + 1000
    assert alert["details"]["error_rate_recent"] > alert["details"]["error_rate_before"]
    assert webhook.received[0]["alert_id"] == alert["alert_id"] and webhook.attempts >= 2  # one retry

    predictions = read_topic(stream_env.bootstrap, stream_env.topic("predictions"), expected=N, timeout=120)
    assert len({orjson.loads(r.value)["event_id"] for r in predictions}) == N

    status_key = f"{stream_env.name}:models:ht:status"
    client = redis.Redis.from_url(stream_env.redis_url)
    status = wait_for(
        lambda: (doc := client.hget(status_key, "0")) and orjson.loads(doc)["labeled"] == N and orjson.loads(doc),
        timeout=60,
        what="every late label learned",
    )
    assert status["generation"] == 2  # the reset

    letters = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), expected=1, timeout=30)
    assert [(orjson.loads(r.value)["reason"], orjson.loads(r.value)["event_id"]) for r in letters] == [
        ("label_unmatched", "ghost")
    ]


def test_predictions_waiting_for_labels_survive_a_worker_restart(stream_env: StreamEnv) -> None:
    stream_env.write_config([{"name": "lr", "recipe": "logistic_regression", "task": "binary"}])
    stream_env.create_topics()
    messages = list(with_delayed_labels(synthetic_events("agrawal", 1000, seed=4), 1000))
    events = [(stream_env.topic("events.raw"), *encode_event(m)) for kind, m in messages if kind == EVENT]
    labels = [(stream_env.topic("events.labels"), *encode_label(m)) for kind, m in messages if kind != EVENT]
    assert (len(events), len(labels)) == (1000, 1000)

    worker = stream_env.start_worker()
    assert not produce(stream_env.bootstrap, events).errors
    read_topic(stream_env.bootstrap, stream_env.topic("predictions"), expected=1000, timeout=120)
    status_key = f"{stream_env.name}:models:lr:status"
    client = redis.Redis.from_url(stream_env.redis_url)
    wait_for(lambda: (doc := client.hget(status_key, "0")) and orjson.loads(doc)["events"] == 1000, timeout=30)
    stream_env.stop_worker(worker, signal.SIGKILL)
    client.delete(status_key)

    stream_env.start_worker()  # recovers the pending-labels table from its changelog
    assert not produce(stream_env.bootstrap, labels).errors
    status = wait_for(
        lambda: (doc := client.hget(status_key, "0")) and orjson.loads(doc)["labeled"] == 1000 and orjson.loads(doc),
        timeout=120,
        what="every label joined after the restart",
    )
    # Every stored prediction was scored (an untrained LR answers 0.5/0.5: no cold start), and the
    # events redelivered after the kill were not held or learned again.
    assert (status["scored"], status["labeled"]) == (1000, 1000)
    assert read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), timeout=5, idle=2) == []
