"""The app ``streamwise api`` serves: the API over Redis, told how to reach the workers.

The API has no Kafka client of its own: a person's promote, rollback or unpin reaches the workers
through the control topic, by the producer this composition gives it.
"""

from __future__ import annotations

import asyncio
from functools import partial

from fastapi import FastAPI

from api.main import create_app, redis_backends
from api.settings import ApiSettings
from online_models.control import ChampionChange
from streams.control import notify_workers


def create_api() -> FastAPI:
    """Return the API over Redis, which tells the workers of a person's champion changes.

    This is uvicorn's factory (``streams.cli.serve:create_api``).
    """
    settings = ApiSettings()

    async def control(change: ChampionChange) -> str | None:
        return await asyncio.to_thread(notify_workers, settings, change)

    return create_app(settings, backends=partial(redis_backends, control=control))
