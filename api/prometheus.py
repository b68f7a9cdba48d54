"""The API's Prometheus metrics, in one object created against an injectable registry."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class ApiMetrics:
    """Request latency, predictions, model loads and refused snapshots, in ``registry``.

    Examples
    --------
    Each instance has its own registry unless given one (so that several apps, or tests, do not clash):

    >>> metrics = ApiMetrics()
    >>> metrics.predicted("nb")
    >>> metrics.predicted("nb")
    >>> metrics.request("/predict", "200", 0.003)   # a request answered 200 in 3 ms
    >>> metrics.registry.get_sample_value("streamwise_api_predictions_total", {"model": "nb"})
    2.0
    >>> labels = {"route": "/predict", "status": "200"}
    >>> [metrics.registry.get_sample_value("streamwise_api_request_seconds_bucket", {**labels, "le": le})
    ...  for le in ("0.002", "0.005")]   # the latency buckets it fell into: 5 ms and above
    [0.0, 1.0]
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Histogram(
            "streamwise_api_request_seconds",
            "Request latency, per route and status code.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "streamwise_api_predictions", "Predictions served, per model.", ["model"], registry=self.registry
        )
        self.reloads = Counter(
            "streamwise_api_model_loads",
            "Model versions loaded for serving, per model.",
            ["model"],
            registry=self.registry,
        )
        self.snapshots_refused = Counter(
            "streamwise_snapshots_refused",
            "Snapshots refused on load (unsigned, tampered, corrupt), per reason.",
            ["reason"],
            registry=self.registry,
        )
        # Label children by name, bound once: no label lookup per request.
        self._predicted: dict[str, Any] = {}
        self._requests: dict[tuple[str, str], Any] = {}

    def predicted(self, model: str) -> None:
        """Count one prediction served by ``model``."""
        child = self._predicted.get(model)
        if child is None:
            child = self._predicted[model] = self.predictions.labels(model)
        child.inc()

    def request(self, route: str, status: str, seconds: float) -> None:
        """Record the latency of one request to ``route`` answered with ``status``."""
        child = self._requests.get((route, status))
        if child is None:
            child = self._requests[(route, status)] = self.requests.labels(route, status)
        child.observe(seconds)
