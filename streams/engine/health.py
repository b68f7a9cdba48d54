"""What the worker depends on, and whether its calls succeed.

Shown on the worker's /health page and as ``streamwise_component_up``. An infrastructure error is
retried by its caller; here it is logged (at its first failure, every 30 s while it lasts, and at
its recovery), never silent.

>>> health = Health()
>>> health.failed("redis", "ConnectionError: refused"); health.report()["status"]
'degraded'
>>> health.succeeded("redis"); health.report()["components"]["redis"]["ok"]
True
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("streamwise.health")
LOG_EVERY_SECONDS = 30.0


@dataclass
class Component:
    """The state of one dependency: ok or failing, since when, and its newest error."""

    ok: bool = True
    since: float = 0.0  # wall time of the last change between ok and failing
    error: str | None = None  # the newest failure
    failures: int = 0  # failures since it last succeeded
    logged: float = 0.0


class Health:
    """The state of every dependency of the worker, reported from any thread."""

    def __init__(
        self, on_change: Callable[[str, bool], None] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.components: dict[str, Component] = {}
        self.on_change = on_change
        self.clock = clock
        self._lock = threading.Lock()  # the engine's thread and the event loop both report

    def succeeded(self, name: str) -> None:
        """Record a call to ``name`` that succeeded; log and report a recovery."""
        component = self.components.get(name)
        if component is not None and component.ok:
            return
        with self._lock:
            component = self.components.setdefault(name, Component(since=self.clock()))
            if not component.ok:
                log.warning("%s answers again after %d failed calls", name, component.failures)
            component.ok, component.failures, component.since = True, 0, self.clock()
        if self.on_change is not None:
            self.on_change(name, True)

    def failed(self, name: str, error: str) -> None:
        """Record a call to ``name`` that failed with ``error``; log it at the first failure and every 30 s after."""
        now = self.clock()
        with self._lock:
            component = self.components.setdefault(name, Component(since=now))
            changed = component.ok
            component.failures += 1
            component.error = error
            if changed:
                component.ok, component.since = False, now
            if changed or now - component.logged >= LOG_EVERY_SECONDS:
                component.logged = now
                log.warning("%s failing (%d calls so far, retried): %s", name, component.failures, error)
        if changed and self.on_change is not None:
            self.on_change(name, False)

    @property
    def ok(self) -> bool:
        """Return True when no component is failing."""
        return all(c.ok for c in self.components.values())

    def report(self) -> dict[str, Any]:
        """Return the overall status and the state of each component (shown on the /health page)."""
        with self._lock:
            components = {
                name: {"ok": c.ok, "since": c.since, "error": c.error, "failures": c.failures}
                for name, c in sorted(self.components.items())
            }
        return {"status": "ok" if self.ok else "degraded", "components": components}
