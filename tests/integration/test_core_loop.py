"""The core loop end to end on a real Kafka broker and redis-server: worker in its own process."""

from __future__ import annotations

import math
import signal
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest
import redis

from online_models import metrics as task_metrics
from online_models.config import ModelSpec
from online_models.datasets import synthetic_events
from online_models.events import decode_label
from streams.kafka.consumer import Record, read_topic
from streams.testing import StreamEnv, wait_for
from tests.support import river_pipelines
from tests.support.references import CLASSIFIERS, REGRESSORS, anomaly_reference, river_reference, spec_for

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


def write_jsonl(path: Path, events: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def predictions_by_model(records: list[Record]) -> dict[str, dict[str, dict]]:
    by_model: dict[str, dict[str, dict]] = defaultdict(dict)
    for record in records:
        prediction = orjson.loads(record.value)
        by_model[prediction["model"]][prediction["event_id"]] = prediction
    return by_model


def recompute(task: str, events: list[dict], predictions: dict[str, dict]) -> dict[str, float]:
    """Prequential metrics from the published predictions alone, skipping cold starts as River does."""
    result = task_metrics.for_task(task)
    for event in events:
        p = predictions[event["event_id"]]
        proba = {decode_label(k): v for k, v in (p["proba"] or {}).items()}
        for metric in result.values():
            y_pred = proba if task_metrics.needs_proba(metric) else p["prediction"]
            if y_pred is not None and y_pred != {}:
                metric.update(event["label"], y_pred)
    return {name: float(m.get()) for name, m in result.items()}


def assert_close(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        assert math.isclose(actual[name], value, rel_tol=0, abs_tol=1e-12), (name, actual[name], value)


SHOP_PIPELINES = [case.spec() for case in river_pipelines.CASES if case.dataset == "shop"]


@pytest.mark.parametrize(
    ("dataset", "task", "specs", "n"),
    [
        ("agrawal_drift", "binary", [spec_for(r, "binary") for r in CLASSIFIERS], 2000),
        ("friedman", "regression", [spec_for(r, "regression") for r in REGRESSORS], 2000),
        # numbers, strings and bools in each event
        ("shop", "binary", [spec_for(r, "binary") for r in CLASSIFIERS], 2000),
        ("shop", "binary", SHOP_PIPELINES, 2000),  # YAML pipelines
    ],
    ids=["agrawal_drift", "friedman", "shop", "shop-pipelines"],
)
def test_prequential_metrics_through_kafka_equal_river(
    stream_env: StreamEnv, dataset: str, task: str, specs: list[ModelSpec], n: int
) -> None:
    stream_env.write_config([s.model_dump() for s in specs])
    events = list(synthetic_events(dataset, n, seed=7))
    stream_env.cli("topics", "create")
    stream_env.cli("produce", "--file", str(write_jsonl(stream_env.tmp / "events.jsonl", events)))
    stream_env.start_worker()

    records = read_topic(stream_env.bootstrap, stream_env.topic("predictions"), expected=n * len(specs), timeout=180)
    by_model = predictions_by_model(records)
    assert len(records) == n * len(specs), stream_env.worker_logs()[-3000:]

    status_key = f"{stream_env.name}:models:{{}}:status"
    client = redis.Redis.from_url(stream_env.redis_url)
    for spec in specs:
        expected = river_reference(spec, dataset, n, seed=7)
        assert_close(recompute(task, events, by_model[spec.name]), expected)
        status = wait_for(
            lambda s=spec: (
                (doc := client.hget(status_key.format(s.name), "0"))
                and orjson.loads(doc)["labeled"] == n
                and orjson.loads(doc)
            ),
            timeout=10,
            what=f"Redis status of {spec.name}",
        )
        assert_close(status["metrics"], expected)


def good_events(start: int, stop: int) -> list[bytes]:
    return [orjson.dumps(e) for e in synthetic_events("agrawal", stop, seed=3)][start:stop]


BAD_MESSAGES: list[tuple[bytes, str]] = [
    (b'{"event_id": "b1", "features": ', "invalid_json"),
    (b"\xff\xfe\x00\x81 not text", "not_utf8"),
    (b'{"features": {"a": 1}}', "missing_event_id"),
    (b'{"event_id": "b4", "features": {}}', "empty_features"),
    (b'{"event_id": "b5", "features": {"a": NaN}}', "non_finite"),
    (b'{"event_id": "b6", "features": {"a": -Infinity}}', "non_finite"),
    (b'{"event_id": "b7", "features": {"a": 1e999}}', "non_finite"),
    (b'{"event_id": "b8", "features": {"a": [1, 2]}}', "invalid_type"),
    (b'{"event_id": 9, "features": {"a": 1}}', "invalid_type"),
    (b'{"event_id": "b10", "ts": "yesterday", "features": {"a": 1}}', "invalid_ts"),
    (b"[1, 2, 3]", "not_an_object"),
    (orjson.dumps({"event_id": "b12", "features": {"a": 1}, "pad": "x" * 200_000}), "too_large"),
    # Valid JSON that the model cannot take: text where the tree split on a number.
    (b'{"event_id": "b13", "features": {"salary": "lots"}, "label": 1}', "model_error"),
]


def test_an_anomaly_model_scores_each_event_and_alerts_on_those_it_flags(stream_env: StreamEnv) -> None:
    spec = {"name": "odd", "recipe": "half_space_trees", "task": "anomaly", "params": {"seed": 42}}
    stream_env.write_config([spec])
    events = [{k: v for k, v in e.items() if k != "label"} for e in synthetic_events("shop_anomalies", 3000, seed=5)]
    stream_env.cli("topics", "create")
    stream_env.cli("produce", "--file", str(write_jsonl(stream_env.tmp / "events.jsonl", events)))
    stream_env.start_worker()

    records = read_topic(stream_env.bootstrap, stream_env.topic("predictions"), expected=len(events), timeout=180)
    predictions = {p["event_id"]: p for p in map(orjson.loads, (r.value for r in records))}
    reference = ModelSpec(**spec).build()  # the same River filter, stepped here: score, then learn
    for event in events:
        score = reference.score_one(event["features"])
        expected = (score, reference.classify(score))
        reference.learn_one(event["features"])
        assert (predictions[event["event_id"]]["score"], predictions[event["event_id"]]["prediction"]) == expected
    flagged = sorted(e for e, p in predictions.items() if p["prediction"])
    alerts = read_topic(stream_env.bootstrap, stream_env.topic("drift.alerts"), expected=len(flagged), timeout=60)
    found = [orjson.loads(r.value) for r in alerts]
    assert flagged and sorted(a["event_id"] for a in found) == flagged
    assert {(a["kind"], a["model"], a["detector"]) for a in found} == {("anomaly", "odd", "half_space_trees")}


def test_an_anomaly_model_scores_late_labels_on_the_labels_topic_as_river_does(stream_env: StreamEnv) -> None:
    spec = {"name": "odd", "recipe": "half_space_trees", "task": "anomaly", "params": {"seed": 42}}
    stream_env.write_config([spec])
    n, delay = 3000, 50
    stream_env.cli("topics", "create")
    stream_env.cli(
        "produce", "--synthetic", "shop_anomalies", "--n", f"{n}", "--seed", "5", "--label-delay", f"{delay}"
    )
    stream_env.start_worker()

    client = redis.Redis.from_url(stream_env.redis_url)
    status = wait_for(
        lambda: (
            (doc := client.hget(f"{stream_env.name}:models:odd:status", "0"))
            and orjson.loads(doc)["labeled"] == n
            and orjson.loads(doc)
        ),
        timeout=180,
        what=f"{n} labels learned by odd",
        describe=lambda: client.hget(f"{stream_env.name}:models:odd:status", "0"),
    )
    assert (status["events"], status["scored"], status["failures"]) == (n, n, {}), status
    assert_close(status["metrics"], anomaly_reference(ModelSpec(**spec), "shop_anomalies", n, seed=5, delay=delay))
    dlq = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), timeout=5, idle=2)
    assert [orjson.loads(r.value)["reason"] for r in dlq] == []


