"""The model configuration file (YAML) as validated pydantic models.

Every error names the offending field, for example ``models[1].params.grace_perod``.

>>> cfg = parse_config({"models": [{"name": "lr", "recipe": "logistic_regression", "task": "binary"}]})
>>> cfg.models[0].recipe
'logistic_regression'
>>> parse_config({"models": [{"name": "x", "recipe": "nope", "task": "binary"}]})
Traceback (most recent call last):
...
online_models.exceptions.ConfigError: models[0].recipe: unknown recipe 'nope'; ...
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from online_models import drift, metrics, pipelines, recipes
from online_models.exceptions import ConfigError
from online_models.features import FeatureSpec

Task = Literal["binary", "multiclass", "regression", "anomaly"]
PolicyName = Literal["alert", "reset", "background"]
# A model still learning makes errors that are no change of concept: on streams with 1 to 50 %
# positives, River's detectors signalled drifts after 46 to 755 labels (docs/topics.md: Drift alerts).
MIN_LABELED = 1000


class DetectorSpec(BaseModel):
    """A River drift detector by its name in ``online_models.drift``, with its params (checked on reading).

    Examples
    --------
    >>> DetectorSpec(detector="adwin", params={"delta": 0.01}).detector
    'adwin'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    detector: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_detector(self) -> Self:
        drift.build_detector(self.detector, self.params)
        return self


class DriftSpec(DetectorSpec):
    """Concept drift on one model: a detector on its prequential errors and what to do on drift.

    ``alert`` only reports; ``reset`` replaces the model with a fresh one; ``background`` starts a
    fresh model at the warning, trains it alongside, and swaps it in when the drift is confirmed.
    No policy acts before the served model has learned ``min_labeled`` labels (since the start or
    the action that put it in): a detector's signals on a model still learning are reported only.

    Examples
    --------
    >>> spec = DriftSpec(detector="ddm", policy="reset")
    >>> spec.policy, spec.min_labeled
    ('reset', 1000)
    >>> nb = {"name": "nb", "recipe": "naive_bayes", "task": "binary"}
    >>> parse_config({"models": [{**nb, "drift": {"detector": "kswin"}}]})   # a detector for numbers
    Traceback (most recent call last):
    ...
    online_models.exceptions.ConfigError: models[0].drift.detector: binary models take one of ddm, eddm, hddm_a, ...
    """

    policy: PolicyName = "alert"
    min_labeled: int = Field(default=MIN_LABELED, ge=0)


class SnapshotSpec(BaseModel):
    """When the worker snapshots a model into the registry (any that applies).

    Examples
    --------
    >>> spec = SnapshotSpec(every_events=500, every_seconds=None)
    >>> spec.every_events, spec.every_seconds, spec.first_after, spec.on_drift
    (500, None, 100, True)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_events: int | None = Field(default=10_000, ge=1)  # labeled events learned since the last one
    every_seconds: float | None = Field(default=60.0, gt=0)
    # A new model is servable soon: its first snapshot once it learned this many labels...
    first_after: int | None = Field(default=100, ge=1)
    # ...and a model that learned something not snapshotted yet, then nothing for this long, is saved.
    idle_seconds: float | None = Field(default=5.0, gt=0)
    on_drift: bool = True  # after each drift policy action
    on_shutdown: bool = True  # at a clean stop (SIGTERM)


class PromotionSpec(BaseModel):
    """Automatic promotion of a challenger that beats the champion by ``margin`` in ``metric``.

    Measured over the last ``window`` labeled events; at most once per ``cooldown_events``.

    Examples
    --------
    >>> spec = PromotionSpec(margin=0.02)
    >>> spec.metric, spec.margin, spec.window, spec.cooldown_events
    ('Accuracy', 0.02, 1000, 5000)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = "Accuracy"
    margin: float = Field(default=0.01, ge=0)
    window: int = Field(default=1000, ge=10)
    cooldown_events: int = Field(default=5000, ge=0)
    auto: bool = True


