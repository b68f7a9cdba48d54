"""`make bench`: every benchmark in one run, against baselines measured in the same run.

    python bench/run.py [--quick] [--repeat 3] [--only throughput,latency,serving,memory,overhead,tasks]

Needs Kafka and Redis (`make bench` starts them) and builds `.venv-quix` for the Quix Streams peer on
its first run. Writes bench/results.json (the machine, every figure, and a ``targets`` list of
{"name", "value", "target", "pass"}) and BENCHMARKS.md (the tables docs/benchmarks.md links to). Each
figure that has a target is printed as a ratio with pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import e2e, overhead, peers, report, tasks  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
REPORT = ROOT / "BENCHMARKS.md"
# Events per run: enough for several seconds of the slowest system on each model.
LR = "logistic_regression"
PAUSE = "checkpoint_pause_max_ms"  # the longest pause of the loop for a checkpoint round, in a run
EVENTS = {"logistic_regression": 100_000, "hoeffding_tree": 50_000, "adaptive_random_forest": 5_000}
QUICK = {"logistic_regression": 20_000, "hoeffding_tree": 10_000, "adaptive_random_forest": 1_500}


def machine() -> dict[str, Any]:
    """Return the machine the benchmarks run on: CPU, cores, memory, OS, Python, packages, Kafka, commit, date, load."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    mem_kib = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)
    )
    versions = {}
    for package in ("river", "faust-streaming", "confluent-kafka", "fastapi", "uvicorn", "redis"):
        from importlib.metadata import version

        versions[package] = version(package)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "kafka": kafka_version(),
        "commit": commit.strip(),
        "date": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "load_average_at_start": os.getloadavg()[0],
    }


def kafka_version() -> str:
    """Return the broker's version, as infra/kafka/pom.xml pins it ("unknown" when it does not)."""
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", (ROOT / "infra" / "kafka" / "pom.xml").read_text())
    return match.group(1) if match else "unknown"


