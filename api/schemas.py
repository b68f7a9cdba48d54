"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]
FeatureValue = StrictBool | StrictInt | FiniteFloat | StrictStr
Label = StrictBool | StrictInt | FiniteFloat | StrictStr | None
MAX_VERSION = 2**53 - 1  # the largest integer a JSON client (a double) holds exactly


class PredictRequest(BaseModel):
    """Either ``features`` (raw event features) or ``key`` (the online feature store's vector)."""

    # The schema says "exactly one of features or key" too (the validator below enforces it).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["features"], "properties": {"features": {"type": "object"}}},
                {"required": ["key"], "properties": {"key": {"type": "string"}}},
            ]
        },
    )

    model: str | None = Field(default=None, description="Model name; the default model when absent.")
    features: dict[str, FeatureValue] | None = Field(default=None, min_length=1, max_length=10_000)
    key: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_input(self) -> PredictRequest:
        if (self.features is None) == (self.key is None):
            raise ValueError("give exactly one of features or key")
        return self


class PredictResponse(BaseModel):
    prediction: Label
    proba: dict[str, float] | None = Field(description="Probability per class, keys as JSON text (true, 0, cat).")
    model: str
    model_version: int
    events_seen: int


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PredictRequest] = Field(min_length=1)


class BatchResponse(BaseModel):
    items: list[PredictResponse]


class VersionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Promote: null unpins and serves the newest."
    )
    reason: str = Field(default="", max_length=500)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=MAX_VERSION)
    reason: str = Field(default="", max_length=500)


class Readiness(BaseModel):
    ready: bool
    problems: list[str]
    serving: dict[str, int] = Field(description="Version served per model.")


class ErrorResponse(BaseModel):
    """The body of every error answer but 422."""

    detail: str


class FieldError(BaseModel):
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
    409: "The rollback target is not older than the champion.",
    413: "Request body over STREAMWISE_MAX_BODY_BYTES, or a batch over STREAMWISE_MAX_BATCH items.",
    422: "Invalid request, or features the served model cannot take.",
    503: "Redis unavailable, or no model registered or loaded yet.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that may answer these error codes, each with an ``ErrorResponse``
    (422: ``InvalidRequest``; without it, FastAPI documents its validation errors only)."""
    return {
        code: {"model": InvalidRequest if code == 422 else ErrorResponse, "description": ERRORS[code]} for code in codes
    }


class ModelSummary(BaseModel):
    name: str
    champion: dict[str, Any] | None
    serving: int | None = Field(description="Version this API process serves now.")
    versions: list[int]
