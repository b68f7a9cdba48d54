"""/predict latency and hot-reload latency on loopback, next to a bare FastAPI endpoint.

    python bench/serving.py [--requests 2000] [--swaps 50]

Needs a redis-server (STREAMWISE_REDIS_URL; `make bench` starts one). One uvicorn process serves
the API with a logistic_regression champion; a second serves bench/bare_app.py (a constant JSON,
the same framework and server). Requests are sequential over one keep-alive connection, so the
figures are per-request latencies, not throughput. Hot reload: the time from a new version's
registration in Redis to the first /predict answered with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis
import redis.asyncio as aioredis

from online_models.config import ModelSpec
from online_models.datasets import samples
from online_models.evaluation import PrequentialModel
from online_models.registry import ModelRegistry, register
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-signing-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(target: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", *target, "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def latencies(url: str, body: dict, n: int) -> list[float]:
    out = []
    with httpx.Client() as client:
        for _ in range(100):  # warm-up
            client.post(url, json=body)
        for _ in range(n):
            started = time.perf_counter()
            response = client.post(url, json=body)
            out.append(time.perf_counter() - started)
            response.raise_for_status()
    return out


def quantiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000, max(values) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--swaps", type=int, default=50)
    args = parser.parse_args()
    settings = Settings()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    model = PrequentialModel(ModelSpec(name="lr", recipe="logistic_regression", task="binary"))
    data = list(samples("agrawal", 2000, seed=1))
    for x, y in data:
        model.step(x, y)
    loop = asyncio.new_event_loop()
    client = aioredis.from_url(settings.redis_url)
    registry = ModelRegistry(client, namespace, KEY.encode())
    loop.run_until_complete(register(registry, model, reason="bench"))

    env = dict(os.environ, STREAMWISE_REDIS_NAMESPACE=namespace, STREAMWISE_SNAPSHOT_KEY=KEY)
    api_port, bare_port = free_port(), free_port()
    api = start(["api.main:create_app", "--factory"], env, api_port)
    bare = start(["bench.bare_app:app"], env, bare_port)
    body = {"model": "lr", "features": data[0][0]}
    try:
        api_p50, api_p99, api_max = quantiles(latencies(f"http://127.0.0.1:{api_port}/predict", body, args.requests))
        bare_p50, bare_p99, bare_max = quantiles(
            latencies(f"http://127.0.0.1:{bare_port}/predict", body, args.requests)
        )
        reloads = []
        with httpx.Client() as http:
            for _ in range(args.swaps):
                model.step(*data[0])  # a (slightly) different model each time
                version = loop.run_until_complete(register(registry, model, reason="bench")).version
                registered = time.perf_counter()
                while http.post(f"http://127.0.0.1:{api_port}/predict", json=body).json()["model_version"] != version:
                    pass
                reloads.append(time.perf_counter() - registered)
    finally:
        api.terminate()
        bare.terminate()
        api.wait()
        bare.wait()
        connection = redis.Redis.from_url(settings.redis_url)
        for key in connection.scan_iter(f"{namespace}:*"):
            connection.delete(key)
        loop.run_until_complete(client.aclose())
    r50, r99, rmax = quantiles(reloads)
    print(f"/predict (logistic_regression), {args.requests} sequential requests on loopback:")
    print(f"  streamwise  p50 {api_p50:.2f} ms  p99 {api_p99:.2f} ms  max {api_max:.2f} ms")
    print(f"  bare        p50 {bare_p50:.2f} ms  p99 {bare_p99:.2f} ms  max {bare_max:.2f} ms")
    print(f"  ratio p50 {api_p50 / bare_p50:.2f}x  p99 {api_p99 / bare_p99:.2f}x")
    print(f"hot reload over {args.swaps} swaps: p50 {r50:.1f} ms  p99 {r99:.1f} ms  max {rmax:.1f} ms")


if __name__ == "__main__":
    main()
