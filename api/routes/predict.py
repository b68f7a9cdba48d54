"""POST /predict and /predict/batch: pure inference with the served champion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response

from api.dependencies import PredictKey
from api.limits import StrictJSONRoute
from api.prometheus import ApiMetrics
from api.schemas import BatchError, BatchRequest, BatchResponse, PredictRequest, PredictResponse, errors
from api.serving import ModelServer, Served
from api.settings import ApiSettings
from online_models.exceptions import InvalidEventError
from online_models.features import FeatureEngineer
from online_models.registry import RegistryError
from online_models.snapshot import SnapshotError
from online_models.storage.stores import FeatureStore

router = APIRouter(tags=["predict"], route_class=StrictJSONRoute)


def _json_key(label: object) -> str:
    return label if isinstance(label, str) else orjson.dumps(label).decode()


@dataclass
class Predictor:
    """Answers predict requests with the served champion of each model.

    Examples
    --------
    A model server on a registry in a temporary folder, with one version of ``nb``, and an
    in-memory feature store (the embedded demo's kinds):

    >>> import asyncio, tempfile
    >>> from pathlib import Path
    >>> from online_models.config import ModelSpec
    >>> from online_models.evaluation import PrequentialModel
    >>> from online_models.features import FeatureSpec
    >>> from online_models.registry import register
    >>> from online_models.storage.folder_registry import FileRegistry
    >>> from online_models.storage.stores import MemoryFeatureStore
    >>> folder = tempfile.TemporaryDirectory()
    >>> registry = FileRegistry(Path(folder.name), key=b"k" * 32)
    >>> model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"))
    >>> for x in [1.0, -1.0, 1.2, -0.8]:
    ...     _ = model.step({"x": x}, x > 0)
    >>> _ = asyncio.run(register(registry, model, reason="example"))
    >>> metrics = ApiMetrics()
    >>> server = ModelServer(registry, metrics)
    >>> asyncio.run(server.refresh())   # as the app's start-up does: load the champions
    >>> store = MemoryFeatureStore()
    >>> store.put("customer-42", {"x": -1.0})   # the worker keeps each key's newest features
    >>> settings = ApiSettings(default_model="nb", max_batch=10, predict_requires_key=False)   # no X-API-Key needed
    >>> predictor = Predictor(server, store, FeatureEngineer(FeatureSpec()), settings, metrics)
    >>> answer = asyncio.run(predictor.predict(PredictRequest(features={"x": 1.1})))   # no model: the default
    >>> answer.model, answer.version, answer.prediction, answer.events_seen
    ('nb', 1, True, 4)
    >>> asyncio.run(predictor.predict(PredictRequest(key="customer-42"))).prediction
    False
    >>> asyncio.run(predictor.predict(PredictRequest(model="lr", features={"x": 1.1})))
    Traceback (most recent call last):
    ...
    fastapi.exceptions.HTTPException: 404: unknown model 'lr'
    >>> asyncio.run(predictor.predict(PredictRequest(features={"x": "high"})))
    Traceback (most recent call last):
    ...
    fastapi.exceptions.HTTPException: 422: model 'nb': features.x: a number is expected (the stream gave numbers), ...

    The routes find it in the app's state; a batch answers each item as ``/predict`` would:

    >>> from fastapi import FastAPI
    >>> from fastapi.testclient import TestClient
    >>> app = FastAPI()
    >>> app.include_router(router)
    >>> app.state.settings, app.state.predictor = settings, predictor
    >>> client = TestClient(app)
    >>> client.post("/predict", json={"key": "customer-42"}).json()["prediction"]
    False
    >>> items = [{"features": {"x": 1.1}}, {"model": "lr", "features": {"x": 1.1}}]
    >>> answers = client.post("/predict/batch", json={"items": items}).json()["items"]
    >>> answers[0]["prediction"], answers[1]
    (True, {'status': 404, 'detail': "unknown model 'lr'"})
    >>> folder.cleanup()
    """

    server: ModelServer
    store: FeatureStore
    engineer: FeatureEngineer
    settings: ApiSettings
    metrics: ApiMetrics
    # The models of the worker's config (champion names, in its order): one without a version yet
    # is served later (503), a name neither there nor in the registry is unknown (404).
    configured: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Choose the default model."""
        # STREAMWISE_DEFAULT_MODEL, else the config's first model, else the first registered name
        # (the rule docs/settings.md states).
        self.default = self.settings.default_model or (self.configured[0] if self.configured else None)

    def _model(self, requested: str | None) -> str:
        known = self.server.known
        name = requested or self.default or (min(known) if known else None)
        if name is None:
            raise HTTPException(503, "no model is registered yet")
        if name not in known and name not in self.configured:
            raise HTTPException(404, f"unknown model {name!r}")
        return name

    async def predict(self, body: PredictRequest) -> PredictResponse:
        """Return the prediction for one request, or raise the HTTPException it answers with."""
        name = self._model(body.model)
        served = await self._served(name, body)
        features = await self._features(body)
        wrong = served.model.wrong_types(features)
        if wrong:
            problems = "; ".join(f"features.{feature}: {problem}" for feature, problem in sorted(wrong.items()))
            raise HTTPException(422, f"model {name!r}: {problems}")
        try:
            answer = served.answer(features)
        except Exception as exc:  # e.g. a string where the model takes a number
            raise HTTPException(
                422, f"features: model {name!r} cannot take them: {type(exc).__name__}: {exc}"
            ) from None
        self.metrics.predicted(name)
        proba = {_json_key(k): float(v) for k, v in answer.proba.items()} if answer.proba is not None else None
        return PredictResponse(
            prediction=answer.prediction,
            proba=proba,
            score=answer.score,
            model=name,
            version=served.version,
            candidate=str(served.metadata.get("candidate", name)),
            generation=served.generation,
            events_seen=int(served.metadata["events_seen"]),
            labeled=int(served.metadata["labeled"]),
            missing=sorted(served.model.inputs.keys() - features.keys()),
        )

    async def _served(self, name: str, body: PredictRequest) -> Served:
        """Return the version that answers: the champion, or the version or candidate the request names."""
        if body.version is not None or body.candidate is not None:
            try:
                return await self.server.version(name, body.version, body.candidate)
            except RegistryError as exc:
                raise HTTPException(404, str(exc)) from None
            except SnapshotError as exc:
                raise HTTPException(409, f"model {name!r}: that version is refused: {exc}") from None
        served = self.server.models.get(name)
        if served is None:
            known = name in self.server.known
            raise HTTPException(503, f"model {name!r} has no loaded version yet" if known else
                                f"model {name!r} is configured, no version yet")  # fmt: skip
        return served

    async def _features(self, body: PredictRequest) -> dict:
        """Return the model's input: the key's online vector, with the request's own features over it."""
        stored = await self.store.get(body.key) if body.key is not None else None
        if body.features is None:
            if stored is None:
                raise HTTPException(404, f"no features stored for key {body.key!r}")
            return stored
        try:
            given = self.engineer.transform(body.features, None, keyed=False)[0]
        except InvalidEventError as exc:
            raise HTTPException(422, f"features: {exc.detail}") from None
        return {**stored, **given} if stored else given  # a new key has no windows yet: the request alone


async def _predictor(request: Request) -> Predictor:
    """Return the app's predictor.

    It is made once per app start (lifespan): no chain of sub-dependencies per request, 10-15 µs each.
    """
    return request.app.state.predictor


PredictorDep = Annotated[Predictor, Depends(_predictor)]


@router.post("/predict", response_model=PredictResponse, responses=errors(401, 403, 404, 409, 413, 422, 503))
async def predict(body: PredictRequest, request: Request, _: PredictKey) -> Response:
    """Predict with the served champion of ``model``, from raw ``features`` or the stored vector of ``key``.

    Pure inference: the model does not learn from the request.
    """
    # The predictor straight from the app state: this route's hot path has one dependency, the key.
    answer = await request.app.state.predictor.predict(body)
    # Serialized once, by the model's own serializer: FastAPI would validate it a second time.
    return Response(answer.__pydantic_serializer__.to_json(answer), media_type="application/json")


@router.post("/predict/batch", response_model=BatchResponse, responses=errors(401, 403, 413, 422))
async def predict_batch(body: BatchRequest, predictor: PredictorDep, _: PredictKey) -> BatchResponse:
    """Predict for each item as ``/predict`` would, answering in the order of the items.

    An item that fails gets the status and detail it would have had alone, and does not fail the others.
    """
    if len(body.items) > predictor.settings.max_batch:
        raise HTTPException(413, f"items: at most {predictor.settings.max_batch} per batch, got {len(body.items)}")
    return BatchResponse(items=[await _item(predictor, item) for item in body.items])


async def _item(predictor: Predictor, item: PredictRequest) -> PredictResponse | BatchError:
    try:
        return await predictor.predict(item)
    except HTTPException as exc:
        return BatchError(status=exc.status_code, detail=str(exc.detail))
