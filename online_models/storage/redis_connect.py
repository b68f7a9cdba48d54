"""The one way Streamwise connects to Redis.

Password and TLS from the URL (``rediss://``), the CA bundle when set, and timeouts so that a
stalled Redis fails a call (logged, retried) instead of hanging it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import redis
import redis.asyncio as aioredis


class RedisSettings(Protocol):
    """The settings a Redis client is made from: the URL and the CA bundle, if any.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> settings = SimpleNamespace(redis_url="rediss://redis:6380/0", redis_ssl_ca_certs=Path("/etc/ssl/ca.pem"))
    >>> options(settings, timeout=2.0)
    {'socket_timeout': 2.0, 'ssl_ca_certs': '/etc/ssl/ca.pem'}
    """

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
    """Return an asyncio client (no connection is made until the first command)."""
    return aioredis.from_url(settings.redis_url, **options(settings, timeout, connect_timeout))


def connect_sync(settings: RedisSettings, timeout: float | None = None) -> redis.Redis:
    """Return a blocking client, for the command line."""
    return redis.Redis.from_url(settings.redis_url, **options(settings, timeout, timeout))
