"""Fixture plugin: ``api`` and ``configured_api``, an API app over a real redis-server in a
namespace of its own (tests.support.api), and a bound on the process's exit."""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.api import ApiEnv, api_env

EXIT_WITHIN = 120  # seconds


def pytest_unconfigure(config: pytest.Config) -> None:
    """Bound the exit of the process. pytest-timeout fails a hung test and the session goes on, but an
    ASGI lifespan left hanging keeps schemathesis's event loop thread busy, and that thread is joined at
    exit (atexit): past ``EXIT_WITHIN``, print every thread's stack and exit with status 1."""
    faulthandler.dump_traceback_later(EXIT_WITHIN, exit=True, file=sys.__stderr__)


@pytest.fixture
def api(redis_url: str) -> Iterator[ApiEnv]:
    yield from api_env(redis_url, config=None)


@pytest.fixture
def configured_api(redis_url: str, tmp_path: Path) -> Iterator[ApiEnv]:
    """An API whose worker config has models ``lr`` then ``ht`` (the default-model rule of docs/serving.md)."""
    config = tmp_path / "models.yaml"
    models = [{"name": "lr", "recipe": "logistic_regression", "task": "binary"},
              {"name": "ht", "recipe": "hoeffding_tree", "task": "binary"}]  # fmt: skip
    config.write_text(yaml.safe_dump({"models": models}))
    yield from api_env(redis_url, config=config)
