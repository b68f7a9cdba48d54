"""Fixture plugin: the real services, ``kafka_bootstrap`` and ``redis_url``.

They come from the same settings as the worker (STREAMWISE_KAFKA_BOOTSTRAP, STREAMWISE_REDIS_URL).
When one does not answer, its tests skip with a one-line reason, unless STREAMWISE_REQUIRE_SERVICES=1,
where they fail.
"""

from __future__ import annotations

import os

import pytest
import redis
from confluent_kafka.admin import AdminClient

from streams.settings import Settings

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
