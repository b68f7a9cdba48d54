"""The dashboard page, its assets and /dashboard/data, against a real redis-server (and the demo's
in-memory sources): local assets only, the registry, the worker's status history and the alerts."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from openapi_spec_validator import validate

from api.routes.dashboard import events_at
from online_models import recipes
from online_models.alerts import Alert
from online_models.config import ModelSpec, parse_config
from online_models.datasets import samples
from online_models.evaluation import PrequentialModel
from online_models.intake import Intake
from online_models.learner import Learner
from online_models.status import intake_status, learner_status, model_status
from online_models.storage.status_store import ModelStatusStore
from online_models.storage.stores import AlertLog
from tests.support.api import ADMIN, ApiEnv, trained

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Assets(HTMLParser):
    """The src of every script and the href of every link of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        for name, value in attrs:
            if name == wanted and value is not None:
                self.urls.append((tag, value))


def page_assets(html: str) -> list[tuple[str, str]]:
    parser = Assets()
    parser.feed(html)
    return parser.urls


def test_the_page_references_only_local_assets_and_each_is_served(api: ApiEnv) -> None:
    response = api.client.get("/dashboard")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assets = page_assets(response.text)
    scripts = [url for tag, url in assets if tag == "script"]
    assert scripts == ["/static/vendor/uPlot.iife.min.js", "/static/dashboard.js"]
    remote = [url for _, url in assets if re.match(r"(https?:)?//", url)]
    assert not remote, f"assets from another origin: {remote}"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), "no inline script (the CSP refuses it)"
    for _, url in assets:
        if url.startswith("/static/"):
            assert api.client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/dashboard.js", "text/javascript"),
        ("/static/dashboard.css", "text/css"),
        ("/static/vendor/uPlot.iife.min.js", "text/javascript"),
        ("/static/vendor/uPlot.min.css", "text/css"),
        ("/static/vendor/uPlot.LICENSE", "application/octet-stream"),
    ],
)
def test_static_assets_are_served(api: ApiEnv, path: str, content_type: str) -> None:
    response = api.client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith(content_type)
    assert b"https://cdn" not in response.content


def test_the_vendored_chart_library_is_uplot_with_its_license(api: ApiEnv) -> None:
    header = re.search(rb"uPlot \(v([\d.]+)\)", api.client.get("/static/vendor/uPlot.iife.min.js").content)
    assert header is not None
    notes = (ROOT / "api" / "static" / "vendor" / "README.md").read_text()
    assert f"uPlot {header[1].decode()}," in notes, "vendor/README.md names the vendored version"
    assert b"MIT License" in api.client.get("/static/vendor/uPlot.LICENSE").content
    assert api.client.get("/static/../main.py").status_code == 404
    assert api.client.get("/static/nothing.js").status_code == 404


def publish(env: ApiEnv, statuses: list[dict], alerts: list[Alert], parts: list[dict] | None = None) -> None:
    """Write status documents, the partitions' counts and alerts as the worker does."""

    async def write() -> None:
        client = aioredis.from_url(env.redis_url)
        try:
            await ModelStatusStore(client, env.namespace).publish(statuses)
            await ModelStatusStore(client, env.namespace).publish_parts(parts or [])
            for alert in alerts:
                await AlertLog(client, env.namespace).append(alert)
        finally:
            await client.aclose()

    asyncio.run(write())


def learn(model: PrequentialModel, start: int, stop: int) -> None:
    for x, y in list(samples("agrawal", stop, seed=5))[start:stop]:
        model.step(x, y)


def reset_alert(model: PrequentialModel, events: int, action: str | None = "reset") -> Alert:
    details = {"generation": model.generation, "error_rate_before": 0.1, "error_rate_recent": float("nan")}
    return Alert(model.name, "concept_drift", "ddm", None, f"e-{events}", events, T0, details, action)


