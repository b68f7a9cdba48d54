"""After the embedded stream, ``make run`` serves the learned models over HTTP.

Each model is snapshotted (signed) into a registry in a local folder; the API reads it and the
run's own features (predict by key), alerts and model status (the dashboard): no Redis needed.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr

from api.main import Backends, create_app
from api.settings import ApiSettings
from online_models.alerts import Alert
from online_models.pipeline import EmbeddedRunner
from online_models.registry import register
from online_models.status import MemoryModelStatus
from online_models.storage.folder_registry import FileRegistry
from online_models.storage.stores import MemoryAlertLog


async def register_models(runner: EmbeddedRunner, registry: FileRegistry) -> list[int]:
    """Snapshot every model of the run into ``registry``; return their versions."""
    learner = runner.learner
    return [
        (await register(registry, model, reason="embedded", offsets=learner.offsets)).version
        for model in learner.models
    ]


def demo_app(runner: EmbeddedRunner, alerts: list[Alert], root: Path, key: bytes, config: Path | None) -> FastAPI:
    """Return the API over a fresh folder registry holding the run's models."""
    shutil.rmtree(root, ignore_errors=True)
    registry = FileRegistry(root, key)
    asyncio.run(register_models(runner, registry))
    settings = ApiSettings(
        snapshot_key=SecretStr(key.decode()), api_key=SecretStr("demo"), config=config, reload_poll_seconds=1.0
    )
    status = MemoryModelStatus(lambda: runner.learner.models)
    return create_app(
        settings,
        backends=lambda _: Backends(registry, runner.features, MemoryAlertLog(alerts), status=status),
    )
