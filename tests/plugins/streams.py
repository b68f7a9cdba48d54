"""Fixture plugin: ``stream_env``, one test's isolated world (streams.testing.StreamEnv), removed
afterwards: its workers stopped, its topics and Redis keys deleted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.testing import StreamEnv


@pytest.fixture
def stream_env(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[StreamEnv]:
    env = StreamEnv(kafka_bootstrap, redis_url, tmp_path)
    yield env
    env.cleanup()
