"""A fraud team's first week, through Kafka: an online shop's orders keyed by customer, a `fraud`
label arriving late on events.labels keyed by nothing but its event_id, a YAML pipeline with
windowed per-key features, an anomaly model, and a few malformed orders. Counted as the team would:
what the dead-letter topic says, what each model learned, what /predict answers."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from online_models.datasets import EPOCH_MS, EVENT, synthetic_events, with_delayed_labels
from streams.kafka.consumer import read_topic
from streams.testing import StreamEnv, wait_for
from tests.integration.faults import model_status, produce_like_librdkafka
from tests.support.api import stream_api_settings

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

N, DELAY = 3000, 50
MODELS = [
    {
        "name": "fraud",
        "task": "binary",
        "pipeline": [
            {
                "union": [
                    [{"select_type": "number"}, "preprocessing.StandardScaler"],
                    [{"select_type": "str"}, "preprocessing.OneHotEncoder"],
                ]
            },
            "linear_model.LogisticRegression",
        ],
    },
    {"name": "odd", "recipe": "half_space_trees", "task": "anomaly", "params": {"seed": 42}},
]
FEATURES = {
    "transforms": [{"name": "amount_log", "op": "log1p", "source": "amount"}],
    "windows": [{"source": "amount", "seconds": 600, "stats": ["count", "max"]}],
}
# Orders a shop really sends: a refund as a negative amount (log1p fails: the feature goes, not the
# order), an amount not known yet (null), and two messages nobody can read.
# Their time is the stream's (without one, an order takes its broker time, months after the synthetic
# stream's: event time would jump, and every prediction still waiting for its label would expire).
LAST_TS = EPOCH_MS + 10 * N
ODD_ORDERS = [
    (b"c1", {"event_id": "refund-1", "key": "c1", "ts": LAST_TS, "features": {"amount": -5.0, "country": "FR"}}),
    (b"c2", {"event_id": "unknown-1", "key": "c2", "ts": LAST_TS, "features": {"amount": None, "country": "DE"}}),
]
BROKEN = [b'{"event_id": "broken-1", "features": {"amount": NaN}}', b"{not json"]


def test_a_shop_stream_with_late_labels_windows_an_anomaly_model_and_bad_orders(stream_env: StreamEnv) -> None:
    stream_env.partitions = 2
    stream_env.write_config(MODELS, features=FEATURES)
    stream_env.create_topics()
    raw, labels = stream_env.topic("events.raw"), stream_env.topic("events.labels")
    messages = []
    for kind, m in with_delayed_labels(synthetic_events("shop", N, seed=4), DELAY):
        if kind == EVENT:
            messages.append((raw, m["key"].encode(), orjson.dumps(m)))
        else:  # a label knows only its event: no key, no customer
            messages.append((labels, None, orjson.dumps({"event_id": m["event_id"], "label": m["label"]})))
    messages += [(raw, key, orjson.dumps(order)) for key, order in ODD_ORDERS]
    messages += [(raw, None, value) for value in BROKEN]
    produce_like_librdkafka(stream_env.bootstrap, messages)
    worker = stream_env.start_worker()

    def learned() -> dict[str, tuple[int, int]]:
        return {m["name"]: next(((s["events"], s["labeled"]) for s in model_status(stream_env, m["name"]).values()),
                                (0, 0)) for m in MODELS}  # fmt: skip

    def dead_letters() -> Counter[str]:
        records = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), timeout=10, idle=2)
        return Counter(orjson.loads(r.value)["reason"] for r in records)

    wait_for(
        lambda: learned() == {"fraud": (N + 2, N), "odd": (N + 2, N)},
        timeout=240,
        what=f"every order predicted and all {N} late labels learned by both models",
        describe=lambda: (
            f"(events, labeled) per model: {learned()}; dead letters: {dead_letters()}; "
            f"worker /health: {stream_env.health(worker)}"
        ),
    )
    letters = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), expected=4, timeout=60)
    found = Counter((d["reason"], d["event_id"]) for d in map(orjson.loads, (r.value for r in letters)))
    assert found == {
        ("feature_dropped", "refund-1"): 1,  # a warning: the order went on without amount_log
        ("feature_dropped", "unknown-1"): 1,  # ... and without amount
        ("non_finite", "broken-1"): 1,  # not JSON, and still named
        ("invalid_json", None): 1,
    }, found
    statuses = {m["name"]: next(iter(model_status(stream_env, m["name"]).values())) for m in MODELS}
    assert statuses["fraud"]["failures"] == statuses["odd"]["failures"] == {}
    assert "ROCAUC" in statuses["odd"]["metrics"]  # the anomaly model is scored by its late labels
    parts = [orjson.loads(d) for d in redis.Redis.from_url(stream_env.redis_url).hgetall(
        f"{stream_env.name}:partitions:status").values()]  # fmt: skip
    dropped = Counter[str]()
    for part in parts:
        dropped.update(part.get("dropped_features", {}))
    assert dropped == {"amount_log: transform_failed": 1, "amount: null": 1}

    settings = stream_api_settings(stream_env, config=stream_env.tmp / "models.yaml")
    with TestClient(create_app(settings)) as api:
        order = {"amount": 420.0, "country": "US", "device": "web", "new_customer": True}
        answer = wait_for(  # a new order, with its customer's online windows
            lambda: (
                (r := api.post("/predict", json={"model": "fraud", "key": "k5", "features": order})).status_code == 200
                and r.json()
            ),
            timeout=60,
            what="fraud served by key and features",
        )
        assert answer["missing"] == [] and answer["labeled"] >= 100, answer
        alone = api.post("/predict", json={"model": "fraud", "features": order}).json()
        assert "amount_max_600s" in alone["missing"], alone  # by features alone: no windows, and it says so
