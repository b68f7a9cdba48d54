"""After the embedded stream, ``make run`` serves the learned models over HTTP.

Each model is snapshotted (signed) into a registry in a local folder; the API reads it and the
run's own features (predict by key), alerts and model status (the dashboard): no Redis needed.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import orjson
import uvicorn
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


def serve_demo(
    runner: EmbeddedRunner,
    alerts: list[Alert],
    root: Path,
    key: bytes,
    config: Path,
    port: int,
    say: Callable[[str], None] = print,
) -> None:
    """Serve the run's models on ``port`` until Ctrl-C, after saying (``say``) how to try them."""
    app = demo_app(runner, alerts, root, key, config)
    model = runner.learner.models[0].slot
    example = next(iter(runner.features.vectors.items()), None)
    say(
        f"\nServing {len({m.slot for m in runner.learner.models})} models on http://127.0.0.1:{port} "
        f"(registry in {root}); docs at http://127.0.0.1:{port}/docs.\n"
        f"Dashboard: http://127.0.0.1:{port}/dashboard\nTry:"
    )
    if example is not None:
        key_name, features = example
        body = orjson.dumps({"model": model, "features": features}).decode()
        say(f"  curl -s localhost:{port}/predict -H 'content-type: application/json' -d '{body}'")
        say(
            f"  curl -s localhost:{port}/predict -H 'content-type: application/json' "
            f'-d \'{{"model": "{model}", "key": "{key_name}"}}\''
        )
    say(f"  curl -s localhost:{port}/models   curl -s localhost:{port}/alerts\nCtrl-C stops it.")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
