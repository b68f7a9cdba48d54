"""The served models: each model's champion, verified and unpickled, swapped in when it changes.

Changes arrive on the registry's pub/sub channel (hot reload within milliseconds) and, as a
fallback for a lost message or a Redis restart, by polling. A new version is loaded off the event
loop and swapped in with one assignment: until then requests get the old one. A snapshot that
fails verification is refused, counted, and the old version keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from api.prometheus import ApiMetrics
from online_models.evaluation import ModelAnswer, PrequentialModel
from online_models.features import Features
from online_models.registry import ChampionRefused, Registry, RegistryError
from online_models.snapshot import SnapshotError, restore

ASKED_VERSIONS = 8  # versions other than the champions kept loaded for requests that name them
log = logging.getLogger("streamwise.api")


@dataclass(frozen=True, slots=True)
class Served:
    """A model version being served: the restored model and its snapshot's metadata.

    Examples
    --------
    >>> from online_models.config import ModelSpec
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> for x in [1.0, -1.0, 1.2, -0.8]:
    ...     _ = model.step({"x": x}, x > 0)
    >>> served = Served(model, {"version": 7, "events_seen": 4})   # metadata as the registry keeps it (a part)
    >>> served.version, served.generation, served.answer({"x": 1.1}).prediction
    (7, 1, True)
    >>> model.events   # answering does not count, nor learn
    4
    """

    model: PrequentialModel
    metadata: dict[str, Any]

    @property
    def version(self) -> int:
        """The registry version."""
        return int(self.metadata["version"])

    @property
    def generation(self) -> int:
        """The model's drift generation (the model itself knows it)."""
        return self.model.generation

    def answer(self, x: Features) -> ModelAnswer:
        """Return the model's answer for ``x`` (it does not learn from it)."""
        return self.model.answer(x)


