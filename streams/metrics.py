"""The worker's Prometheus metrics, grouped in one object created against an injectable registry."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from online_models.evaluation import PrequentialModel


class StreamMetrics:
    """Counters of the core loop; children are bound once so the hot path does no label lookups."""

    def __init__(self, model_names: Iterable[str], registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events = Counter("streamwise_events", "Messages consumed, per agent.", ["agent"], registry=self.registry)
        self.dead_letters = Counter(
            "streamwise_dead_letters",
            "Messages sent to the dead-letter topic, per reason.",
            ["reason"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "streamwise_predictions", "Predictions published, per model.", ["model"], registry=self.registry
        )
        self.prequential = Gauge(
            "streamwise_prequential_metric",
            "Prequential (test-then-train) metric, per model and partition.",
            ["model", "metric", "partition"],
            registry=self.registry,
        )
        self.learned = Gauge(
            "streamwise_learned_events",
            "Labeled events learned, per model and partition.",
            ["model", "partition"],
            registry=self.registry,
        )
        self.validated = self.events.labels("validate")
        self.featurized = self.events.labels("features")
        self.learn_events = self.events.labels("learn")
        self.predictions_by_model = {name: self.predictions.labels(name) for name in model_names}

    def observe_models(self, partition: int, models: Iterable[PrequentialModel]) -> None:
        """Copy the prequential state into gauges (called on a timer, not per event)."""
        for model in models:
            self.learned.labels(model.name, str(partition)).set(model.labeled)
            for metric, value in model.metric_values().items():
                self.prequential.labels(model.name, metric, str(partition)).set(value)
