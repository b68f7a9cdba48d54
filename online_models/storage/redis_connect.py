"""The one way Streamwise connects to Redis: password and TLS from the URL (``rediss://``), the CA
bundle when set, and timeouts so that a stalled Redis fails a call (logged, retried) instead of
hanging it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import redis
import redis.asyncio as aioredis


class RedisSettings(Protocol):
    redis_url: str
    redis_ssl_ca_certs: Path | None


def options(
    settings: RedisSettings, timeout: float | None = None, connect_timeout: float | None = None
) -> dict[str, Any]:
    """Keyword arguments of ``from_url`` beyond the URL."""
    kwargs: dict[str, Any] = {}
    if timeout is not None:
        kwargs["socket_timeout"] = timeout
    if connect_timeout is not None:
        kwargs["socket_connect_timeout"] = connect_timeout
    if settings.redis_ssl_ca_certs is not None:
        kwargs["ssl_ca_certs"] = str(settings.redis_ssl_ca_certs)
    return kwargs


def connect(
    settings: RedisSettings, timeout: float | None = None, connect_timeout: float | None = None
) -> aioredis.Redis:
    """An asyncio client (no connection is made until the first command)."""
    return aioredis.from_url(settings.redis_url, **options(settings, timeout, connect_timeout))


def connect_sync(settings: RedisSettings, timeout: float | None = None) -> redis.Redis:
    """A blocking client, for the command line."""
    return redis.Redis.from_url(settings.redis_url, **options(settings, timeout, timeout))
