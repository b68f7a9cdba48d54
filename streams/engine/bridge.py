"""How the engine's thread reaches the worker's event loop without waiting on it.

Redis calls (checkpoints, snapshots, the registry) and the alert sinks run there, and the engine
collects what they return at the end of a batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Bridge:
    """A way into an asyncio event loop from another thread, without waiting on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    @classmethod
    def own_loop(cls) -> Bridge:
        """Return a bridge to an event loop of its own, in a daemon thread (tools and tests without a worker)."""
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="streamwise-io", daemon=True).start()
        return cls(loop)

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coroutine`` on the loop; return a future of its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call(self, function: Callable[..., Any], *args: Any) -> None:
        """Schedule ``function(*args)`` on the loop, without waiting for it."""
        self.loop.call_soon_threadsafe(function, *args)