class ModelServer:
    """The champion of each model in the registry, loaded and swapped in when it changes.

    Examples
    --------
    A registry in a temporary folder (the embedded demo's kind) with one version of ``nb``;
    ``refresh`` is what ``start`` does first, and what each change or poll does afterwards:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from online_models.config import ModelSpec
    >>> from online_models.registry import register
    >>> from online_models.storage.folder_registry import FileRegistry
    >>> folder = tempfile.TemporaryDirectory()
    >>> registry = FileRegistry(Path(folder.name), key=b"k" * 32)
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> for x in [1.0, -1.0, 1.2, -0.8]:
    ...     _ = model.step({"x": x}, x > 0)
    >>> _ = asyncio.run(register(registry, model, reason="example"))
    >>> server = ModelServer(registry, ApiMetrics())
    >>> asyncio.run(server.refresh())
    >>> served = server.models["nb"]
    >>> served.version, served.metadata["reason"], served.answer({"x": 1.1}).prediction
    (1, 'example', True)
    >>> asyncio.run(server.refresh())   # the champion did not change: nothing is loaded again
    >>> server.metrics.registry.get_sample_value("streamwise_api_model_loads_total", {"model": "nb"})
    1.0

    A champion record or a snapshot that fails verification (here: signed with another key) is
    refused, and /readyz names it:

    >>> other = ModelServer(FileRegistry(Path(folder.name), key=b"x" * 32), ApiMetrics())
    >>> asyncio.run(other.refresh())
    >>> other.models, list(other.refusals)
    ({}, ['nb'])
    >>> other.metrics.registry.get_sample_value("streamwise_snapshots_refused_total", {"reason": "tampered"})
    1.0
    >>> folder.cleanup()
    """

    def __init__(self, registry: Registry, metrics: ApiMetrics, poll_seconds: float = 1.0) -> None:
        self.registry = registry
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.models: dict[str, Served] = {}
        self.known: set[str] = set()  # every model name in the registry
        self.refused: set[tuple[str, int]] = set()  # versions that failed verification: not retried
        # Names whose champion is not served, and why (its record or its snapshot refused): /readyz says so.
        self.refusals: dict[str, str] = {}
        self._asked: OrderedDict[tuple[str, int], Served] = OrderedDict()  # versions asked for by name
        self.redis_error: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the champions (if Redis answers), then start watching and polling the registry for changes."""
        with contextlib.suppress(RedisError, OSError):
            await self.refresh()
        self._tasks = [asyncio.create_task(self._watch()), asyncio.create_task(self._poll())]

    async def stop(self) -> None:
        """Stop watching and polling the registry."""
        # Cancel until they have ended: on Python 3.11, asyncio.wait_for (redis-py sends each command through it
        # when a socket timeout is set) drops a cancellation that arrives as the write completes, and the task
        # goes on polling (CPython gh-86296, fixed in 3.12).
        pending = set(self._tasks)
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh(self, only: str | None = None) -> None:
        """Load every champion that differs from what is served."""
        async with self._lock:
            names = [only] if only else await self.registry.names()
            self.known.update(names)
            for name in names:
                try:
                    await self._refresh_one(name)
                except (RedisError, OSError):
                    raise
                except Exception:  # one bad entry must not stop the others, nor the reload tasks
                    log.exception("cannot refresh %s", name)

    async def _refresh_one(self, name: str) -> None:
        try:
            champion = await self.registry.served_champion(name)
        except ChampionRefused as exc:  # someone without the key chose a version: the last good one serves on
            self._refuse(name, str(exc), exc.reason)
            return
        served = self.models.get(name)
        if champion is None or (served is not None and served.version == champion.version):
            self.refusals.pop(name, None)
            return
        if (name, champion.version) not in self.refused:
            await self._load(name, champion.version)

    def _refuse(self, name: str, why: str, reason: str) -> None:
        if self.refusals.get(name) != why:  # each refusal logged and counted once
            self.refusals[name] = why
            self.metrics.snapshots_refused.labels(reason).inc()
            log.error("refused the champion of %s: %s", name, why)

    async def _load(self, name: str, version: int) -> None:
        try:
            snapshot = await self.registry.get(name, version)
            model = await asyncio.to_thread(restore, snapshot, self.registry.key)
        except SnapshotError as exc:
            self.refused.add((name, version))
            self._refuse(name, f"v{version}: {exc}", exc.reason)
            return
        except RegistryError as exc:
            log.warning("cannot load %s v%d: %s", name, version, exc)
            return
        self.models[name] = Served(model, snapshot.metadata)
        self.refusals.pop(name, None)
        self.metrics.reloads.labels(name).inc()
        log.info("serving %s v%d", name, version)

    async def version(self, name: str, version: int | None = None, candidate: str | None = None) -> Served:
        """Return a kept version of ``name`` other than the one served: ``version``, or ``candidate``'s newest.

        Verified and unpickled once, then kept among the last few asked for. RegistryError when the
        registry has no such version, SnapshotError when it is refused.
        """
        if version is None:
            own = [m["version"] for m in await self.registry.versions(name) if m.get("candidate", name) == candidate]
            if not own:
                raise RegistryError(f"model {name!r} has no version of candidate {candidate!r}")
            version = int(max(own))
        served = self._asked.get((name, version))
        if served is None:
            snapshot = await self.registry.get(name, version)
            model = await asyncio.to_thread(restore, snapshot, self.registry.key)
            served = self._asked[(name, version)] = Served(model, snapshot.metadata)
            while len(self._asked) > ASKED_VERSIONS:
                self._asked.popitem(last=False)
        self._asked.move_to_end((name, version))
        return served

    async def _watch(self) -> None:
        while True:
            try:
                async for _ in self.registry.changes():
                    await self.refresh()
                await asyncio.sleep(self.poll_seconds)  # a registry without notifications: poll
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the channel comes back; polling covers the gap
                log.warning("registry channel lost (%s); polling until it is back", exc)
                await asyncio.sleep(self.poll_seconds)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.refresh()
                self.redis_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.redis_error = f"{type(exc).__name__}: {exc}"
