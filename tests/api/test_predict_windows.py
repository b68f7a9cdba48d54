"""/predict by key serves a key's windowed features: from the embedded run's store and from Redis."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
import yaml
from fastapi.testclient import TestClient
from httpx import Response

from online_models.config import parse_config
from online_models.datasets import synthetic_events
from online_models.pipeline import EmbeddedRunner
from online_models.snapshot import DEVELOPMENT_KEY
from online_models.storage.stores import FeatureStore
from streams.demo.app import demo_app
from streams.demo.embedded import events_only, run_embedded
from tests.support.api import ApiEnv, trained
from tests.support.windows import expected, mismatch

pytestmark = pytest.mark.redis

CONFIG = {
    "models": [{"name": "lr", "recipe": "logistic_regression", "task": "binary"}],
    "features": {
        "windows": [{"source": "salary", "seconds": 30, "stats": ["count", "sum", "mean", "min", "max", "var"]}],
        "since_previous": True,
    },
}
WINDOWED = ["salary_count_30s", "salary_mean_30s", "salary_var_30s", "seconds_since_previous"]


def embedded_run(n: int = 2000) -> tuple[EmbeddedRunner, list[dict]]:
    events = list(synthetic_events("agrawal", n, seed=4))
    _, runner = run_embedded(parse_config(CONFIG), events_only(orjson.dumps(e) for e in events))
    return runner, events


def answered(api: ApiEnv, body: dict, timeout: float = 30.0) -> Response:
    """The first answer to ``body`` that is not a 503 (no model loaded yet), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while (response := api.client.post("/predict", json=body)).status_code == 503:
        assert time.monotonic() < deadline, f"no model served within {timeout}s: {response.text}"
        time.sleep(0.01)
    return response


def newest_of(key: str, events: list[dict]) -> dict[str, float]:
    """The windowed features the key's last event should have, computed from scratch."""
    spec = parse_config(CONFIG).features
    wanted = list(expected(spec, [(e["key"], e["ts"], e["features"]) for e in events]))
    return next(w for e, w in zip(reversed(events), reversed(wanted), strict=True) if e["key"] == key)


def test_the_embedded_demo_predicts_by_key_with_the_keys_windows(tmp_path: Path) -> None:
    runner, events = embedded_run()
    config = tmp_path / "models.yaml"
    config.write_text(yaml.safe_dump(CONFIG))  # the API's engineer has windows too: by features, none apply
    key = events[-1]["key"]
    stored = runner.features.vectors[key]
    assert set(WINDOWED) <= stored.keys() and stored["salary_count_30s"] > 1
    assert mismatch(parse_config(CONFIG).features, stored, newest_of(key, events)) is None

    app = demo_app(runner, [], tmp_path / "registry", DEVELOPMENT_KEY, config)
    with TestClient(app) as client:
        by_key = client.post("/predict", json={"model": "lr", "key": key}).json()
        by_features = client.post("/predict", json={"model": "lr", "features": stored}).json()
    lr = runner.learner.models[0]
    assert by_key == by_features and by_key["prediction"] == lr.answer(stored).prediction


@pytest.mark.redis
def test_predict_by_key_reads_the_windows_the_engine_wrote_to_redis(api: ApiEnv) -> None:
    runner, events = embedded_run()
    key = events[-1]["key"]
    stored = runner.features.vectors[key]
    api.register(trained(100))

    async def write() -> None:  # as the engine's remember_features does
        client = aioredis.from_url(api.redis_url)
        try:
            await FeatureStore(client, api.namespace).put_many({key: stored})
        finally:
            await client.aclose()

    asyncio.run(write())
    served = orjson.loads(api.redis.get(f"{api.namespace}:features:{key}") or b"null")
    assert served == stored and set(WINDOWED) <= served.keys()
    by_key = answered(api, {"model": "lr", "key": key})
    by_features = api.client.post("/predict", json={"model": "lr", "features": stored})
    assert by_key.status_code == 200 and by_key.json() == by_features.json()
