"""``streamwise worker`` and ``streamwise api``: the two long-running processes of a deployment.

Each imports its runtime (Faust, uvicorn) when it starts, so that the other commands do not pay for it.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from online_models.config import load_config
from streams.kafka import admin
from streams.settings import Settings


def worker() -> None:
    """Run the worker: the engine (events, labels, learning) against the configured Kafka and Redis."""
    from prometheus_client import start_http_server

    from online_models.gc_tuning import tune_gc
    from streams.worker import Worker, build_worker

    settings = Settings()
    cfg = load_config(settings.config)
    admin.create_stream_topics(settings)
    faust_app, runtime = build_worker(settings, cfg)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=runtime.metrics.registry)
    tune_gc()
    Worker(faust_app, runtime, loglevel=settings.log_level.upper()).execute_from_commandline()


def api(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Serve the HTTP API (FastAPI on uvicorn)."""
    import uvicorn

    from api.settings import ApiSettings

    ApiSettings().signing_key()  # fail here, naming the setting, rather than inside uvicorn
    os.environ.setdefault("STREAMWISE_TUNE_GC", "true")  # a serving process: see online_models/gc_tuning.py

    uvicorn.run("streams.cli.serve:create_api", factory=True, host=host, port=port)