def median_run(repeat: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Return the run with the median events/s of ``repeat`` runs, with every run's events/s.

    Its longest checkpoint pause is the median of the runs' too: one run's longest pause is a single
    sample, which a descheduled process on a shared machine can make of any length.
    """
    runs = [run() for _ in range(repeat)]
    runs.sort(key=lambda r: r["events_per_s"])
    chosen = dict(runs[len(runs) // 2])
    chosen["runs_events_per_s"] = [round(r["events_per_s"], 1) for r in runs]
    if all(PAUSE in r for r in runs):
        pauses = [r[PAUSE] for r in runs]
        chosen[PAUSE], chosen[f"runs_{PAUSE}"] = statistics.median(pauses), pauses
    return chosen


def throughput(bootstrap: str, redis_url: str, events: dict[str, int], repeat: int) -> dict[str, Any]:
    """Measure the learning throughput of every system, the row of each model of ``events`` by recipe.

    Per model: the bare loop, Streamwise, DIY and Quix on 1 partition, then Streamwise with 1 and 2
    workers on 4 partitions (and the peers there, for logistic_regression). Each figure is the median
    of ``repeat`` runs (see ``model_row``).
    """
    peers.ensure_quix_venv(ROOT)
    out: dict[str, Any] = {}
    for recipe, n in events.items():
        print(f"-- {recipe}, {n:,} events", flush=True)
        out[recipe] = model_row(bootstrap, redis_url, recipe, n, repeat)
        print_row(out[recipe])
    return out


def model_row(bootstrap: str, redis_url: str, recipe: str, n: int, repeat: int) -> dict[str, Any]:
    """Measure every system on ``n`` events of ``recipe``; return the median run of each, by system and partitions.

    Keys: ``bare``, ``streamwise_p1``, ``diy_p1``, ``quix_p1``, ``streamwise_p4_w1`` and ``_w2`` (and
    ``diy_p4``, ``quix_p4`` for logistic_regression); except for adaptive_random_forest (unseeded),
    ``same_accuracy_as_bare`` says whether each one-partition system reached the bare loop's accuracy.
    """
    raw, keys, pairs = peers.make_events(n)
    records = list(zip(keys, raw, strict=True))
    row: dict[str, Any] = {"events": n, "bare": median_run(repeat, partial(peers.bare_river, recipe, pairs))}
    for partitions in (1, 4):
        tag = f"p{partitions}"
        for name, peer in (("diy", peers.diy), ("quix", peers.quix)) if partitions == 1 or recipe == LR else ():
            row[f"{name}_{tag}"] = median_run(repeat, partial(run_peer, peer, bootstrap, recipe, records, partitions))
        for workers in (1, 2) if partitions > 1 else (1,):
            key = f"streamwise_{tag}" + (f"_w{workers}" if partitions > 1 else "")
            run = partial(e2e.streamwise, bootstrap, redis_url, recipe, n, partitions=partitions, workers=workers)
            row[key] = median_run(repeat, run)
    if recipe != "adaptive_random_forest":  # River's ARF defaults to seed=None: no two runs agree
        row["same_accuracy_as_bare"] = {
            name: row[name]["accuracy"] == row["bare"]["accuracy"] for name in ("streamwise_p1", "diy_p1", "quix_p1")
        }
    return row


def run_peer(peer: Callable[..., dict[str, Any]], bootstrap: str, recipe: str, records: list, partitions: int) -> dict:
    """Measure one run of ``peer`` on a fresh input topic of its own, and return its figures."""
    return peer(bootstrap, f"bench-raw-{uuid.uuid4().hex[:8]}", recipe, records, partitions)


def print_row(row: dict[str, Any]) -> None:
    """Print the events/s and CPU-seconds per 100k events of each system of a model's ``row``, on one line."""
    rates = {k: v for k, v in row.items() if isinstance(v, dict) and "events_per_s" in v}
    print(
        "   "
        + ", ".join(
            f"{k} {v['events_per_s']:,.0f}/s {v.get('cpu_per_100k', '-')} cpu-s/100k" for k, v in rates.items()
        ),
        flush=True,
    )


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the figures of ``results`` that have a target: each one's name, value, target and pass.

    Most values are ratios (Streamwise's events/s or CPU-seconds per event to a peer's, 2 workers' to 1's);
    the others are in ms (latency, checkpoint pause, serving) or a ratio of RSS.
    """
    found: list[dict[str, Any]] = []

    def target(name: str, value: float, bound: float, at_least: bool = True) -> None:
        ok = value >= bound if at_least else value <= bound
        found.append({"name": name, "value": round(value, 3), "target": ("≥ " if at_least else "≤ ") + f"{bound:g}"})
        found[-1]["pass"] = ok

    for recipe, row in results.get("throughput", {}).items():
        sw, quix = row["streamwise_p1"], row["quix_p1"]
        target(
            f"{recipe}, 1 partition: events/s, Streamwise / Quix Streams",
            sw["events_per_s"] / quix["events_per_s"],
            1.0,
        )
        if recipe == LR:
            target(
                f"{recipe}, 1 partition: events/s, Streamwise / bare River loop",
                sw["events_per_s"] / row["bare"]["events_per_s"],
                0.5,
            )
        target(
            f"{recipe}: CPU-seconds per event, Streamwise / Quix Streams",
            sw["cpu_per_100k"] / quix["cpu_per_100k"],
            1.0,
            at_least=False,
        )
        one, two = row["streamwise_p4_w1"], row["streamwise_p4_w2"]
        target(
            f"{recipe}, 4 partitions: CPU per event, 2 workers / 1 worker",
            two["cpu_per_100k"] / one["cpu_per_100k"],
            1.1,
            at_least=False,
        )
        pause = max(r[PAUSE] for k, r in row.items() if k.startswith("streamwise"))
        target(f"{recipe}: longest checkpoint pause of the loop (ms)", pause, 50.0, at_least=False)
    latency = results.get("latency")
    if latency:
        target(
            "logistic_regression: latency p99, produce to prediction (ms)",
            latency["streamwise"]["p99_ms"],
            100.0,
            at_least=False,
        )
    serving = results.get("serving")
    if serving:
        target("/predict p99 at 1,000 req/s (ms)", serving["predict_p99_ms"], 5.0, at_least=False)
        target("/predict max req/s / bare FastAPI", serving["predict_max_rps"] / serving["bare_max_rps"], 0.6)
        target("new version served, p99 over swaps (ms)", serving["swap_p99_ms"], 1000.0, at_least=False)
    memory = results.get("memory")
    if memory:
        rss = memory["rss_kib"]
        target("worker RSS at 1M events / at 200k", rss["1000000"] / rss["200000"], 1.10, at_least=False)
    return found


def main() -> None:
    """Run the benchmarks the command line asks for; write bench/results.json and BENCHMARKS.md; print the targets.

    A quick run (``--quick``) does not write BENCHMARKS.md (the figures the docs quote).
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMWISE_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--redis-url", default=os.environ.get("STREAMWISE_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "3")))
    parser.add_argument("--quick", action="store_true", help="fewer events: a smoke run, not for the docs")
    parser.add_argument("--only", default="throughput,latency,serving,memory,overhead,tasks")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "repeat": args.repeat}
    if "overhead" in parts:
        results["overhead"] = overhead.run(20_000 if args.quick else 50_000)
        print("overhead:", json.dumps(results["overhead"]["ratios"]), flush=True)
    if "tasks" in parts:
        results["tasks"] = tasks.run(5_000 if args.quick else 20_000, args.repeat, log=partial(print, "tasks:"))
    if "throughput" in parts:
        results["throughput"] = throughput(args.bootstrap, args.redis_url, QUICK if args.quick else EVENTS, args.repeat)
    if "latency" in parts:
        from bench import latency

        quix_max = results.get("throughput", {}).get(LR, {}).get("quix_p1", {}).get("events_per_s", 20_000)
        results["latency"] = latency.run(args.bootstrap, args.redis_url, quix_max / 2, 4.0 if args.quick else 10.0)
        print("latency:", json.dumps(results["latency"]), flush=True)
    if "serving" in parts:
        from bench import serving

        results["serving"] = serving.run(seconds=2.0 if args.quick else 5.0, swaps=20 if args.quick else 50)
        print("serving:", json.dumps(results["serving"]), flush=True)
    if "memory" in parts:
        marks = (40_000, 200_000) if args.quick else (200_000, 1_000_000)
        results["memory"] = e2e.memory_run(args.bootstrap, args.redis_url, marks)
        if args.quick:  # the ratio's keys are the full run's marks
            results["memory"]["rss_kib"] = dict(
                zip(("200000", "1000000"), results["memory"]["rss_kib"].values(), strict=True)
            )
        print("memory:", json.dumps(results["memory"]), flush=True)
    results["targets"] = targets(results)
    results["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    if not args.quick:  # a smoke run must not replace the figures the docs quote
        report.write(results)
    for t in results["targets"]:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['name']}: {t['value']:g} (target {t['target']})")
    print(f"wrote {RESULTS.relative_to(ROOT)} and {REPORT.name} in {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