def test_data_gives_the_registry_the_status_history_and_the_alerts(api: ApiEnv) -> None:
    first = api.register(trained(100, seed=1))
    second = api.register(trained(200, seed=2))
    rollback = api.client.post("/models/lr/rollback", json={"version": first}, headers={"X-API-Key": ADMIN})
    assert rollback.status_code == 200

    # The worker's status: a reset at event 70, written one status interval later (at event 100).
    model = PrequentialModel(ModelSpec(name="lr", recipe="logistic_regression", task="binary"), history_every=10)
    learn(model, 0, 50)
    now = datetime.now(tz=UTC) - timedelta(seconds=10)
    written = [model_status(model, 0, now)]
    learn(model, 50, 70)
    model.replace(recipes.build("logistic_regression", {}))
    alerts = [reset_alert(model, 70), reset_alert(model, 71, action=None)]
    learn(model, 70, 100)
    written.append(model_status(model, 0, now + timedelta(seconds=1)))
    publish(api, written, alerts)
    assert [p["generation"] for p in written[-1]["history"]] == [1] * 7 + [2] * 3  # recorded with each point

    response = api.client.get("/dashboard/data")
    assert response.status_code == 200
    data = response.json()
    [lr] = data["models"]
    assert lr["name"] == "lr" and lr["champion"]["version"] == first and lr["champion"]["pinned"] is True
    assert [v["version"] for v in lr["versions"]] == [first, second]
    assert lr["versions"][1]["labeled"] == 200 and set(lr["versions"][1]["metrics"]) >= {"Accuracy", "ROCAUC"}
    [change] = lr["changes"]
    assert (change["event"], change["version"], change["by"]) == ("rolled_back", first, "api")
    assert change["events_seen"] == 100  # after the last status: at the latest events

    [status] = lr["status"]
    assert (status["model"], status["partition"], status["generation"], status["events"]) == ("lr", 0, 2, 100)
    history = status["history"]
    assert [p["events"] for p in history] == list(range(10, 101, 10))
    assert [p["generation"] for p in history] == [1] * 7 + [2] * 3  # exact: the reset came at event 70
    assert history[-1]["metrics"]["Accuracy"] == pytest.approx(model.history[-1].metrics["Accuracy"])
    # When each point was first written; none for those the model had when the worker first saw it.
    assert [p["at"] for p in history] == [None] * 5 + [written[1]["updated_at"]] * 5

    assert [(a["events_seen"], a["action"]) for a in data["alerts"]] == [(70, "reset"), (71, None)]
    assert data["alerts"][0]["details"]["error_rate_recent"] is None  # NaN in JSON: null


def test_data_lists_a_model_that_reports_status_before_its_first_snapshot(api: ApiEnv) -> None:
    model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"), history_every=25)
    learn(model, 0, 100)
    publish(api, [model_status(model, 0, T0), model_status(model, 1, T0)], [])
    [nb] = api.client.get("/dashboard/data").json()["models"]
    assert (nb["name"], nb["champion"], nb["versions"], nb["changes"]) == ("nb", None, [], [])
    assert [s["partition"] for s in nb["status"]] == [0, 1]
    assert [len(s["history"]) for s in nb["status"]] == [4, 4]


def test_data_gives_each_partitions_dead_letters_and_waiting_labels(api: ApiEnv) -> None:
    learner = Learner(parse_config({"models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}]}))
    learner.letters.update({"label_unmatched": 3, "model_error": 2})
    intake = Intake(parse_config({"models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}]}))
    intake.letters.update({"invalid_json": 4})
    publish(api, [], [], [learner_status(learner, T0), intake_status(intake, T0)])
    parts = api.client.get("/dashboard/data").json()["partitions"]
    assert [(p["part"], p["dead_letters"]) for p in parts] == [
        ("intake:0", {"invalid_json": 4}), ("learner:0", {"label_unmatched": 3, "model_error": 2})
    ]  # fmt: skip
    assert (parts[1]["waiting_predictions"], parts[1]["waiting_labels"]) == (0, 0)


def test_data_without_anything_yet_and_in_the_openapi_schema(api: ApiEnv) -> None:
    data = api.client.get("/dashboard/data").json()
    assert data["models"] == [] and data["alerts"] == []
    schema = api.client.get("/openapi.json").json()
    validate(schema)
    ok = schema["paths"]["/dashboard/data"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/DashboardData"}
    assert "text/html" in schema["paths"]["/dashboard"]["get"]["responses"]["200"]["content"]


def test_the_newest_alerts_come_when_there_are_more_than_the_page_shows(api: ApiEnv) -> None:
    model = PrequentialModel(ModelSpec(name="lr", recipe="logistic_regression", task="binary"))
    publish(api, [], [reset_alert(model, i, action=None) for i in range(1, 206)])
    alerts = api.client.get("/dashboard/data").json()["alerts"]
    assert [a["events_seen"] for a in alerts] == list(range(6, 206))


def test_events_at_interpolates_the_timeline() -> None:
    timeline = [(T0, 0), (T0 + timedelta(seconds=10), 1000)]
    assert events_at((T0 + timedelta(seconds=2.5)).isoformat(), timeline) == 250
    assert events_at((T0 + timedelta(seconds=60)).isoformat(), timeline) == 1000
    assert events_at((T0 - timedelta(seconds=1)).isoformat(), timeline) is None
    assert events_at("2026-01-01T00:00:05", timeline) == 500  # no offset: UTC
    assert events_at(T0.isoformat(), []) is None
