"""The worker's Prometheus metrics of labels and drift, read back from a private registry."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from online_models.alerts import Alert
from online_models.events import DeadLetter
from online_models.learner import LearnResult
from streams.prometheus import StreamMetrics

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_label_delay_expiry_unmatched_alerts_and_actions_are_counted() -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(["lr", "ht"], registry)
    result = LearnResult(label_delays=[0.5, 120.0], expired=Counter({"lr": 3, "ht": 3}))
    result.dead_letters.append(DeadLetter("label_unmatched", "no event", b"{}", None, T0, event_id="x"))
    result.alerts.append(Alert("ht", "concept_drift", "ddm", None, "e9", 9, T0, {}, action="reset"))
    metrics.observe_result(result)
    metrics.observe_models(0, [], pending=42)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("streamwise_label_delay_seconds_count") == 2
    assert value("streamwise_label_delay_seconds_bucket", le="1.0") == 1
    assert value("streamwise_predictions_expired_total", model="lr") == 3
    assert value("streamwise_labels_unmatched_total", reason="label_unmatched") == 1
    assert value("streamwise_drift_alerts_total", model="ht", kind="concept_drift", detector="ddm") == 1
    assert value("streamwise_drift_actions_total", model="ht", action="reset") == 1
    assert value("streamwise_pending_labels", partition="0") == 42
