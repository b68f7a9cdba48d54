"""Shared fixtures: the real services, and reference prequential scores computed with River alone.

Services come from the same settings as the worker (STREAMWISE_KAFKA_BOOTSTRAP, STREAMWISE_REDIS_URL).
When one does not answer, its tests skip with a one-line reason, unless STREAMWISE_REQUIRE_SERVICES=1,
where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import redis
from confluent_kafka.admin import AdminClient
from hypothesis import HealthCheck, settings
from river import evaluate

from online_models import metrics
from online_models.config import ModelSpec
from online_models.datasets import samples
from streams.settings import Settings


def river_reference(
    spec: ModelSpec, dataset: str, n: int, seed: int, delay: int | None = None, build: Callable[[], Any] | None = None
) -> dict[str, float]:
    """Final metrics of ``river.evaluate.progressive_val_score`` for each metric of the task,
    with a model built by River's own constructors (``build``; by default through the spec's
    classes); ``delay`` reveals each label that many events late."""
    result = {}
    for name, metric in metrics.for_task(spec.task).items():
        model = (build or spec.build)()
        score = evaluate.progressive_val_score(samples(dataset, n, seed), model, metric, delay=delay)
        result[name] = float(score.get())
    return result


# Recipes with a random source get a seed so that two runs (and River's reference) agree.
SEEDED = {"hoeffding_adaptive_tree": {"seed": 42}, "adaptive_random_forest": {"seed": 42}}

CLASSIFIERS = [
    "logistic_regression",
    "hoeffding_tree",
    "hoeffding_adaptive_tree",
    "adaptive_random_forest",
    "naive_bayes",
]
REGRESSORS = ["linear_regression", "hoeffding_tree_regressor"]


def spec_for(recipe: str, task: str) -> ModelSpec:
    return ModelSpec(name=recipe, recipe=recipe, task=task, params=SEEDED.get(recipe, {}))


# These machines are shared: a busy core must not fail a property test for its speed (Hypothesis'
# 200 ms deadline per example and its too_slow health check measure the machine, not the code).
settings.register_profile("shared", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared")

REQUIRED = os.environ.get("STREAMWISE_REQUIRE_SERVICES") == "1"


def _unavailable(what: str) -> None:
    if REQUIRED:
        pytest.fail(f"{what} (STREAMWISE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(what)


def _kafka_answers(bootstrap: str) -> bool:
    try:
        AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 3000}).list_topics(timeout=5)
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    bootstrap = Settings().kafka_bootstrap
    if not _kafka_answers(bootstrap):
        _unavailable(f"no Kafka broker answers at {bootstrap}; start one with infra/kafka/kafka.sh start")
    return bootstrap


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = Settings().redis_url
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError):
        _unavailable(f"no Redis answers at {url}; start one with infra/redis.sh start")
    return url