def test_bad_input_goes_to_the_dlq_and_the_worker_goes_on(stream_env: StreamEnv, tmp_path: Path) -> None:
    stream_env.write_config([{"name": "ht", "recipe": "hoeffding_tree", "task": "binary"}])
    raw = good_events(0, 100) + [m for m, _ in BAD_MESSAGES] + good_events(100, 200)
    stream_env.create_topics()
    from streams.kafka.producer import produce

    report = produce(stream_env.bootstrap, [(stream_env.topic("events.raw"), None, m) for m in raw])
    assert report.delivered == len(raw), report.errors
    stream_env.start_worker(STREAMWISE_MAX_EVENT_BYTES="100000")

    dlq = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), expected=len(BAD_MESSAGES), timeout=120)
    predictions = read_topic(stream_env.bootstrap, stream_env.topic("predictions"), expected=200, timeout=60)
    letters = [orjson.loads(r.value) for r in dlq]
    assert [letter["reason"] for letter in letters] == [reason for _, reason in BAD_MESSAGES]
    assert len(raw) == len(predictions) + len(letters)
    assert {orjson.loads(p.value)["event_id"] for p in predictions} == {
        orjson.loads(m)["event_id"] for m in good_events(0, 200)
    }
    by_reason = {letter["reason"]: letter for letter in letters}
    assert by_reason["not_utf8"]["value_base64"]  # original bytes kept, base64 when not UTF-8
    assert by_reason["invalid_json"]["value"] == BAD_MESSAGES[0][0].decode()
    assert by_reason["invalid_json"]["topic"] == stream_env.topic("events.raw")
    assert by_reason["invalid_json"]["offset"] == 100
    assert "ht" in by_reason["model_error"]["detail"] and by_reason["model_error"]["model"] == "ht"

    # The worker's status counts them where people look: per partition, by reason.
    expected = Counter(reason for _, reason in BAD_MESSAGES)
    client = redis.Redis.from_url(stream_env.redis_url)

    def counted() -> Counter[str] | None:
        docs = [orjson.loads(d) for d in client.hgetall(f"{stream_env.name}:partitions:status").values()]
        found = Counter[str]()
        for doc in docs:
            found.update(doc["dead_letters"])
        return found if found == expected else None

    wait_for(counted, timeout=30, what=f"dead letters {dict(expected)} in the partitions' status")


