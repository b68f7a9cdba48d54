"""Request and response bodies of the HTTP API.

A schema's docstring is its description in the OpenAPI document (``/docs``), so the examples of the
schemas are here, one paragraph each.

Examples
--------
``PredictRequest``:

Feature values keep their JSON type (a number, a boolean or a string; no conversion between them):

>>> PredictRequest.model_validate_json(b'{"features": {"amount": 12, "country": "FR", "night": "1"}}').features
{'amount': 12, 'country': 'FR', 'night': '1'}
>>> request = PredictRequest(model="nb", key="customer-42")   # the vector the worker stored for that key
>>> request.model, request.key, request.features
('nb', 'customer-42', None)
>>> both = PredictRequest(features={"amount": 12.5}, key="customer-42")   # a new order with its customer's windows
>>> both.features, both.key
({'amount': 12.5}, 'customer-42')
>>> PredictRequest(model="nb")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for PredictRequest
  Value error, give features, a key, or both ...
>>> PredictRequest(features={"amount": float("nan")})   # JSON has no NaN: neither does a request
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 4 validation errors for PredictRequest
...
features.amount.float
  Input should be a finite number ...

``PredictResponse``:

>>> answer = PredictResponse.model_validate(
...     {"prediction": True, "proba": {"false": 0.2, "true": 0.8}, "model": "nb", "version": 3,
...      "candidate": "nb", "generation": 1, "events_seen": 1200, "labeled": 1100}
... )
>>> answer.score is None   # only an anomaly model has a score
True
>>> answer.model_dump_json(include={"prediction", "proba", "score"})   # as the API sends it (a part of it)
'{"prediction":true,"proba":{"false":0.2,"true":0.8},"score":null}'

``BatchRequest``:

>>> batch = BatchRequest.model_validate({"items": [{"features": {"amount": 1.0}}, {"model": "nb", "key": "c-42"}]})
>>> [(item.model, item.key) for item in batch.items]
[(None, None), ('nb', 'c-42')]
>>> BatchRequest(items=[])
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for BatchRequest
items
  List should have at least 1 item after validation, not 0 ...

``BatchResponse``:

A client reads each item as a prediction or an error:

>>> response = BatchResponse.model_validate({"items": [
...     {"prediction": 1.5, "proba": None, "model": "lr", "version": 2, "candidate": "lr", "generation": 1,
...      "events_seen": 10, "labeled": 10},
...     {"status": 404, "detail": "unknown model 'nope'"},
... ]})
>>> [type(item).__name__ for item in response.items]
['PredictResponse', 'BatchError']
>>> response.items[1].status, response.items[1].detail
(404, "unknown model 'nope'")

``VersionRequest``:

>>> VersionRequest(version=3, reason="better recall").version
3
>>> VersionRequest().version is None   # no version: unpin, the newest version serves again
True
>>> VersionRequest(version=0)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for VersionRequest
version
  Input should be greater than or equal to 1 ...

``RollbackRequest``:

>>> request = RollbackRequest(version=2)
>>> request.version, request.reason
(2, '')
>>> RollbackRequest(reason="worse")   # unlike a promotion, a rollback names its version
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for RollbackRequest
version
  Field required ...

``InvalidRequest``:

>>> invalid = InvalidRequest.model_validate(
...     {"detail": [{"loc": ["body", "features", "amount"], "msg": "Input should be a finite number",
...                  "type": "finite_number"}]}
... )
>>> invalid.detail[0].loc
['body', 'features', 'amount']
>>> message = "model 'nb': features.amount: a number is expected (the stream gave numbers), not a string"
>>> InvalidRequest(detail=message).detail == message   # the served model's own check
True

``DashboardStatus``:

The status document a worker publishes, read back (fields it may add later are ignored):

>>> from datetime import UTC, datetime
>>> from online_models.config import ModelSpec
>>> from online_models.evaluation import PrequentialModel
>>> from online_models.status import model_status
>>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
>>> _ = model.step({"x": 1.0}, True)
>>> document = model_status(model, partition=0, now=datetime(2026, 1, 1, tzinfo=UTC))
>>> status = DashboardStatus.model_validate({**document, "added_later": 1})
>>> status.model, status.slot, status.partition, status.recipe, status.labeled, status.updated_at
('nb', 'nb', 0, 'naive_bayes', 1, '2026-01-01T00:00:00.000+00:00')
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]
FeatureValue = StrictBool | StrictInt | FiniteFloat | StrictStr
Label = StrictBool | StrictInt | FiniteFloat | StrictStr | None
MAX_VERSION = 2**53 - 1  # the largest integer a JSON client (a double) holds exactly


class PredictRequest(BaseModel):
    """``features`` (raw event features), ``key`` (the online store's vector), or both: features over the key's."""

    # The schema says "features, a key or both" too (the validator below enforces it).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["features"], "properties": {"features": {"type": "object"}}},
                {"required": ["key"], "properties": {"key": {"type": "string"}}},
            ]
        },
    )

    model: str | None = Field(default=None, description="Model name; the default model when absent.")
    features: dict[str, FeatureValue] | None = Field(default=None, min_length=1, max_length=10_000)
    key: str | None = Field(default=None, min_length=1, max_length=256)
    version: int | None = Field(default=None, ge=1, description="A kept version to answer with, not the champion.")
    candidate: str | None = Field(
        default=None, min_length=1, description="A candidate (a challenger) whose newest version answers."
    )

    @model_validator(mode="after")
    def _an_input(self) -> PredictRequest:
        if self.features is None and self.key is None:
            raise ValueError("give features, a key, or both")
        if self.version is not None and self.candidate is not None:
            raise ValueError("give a version or a candidate, not both")
        return self


class PredictResponse(BaseModel):
    """A prediction by the served champion of a model."""

    prediction: Label
    proba: dict[str, float] | None = Field(description="Probability per class, keys as JSON text (true, 0, cat).")
    score: float | None = Field(default=None, description="An anomaly model's score (its prediction: flagged or not).")
    model: str
    version: int = Field(description="The registry version served (a snapshot; promote and rollback name it).")
    candidate: str = Field(description="The candidate whose version answered: the model, or one of its challengers.")
    generation: int = Field(description="Its model's drift generation: a reset or background swap starts a new one.")
    events_seen: int
    labeled: int = Field(
        description="The labeled events the served version learned (every one, whatever the partitions)."
    )
    missing: list[str] = Field(
        default_factory=list, description="Features the model learned from that this input lacks (answered without)."
    )


class BatchRequest(BaseModel):
    """Predict requests answered together: at most STREAMWISE_MAX_BATCH items."""

    model_config = ConfigDict(extra="forbid")

    items: list[PredictRequest] = Field(min_length=1)


class BatchError(BaseModel):
    """An item of a batch that got no prediction: the status and detail it would have had alone."""

    status: int
    detail: str


class BatchResponse(BaseModel):
    """An answer per item, in the order of the request's items: one bad item does not fail the others."""

    items: list[PredictResponse | BatchError]


class VersionRequest(BaseModel):
    """A promotion: the version to make champion (pinned), or null to unpin, and why."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Promote: null unpins and serves the newest."
    )
    reason: str = Field(default="", max_length=500)


class RollbackRequest(BaseModel):
    """A rollback: the older version to make champion again, and why."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=MAX_VERSION)
    reason: str = Field(default="", max_length=500)


class Readiness(BaseModel):
    """Whether the API is ready, what stops it if not, and the version it serves per model."""

    ready: bool
    problems: list[str]
    serving: dict[str, int] = Field(description="Version served per model.")


class ErrorResponse(BaseModel):
    """The body of every error answer but 422."""

    detail: str


class FieldError(BaseModel):
    """One validation error: where it is (``loc``), its message and its type."""

    loc: list[str | int]
    msg: str
    type: str


class InvalidRequest(BaseModel):
    """422: FastAPI's validation errors, or a message for features the served model cannot take."""

    detail: list[FieldError] | str


ERRORS = {
    401: "No X-API-Key header (on predict routes: only with STREAMWISE_PREDICT_REQUIRES_KEY).",
    403: "Wrong X-API-Key, or admin routes disabled (no STREAMWISE_API_KEY).",
    404: "Unknown model, version or feature key.",
    409: "The rollback target is not older than the champion, or the version asked for is refused (its signature).",
    413: "Request body over STREAMWISE_MAX_BODY_BYTES, or a batch over STREAMWISE_MAX_BATCH items.",
    422: "Invalid request, or features the served model cannot take.",
    503: "Redis unavailable, or no model registered or loaded yet.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return the ``responses=`` of a route that may answer these error codes.

    Each code has an ``ErrorResponse`` (422: ``InvalidRequest``; without it, FastAPI documents its
    validation errors only).

    Examples
    --------
    >>> responses = errors(404, 422)
    >>> {code: response["model"].__name__ for code, response in responses.items()}
    {404: 'ErrorResponse', 422: 'InvalidRequest'}
    >>> responses[404]["description"]
    'Unknown model, version or feature key.'
    """
    return {
        code: {"model": InvalidRequest if code == 422 else ErrorResponse, "description": ERRORS[code]} for code in codes
    }


class ModelSummary(BaseModel):
    """A model name with its champion, the version this API process serves and the kept versions."""

    name: str
    champion: dict[str, Any] | None
    serving: int | None = Field(description="Version this API process serves now.")
    events_seen: int | None = Field(default=None, description="The events the served version learned from.")
    labeled: int | None = Field(default=None, description="The labeled events the served version learned.")
    versions: list[int]


# -- GET /dashboard/data ------------------------------------------------------------------------
Metrics = dict[str, float | None]  # per River metric; null while it has no value


class DashboardPoint(BaseModel):
    """One point of a model's prequential history (every ``history_every`` labeled events)."""

    labeled: int
    events: int = Field(description="Events its partition had seen: the charts' x axis.")
    metrics: Metrics
    generation: int = Field(description="The model's drift generation that scored up to this point.")
    at: str | None = Field(description="When the worker first published the point (within a status interval).")


class DashboardStatus(BaseModel):
    """The worker's status of one model (a champion or a challenger) on one stream partition."""

    model_config = ConfigDict(extra="ignore")

    model: str
    slot: str | None = Field(default=None, description="Its model name: the champion's, for a challenger.")
    partition: int
    generation: int = Field(description="Its drift generation (a reset or background swap starts a new one).")
    recipe: str | None = Field(description="The recipe, or null for a pipeline.")
    estimator: str | None = Field(default=None, description="The River class of the learning step.")
    task: str
    events: int
    labeled: int
    scored: int
    failures: dict[str, int] = Field(
        default_factory=dict, description="Events it could not take, per stage and exception (model errors)."
    )
    metrics: Metrics
    updated_at: str
    history: list[DashboardPoint] = Field(default_factory=list, description="The last points, oldest first.")


class DashboardVersion(BaseModel):
    """A kept version in the registry (from its snapshot's metadata)."""

    model_config = ConfigDict(extra="ignore")

    version: int
    candidate: str
    generation: int | None = Field(default=None, description="The drift generation the snapshot was taken of.")
    partition: int | None = None
    created_at: str | None = None
    reason: str | None = None
    events_seen: int | None = None
    labeled: int | None = None
    metrics: Metrics = Field(default_factory=dict)


class DashboardChange(BaseModel):
    """A promotion or rollback from the registry's log."""

    model_config = ConfigDict(extra="ignore")

    event: str = Field(description="promoted or rolled_back")
    version: int
    candidate: str = ""
    pinned: bool
    by: str
    reason: str
    at: str
    events_seen: int | None = Field(
        default=None,
        description="Its place on the x axis: an automatic promotion's version's events, else the events at its "
        "time (from the history's publication times); null when unknown.",
    )


class DashboardModel(BaseModel):
    """One model name (what predict, promote and rollback take) with its candidates' status."""

    name: str
    champion: dict[str, Any] | None
    serving: int | None = Field(description="Version this API process serves now.")
    versions: list[DashboardVersion] = Field(description="Oldest first.")
    changes: list[DashboardChange] = Field(description="Promotions and rollbacks, oldest first.")
    status: list[DashboardStatus] = Field(description="Per candidate and partition.")


class DashboardAlert(BaseModel):
    """A drift alert: ``model`` is null for data drift; ``action`` is what the drift policy did, if anything."""

    model_config = ConfigDict(extra="ignore")

    alert_id: str
    model: str | None
    kind: str
    detector: str
    feature: str | None
    event_id: str
    events_seen: int
    ts: str
    details: dict[str, Any]
    action: str | None = None


class DashboardPartition(BaseModel):
    """One intake's or learner's own counts: its dead letters by reason, and what waits in it."""

    model_config = ConfigDict(extra="ignore")

    part: str = Field(description="intake:P (a raw partition) or learner:P (a learn-log partition)")
    partition: int
    dead_letters: dict[str, int] = Field(default_factory=dict)
    waiting_predictions: int | None = Field(default=None, description="Predictions waiting for their label.")
    waiting_labels: int | None = Field(default=None, description="Labels waiting for their event.")
    updated_at: str | None = None


class DashboardData(BaseModel):
    """Everything the dashboard page draws, in one poll."""

    generated_at: str
    models: list[DashboardModel]
    alerts: list[DashboardAlert] = Field(description="The most recent drift alerts, oldest first.")
    partitions: list[DashboardPartition] = Field(default_factory=list)
