"""Embedded pipeline vs a bare River loop on the same events, measured in the same run.

    python bench/core_loop.py [--n 100000] [--recipe logistic_regression]

The bare loop is the limit: predict_proba_one, metric updates, learn_one over (x, y) pairs already
decoded in memory. The pipeline starts from raw JSON bytes (decode, validate, features, predict,
score, learn, build the prediction record), as `streamwise evaluate` does.
"""

from __future__ import annotations

import argparse
import time

import orjson

from online_models import metrics, recipes
from online_models.config import parse_config
from online_models.datasets import synthetic_events
from online_models.pipeline import EmbeddedRunner, Pipeline


def bare_loop(recipe: str, pairs: list[tuple[dict, object]]) -> float:
    model, scores = recipes.build(recipe), list(metrics.for_task("binary").values())
    start = time.perf_counter()
    for x, y in pairs:
        proba = model.predict_proba_one(x)
        label = max(proba, key=proba.get) if proba else None
        for m in scores:
            m.update(y, proba if metrics.needs_proba(m) else label)
        model.learn_one(x, y)
    return len(pairs) / (time.perf_counter() - start)


def pipeline(recipe: str, raw: list[bytes]) -> float:
    config = parse_config({"models": [{"name": "m", "recipe": recipe, "task": "binary"}]})
    runner = EmbeddedRunner(Pipeline(config))
    start = time.perf_counter()
    for data in raw:
        for p in runner.process(data).predictions:
            p.to_json()
    return len(raw) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--recipe", default="logistic_regression")
    args = parser.parse_args()
    events = list(synthetic_events("agrawal_drift", args.n, seed=1))
    pairs = [(e["features"], e["label"]) for e in events]
    raw = [orjson.dumps(e) for e in events]
    bare = bare_loop(args.recipe, pairs)
    embedded = pipeline(args.recipe, raw)
    print(
        f"{args.recipe} on {args.n} events: bare River loop {bare:,.0f} ev/s; "
        f"embedded pipeline {embedded:,.0f} ev/s; ratio {embedded / bare:.2f}"
    )


if __name__ == "__main__":
    main()
