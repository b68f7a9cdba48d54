"""Events per CPU-second of each task, in the embedded pipeline and in a bare River loop.

    python bench/tasks.py [--n 20000] [--repeat 3]

The bare loop is the limit: the same River model (what the recipe builds) over (x, y) pairs
already decoded in memory, with the task's metrics updated as ``progressive_val_score`` does. The
pipeline starts from raw JSON bytes (decode, validate, features, predict, score, learn, build the
prediction record), as `streamwise evaluate` does. The ratio is pipeline over bare loop (1.0: no
cost on top of River). CPU time, not wall time: steadier on a shared machine. Median of ``repeat``
runs, alternating the two.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from online_models import metrics
from online_models.config import ModelSpec, parse_config
from online_models.datasets import synthetic_events
from online_models.pipeline import EmbeddedRunner, Pipeline

# task -> (recipe, dataset): mixed feature types (numbers, strings, bools) where the dataset has them.
TASKS = {
    "binary logistic_regression": ("binary", "logistic_regression", "shop"),
    "binary hoeffding_tree": ("binary", "hoeffding_tree", "shop"),
    "multiclass softmax_regression": ("multiclass", "softmax_regression", "led"),
    "regression linear_regression": ("regression", "linear_regression", "shop_value"),
    "anomaly half_space_trees": ("anomaly", "half_space_trees", "shop_anomalies"),
}


def bare_loop(spec: ModelSpec, pairs: list[tuple[dict, Any]]) -> float:
    """Measure the CPU seconds of predict, score, learn over ``pairs`` with River alone."""
    model, scores = spec.build(), list(metrics.for_task(spec.task).values())
    by_proba = [metrics.needs_proba(m) for m in scores]
    start = time.process_time()
    if spec.task == "anomaly":
        for x, y in pairs:
            score = model.score_one(x)
            model.classify(score)
            for m in scores:
                m.update(y, score)
            model.learn_one(x)
    elif spec.task == "regression":
        for x, y in pairs:
            y_pred = model.predict_one(x)
            for m in scores:
                m.update(y, y_pred)
            model.learn_one(x, y)
    else:
        for x, y in pairs:
            proba = model.predict_proba_one(x)
            label = max(proba, key=proba.get) if proba else None
            for m, needs in zip(scores, by_proba, strict=True):
                if proba:
                    m.update(y, proba if needs else label)
            model.learn_one(x, y)
    return time.process_time() - start


def pipeline(spec: ModelSpec, raw: list[bytes]) -> float:
    """Measure the CPU seconds of the embedded pipeline from raw JSON bytes to prediction records."""
    runner = EmbeddedRunner(Pipeline(parse_config({"models": [spec.model_dump()]})))
    start = time.process_time()
    for data in raw:
        for p in runner.process(data).predictions:
            p.to_json()
    return time.process_time() - start


def measure(task: str, recipe: str, dataset: str, n: int, repeat: int) -> dict[str, Any]:
    """Measure ``recipe`` on ``n`` events of ``dataset``: events per CPU-second of the bare loop and the pipeline.

    Each is the median of ``repeat`` runs, alternating the two; the ratio is the pipeline's events per
    CPU-second over the bare loop's (1.0: no cost on top of River).
    """
    spec = ModelSpec(name="m", recipe=recipe, task=task, params={"seed": 1} if recipe == "half_space_trees" else {})
    events = list(synthetic_events(dataset, n, seed=1))
    pairs = [(e["features"], e["label"]) for e in events]
    raw = [orjson.dumps(e) for e in events]
    runs: dict[str, list[float]] = {"bare": [], "pipeline": []}
    for _ in range(repeat):  # alternating: a slow moment of the machine hits both
        runs["bare"].append(bare_loop(spec, pairs))
        runs["pipeline"].append(pipeline(spec, raw))
    bare, ours = (statistics.median(runs[k]) for k in ("bare", "pipeline"))
    return {
        "events": n,
        "bare_events_per_cpu_s": round(n / bare, 1),
        "pipeline_events_per_cpu_s": round(n / ours, 1),
        "ratio": round(bare / ours, 3),
    }


def run(n: int = 20_000, repeat: int = 3, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every task of ``TASKS`` as ``measure`` does; return the figures by task, each one ``log``-ged too."""
    results = {}
    for name, (task, recipe, dataset) in TASKS.items():
        results[name] = measure(task, recipe, dataset, n, repeat)
        log(f"{name}: {json.dumps(results[name])}")
    return results


def main() -> None:
    """Measure every task with the ``--n`` and ``--repeat`` of the command line, printing each task's figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run(args.n, args.repeat)


if __name__ == "__main__":
    main()
