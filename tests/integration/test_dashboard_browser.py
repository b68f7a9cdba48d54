"""The dashboard in a real browser (Debian's headless Chromium through playwright) over a real
worker and a real API server: its charts draw the stream's prequential history, and its rollback
button changes the champion. The screenshot is kept as a test artifact in reports/dashboard.png."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.testing import ROOT, StreamEnv, background, free_port, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "reports" / "dashboard.png"
ADMIN = "dashboard-admin-key"
N, HISTORY_EVERY, MIN_POINTS = 6000, 100, 40


@pytest.fixture
def api_url(stream_env: StreamEnv) -> Iterator[str]:
    """``streamwise api`` (uvicorn) in its own process, on the worker's namespace and signing key."""
    port = free_port()
    command = [sys.executable, "-m", "streams", "api", "--port", str(port)]
    with background(command, stream_env.tmp / "api.log", stream_env.env(STREAMWISE_API_KEY=ADMIN)):
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/healthz"), timeout=30, what=f"the API at {url}")
        yield url


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _poll_page(page: Any, script: str, timeout: float, what: str, arg: object = None) -> Any:
    """``page.evaluate`` until truthy: the page's CSP forbids eval, which ``wait_for_function`` needs."""
    return wait_for(lambda: page.evaluate(script, arg), timeout=timeout, interval=0.25, what=what)


# What the page tells about ht once the stream is charted: history points, two registry versions
# (the champion newer than the oldest, so a rollback is possible) and the drift alert marked.
HT_READY = """(minPoints) => {
  const ht = window.dashboardState && window.dashboardState.models.ht;
  return ht && ht.points >= minPoints && ht.versions.length >= 2 && ht.champion > Math.min(...ht.versions)
    && ht.marks >= 1 ? ht : null;
}"""

# A model that cannot take these events (a bag of words of a number): the page must say so.
WORDS = {
    "name": "words",
    "task": "binary",
    "pipeline": [{"class": "feature_extraction.BagOfWords", "params": {"on": "salary"}}, "naive_bayes.MultinomialNB"],
}
WORDS_FLAGGED = """() => {
  const words = document.querySelector('section.model[data-model="words"]');
  const partitions = document.querySelector("#partitions tbody").textContent;
  return words && words.classList.contains("failing") && partitions.includes("model_error")
    ? words.querySelector(".troubles").textContent : null;
}"""

CHART_POINTS = """() => window.dashboardCharts.ht.plot.data.slice(1)
  .reduce((n, ys) => n + ys.filter((y) => y != null).length, 0)"""


def test_the_dashboard_charts_a_running_stream_and_rolls_back(
    stream_env: StreamEnv, api_url: str, browser: Any
) -> None:
    stream_env.write_config(
        [
            {
                "name": "ht",
                "recipe": "hoeffding_tree",
                "task": "binary",
                "drift": {"detector": "fhddm", "policy": "reset"},
                "snapshot": {"every_events": 1000, "every_seconds": None},
            },
            WORDS,
        ],
        evaluation={"history_every": HISTORY_EVERY},
        labels={"ttl_seconds": 3600},
    )
    stream_env.create_topics()
    stream_env.start_worker()
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{api_url}/dashboard")
        stream_env.cli("produce", "--synthetic", "agrawal_drift", "--n", str(N), "--label-delay", "50")

        ht = _poll_page(page, HT_READY, 60, "the ht chart with history, versions and a drift mark", MIN_POINTS)
        assert page.evaluate(CHART_POINTS) >= MIN_POINTS, f"see {SCREENSHOT}"
        assert ht["series"] >= 2, f"one series per model version (a reset happened); see {SCREENSHOT}"
        troubles = _poll_page(page, WORDS_FLAGGED, 30, "the failing model flagged, its dead letters counted")
        assert "words: predict: AttributeError" in troubles and "learned nothing" in troubles, troubles
        # The stream has ended: the page shows its last state.
        _poll_page(page, f"() => document.querySelector('#kpis b').textContent === '{N:,}'", 30, "the last count")
        oldest = min(ht["versions"])

        rollback = page.locator(f'button[data-action="rollback"][data-model="ht"][data-version="{oldest}"]')
        status = page.locator("#action-status")
        page.fill("#api-key", "not-the-key")
        rollback.click()
        sync_api.expect(status).to_contain_text("refused (403): invalid API key")

        page.fill("#api-key", ADMIN)
        rollback.click()
        champion = page.locator('h2 .champion[data-model="ht"]')
        sync_api.expect(champion).to_have_text(f"champion v{oldest}", timeout=10_000)
        sync_api.expect(status).to_have_text(f"ht: champion is now v{oldest}.")
    finally:
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    served = httpx.get(f"{api_url}/models/ht", timeout=5).json()["champion"]
    assert (served["version"], served["pinned"], served["by"]) == (oldest, True, "api"), f"see {SCREENSHOT}"
    assert not errors, f"page errors {errors}; see {SCREENSHOT}"
    foreign = [url for url in requests if not url.startswith(api_url)]
    assert not foreign, f"the page loaded {foreign} from another origin; see {SCREENSHOT}"
    assert ADMIN not in " ".join(requests), "the admin key must never be in a URL"
    assert ADMIN not in (stream_env.tmp / "api.log").read_text(), "nor in the server's log"
