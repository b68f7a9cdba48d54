"""Serving benchmark: POST /predict under load, next to a bare FastAPI endpoint, and hot reload.

    python bench/serving.py [--rate 1000] [--seconds 5] [--swaps 50] [--connections 8] [--json]

Needs a redis-server (STREAMWISE_REDIS_URL; `make bench` starts one). One uvicorn process serves
``streams.cli.serve:create_api`` (as ``streamwise api`` does) with a logistic_regression champion
registered in its own Redis namespace (removed afterwards); a second serves bench/bare_app.py (a
constant JSON: same framework, server and body). The load comes from bench/loadgen.py, in this
process, over loopback keep-alive:

- fixed rate (open loop): ``rate`` requests/s for 1 s of warm-up then ``seconds``, each latency
  measured from the request's scheduled send time (no coordinated omission). The bare endpoint's
  figures are the floor: the generator's and the framework's own cost.
- max throughput (closed loop): ``connections`` connections sending back to back for ``seconds`` in
  all, in 5 slices alternating between the two servers (each slice after 0.2 s of warm-up), so that
  a change in the machine's load (other processes) weighs on both alike.
- the CPU time each server process spent (from /proc): per request at max throughput, and as a
  share of one core at the fixed rate; with the machine's CPU pressure, to judge a contended run.
- hot reload: ``swaps`` times, a new version is saved to the registry (the model is pickled and
  signed before the clock starts: that is the worker's cost) and /predict is polled on one
  connection until it answers with that version.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from online_models.config import ModelSpec
from online_models.datasets import samples
from online_models.evaluation import PrequentialModel
from online_models.registry import register
from online_models.snapshot import take
from online_models.storage.redis_registry import ModelRegistry
from streams.settings import Settings

try:
    from bench.loadgen import Address, Connection, Run, closed_loop, exchange, open_loop, post
except ModuleNotFoundError:  # run as a script: bench/ itself is on sys.path
    from loadgen import Address, Connection, Run, closed_loop, exchange, open_loop, post  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-signing-key-0123456789abcdef"
WARMUP = 1.0
SLICES = 5  # of the max-throughput test, each with 0.2 s of warm-up
SWAP_TIMEOUT = 10.0
Figures = dict[str, float | int]


def free_port() -> int:
    """Return a TCP port free on loopback now (for a server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(target: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Address]:
    """Start a uvicorn process serving ``target`` on a free port, in ``env``; return it and its address."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", *target, "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(command, env=env, cwd=ROOT), ("127.0.0.1", port)


def wait_ready(process: subprocess.Popen[bytes], address: Address, timeout: float = 60.0) -> None:
    """Wait until GET /readyz answers 200 (for the API: Redis answers and the champion is loaded).

    Raise RuntimeError when it does not within ``timeout`` seconds, or the process ends first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            connection = http.client.HTTPConnection(*address, timeout=1)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server on port {address[1]} did not get ready")


def ms(values: list[float]) -> tuple[float, float, float]:
    """Return the p50, p99 and max of ``values`` (seconds), in milliseconds (NaN for no values)."""
    if len(values) < 2:
        return (values[0] * 1000,) * 3 if values else (float("nan"),) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000, max(values) * 1000


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time of process ``pid`` so far, in seconds (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def contention() -> Figures:
    """Return how busy the machine was: its CPU pressure over the last 60 s (%), and the 1-minute load average.

    The pressure is the share of the last 60 s in which some runnable task waited for a CPU (Linux
    pressure stall information; the other sessions' work shows here), left out where the kernel has none.
    """
    figures: Figures = {"loadavg_1m_after": round(os.getloadavg()[0], 2)}
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        figures["cpu_pressure_avg60_pct"] = float(some[2].removeprefix("avg60="))
    except (OSError, IndexError, ValueError):
        pass
    return figures


def measured(pid: int, load: Callable[[], Run]) -> tuple[Run, float]:
    """Run ``load``; return the run, and the CPU seconds the server process ``pid`` spent over it."""
    before = cpu_seconds(pid)
    run = load()
    return run, cpu_seconds(pid) - before


def fixed_rate(prefix: str, run: Run, server_cpu: float) -> Figures:
    """Return the figures of a fixed-rate ``run`` of server ``prefix``, each key beginning with ``prefix``.

    Latency p50, p99 and max (ms), the rate achieved (requests/s), errors, connections used, and the
    CPU time of the load generator and of the server (``server_cpu``, seconds) as a percent of one core.
    """
    p50, p99, top = ms(run.latencies)
    return {
        f"{prefix}_p50_ms": round(p50, 3),
        f"{prefix}_p99_ms": round(p99, 3),
        f"{prefix}_max_ms": round(top, 3),
        f"{prefix}_rate_achieved": round(run.rate, 1),
        f"{prefix}_errors": run.errors,
        f"{prefix}_connections": run.connections,
        f"{prefix}_loadgen_cpu_pct": round(100 * run.cpu / run.wall, 1),
        f"{prefix}_server_cpu_pct": round(100 * server_cpu / run.wall, 1),
    }


def max_rate(prefix: str, run: Run, server_cpu: float) -> Figures:
    """Return the figures of a max-throughput ``run`` of server ``prefix``, each key beginning with ``prefix``.

    The rate (requests/s), its latency p50 and p99 (ms), errors, the load generator's CPU time as a
    percent of one core, and the server's CPU time per request in microseconds (``server_cpu``: seconds).
    """
    p50, p99, _ = ms(run.latencies)
    return {
        f"{prefix}_max_rps": round(run.rate, 1),
        f"{prefix}_max_rps_p50_ms": round(p50, 3),
        f"{prefix}_max_rps_p99_ms": round(p99, 3),
        f"{prefix}_max_rps_errors": run.errors,
        f"{prefix}_max_rps_loadgen_cpu_pct": round(100 * run.cpu / run.wall, 1),
        f"{prefix}_server_cpu_us_per_request": round(1e6 * server_cpu / run.answers, 1),
    }


async def swap_times(
    registry: ModelRegistry, model: PrequentialModel, data: list[tuple[dict, Any]], address: Address, n: int
) -> list[float]:
    """Measure ``n`` hot reloads: the seconds from each new version's save to the first /predict answered with it.

    A version not served within ``SWAP_TIMEOUT`` seconds counts as ``SWAP_TIMEOUT``.
    """
    request = post(address, "/predict", orjson.dumps({"model": "lr", "features": data[0][0]}))
    connection = Connection(address)
    out: list[float] = []
    try:
        for i in range(n):
            model.step(*data[i % len(data)])  # a (slightly) different model, that learned more
            version = await registry.next_version(model.slot)
            snapshot = take(model, version=version, partition=0, offsets={}, reason="bench", key=registry.key)
            started = time.perf_counter()
            await registry.save(snapshot)
            while time.perf_counter() - started < SWAP_TIMEOUT:
                status, body = exchange(connection, request)
                if status == 200 and orjson.loads(body)["version"] == version:
                    out.append(time.perf_counter() - started)
                    break
            else:
                out.append(SWAP_TIMEOUT)
    finally:
        connection.close()
    return out


def check_answers(addresses: dict[str, Address], requests: dict[str, bytes]) -> None:
    """Send each server its request once: anything but 200 stops the benchmark, naming the server."""
    for name in ("bare", "predict"):
        status, answer = exchange(probe := Connection(addresses[name]), requests[name])
        probe.close()
        if status != 200:
            raise RuntimeError(f"{name}: /predict answered {status}: {answer[:200]!r}")


def load_figures(
    addresses: dict[str, Address],
    requests: dict[str, bytes],
    pids: dict[str, int],
    requests_rate: int,
    seconds: float,
    connections: int,
) -> Figures:
    """Measure the latency at ``requests_rate`` (open loop), then the maximum rate (closed loop), of each server.

    Return the figures of ``fixed_rate`` and ``max_rate`` for both servers, ``bare_*`` and ``predict_*``.
    """
    figures: Figures = {}
    for name in ("bare", "predict"):
        load = partial(open_loop, addresses[name], requests[name], requests_rate, seconds, WARMUP)
        figures |= fixed_rate(name, *measured(pids[name], load))
    totals = {name: (Run(connections=connections), 0.0) for name in ("bare", "predict")}
    for _ in range(SLICES):  # alternate, so a change of the machine's load hits both alike
        for name, (total, cpu) in totals.items():
            load = partial(closed_loop, addresses[name], requests[name], connections, seconds / SLICES, 0.2)
            part, part_cpu = measured(pids[name], load)
            totals[name] = (total.add(part), cpu + part_cpu)
    for name, (total, cpu) in totals.items():
        figures |= max_rate(name, total, cpu)
    return figures


def run(requests_rate: int = 1000, seconds: float = 5.0, swaps: int = 50, connections: int = 8) -> Figures:
    """Run the serving benchmark and return every figure, flat (times in ms, rates in requests/s)."""
    settings = Settings()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    model = PrequentialModel(ModelSpec(name="lr", recipe="logistic_regression", task="binary"))
    data = list(samples("agrawal", 2000, seed=1))
    for x, y in data:
        model.step(x, y)
    loop = asyncio.new_event_loop()
    client = aioredis.from_url(settings.redis_url)
    registry = ModelRegistry(client, namespace, KEY.encode())
    env = dict(
        os.environ,
        STREAMWISE_REDIS_URL=settings.redis_url,
        STREAMWISE_REDIS_NAMESPACE=namespace,
        STREAMWISE_SNAPSHOT_KEY=KEY,
        STREAMWISE_PREDICT_REQUIRES_KEY="false",  # whatever the caller's environment says
    )
    servers: list[subprocess.Popen[bytes]] = []
    figures: Figures = {
        "cpus": os.cpu_count() or 0,
        "loadavg_1m_before": round(os.getloadavg()[0], 2),
        # uvicorn's defaults take these when installed (C HTTP parser, libuv loop): h11 and asyncio otherwise
        "httptools": int(importlib.util.find_spec("httptools") is not None),
        "uvloop": int(importlib.util.find_spec("uvloop") is not None),
    }
    try:
        loop.run_until_complete(register(registry, model, reason="bench"))
        # As `streamwise api` runs it (which sets STREAMWISE_TUNE_GC), with uvicorn's own options here.
        api, api_address = launch(["streams.cli.serve:create_api", "--factory"], {**env, "STREAMWISE_TUNE_GC": "true"})
        servers.append(api)
        bare, bare_address = launch(["bench.bare_app:app"], env)
        servers.append(bare)
        wait_ready(api, api_address)
        wait_ready(bare, bare_address)
        body = orjson.dumps({"model": "lr", "features": data[0][0]})
        requests = {"predict": post(api_address, "/predict", body), "bare": post(bare_address, "/predict", body)}
        addresses = {"predict": api_address, "bare": bare_address}
        check_answers(addresses, requests)
        pids = {"predict": api.pid, "bare": bare.pid}
        figures |= load_figures(addresses, requests, pids, requests_rate, seconds, connections)
        figures["max_rps_ratio"] = round(figures["predict_max_rps"] / figures["bare_max_rps"], 3)
        figures["rate_target"] = requests_rate
        figures["connections"] = connections
        reloads = loop.run_until_complete(swap_times(registry, model, data, api_address, swaps))
        p50, p99, top = ms(reloads)
        figures |= {
            "swap_p50_ms": round(p50, 2),
            "swap_p99_ms": round(p99, 2),
            "swap_max_ms": round(top, 2),
            "swaps": len(reloads),
            "swap_timeouts": reloads.count(SWAP_TIMEOUT),
        }
        figures |= contention()
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait()
        connection = redis.Redis.from_url(settings.redis_url)
        for key in connection.scan_iter(f"{namespace}:*"):
            connection.delete(key)
        connection.close()
        loop.run_until_complete(client.aclose())
        loop.close()
    return figures


def _sides(f: Figures) -> list[tuple[str, Figures]]:
    """Return the figures of each server, ``predict_*`` and ``bare_*``, without their prefix."""
    return [
        (label, {key.removeprefix(name + "_"): value for key, value in f.items() if key.startswith(name + "_")})
        for name, label in (("predict", "streamwise"), ("bare", "bare"))
    ]


def summary(f: Figures) -> str:
    """Return the figures ``f`` as a report for people: one line per test and server, with the targets."""

    def mark(ok: bool) -> str:
        return "pass" if ok else "FAIL"

    rate = f["rate_target"]
    lines = [
        f"POST /predict (logistic_regression) vs a bare FastAPI endpoint, loopback, {f['cpus']} CPUs "
        f"(uvicorn with {'httptools' if f['httptools'] else 'h11'} and {'uvloop' if f['uvloop'] else 'asyncio'}; "
        f"load average {f['loadavg_1m_before']} before, {f['loadavg_1m_after']} after)",
        f"fixed rate {rate} requests/s (open loop, latency from the scheduled send time):",
    ]
    for label, g in _sides(f):
        lines.append(
            f"  {label:<10}  p50 {g['p50_ms']:.2f} ms  p99 {g['p99_ms']:.2f} ms  max {g['max_ms']:.2f} ms  "
            f"achieved {g['rate_achieved']:.0f}/s  errors {g['errors']}  "
            f"CPU: server {g['server_cpu_pct']:.0f}%, load generator {g['loadgen_cpu_pct']:.0f}%"
        )
    lines.append(f"max throughput ({f['connections']} keep-alive connections, closed loop, alternating slices):")
    for label, g in _sides(f):
        lines.append(
            f"  {label:<10}  {g['max_rps']:.0f} requests/s  p50 {g['max_rps_p50_ms']:.2f} ms  "
            f"p99 {g['max_rps_p99_ms']:.2f} ms  server CPU {g['server_cpu_us_per_request']:.0f} us/request  "
            f"(load generator {g['max_rps_loadgen_cpu_pct']:.0f}% CPU)"
        )
    lines += [
        f"  ratio {f['max_rps_ratio']:.2f} (target >= 0.60: {mark(f['max_rps_ratio'] >= 0.6)})",
        f"  /predict p99 at {rate}/s: {f['predict_p99_ms']:.2f} ms (target <= 5 ms: {mark(f['predict_p99_ms'] <= 5)})",
        f"hot reload over {f['swaps']} swaps: p50 {f['swap_p50_ms']:.1f} ms  p99 {f['swap_p99_ms']:.1f} ms  "
        f"max {f['swap_max_ms']:.1f} ms (target p99 <= 1000 ms: {mark(f['swap_p99_ms'] <= 1000)})",
    ]
    return "\n".join(lines)


def main() -> None:
    """Run the serving benchmark as the command line asks, and print its report (or its figures as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000, help="requests/s of the fixed-rate test")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per test (after 1 s warm-up)")
    parser.add_argument("--swaps", type=int, default=50)
    parser.add_argument("--connections", type=int, default=8, help="connections of the max-throughput test")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args.rate, args.seconds, args.swaps, args.connections)
    print(json.dumps(figures, indent=2) if args.json else summary(figures))


if __name__ == "__main__":
    main()
