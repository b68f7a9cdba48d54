"""Task -> the River metrics Streamwise reports, named by River's class names."""

from __future__ import annotations

from collections.abc import Callable

from river import metrics

from online_models.exceptions import ConfigError

METRICS_BY_TASK: dict[str, tuple[Callable[[], metrics.base.Metric], ...]] = {
    "binary": (metrics.Accuracy, metrics.F1, metrics.ROCAUC, metrics.LogLoss),
    "multiclass": (metrics.Accuracy, metrics.MacroF1),
    "regression": (metrics.MAE, metrics.RMSE, metrics.R2),
    # The anomaly score against labels, when labels come (River's anomaly examples score so).
    "anomaly": (metrics.ROCAUC,),
}
TASKS = tuple(METRICS_BY_TASK)


def for_task(task: str) -> dict[str, metrics.base.Metric]:
    """Fresh metrics for ``task``, keyed by River class name.

    >>> sorted(for_task("regression"))
    ['MAE', 'R2', 'RMSE']
    """
    try:
        factories = METRICS_BY_TASK[task]
    except KeyError:
        raise ConfigError("task", f"unknown task {task!r}; known: {', '.join(TASKS)}") from None
    return {factory.__name__: factory() for factory in factories}


def needs_proba(metric: metrics.base.Metric) -> bool:
    """Whether River scores ``metric`` on probabilities (``predict_proba_one``) rather than labels."""
    return getattr(metric, "requires_labels", True) is False
