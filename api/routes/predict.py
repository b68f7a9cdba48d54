"""POST /predict and /predict/batch: pure inference with the served champion."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, HTTPException

from api.dependencies import EngineerDep, FeatureStoreDep, MetricsDep, PredictKey, ServerDep, SettingsDep
from api.schemas import BatchRequest, BatchResponse, PredictRequest, PredictResponse
from online_models.exceptions import InvalidEventError

router = APIRouter(tags=["predict"])


def _json_key(label: object) -> str:
    return label if isinstance(label, str) else orjson.dumps(label).decode()


async def _predict_one(
    body: PredictRequest,
    server: ServerDep,
    store: FeatureStoreDep,
    engineer: EngineerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> PredictResponse:
    name = body.model or settings.default_model or (min(server.known) if server.known else None)
    if name is None or name not in server.known:
        raise HTTPException(404, f"unknown model {name!r}" if name else "no model is registered yet")
    served = server.models.get(name)
    if served is None:
        raise HTTPException(503, f"model {name!r} has no loaded version yet")
    if body.key is not None:
        features = await store.get(body.key)
        if features is None:
            raise HTTPException(404, f"no features stored for key {body.key!r}")
    else:
        try:
            features, _ = engineer.transform(body.features or {}, None, keyed=False)
        except InvalidEventError as exc:
            raise HTTPException(422, f"features: {exc.detail}") from None
    answer = served.answer(features)
    metrics.predictions.labels(name).inc()
    proba = {_json_key(k): float(v) for k, v in answer.proba.items()} if answer.proba is not None else None
    return PredictResponse(
        prediction=answer.prediction,
        proba=proba,
        model=name,
        model_version=served.version,
        events_seen=int(served.metadata["events_seen"]),
    )


@router.post("/predict", response_model=PredictResponse, responses={404: {}, 503: {}})
async def predict(
    body: PredictRequest,
    server: ServerDep,
    store: FeatureStoreDep,
    engineer: EngineerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    _: PredictKey,
) -> PredictResponse:
    return await _predict_one(body, server, store, engineer, settings, metrics)


@router.post("/predict/batch", response_model=BatchResponse, responses={404: {}, 413: {}, 503: {}})
async def predict_batch(
    body: BatchRequest,
    server: ServerDep,
    store: FeatureStoreDep,
    engineer: EngineerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    _: PredictKey,
) -> BatchResponse:
    if len(body.items) > settings.max_batch:
        raise HTTPException(413, f"items: at most {settings.max_batch} per batch, got {len(body.items)}")
    return BatchResponse(
        items=[await _predict_one(item, server, store, engineer, settings, metrics) for item in body.items]
    )
