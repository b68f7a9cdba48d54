"""Worker, registry and API together: promotion, hot reload, prediction by key, CLI rollback."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.main import create_app
from online_models.config import parse_config
from streams.testing import StreamEnv, wait_for
from tests.integration.faults import final_learner
from tests.support.api import stream_api_settings

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
X = {"salary": 50_000.0, "commission": 10_000.0, "age": 40, "elevel": 2, "car": 5, "zipcode": 3,
     "hvalue": 200_000.0, "hyears": 10, "loan": 100_000.0}  # fmt: skip


@pytest.fixture
def api(stream_env: StreamEnv) -> Iterator[TestClient]:
    settings = stream_api_settings(stream_env, api_key=SecretStr("admin"), config=None)
    with TestClient(create_app(settings)) as client:
        yield client


def served_version(api: TestClient) -> int | None:
    response = api.post("/predict", json={"model": "lr", "features": X})
    return response.json()["version"] if response.status_code == 200 else None


def test_the_api_serves_what_the_worker_registers_and_promotes(stream_env: StreamEnv, api: TestClient) -> None:
    promotion = {"metric": "Accuracy", "window": 300, "margin": 0.05, "cooldown_events": 1000}
    snapshots = {"every_events": 500, "every_seconds": None}
    models = [
        {"name": "lr", "recipe": "logistic_regression", "task": "binary", "promotion": promotion},
        {"name": "lr-ht", "recipe": "hoeffding_tree", "task": "binary", "challenger_of": "lr", "snapshot": snapshots},
    ]
    stream_env.write_config(models)
    stream_env.create_topics()
    stream_env.start_worker(STREAMWISE_CHECKPOINT_EVERY_SECONDS="1")
    stream_env.cli("produce", "--synthetic", "agrawal", "--n", "3000")

    champion = wait_for(
        lambda: (c := api.get("/models/lr").json().get("champion")) and c["candidate"] == "lr-ht" and c,
        timeout=120,
        what="the challenger promoted",
    )
    assert champion["by"] == "auto" and champion["pinned"] is False  # it follows lr-ht's newer versions too
    history = api.get("/models/lr/versions").json()["history"]
    assert any(h["event"] == "promoted" and h["by"] == "auto" and "beat lr" in h["reason"] for h in history)
    wait_for(lambda: served_version(api) == api.get("/models/lr").json()["champion"]["version"], timeout=5)

    # The online features are written every status interval: the key is there soon after its events.
    by_key = wait_for(
        lambda: (r := api.post("/predict", json={"model": "lr", "key": "k5"})).status_code == 200 and r,
        timeout=30,
        what="the features of key k5 in the online store",
    )
    assert by_key.json()["model"] == "lr"

    # Hot reload: each new snapshot of the champion's candidate is served within a second.
    before = api.get("/models/lr").json()["champion"]["version"]
    stream_env.cli("produce", "--synthetic", "agrawal", "--n", "1000", "--seed", "7")
    newer = wait_for(
        lambda: (v := api.get("/models/lr").json()["champion"]["version"]) > before and v,
        timeout=60,
        what="a new version",
    )
    started = time.monotonic()
    wait_for(lambda: (served_version(api) or 0) >= newer, timeout=5, interval=0.01, what="the new version served")
    assert time.monotonic() - started < 1.0

    # A person rolls back from the CLI: the API serves the old version again, and the worker's
    # promotion judge learns of the pin through the control topic and the learn log.
    rollback = stream_env.cli("models", "rollback", "lr", str(before), "--reason", "integration test")
    assert "workers notified" in rollback.stdout, rollback.stdout + rollback.stderr
    wait_for(lambda: served_version(api) == before, timeout=5, interval=0.01, what="the rollback served")
    listing = stream_env.cli("models", "list").stdout
    assert "lr-ht" in listing and "True" in listing
    config = parse_config({"models": models})

    def pinned() -> bool:
        judge = final_learner(stream_env, config, 0).judges["lr"]
        return judge.pinned and judge.champion == "lr-ht"

    stream_env.cli("produce", "--synthetic", "agrawal", "--n", "100", "--seed", "8")  # a checkpoint follows
    wait_for(pinned, timeout=60, interval=0.5, what="the pin in the worker's checkpointed promotion judge")
    audit = f"champion change: lr rolled_back v{before} (lr-ht, pinned) by cli at "
    assert audit in stream_env.worker_logs() and "integration test" in stream_env.worker_logs()  # who, what, when

    # And unpins: the newest version is served again, and the judge may promote once more.
    unpinned = stream_env.cli("models", "unpin", "lr")
    assert "not pinned" in unpinned.stdout and "workers notified" in unpinned.stdout, unpinned.stdout
    newest = int(re.search(r"champion v(\d+)", unpinned.stdout)[1])  # the candidate's newest
    assert newest > before
    wait_for(lambda: served_version(api) == newest, timeout=5, interval=0.01, what="the newest version served")
    stream_env.cli("produce", "--synthetic", "agrawal", "--n", "100", "--seed", "9")
    wait_for(
        lambda: not final_learner(stream_env, config, 0).judges["lr"].pinned,
        timeout=60,
        interval=0.5,
        what="the unpin in the worker's checkpointed promotion judge",
    )