class ThresholdSpec(BaseModel):
    """When an anomaly model flags an event.

    A score at or above the ``quantile`` of the scores seen so far, or at or above a fixed ``score``
    (one of the two).

    Examples
    --------
    >>> ThresholdSpec(quantile=0.99).score is None
    True
    >>> hst = {"name": "hst", "recipe": "half_space_trees", "task": "anomaly"}
    >>> parse_config({"models": [{**hst, "threshold": {"quantile": 0.9, "score": 0.8}}]})
    Traceback (most recent call last):
    ...
    online_models.exceptions.ConfigError: models[0].threshold: Value error, give one of quantile (0 < q < 1) or score
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    quantile: float | None = Field(default=None, gt=0, lt=1)
    score: float | None = None

    @model_validator(mode="after")
    def _one_of_two(self) -> ThresholdSpec:
        if (self.quantile is None) == (self.score is None):
            raise ValueError("give one of quantile (0 < q < 1) or score")
        return self


class ModelSpec(BaseModel):
    """One model: a name, what it is (a recipe with its params, or a River pipeline), and its task.

    The task decides its metrics.

    Examples
    --------
    >>> spec = ModelSpec(name="nb_fast", recipe="naive_bayes", task="binary", challenger_of="nb")
    >>> spec.estimator, spec.slot
    ('naive_bayes.GaussianNB', 'nb')
    >>> type(spec.build()).__name__
    'Pipeline'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    recipe: str | None = None
    task: Task
    params: dict[str, Any] = Field(default_factory=dict)  # the recipe's estimator parameters
    # Or any River pipeline, as data: its steps with their params (see online_models.pipelines).
    pipeline: list[Any] | None = None
    drift: DriftSpec | None = None
    snapshot: SnapshotSpec = Field(default_factory=SnapshotSpec)
    # A challenger learns side by side with the model it names; their snapshots share that name.
    challenger_of: str | None = None
    promotion: PromotionSpec | None = None
    # Anomaly models only: when an event is flagged (default: the top 1% of scores).
    threshold: ThresholdSpec | None = None

    def steps(self) -> list[pipelines.Step]:
        """Return the model's pipeline as data: its own, or the one its recipe expands into (a fresh copy)."""
        if self.pipeline is not None:
            return copy.deepcopy(self.pipeline)
        return recipes.get(str(self.recipe)).pipeline(self.params)

    @property
    def estimator(self) -> str:
        """The River class path of the learning step, e.g. ``linear_model.LogisticRegression``.

        (Read from the data, not a copy of it: the status and each anomaly alert ask for it.)
        """
        if self.pipeline is None:
            return recipes.get(str(self.recipe)).estimator
        last = self.pipeline[-1]
        return last if isinstance(last, str) else str(last["class"])

    def build(self) -> Any:
        """Return a fresh estimator: the pipeline (an anomaly model: with its threshold)."""
        model = pipelines.build(self.steps())
        if self.task != "anomaly":
            return model
        threshold = self.threshold or ThresholdSpec(quantile=0.99)
        return recipes.flagging(model, threshold.quantile, threshold.score)

    @property
    def slot(self) -> str:
        """The model name users predict with: the champion's name for a challenger."""
        return self.challenger_of or self.name

    @model_validator(mode="after")
    def _check_drift(self) -> ModelSpec:
        if self.drift is None:
            return self
        if self.task == "anomaly":
            raise ConfigError("drift", "anomaly models take no drift policy (they learn every event, labeled or not)")
        allowed = drift.REGRESSION_DETECTORS if self.task == "regression" else tuple(drift.BINARY_DETECTORS)
        if self.drift.detector not in allowed:
            raise ConfigError("drift.detector", f"{self.task} models take one of {', '.join(allowed)}")
        return self

    @model_validator(mode="after")
    def _check_model(self) -> ModelSpec:
        if self.threshold is not None and self.task != "anomaly":
            raise ConfigError("threshold", "only anomaly models take a threshold")
        if (self.recipe is None) == (self.pipeline is None):
            raise ConfigError("recipe", "give one of recipe (a named shortcut) or pipeline (River steps)")
        if self.pipeline is None:
            return self._check_recipe(recipes.get(str(self.recipe)))
        if self.params:
            raise ConfigError("params", "a pipeline's parameters go in its steps (pipeline[i].params)")
        pipelines.check_task(pipelines.build(self.pipeline), self.task)
        return self

    def _check_recipe(self, recipe: recipes.Recipe) -> ModelSpec:
        if self.task not in recipe.tasks:
            raise ConfigError(
                "task", f"recipe {self.recipe!r} does not do {self.task!r}; it does {sorted(recipe.tasks)}"
            )
        unknown = sorted(set(self.params) - recipe.parameter_names())
        if unknown:
            raise ConfigError(f"params.{unknown[0]}", f"not a parameter of {recipe.estimator}")
        try:
            recipe.build(self.params)
        except ConfigError as exc:  # the recipe's own steps are valid: the error is in the params
            raise ConfigError("params", exc.message) from None
        return self


class EvaluationSpec(BaseModel):
    """How often the prequential history records a point.

    Every ``history_every`` labels, at most ``history_points`` points (when full, every other point
    goes and the spacing doubles: a short run's curve is dense, a long run's stays bounded in memory
    and in checkpoints).

    Examples
    --------
    >>> spec = EvaluationSpec(history_every=10)
    >>> spec.history_every, spec.history_points
    (10, 1000)
    >>> parse_config({"models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}],
    ...               "evaluation": {"history_points": 5}})
    Traceback (most recent call last):
    ...
    online_models.exceptions.ConfigError: evaluation.history_points: Input should be greater than or equal to 10
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    history_every: int = Field(default=100, ge=1)
    history_points: int = Field(default=1000, ge=10)


class LabelsSpec(BaseModel):
    """Delayed labels: how long, and how many, predictions wait for their label (per partition).

    Time is event time: an entry expires when events ``ttl_seconds`` newer have been seen.

    Examples
    --------
    >>> spec = LabelsSpec(ttl_seconds=3600, positive="fraud")
    >>> spec.ttl_seconds, spec.max_pending, spec.positive
    (3600.0, 100000, 'fraud')
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl_seconds: float = Field(default=86_400.0, gt=0)
    max_pending: int = Field(default=100_000, ge=1)
    # The positive class of binary models when the labels are not booleans or 0 and 1, e.g. "fraud":
    # they learn ``label == positive`` and every other label is the negative class.
    positive: str | int | None = None


