"""The prediction API against a real redis-server: serving, errors, registry routes, hot reload."""

from __future__ import annotations

import pickle
import time
from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from online_models.alerts import Alert
from online_models.datasets import samples
from streams.cli.serve import create_api
from streams.testing import wait_for
from tests.support.api import ADMIN, KEY, ApiEnv, trained

pytestmark = pytest.mark.redis
X = next(iter(samples("agrawal", 1, seed=99)))[0]


def wait_for_version(api: ApiEnv, version: int, timeout: float = 5.0) -> float:
    """Seconds until /predict answers with ``version``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        response = api.client.post("/predict", json={"model": "lr", "features": X})
        if response.status_code == 200 and response.json()["version"] == version:
            return time.monotonic() - started
        time.sleep(0.005)
    raise AssertionError(f"version {version} not served within {timeout}s")


def test_predict_answers_with_the_champion_and_its_probabilities(api: ApiEnv) -> None:
    model = trained(500)
    api.register(model)
    wait_for_version(api, 1)

    body = api.client.post("/predict", json={"features": X}).json()  # the default model
    expected = model.model.predict_proba_one(X)  # River's answer: False/True; the labels were 0 and 1
    assert body["model"] == "lr" and body["version"] == body["generation"] == 1 and body["events_seen"] == 500
    assert body["proba"] == {"0": expected[False], "1": expected[True]}
    assert body["prediction"] == int(max(expected, key=expected.get)) and body["score"] is None

    batch = api.client.post("/predict/batch", json={"items": [{"features": X}, {"model": "lr", "features": X}]})
    assert batch.status_code == 200 and [i["proba"] for i in batch.json()["items"]] == [body["proba"]] * 2


def test_predict_by_key_reads_the_online_feature_store(api: ApiEnv) -> None:
    api.register(trained(100))
    wait_for_version(api, 1)
    api.redis.set(f"{api.namespace}:features:user-7", orjson.dumps(X))

    by_key = api.client.post("/predict", json={"model": "lr", "key": "user-7"})
    by_features = api.client.post("/predict", json={"model": "lr", "features": X})
    assert by_key.status_code == 200 and by_key.json() == by_features.json()
    missing = api.client.post("/predict", json={"model": "lr", "key": "nobody"})
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]
    assert by_key.json()["missing"] == []


def test_predict_takes_a_key_and_features_together_and_names_what_is_missing(api: ApiEnv) -> None:
    api.register(trained(100))
    wait_for_version(api, 1)
    stored = {k: v for k, v in X.items() if k != "salary"}  # the customer's online vector lacks one input
    api.redis.set(f"{api.namespace}:features:user-8", orjson.dumps(stored))
    order = {"salary": 90_000.0, "loan": 1.0}  # the new order's own values win over the stored ones

    both = api.client.post("/predict", json={"model": "lr", "key": "user-8", "features": order})
    alone = api.client.post("/predict", json={"model": "lr", "features": {**stored, **order}})
    assert both.status_code == 200 and both.json() == alone.json()
    partial = api.client.post("/predict", json={"model": "lr", "features": order}).json()
    assert partial["missing"] == sorted(set(X) - set(order))  # answered without them, and says so
    new_customer = api.client.post("/predict", json={"model": "lr", "key": "first-order", "features": X})
    assert new_customer.status_code == 200 and new_customer.json()["missing"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"features": {"a": {"nested": 1}}}, ["body", "features", "a"]),
        ({"features": {}}, ["body", "features"]),
        ({"model": "lr"}, ["body"]),
        ({"features": {"a": 1}, "extra": True}, ["body", "extra"]),
    ],
)
def test_invalid_requests_get_422_naming_the_field(api: ApiEnv, body: dict, field: list) -> None:
    response = api.client.post("/predict", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][: len(field)] == field


def test_unknown_model_404_nothing_loaded_503_too_large_413(api: ApiEnv) -> None:
    assert api.client.post("/predict", json={"features": X}).status_code == 503  # nothing registered yet
    api.register(trained(50))
    wait_for_version(api, 1)
    assert api.client.post("/predict", json={"model": "nope", "features": X}).status_code == 404
    big = {"features": {f"f{i}": 1.0 for i in range(3000)}}
    assert api.client.post("/predict", json=big).status_code == 413
    deep = '{"features": ' + '{"a": ' * 2000 + "1" + "}" * 2001
    response = api.client.post("/predict", content=deep, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422) and response.json()["detail"]  # refused, not a 5xx
    streamed = api.client.post("/predict", content=(c for c in [b"x" * 15_000, b"y" * 15_000]))
    assert streamed.status_code == 413  # a streamed (chunked) body over the limit
    wrong_type = dict(X, salary="lots")
    response = api.client.post("/predict", json={"model": "lr", "features": wrong_type})
    detail = response.json()["detail"]
    assert response.status_code == 422 and "features.salary: a number is expected" in detail, detail
    items = {"items": [{"features": X}] * 6}
    assert api.client.post("/predict/batch", json=items).status_code == 413


def test_a_batch_answers_each_item_on_its_own(api: ApiEnv) -> None:
    api.register(trained(50))
    wait_for_version(api, 1)
    items = [{"features": X}, {"model": "nope", "features": X}, {"key": "nobody"}, {"features": dict(X, salary="x")}]
    answers = api.client.post("/predict/batch", json={"items": items})
    assert answers.status_code == 200
    first, *errors = answers.json()["items"]
    assert first["model"] == "lr" and first["prediction"] in (0, 1)
    assert [(e["status"], e["detail"].split(":")[0]) for e in errors] == [
        (404, "unknown model 'nope'"), (404, "no features stored for key 'nobody'"), (422, "model 'lr'")
    ]  # fmt: skip


def test_a_configured_model_without_a_version_is_503_and_the_first_configured_is_the_default(
    configured_api: ApiEnv,
) -> None:
    api = configured_api
    for model in ("ht", None):
        body = {"features": X} if model is None else {"model": model, "features": X}
        response = api.client.post("/predict", json=body)
        assert response.status_code == 503 and "is configured, no version yet" in response.json()["detail"]
    assert api.client.post("/predict", json={"model": "nope", "features": X}).status_code == 404
    api.register(trained(50, name="ht", recipe="hoeffding_tree"))  # registered first, and first by name
    api.register(trained(50))
    wait_for_version(api, 1)  # lr's first
    assert api.client.post("/predict", json={"features": X}).json()["model"] == "lr"  # the config's first


def test_a_tampered_champion_is_refused_and_counted_while_the_old_one_keeps_serving(api: ApiEnv) -> None:
    api.register(trained(50))
    wait_for_version(api, 1)
    api.register(trained(60), tamper=True)  # v2 becomes champion in the registry, but is forged
    deadline = time.monotonic() + 5
    while 'streamwise_snapshots_refused_total{reason="tampered"} 1.0' not in api.client.get("/metrics").text:
        assert time.monotonic() < deadline, "the forged snapshot was not refused"
        time.sleep(0.02)
    assert api.client.post("/predict", json={"features": X}).json()["version"] == 1
    api.register(trained(70))
    wait_for_version(api, 3)


def test_serving_never_changes_the_served_model(api: ApiEnv) -> None:
    api.register(trained(300))
    wait_for_version(api, 1)
    served = api.client.app.state.server.models["lr"]
    before = pickle.dumps(served.model.model)
    for x, _ in samples("agrawal", 200, seed=5):
        assert api.client.post("/predict", json={"features": x}).status_code == 200
    assert pickle.dumps(served.model.model) == before and served.model.events == 300


def test_admin_routes_need_the_key_and_rollback_serves_the_old_version(api: ApiEnv) -> None:
    api.register(trained(100))
    api.register(trained(200))
    wait_for_version(api, 2)
    assert api.client.post("/models/lr/rollback", json={"version": 1}).status_code == 401
    wrong = api.client.post("/models/lr/rollback", json={"version": 1}, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 403

    headers = {"X-API-Key": ADMIN}
    response = api.client.post("/models/lr/rollback", json={"version": 1, "reason": "v2 regressed"}, headers=headers)
    assert response.status_code == 200 and response.json()["champion"]["pinned"] is True
    assert response.json()["workers"].startswith("not notified: no workers to tell")  # create_app has no control
    assert wait_for_version(api, 1) < 1.0
    api.register(trained(300))  # v3 does not take over a pinned champion
    time.sleep(0.6)
    assert api.client.post("/predict", json={"features": X}).json()["version"] == 1

    assert api.client.post("/models/lr/promote", json={"version": 3}, headers=headers).status_code == 200
    wait_for_version(api, 3)
    assert api.client.post("/models/lr/rollback", json={"version": 9}, headers=headers).status_code == 404
    assert api.client.post("/models/lr/rollback", json={"version": 3}, headers=headers).status_code == 409
    assert api.client.post("/models/nope/promote", json={"version": 1}, headers=headers).status_code == 404

    model = api.client.get("/models/lr").json()
    assert (model["serving"], model["champion"]["version"], model["versions"]) == (3, 3, [1, 2, 3])
    history = api.client.get("/models/lr/versions").json()["history"]
    assert [(h["event"], h["version"], h["by"]) for h in history] == [("promoted", 3, "api"), ("rolled_back", 1, "api")]
    assert [m["name"] for m in api.client.get("/models").json()] == ["lr"]


def test_hot_reload_serves_a_new_version_within_one_second(api: ApiEnv) -> None:
    api.register(trained(100))
    wait_for_version(api, 1)
    latencies = []
    for n in range(2, 7):
        api.register(trained(100 + n))
        latencies.append(wait_for_version(api, n))
    assert max(latencies) < 1.0, latencies


def test_readyz_alerts_metrics_and_the_openapi_schema(api: ApiEnv) -> None:
    assert api.client.get("/readyz").status_code == 503
    api.register(trained(10))
    wait_for_version(api, 1)
    assert api.client.get("/readyz").json() == {"ready": True, "problems": [], "serving": {"lr": 1}}

    alert = Alert("lr", "concept_drift", "ddm", None, "e1", 1, datetime(2026, 1, 1, tzinfo=UTC), {"n": 1})
    api.redis.xadd(f"{api.namespace}:alerts", {"alert": alert.to_json()})
    assert [a["alert_id"] for a in api.client.get("/alerts").json()] == [alert.alert_id]
    assert api.client.get("/alerts", params={"since": "2999-01-01T00:00:00Z"}).json() == []

    assert "streamwise_api_request_seconds_bucket" in api.client.get("/metrics").text
    validate(api.client.get("/openapi.json").json())


def test_streamwise_api_gives_the_app_the_control_topic(api: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    # The app `streamwise api` serves reaches the workers through streams' producer; here there is
    # no Kafka to reach, and the answer says so (.ci/walkthrough sees "notified" with the stack).
    for name, value in {"KAFKA_BOOTSTRAP": "", "REDIS_URL": api.redis_url, "REDIS_NAMESPACE": api.namespace,
                        "SNAPSHOT_KEY": KEY, "API_KEY": ADMIN, "CONFIG": ""}.items():  # fmt: skip
        monkeypatch.setenv(f"STREAMWISE_{name}", value)
    api.register(trained(200))
    with TestClient(create_api()) as client:
        response = client.post("/models/lr/promote", json={"version": 1}, headers={"X-API-Key": ADMIN})
    assert response.status_code == 200, response.text
    assert response.json()["workers"] == "not notified: no Kafka configured (STREAMWISE_KAFKA_BOOTSTRAP is empty)"


def test_a_champion_chosen_without_the_key_is_refused_and_the_last_good_version_serves_on(api: ApiEnv) -> None:
    api.register(trained(100))
    api.register(trained(300))
    wait_for_version(api, 2)
    key = f"{api.namespace}:registry:lr:champion"
    record = orjson.loads(api.redis.get(key))
    assert api.client.get("/readyz").status_code == 200

    # Whoever can write Redis but lacks the key points the champion at an older, validly signed version.
    api.redis.set(key, orjson.dumps({**record, "version": 1}))
    api.redis.publish(f"{api.namespace}:registry:changes", b'{"name": "lr", "version": 1, "event": "promoted"}')
    ready = wait_for(
        lambda: (r := api.client.get("/readyz")).status_code == 503 and r.json(), timeout=10, what="/readyz 503"
    )
    assert any("'lr'" in p and "tampered" in p and "serving v2" in p for p in ready["problems"]), ready
    assert api.client.post("/predict", json={"model": "lr", "features": X}).json()["version"] == 2

    api.redis.set(key, orjson.dumps({k: v for k, v in record.items() if k != "sig"}))  # unsigned: refused too
    wait_for(lambda: "unsigned" in str(api.client.get("/readyz").json()["problems"]), timeout=10, what="unsigned")

    api.redis.set(key, orjson.dumps(record))  # the signed record again: ready
    wait_for(lambda: api.client.get("/readyz").status_code == 200, timeout=10, what="/readyz 200 again")


def test_predict_answers_with_the_version_or_the_candidate_asked_for_and_says_which(api: ApiEnv) -> None:
    api.register(trained(100))
    api.register(trained(300))
    wait_for_version(api, 2)
    champion = api.client.post("/predict", json={"model": "lr", "features": X}).json()
    first = api.client.post("/predict", json={"model": "lr", "features": X, "version": 1}).json()
    assert (champion["version"], champion["candidate"], first["version"], first["events_seen"]) == (2, "lr", 1, 100)
    newest = api.client.post("/predict", json={"model": "lr", "features": X, "candidate": "lr"}).json()
    assert newest["version"] == 2
    missing = api.client.post("/predict", json={"model": "lr", "features": X, "version": 9})
    assert missing.status_code == 404 and "no version 9" in missing.json()["detail"]
    nobody = api.client.post("/predict", json={"model": "lr", "features": X, "candidate": "lr-nn"})
    assert nobody.status_code == 404 and "lr-nn" in nobody.json()["detail"]
    both = api.client.post("/predict", json={"model": "lr", "features": X, "version": 1, "candidate": "lr"})
    assert both.status_code == 422
