"""BENCHMARKS.md from bench/results.json: the machine, the tables, the targets.

python bench/report.py   # rewrites BENCHMARKS.md from the committed results
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = (
    ("bare", "bare River loop (the limit)"),
    ("streamwise_p1", "Streamwise (the engine)"),
    ("diy_p1", "hand-written confluent-kafka loop"),
    ("quix_p1", "Quix Streams 3.28.1"),
)
SCALE = (
    ("streamwise_p4_w1", "Streamwise, 1 worker"),
    ("streamwise_p4_w2", "Streamwise, 2 workers"),
    ("diy_p4", "hand-written loop, 1 process"),
    ("quix_p4", "Quix Streams, 1 process"),
)


def rate(row: dict[str, Any], key: str) -> str:
    """Return the events/s of system ``key`` in a recipe's ``row``, as a table cell ("-" when not measured)."""
    found = row.get(key)
    return f"{found['events_per_s']:,.0f}" if found else "-"


def cpu(row: dict[str, Any], key: str) -> str:
    """Return the CPU-seconds per 100k events of system ``key`` in ``row``, as a table cell ("-" when unknown)."""
    found = row.get(key)
    return f"{found['cpu_per_100k']:.2f}" if found and "cpu_per_100k" in found else "-"


def machine_line(m: dict[str, Any]) -> str:
    """Return the machine ``m`` of the results in one line: hardware, software, commit, date and load."""
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}; Python {m['python']}; "
        f"Apache Kafka {m['kafka']} (one broker on loopback); {packages}. Commit {m['commit']}, {m['date']}; "
        f"load average {m['load_average_at_start']:.2f} at the start."
    )


def throughput_tables(results: dict[str, Any]) -> list[str]:
    """Return the lines of the throughput section: events/s and CPU-seconds per 100k, 1 and 4 partitions.

    It ends with the longest checkpoint pause (ms) of the Streamwise runs of each recipe.
    """
    rows = results["throughput"]
    recipes = list(rows)
    lines = [
        "### Learning throughput end to end (events/s, first to last prediction)",
        "",
        "One partition, one process each, the median of the runs. Each system is started and holds its",
        "partitions before the events (labels inline) are produced; predictions with prequential evaluation",
        "go out to a topic. The bare loop reads decoded events from memory.",
        "",
        "| system | " + " | ".join(f"{r} ({rows[r]['events']:,} events)" for r in recipes) + " |",
        "|---|" + "---|" * len(recipes),
    ]
    for key, label in SYSTEMS:
        lines.append(f"| {label} | " + " | ".join(rate(rows[r], key) for r in recipes) + " |")
    lines += [
        "",
        "CPU-seconds per 100,000 events (user and system time of the process, and of its children, from the",
        "first event produced to the last prediction):",
        "",
        "| system | " + " | ".join(recipes) + " |",
        "|---|" + "---|" * len(recipes),
    ]
    for key, label in SYSTEMS[1:]:
        lines.append(f"| {label} | " + " | ".join(cpu(rows[r], key) for r in recipes) + " |")
    lines += [
        "",
        "Four partitions (events/s; CPU-seconds per 100,000 events):",
        "",
        "| system | " + " | ".join(recipes) + " |",
        "|---|" + "---|" * len(recipes),
    ]
    for key, label in SCALE:
        cells = (f"{rate(rows[r], key)}; {cpu(rows[r], key)}" if rows[r].get(key) else "-" for r in recipes)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    pauses = (
        f"{max(v['checkpoint_pause_max_ms'] for k, v in rows[r].items() if k.startswith('streamwise')):.1f}"
        for r in recipes
    )
    lines += [
        "",
        "Longest pause of the engine's loop for a checkpoint round (ms; in each configuration the median of "
        "its runs' longest, the largest configuration shown): "
        + ", ".join(f"{r} {p}" for r, p in zip(recipes, pauses, strict=True))
        + ".",
    ]
    return lines