class DedupeSpec(BaseModel):
    """Events produced twice: how many recent event ids a partition remembers.

    So that an event sent again at a new offset (a producer retry without idempotence, an upstream
    replay) is neither learned nor scored twice. 0 (the default) remembers none: the engine's own
    replays are already recognised by their offsets.

    Examples
    --------
    >>> DedupeSpec().window, DedupeSpec(window=10_000).window
    (0, 10000)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(default=0, ge=0)


class AlertsSpec(BaseModel):
    """How alerts are merged and limited.

    Repeats of one detector within ``cooldown_events`` are merged; at most ``max_per_minute`` alerts
    without an action are published per minute of event time.

    Examples
    --------
    >>> spec = AlertsSpec(cooldown_events=500)
    >>> spec.cooldown_events, spec.max_per_minute, spec.window
    (500, 60, 100)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cooldown_events: int = Field(default=1000, ge=0)
    max_per_minute: int = Field(default=60, ge=1)
    window: int = Field(default=100, ge=1)


class DataDriftSpec(DetectorSpec):
    """Data drift on the model inputs: ``detector`` on numeric features, chi-square on the others.

    Examples
    --------
    >>> spec = DataDriftSpec(detector="page_hinkley", features=["amount", "country"])
    >>> spec.detector, spec.features, spec.categorical_window
    ('page_hinkley', ['amount', 'country'], 500)
    """

    detector: Literal["adwin", "page_hinkley", "kswin"] = "adwin"
    features: list[str] | None = None
    categorical_window: int = Field(default=500, ge=10)
    categorical_p_value: float = Field(default=0.0001, gt=0, lt=1)
    max_features: int = Field(default=256, ge=1)


class StreamwiseConfig(BaseModel):
    """The whole file: models, feature transforms, evaluation, labels, alerts and data drift.

    Examples
    --------
    >>> nb = {"name": "nb", "recipe": "naive_bayes", "task": "binary"}
    >>> lr = {"name": "lr", "recipe": "logistic_regression", "task": "binary", "challenger_of": "nb"}
    >>> config = parse_config({"models": [nb, lr], "labels": {"positive": "fraud"}})
    >>> config.candidates("nb"), config.labels.positive, config.dedupe.window
    (['nb', 'lr'], 'fraud', 0)
    >>> parse_config({"models": [nb, nb]})
    Traceback (most recent call last):
    ...
    online_models.exceptions.ConfigError: models[1].name: duplicate model name 'nb'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[ModelSpec] = Field(min_length=1)
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    labels: LabelsSpec = Field(default_factory=LabelsSpec)
    dedupe: DedupeSpec = Field(default_factory=DedupeSpec)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    data_drift: DataDriftSpec | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> StreamwiseConfig:
        seen: set[str] = set()
        for i, model in enumerate(self.models):
            if model.name in seen:
                raise ConfigError(f"models[{i}].name", f"duplicate model name {model.name!r}")
            seen.add(model.name)
        return self

    @model_validator(mode="after")
    def _challengers(self) -> StreamwiseConfig:
        by_name = {m.name: m for m in self.models}
        for i, model in enumerate(self.models):
            if model.challenger_of is not None:
                champion = by_name.get(model.challenger_of)
                if champion is None or champion.challenger_of is not None:
                    raise ConfigError(f"models[{i}].challenger_of", f"{model.challenger_of!r} is not a champion model")
                if champion.task != model.task:
                    raise ConfigError(f"models[{i}].challenger_of", f"{champion.name!r} does another task")
                if model.promotion is not None:
                    raise ConfigError(f"models[{i}].promotion", "set promotion on the champion model")
            if model.promotion is not None and model.promotion.metric not in metrics.for_task(model.task):
                known = ", ".join(metrics.for_task(model.task))
                raise ConfigError(f"models[{i}].promotion.metric", f"not a {model.task} metric; known: {known}")
        return self

    def candidates(self, name: str) -> list[str]:
        """Return the names of model ``name`` and its challengers."""
        return [m.name for m in self.models if m.slot == name]


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_config(data: Any) -> StreamwiseConfig:
    """Validate already-loaded YAML/JSON data; ConfigError names the first offending field."""
    try:
        return StreamwiseConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = error.get("ctx", {}).get("error")
        base = _field_path(error["loc"])
        if isinstance(cause, ConfigError):
            raise ConfigError(f"{base}.{cause.field}" if base else cause.field, cause.message) from None
        raise ConfigError(base or "config", error["msg"]) from None


def load_config(path: str | Path) -> StreamwiseConfig:
    """Read and validate a YAML model configuration file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError("config", f"{path} is not valid YAML: {exc}") from None
    return parse_config(data)
