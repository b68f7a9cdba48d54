"""The local stack without Docker: infra/stack.sh starts Prometheus, the worker and the API on free
ports with this test's own consumer group, topics, Redis namespace and run folder; events flow;
``streamwise status --json`` sees it all; stop stops exactly what start started. Kafka and Redis
are the session's (never stopped here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from online_models.datasets import synthetic_events
from streams.kafka import topics
from streams.kafka.producer import encode_event, produce
from streams.testing import ROOT, StreamEnv, free_port, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

STACK = ROOT / "infra" / "stack.sh"
PROCESSES = ("prometheus", "worker", "api")
EVENTS = 3000


def _stack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(STACK), command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _status(env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "streams", "status", "--json", "--alerts", "5"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return orjson.loads(result.stdout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _predicted(client: redis.Redis, namespace: str) -> int:
    docs = client.hgetall(f"{namespace}:models:lr:status").values()
    return sum(orjson.loads(doc)["events"] for doc in docs)


def _caught_up(env: dict[str, str]) -> dict | None:
    """The status once every partition's committed offset reached its high watermark and the
    registry holds a version of lr."""
    doc = _status(env)
    rows = doc["lag"]["rows"]
    models = {m["model"]: m for m in doc["models"]["rows"]}
    if rows and all(r["lag"] == 0 for r in rows) and models.get("lr", {}).get("versions"):
        return doc
    return None


def _scraped(port: int) -> bool:
    targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
    return {t["labels"]["job"]: t["health"] for t in targets} == {"streamwise-worker": "up", "streamwise-api": "up"}


def test_stack_runs_reports_and_stops_only_its_processes(stream_env: StreamEnv, tmp_path: Path) -> None:
    started = time.monotonic()
    stream_env.partitions = 2
    stream_env.write_config(
        [{"name": "lr", "recipe": "logistic_regression", "task": "binary", "snapshot": {"every_events": 1000}}]
    )
    run_dir = tmp_path / "run"
    ports = {name: free_port() for name in ("API", "METRICS", "WEB", "PROMETHEUS")}
    env = stream_env.env(
        STREAMWISE_RUN_DIR=str(run_dir),
        STREAMWISE_PYTHON=sys.executable,
        STREAMWISE_CHECKPOINT_EVERY_SECONDS="1",  # the engine commits at each checkpoint
        **{f"STREAMWISE_{name}_PORT": str(port) for name, port in ports.items()},
    )
    try:
        start = _stack("start", env)
        assert start.returncode == 0, start.stdout + start.stderr
        pids = {name: int((run_dir / f"{name}.pid").read_text()) for name in PROCESSES}
        again = _stack("start", env)  # idempotent: nothing new
        assert again.returncode == 0 and again.stdout.count("already running") == 3, again.stdout + again.stderr
        assert {name: int((run_dir / f"{name}.pid").read_text()) for name in PROCESSES} == pids

        raw = stream_env.topic(topics.RAW)
        report = produce(stream_env.bootstrap, ((raw, *encode_event(e)) for e in synthetic_events("agrawal", EVENTS)))
        assert report.delivered == EVENTS, report.errors[:3]
        client = redis.Redis.from_url(stream_env.redis_url)
        wait_for(lambda: _predicted(client, stream_env.name) == EVENTS, 40, 0.5, "the worker's predictions")

        doc = wait_for(lambda: _caught_up(env), 20, 0.5, "lag 0 and a model version in streamwise status")
        states = {p["name"]: (p["state"], p["pid"]) for p in doc["processes"]}
        assert {name: states[name] for name in PROCESSES} == {name: ("running", pids[name]) for name in PROCESSES}
        assert states["kafka"][0] in {"running", "external"} and states["redis"][0] in {"running", "external"}
        assert doc["lag"]["group"] == stream_env.name and doc["lag"]["error"] is None
        lag = {(r["topic"], r["partition"]): r for r in doc["lag"]["rows"]}
        assert set(lag) == {(stream_env.topic(t), p) for t in topics.INPUTS for p in (0, 1)}
        assert sum(lag[(raw, p)]["high"] for p in (0, 1)) == EVENTS
        lr = next(m for m in doc["models"]["rows"] if m["model"] == "lr")
        assert lr["champion"] is not None and lr["champion"] in lr["versions"]
        live = [row for row in doc["live"]["rows"] if row["model"] == "lr"]
        assert sum(row["events"] for row in live) == EVENTS
        assert doc["alerts"]["error"] is None

        metrics = httpx.get(f"http://127.0.0.1:{ports['METRICS']}/metrics", timeout=5).text
        assert f'streamwise_consumer_lag{{partition="0",topic="{raw}"}} 0.0' in metrics
        assert 'streamwise_snapshot_timestamp_seconds{model="lr"}' in metrics
        wait_for(lambda: _scraped(ports["PROMETHEUS"]), 15, 0.5, "Prometheus scraping the worker and the API")

        # The commands work against the stack with no setting of the caller's: start wrote them down.
        settings = run_dir / "env"
        assert settings.stat().st_mode & 0o077 == 0 and "admin API key: " in start.stdout
        key = start.stdout.split("admin API key: ")[1].split()[0]
        bare = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "STREAMWISE_ENV_FILE": str(settings)}
        listing = subprocess.run([sys.executable, "-m", "streams", "models", "list"], env=bare, cwd=ROOT,
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        assert listing.returncode == 0 and "lr" in listing.stdout, listing.stdout + listing.stderr
        admin = httpx.post(f"http://127.0.0.1:{ports['API']}/models/lr/promote", json={"version": None},
                           headers={"X-API-Key": key}, timeout=10)  # fmt: skip
        assert admin.status_code == 200, admin.text
    finally:
        stop = _stack("stop", env)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert all(not _alive(pid) for pid in pids.values()), stop.stdout
    assert not any((run_dir / f"{name}.pid").exists() for name in PROCESSES)
    assert (run_dir / "logs" / "worker.log").stat().st_size > 0

    # A pid file naming someone else's process (a pid reused) is not obeyed.
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        (run_dir / "worker.pid").write_text(str(stranger.pid))
        stop = _stack("stop", env)
        assert stop.returncode == 0 and "worker not running" in stop.stdout
        assert stranger.poll() is None
    finally:
        stranger.send_signal(signal.SIGKILL)
        stranger.wait()
    assert (
        subprocess.run(["redis-cli", "-u", stream_env.redis_url, "ping"], capture_output=True, text=True).stdout.strip()
        == "PONG"
    )
    assert time.monotonic() - started < 60


def test_a_process_that_does_not_come_up_fails_the_start_with_its_log(stream_env: StreamEnv, tmp_path: Path) -> None:
    """Without STREAMWISE_SNAPSHOT_KEY and with STREAMWISE_DEV=0 the worker stops at start-up: the
    start fails, naming the setting from the worker's log; stop then stops what did start."""
    stream_env.write_config([{"name": "lr", "recipe": "logistic_regression", "task": "binary"}])
    run_dir = tmp_path / "run"
    env = stream_env.env(
        STREAMWISE_RUN_DIR=str(run_dir),
        STREAMWISE_PYTHON=sys.executable,
        STREAMWISE_DEV="0",
        **{f"STREAMWISE_{name}_PORT": str(free_port()) for name in ("API", "METRICS", "WEB", "PROMETHEUS")},
    )
    del env["STREAMWISE_SNAPSHOT_KEY"]
    try:
        start = _stack("start", env)
        assert start.returncode == 1, start.stdout + start.stderr
        assert "stack.sh: worker: exited during start-up" in start.stderr
        assert f"last lines of {run_dir}/logs/worker.log" in start.stderr and "STREAMWISE_SNAPSHOT_KEY" in start.stderr
        assert not (run_dir / "worker.pid").exists() and not (run_dir / "api.pid").exists()
        prometheus = int((run_dir / "prometheus.pid").read_text())
    finally:
        stop = _stack("stop", env)
    assert "prometheus stopped" in stop.stdout and "worker not running" in stop.stdout, stop.stdout
    assert not _alive(prometheus)
