"""A real Prometheus scrapes the worker and the API: the project's metric names and types, as the
scraper sees them (Debian's /usr/bin/prometheus; CI installs it)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from streams.testing import StreamEnv, background, free_port, wait_for
from tests.support.references import DRIFT_RESET_MODELS

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

N, DELAY = 4000, 50  # agrawal_drift switches concept at N / 2; labels come DELAY events late
X = {"salary": 50_000.0, "commission": 10_000.0, "age": 40, "elevel": 2, "car": 5, "zipcode": 3,
     "hvalue": 200_000.0, "hyears": 10, "loan": 100_000.0}  # fmt: skip
JOBS = ("streamwise-worker", "streamwise-api")


def prometheus_binary() -> str:
    path = shutil.which("prometheus") or shutil.which("prometheus", path="/usr/bin")
    if path is None:
        what = "no prometheus binary on PATH; install it with apt-get install prometheus"
        if os.environ.get("STREAMWISE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{what} (STREAMWISE_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(what)
    return path


def prometheus_config(tmp: Path, targets: dict[str, int]) -> Path:
    jobs = [
        {"job_name": job, "scrape_interval": "1s", "scrape_timeout": "1s",
         "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        for job, port in targets.items()
    ]  # fmt: skip
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}))
    return path


class Prometheus:
    """The HTTP API of a Prometheus server."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=5)

    def ready(self) -> bool:
        try:
            return self.http.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    def get(self, path: str, **params: str) -> Any:
        body = self.http.get(path, params=params).raise_for_status().json()
        assert body["status"] == "success", body
        return body["data"]

    def targets(self) -> dict[str, dict]:
        return {t["labels"]["job"]: t for t in self.get("/api/v1/targets")["activeTargets"]}

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        data = self.get("/api/v1/query", query=promql)
        assert data["resultType"] == "vector", data
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        assert len(result) <= 1, result
        return result[0][1] if result else None

    def metric_type(self, family: str) -> str | None:
        """The type Prometheus recorded for a family (a counter's family may carry ``_total``:
        the OpenMetrics exposition names it without, the text format with)."""
        for name in (family, f"{family}_total"):
            entries = self.get("/api/v1/metadata", metric=name).get(name)
            if entries:
                return entries[0]["type"]
        return None


def test_prometheus_scrapes_the_worker_and_the_api(stream_env: StreamEnv, tmp_path: Path) -> None:
    binary = prometheus_binary()
    stream_env.write_config(DRIFT_RESET_MODELS, labels={"ttl_seconds": 3600})
    stream_env.create_topics()
    worker_port, api_port, prometheus_port = free_port(), free_port(), free_port()
    stream_env.start_worker(STREAMWISE_METRICS_PORT=str(worker_port))
    config = prometheus_config(tmp_path, {"streamwise-worker": worker_port, "streamwise-api": api_port})
    api_command = [sys.executable, "-m", "streams", "api", "--port", str(api_port)]
    prometheus_command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    ]
    with (
        background(api_command, tmp_path / "api.log", stream_env.env()),
        background(prometheus_command, tmp_path / "prometheus.log"),
    ):
        prometheus = Prometheus(f"http://127.0.0.1:{prometheus_port}")
        try:
            check_metrics(stream_env, prometheus, httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=5))
        except Exception:  # the logs of every process and where the worker stood, then the failure
            for log in ("prometheus.log", "api.log"):
                print(f"--- {log}\n{(tmp_path / log).read_text()[-3000:]}")
            print(f"--- worker\n{stream_env.worker_logs()[-3000:]}")
            print(f"--- worker's /health\n{stream_env.health(stream_env.workers[0])}")
            print(f"--- worker's /metrics\n{worker_counts(worker_port)}")
            raise


def check_metrics(stream_env: StreamEnv, prometheus: Prometheus, api: httpx.Client) -> None:
    wait_for(prometheus.ready, timeout=30, what="Prometheus ready")
    wait_for(
        lambda: all(prometheus.targets().get(job, {}).get("health") == "up" for job in JOBS),
        timeout=30,
        what=f"both targets up: {JOBS}",
    )
    assert {job: prometheus.value(f'up{{job="{job}"}}') for job in JOBS} == dict.fromkeys(JOBS, 1.0)

    stream_env.cli("produce", "--synthetic", "agrawal_drift", "--n", str(N), "--label-delay", str(DELAY))
    alerts = 'sum(streamwise_drift_alerts_total{job="streamwise-worker",model="ht",kind="concept_drift"})'
    assert wait_for(lambda: prometheus.value(alerts), timeout=90, what="a drift alert in Prometheus") >= 1
    learned = 'streamwise_events_total{job="streamwise-worker",stage="learn"}'
    wait_for(lambda: (prometheus.value(learned) or 0) >= N, timeout=60, what=f"{N} events learned")
    resets = 'streamwise_drift_actions_total{job="streamwise-worker",model="ht",action="reset"}'
    assert prometheus.value(resets) == 1

    # The reset snapshots the new model: the API serves it, and counts the requests.
    wait_for(lambda: predict(api) == 200, timeout=30, what="the API serving ht")
    statuses = [predict(api) for _ in range(4)]
    assert statuses == [200] * 4
    requests = 'streamwise_api_request_seconds_count{job="streamwise-api",route="/predict",status="200"}'
    assert wait_for(lambda: (prometheus.value(requests) or 0) >= 5, timeout=15, what="the API requests scraped")
    buckets = prometheus.query('streamwise_api_request_seconds_bucket{job="streamwise-api",route="/predict"}')
    assert {labels["le"] for labels, _ in buckets} >= {"0.001", "1.0", "+Inf"}
    served = 'streamwise_api_predictions_total{job="streamwise-api",model="ht"}'
    assert (prometheus.value(served) or 0) >= 5

    accuracy = 'streamwise_prequential_metric{job="streamwise-worker",model="ht",metric="Accuracy",partition="0"}'
    assert 0.5 < wait_for(lambda: prometheus.value(accuracy), timeout=15, what="the prequential metric") <= 1.0

    types = {
        family: prometheus.metric_type(family)
        for family in (
            "streamwise_events",
            "streamwise_drift_alerts",
            "streamwise_drift_actions",
            "streamwise_prequential_metric",
            "streamwise_label_delay_seconds",
            "streamwise_api_request_seconds",
            "streamwise_api_predictions",
        )
    }
    print(f"types reported by Prometheus: {types}")
    assert types == {
        "streamwise_events": "counter",
        "streamwise_drift_alerts": "counter",
        "streamwise_drift_actions": "counter",
        "streamwise_prequential_metric": "gauge",
        "streamwise_label_delay_seconds": "histogram",
        "streamwise_api_request_seconds": "histogram",
        "streamwise_api_predictions": "counter",
    }


def worker_counts(port: int) -> str:
    """The worker's own counters and gauges as it exposes them (no histogram buckets)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError as exc:
        return f"no answer: {exc}"
    keep = ("streamwise_events", "streamwise_learned", "streamwise_held", "streamwise_consumer_lag",
            "streamwise_pending", "streamwise_dead", "streamwise_predictions", "streamwise_labels",
            "streamwise_drift", "streamwise_checkpoints", "streamwise_component_up")  # fmt: skip
    return "\n".join(line for line in text.splitlines() if line.startswith(keep) and "_created" not in line)


def predict(api: httpx.Client) -> int:
    return api.post("/predict", json={"model": "ht", "features": X}).status_code