def test_restarted_worker_resumes_from_committed_offsets(stream_env: StreamEnv) -> None:
    stream_env.write_config([{"name": "lr", "recipe": "logistic_regression", "task": "binary"}])
    first = list(synthetic_events("agrawal", 4000, seed=5))
    second = list(synthetic_events("agrawal", 5000, seed=5))[4000:]
    stream_env.cli("topics", "create")
    stream_env.cli("produce", "--file", str(write_jsonl(stream_env.tmp / "first.jsonl", first)))
    predictions_topic = stream_env.topic("predictions")

    worker = stream_env.start_worker()
    wait_for(
        lambda: len(read_topic(stream_env.bootstrap, predictions_topic, expected=500, timeout=5)) >= 500,
        timeout=90,
        what="first predictions",
    )
    stream_env.stop_worker(worker, signal.SIGKILL)  # mid-stream, no chance to commit
    worker = stream_env.start_worker()

    def seen() -> set[str]:
        records = read_topic(stream_env.bootstrap, predictions_topic, timeout=20, idle=3)
        return {orjson.loads(r.value)["event_id"] for r in records}

    wait_for(lambda: len(seen()) == 4000, timeout=120, interval=1, what="all 4000 first events predicted")
    stream_env.stop_worker(worker, signal.SIGTERM)  # clean stop commits

    stream_env.cli("produce", "--file", str(write_jsonl(stream_env.tmp / "second.jsonl", second)))
    stream_env.start_worker()
    wait_for(lambda: len(seen()) == 5000, timeout=120, interval=1, what="all 5000 events predicted")
    assert seen() == {e["event_id"] for e in first + second}
