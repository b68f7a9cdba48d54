"""An isolated Streamwise world for integration tests and benchmarks.

It has its own topic prefix, consumer group (app id), Redis namespace and model config, against a
real broker and Redis, with the worker and the CLI as processes (as the tests' ``stream_env``
fixture and ``bench/`` use it).

Here, not in the tests' conftest, so that bench/ imports no tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
import yaml

from streams.kafka import admin, topics

ROOT = Path(__file__).resolve().parents[1]  # the repository: commands run from there
SIGNING_KEY = "integration-test-signing-key"  # the snapshot key of a StreamEnv's workers


def free_port() -> int:
    """Return a TCP port free on loopback now (for a worker's web server, an API, Prometheus)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StreamEnv:
    """One test's isolated world: topic prefix, app id (consumer group), Redis namespace, config."""

    bootstrap: str
    redis_url: str
    tmp: Path
    partitions: int = 1
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    workers: list[subprocess.Popen] = field(default_factory=list)
    web_ports: dict[int, int] = field(default_factory=dict)  # worker pid -> its web server's port

    @property
    def prefix(self) -> str:
        """Return the topic prefix of this world: its name and a dot."""
        return f"{self.name}."

    def topic(self, name: str) -> str:
        """Return the full name of topic ``name`` in this world."""
        return f"{self.prefix}{name}"

    def env(self, **extra: str) -> dict[str, str]:
        """Return the environment of this world's processes: ``os.environ``, its settings, then ``extra``."""
        env = dict(os.environ)
        env.update(
            STREAMWISE_KAFKA_BOOTSTRAP=self.bootstrap,
            STREAMWISE_REDIS_URL=self.redis_url,
            STREAMWISE_TOPIC_PREFIX=self.prefix,
            STREAMWISE_APP_ID=self.name,
            STREAMWISE_REDIS_NAMESPACE=self.name,
            STREAMWISE_PARTITIONS=str(self.partitions),
            STREAMWISE_CONFIG=str(self.tmp / "models.yaml"),
            STREAMWISE_METRICS_PORT="0",
            STREAMWISE_STATUS_INTERVAL="0.5",
            STREAMWISE_LOG_LEVEL="warning",
            STREAMWISE_SNAPSHOT_KEY=SIGNING_KEY,
        )
        env.update(extra)
        return env

    def write_config(self, models: list[dict], **sections: object) -> Path:
        """Write the model config of this world (``models`` and other ``sections``); return its path."""
        path = self.tmp / "models.yaml"
        path.write_text(yaml.safe_dump({"models": models, **sections}))
        return path

    def cli(self, *args: str, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
        """Run ``streamwise *args`` in this world and return the finished process (output captured)."""
        return subprocess.run(
            [sys.executable, "-m", "streams", *args],
            env=self.env(**extra_env),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=check,
        )

    def create_topics(self) -> None:
        """Create every topic of this world with ``partitions`` partitions and the topics' configs."""
        configs = {self.topic(t): config for t, config in topics.CONFIGS.items()}
        admin.create_topics(self.bootstrap, [self.topic(t) for t in topics.ALL], self.partitions, configs=configs)

    def start_worker(self, **extra_env: str) -> subprocess.Popen:
        """Start a worker in this world with its own web port and log file; return its process."""
        log = (self.tmp / f"worker-{len(self.workers)}.log").open("w")
        port = free_port()
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
            env=self.env(STREAMWISE_WEB_PORT=str(port), **extra_env),
            cwd=self.tmp,  # Faust's <app-id>-data folder goes there, not into the repository
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(worker)
        self.web_ports[worker.pid] = port
        return worker

    def health(self, worker: subprocess.Popen) -> tuple[int, dict]:
        """Return the worker's /health page: status code and report (0, {} while it does not answer)."""
        try:
            response = httpx.get(f"http://127.0.0.1:{self.web_ports[worker.pid]}/health", timeout=2)
        except httpx.HTTPError:
            return 0, {}
        return response.status_code, response.json()

    def stop_worker(self, worker: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` to ``worker`` and wait for it to end; kill it if it is still there after 30 s."""
        worker.send_signal(sig)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    def worker_logs(self) -> str:
        """Return the logs of every worker started, one after the other."""
        return "\n".join(p.read_text() for p in sorted(self.tmp.glob("worker-*.log")))

    def cleanup(self) -> None:
        """Kill the workers still running, then delete this world's topics and Redis keys."""
        for worker in self.workers:
            if worker.poll() is None:
                self.stop_worker(worker, signal.SIGKILL)
        names = [
            n for n in admin.admin_client(self.bootstrap).list_topics(timeout=10).topics if n.startswith(self.name)
        ]
        if names:
            admin.delete_topics(self.bootstrap, names)
        client = redis.Redis.from_url(self.redis_url)
        for key in client.scan_iter(f"{self.name}:*"):
            client.delete(key)


@contextmanager
def background(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Run a process beside the test (an API, Prometheus); terminate, then kill it on the way out."""
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(predicate, timeout: float, interval: float = 0.25, what: str = "condition", describe=None):  # type: ignore[no-untyped-def]
    """Return ``predicate()`` once it is truthy.

    Past ``timeout``, raise an AssertionError that says what was awaited and, with ``describe``,
    where things stood (the counts of a fault test).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    where = f"\n{describe()}" if describe is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{where}")
