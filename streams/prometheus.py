"""The worker's Prometheus metrics, grouped in one object created against an injectable registry."""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from online_models.alerts import Alert
from online_models.evaluation import PrequentialModel
from online_models.learner import LearnResult

# Label delays from a click (seconds) to a chargeback (weeks).
DELAY_BUCKETS = (0.1, 1, 10, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)


def partition_lag(high: int | None, position: int | None, low: int = 0) -> int | None:
    """Return the messages of a partition not consumed yet.

    They are the high watermark (the next offset to be written) minus the position (the next offset
    to read), never negative. Without a position (nothing committed yet) everything from the low
    watermark counts; None when the high watermark is unknown.

    >>> partition_lag(120, 100), partition_lag(120, 121), partition_lag(120, None, low=20), partition_lag(None, 5)
    (20, 0, 100, None)
    """
    if high is None or high < 0:
        return None
    start = position if position is not None and position >= 0 else low
    return max(high - max(start, low), 0)


class StreamMetrics:
    """Counters of the core loop; children are bound once so the hot path does no label lookups."""

    def __init__(self, model_names: Iterable[str], registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._declare_stream()
        self._declare_models()
        self._declare_snapshots()
        self._declare_checkpoints()
        self._lag_series: set[tuple[str, str]] = set()
        self.longest_pause = 0.0
        self.intake_events = self.events.labels("intake")
        self.label_events = self.events.labels("labels")
        self.learn_events = self.events.labels("learn")
        names = list(model_names)
        self.predictions_by_model = {name: self.predictions.labels(name) for name in names}
        self._predicted: collections.Counter[str] = collections.Counter()  # since the last flush
        self.expired_by_model = {name: self.expired.labels(name) for name in names}

    def _declare_stream(self) -> None:
        """Declare what the engine reads and writes: messages per stage, dead letters, held, lag, deliveries."""
        self.events = Counter(
            "streamwise_events",
            "Messages read by the engine, per stage (intake: events.raw, labels: events.labels, learn: the learn log).",
            ["stage"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "streamwise_dead_letters",
            "Messages sent to the dead-letter topic, per reason.",
            ["reason"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "streamwise_duplicate_events",
            "Events delivered again (same event_id): neither learned nor scored twice.",
            registry=self.registry,
        )
        self.replayed = Counter(
            "streamwise_replayed_skipped",
            "Messages redelivered below a restored checkpoint: skipped, already in the state.",
            registry=self.registry,
        )
        self.held = Gauge(
            "streamwise_held_messages",
            "Events and labels read but held back until the other topic has been read up to their time.",
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "streamwise_consumer_lag",
            "Messages not yet read by the worker's consumer (high watermark minus position), per input partition.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.delivery_failures = Counter(
            "streamwise_delivery_failures",
            "Messages the producer could not deliver (after its retries), per topic.",
            ["topic"],
            registry=self.registry,
        )
        self.producer_waiting = Gauge(
            "streamwise_producer_queue_full",
            "1 while the engine waits for room in its producer's queue (the broker is slow or away): back-pressure.",
            registry=self.registry,
        )
        self.component_up = Gauge(
            "streamwise_component_up",
            "1 while a component the worker depends on answers (kafka, redis), 0 while its calls fail.",
            ["component"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "streamwise_predictions", "Predictions published, per model.", ["model"], registry=self.registry
        )

    def _declare_models(self) -> None:
        """Declare how each model does: prequential metrics, labels and their delays, drift alerts and actions."""
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
        self.label_delay = Histogram(
            "streamwise_label_delay_seconds",
            "Event time from an event to its label, for joined delayed labels.",
            buckets=DELAY_BUCKETS,
            registry=self.registry,
        )
        self.pending = Gauge(
            "streamwise_pending_labels",
            "Predictions and early labels waiting to be joined, per partition.",
            ["partition"],
            registry=self.registry,
        )
        self.expired = Counter(
            "streamwise_predictions_expired",
            "Predictions whose label never came in time (counted as unlabeled), per model.",
            ["model"],
            registry=self.registry,
        )
        self.unmatched = Counter(
            "streamwise_labels_unmatched",
            "Labels that found no prediction to join, per reason (label_unmatched, label_expired, label_duplicate).",
            ["reason"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "streamwise_drift_alerts",
            "Drift alerts published, per model ('' for data drift), kind and detector.",
            ["model", "kind", "detector"],
            registry=self.registry,
        )
        self.actions = Counter(
            "streamwise_drift_actions",
            "Drift policy actions taken, per model and action.",
            ["model", "action"],
            registry=self.registry,
        )
        self.promotions = Counter(
            "streamwise_promotions",
            "Automatic promotions of a challenger, per model name and candidate.",
            ["model", "candidate"],
            registry=self.registry,
        )

    def _declare_snapshots(self) -> None:
        """Declare the registry's side: snapshots saved, their time, size and failures."""
        self.snapshots = Counter(
            "streamwise_snapshots",
            "Model snapshots saved to the registry, per model and reason.",
            ["model", "reason"],
            registry=self.registry,
        )
        self.snapshot_seconds = Histogram(
            "streamwise_snapshot_seconds",
            "Time to pickle, sign and save one snapshot.",
            registry=self.registry,
        )
        self.snapshot_bytes = Gauge(
            "streamwise_snapshot_bytes", "Size of the newest snapshot, per model.", ["model"], registry=self.registry
        )
        self.snapshot_failures = Counter(
            "streamwise_snapshot_failures", "Snapshots that could not be saved.", registry=self.registry
        )
        self.snapshot_timestamp = Gauge(
            "streamwise_snapshot_timestamp_seconds",
            "Unix time of the newest snapshot saved, per model.",
            ["model"],
            registry=self.registry,
        )

    def _declare_checkpoints(self) -> None:
        """Declare the state's side: checkpoints saved, the loop's pauses for them, partitions restored."""
        self.checkpoints = Counter("streamwise_checkpoints", "Partition checkpoints saved.", registry=self.registry)
        self.checkpoint_seconds = Histogram(
            "streamwise_checkpoint_seconds", "Time to pickle, sign and save one checkpoint.", registry=self.registry
        )
        self.checkpoint_bytes = Gauge(
            "streamwise_checkpoint_bytes", "Size of the newest partition checkpoint.", registry=self.registry
        )
        self.checkpoint_failures = Counter(
            "streamwise_checkpoint_failures", "Checkpoints that could not be saved.", registry=self.registry
        )
        self.checkpoint_pause = Histogram(
            "streamwise_checkpoint_pause_seconds",
            "How long the engine's loop stood still for one checkpoint round (flushing outputs, pickling states).",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.checkpoint_pause_max = Gauge(
            "streamwise_checkpoint_pause_max_seconds",
            "The longest pause of the engine's loop for a checkpoint round since the worker started.",
            registry=self.registry,
        )
        self.restores = Counter(
            "streamwise_partition_restores",
            "Partitions taken up, per outcome (restored, fresh, or why a checkpoint was refused).",
            ["outcome"],
            registry=self.registry,
        )

    def observe_result(self, result: LearnResult) -> None:
        """Count what one learn step did; label lookups only for the rare parts (alerts, expiry)."""
        predicted = self._predicted
        for prediction in result.predictions:
            predicted[prediction.model] += 1
        if result.duplicate or result.label_delays or result.expired or result.dead_letters or result.alerts:
            self._observe_the_rest(result)

    def _observe_the_rest(self, result: LearnResult) -> None:
        if result.duplicate:
            self.duplicates.inc()
        for delay in result.label_delays:
            self.label_delay.observe(max(delay, 0.0))
        for model, count in result.expired.items():
            self.expired_by_model[model].inc(count)
        for letter in result.dead_letters:
            if letter.reason.startswith("label_"):
                self.unmatched.labels(letter.reason).inc()
        for alert in result.alerts:
            self.observe_alert(alert)

    def flush(self) -> None:
        """Add up what ``observe_result`` counted (once per batch: a counter's increment takes a lock)."""
        for model, count in self._predicted.items():
            if count:
                self.predictions_by_model[model].inc(count)
        self._predicted = collections.Counter()

    def observe_checkpoint(self, size: int, seconds: float) -> None:
        """Record one partition checkpoint saved: its size in bytes and the seconds it took."""
        self.checkpoints.inc()
        self.checkpoint_seconds.observe(seconds)
        self.checkpoint_bytes.set(size)

    def observe_checkpoint_pause(self, seconds: float) -> None:
        """Record how long the engine's loop stood still for one checkpoint round, and the longest such pause."""
        self.checkpoint_pause.observe(seconds)
        if seconds > self.longest_pause:
            self.longest_pause = seconds
            self.checkpoint_pause_max.set(seconds)

    def observe_snapshot(self, model: str, metadata: dict, seconds: float) -> None:
        """Record one snapshot of ``model`` saved: its reason, size, time (``created_at``, else now) and duration."""
        self.snapshots.labels(model, metadata["reason"]).inc()
        self.snapshot_seconds.observe(seconds)
        self.snapshot_bytes.labels(model).set(metadata["size"])
        created = metadata.get("created_at")
        if isinstance(created, str):
            self.snapshot_timestamp.labels(model).set(datetime.fromisoformat(created).timestamp())
        else:
            self.snapshot_timestamp.labels(model).set_to_current_time()

    def observe_consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Set the lag of each assigned input partition; drop the series of partitions gone elsewhere."""
        current = {(topic, str(partition)): lag for (topic, partition), lag in lags.items()}
        for series in self._lag_series - current.keys():
            self.consumer_lag.remove(*series)
        for series, lag in current.items():
            self.consumer_lag.labels(*series).set(lag)
        self._lag_series = set(current)

    def observe_alert(self, alert: Alert) -> None:
        """Count one drift alert, and the drift policy's action if it took one."""
        self.alerts.labels(alert.model or "", alert.kind, alert.detector).inc()
        if alert.action:
            self.actions.labels(alert.model or "", alert.action).inc()

    def observe_models(self, partition: int, models: Iterable[PrequentialModel], pending: int = 0) -> None:
        """Copy the prequential state into gauges (called on a timer, not per event)."""
        self.pending.labels(str(partition)).set(pending)
        for model in models:
            self.learned.labels(model.name, str(partition)).set(model.labeled)
            for metric, value in model.metric_values().items():
                self.prequential.labels(model.name, metric, str(partition)).set(value)