def other_tables(results: dict[str, Any]) -> list[str]:
    """Return the lines of the serving, memory, per-task and overhead sections, for those in ``results``."""
    lines: list[str] = []
    serving = results.get("serving")
    if serving:
        lines += [
            "",
            "### Prediction API (one uvicorn process, logistic_regression; load generator on loopback)",
            "",
            "| endpoint | p50 ms at 1,000 req/s | p99 ms at 1,000 req/s | max req/s |",
            "|---|---|---|---|",
            f"| POST /predict | {serving['predict_p50_ms']:.2f} | {serving['predict_p99_ms']:.2f} | "
            f"{serving['predict_max_rps']:,.0f} |",
            f"| bare FastAPI endpoint (constant JSON) | {serving['bare_p50_ms']:.2f} | {serving['bare_p99_ms']:.2f} | "
            f"{serving['bare_max_rps']:,.0f} |",
            "",
            f"Snapshot to serving over {serving['swaps']} swaps: p50 {serving['swap_p50_ms']:.0f} ms, "
            f"p99 {serving['swap_p99_ms']:.0f} ms.",
        ]
    memory = results.get("memory")
    if memory:
        rss = {int(k): v / 1024 for k, v in memory["rss_kib"].items()}
        lines += [
            "",
            "### Worker memory (delayed labels, paced from events.labels)",
            "",
            ", ".join(f"RSS after {k:,} events: {v:,.0f} MiB" for k, v in sorted(rss.items()))
            + f" ({memory['learned']:,} labeled events learned).",
        ]
    per_task = results.get("tasks")
    if per_task:
        lines += [
            "",
            "### Each task: embedded pipeline against a bare River loop (events per CPU-second, one process)",
            "",
            "| task and recipe | bare River loop | embedded pipeline | ratio |",
            "|---|---|---|---|",
            *(
                f"| {name} | {row['bare_events_per_cpu_s']:,.0f} | {row['pipeline_events_per_cpu_s']:,.0f} | "
                f"{row['ratio']:.2f} |"
                for name, row in per_task.items()
            ),
        ]
    overhead = results.get("overhead")
    if overhead:
        ratios = overhead["ratios"]
        lines += [
            "",
            "### Delayed labels and drift detection, as a ratio to the core loop (time per event, one process)",
            "",
            "| core loop | delayed labels | drift detectors | both |",
            "|---|---|---|---|",
            f"| 1 ({overhead['events_per_s']['core']:,.0f} events/s) | {ratios['labels']:.2f} | "
            f"{ratios['drift']:.2f} | {ratios['both']:.2f} |",
        ]
    return lines


def target_table(results: dict[str, Any]) -> list[str]:
    """Return the lines of the targets table: each target's value, goal, and whether it passed."""
    lines = ["", "### Targets", "", "| target | value | goal | |", "|---|---|---|---|"]
    for t in results["targets"]:
        lines.append(f"| {t['name']} | {t['value']:g} | {t['target']} | {'pass' if t['pass'] else '**miss**'} |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """Return the whole of BENCHMARKS.md for ``results``."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py) with bench/results.json; every ratio is against a baseline",
        "measured in the same run.",
        "",
        f"Machine: {machine_line(results['machine'])}",
        "",
    ]
    if results.get("quick"):
        lines += ["**A quick run (`--quick`): fewer events, not the figures the docs quote.**", ""]
    if "throughput" in results:
        lines += throughput_tables(results)
    latency = results.get("latency")
    if latency:
        sw, quix = latency["streamwise"], latency["quix"]
        lines += [
            "",
            f"### Latency, produce to prediction (logistic_regression, open loop at {sw['rate']:,.0f} events/s,"
            " half of Quix Streams' maximum)",
            "",
            "| system | p50 ms | p99 ms | max ms | answered |",
            "|---|---|---|---|---|",
            *(
                f"| {name} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['answered']:,} of {r['events']:,} |"
                for name, r in (("Streamwise", sw), ("Quix Streams", quix))
            ),
        ]
    lines += other_tables(results)
    lines += target_table(results)
    return "\n".join(lines) + "\n"


def docs_summary(results: dict[str, Any]) -> str:
    """Return the part in docs/benchmarks.md: the machine, the one-partition throughput table and the targets."""
    lines = [f"Machine: {machine_line(results['machine'])}", ""]
    if "throughput" in results:
        table = throughput_tables(results)
        first = next(i for i, line in enumerate(table) if line.startswith("| system"))
        lines += [*table[first : first + 2 + len(SYSTEMS)], ""]
    lines += target_table(results)[1:]
    return "\n".join(lines)


def write(results: dict[str, Any]) -> None:
    """Write BENCHMARKS.md, and the summary between the bench markers of docs/benchmarks.md."""
    (ROOT / "BENCHMARKS.md").write_text(markdown(results))
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    doc.write_text(text[:start] + "\n" + docs_summary(results) + "\n" + text[end:])


START, END = "<!-- bench:start -->", "<!-- bench:end -->"

if __name__ == "__main__":
    write(json.loads((ROOT / "bench" / "results.json").read_text()))
