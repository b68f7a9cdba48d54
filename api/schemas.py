"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]
FeatureValue = StrictBool | StrictInt | FiniteFloat | StrictStr
Label = StrictBool | StrictInt | FiniteFloat | StrictStr | None


class PredictRequest(BaseModel):
    """Either ``features`` (raw event features) or ``key`` (the online feature store's vector)."""

    model_config = ConfigDict(extra="forbid")

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

    version: int | None = Field(default=None, ge=1, description="Promote: null unpins and serves the newest.")
    reason: str = Field(default="", max_length=500)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    reason: str = Field(default="", max_length=500)


class ModelSummary(BaseModel):
    name: str
    champion: dict[str, Any] | None
    serving: int | None = Field(description="Version this API process serves now.")
    versions: list[int]
