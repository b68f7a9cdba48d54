"""The README's configuration examples run as printed: each parses, and every model in it learns
the README's own example event, and a stream of events like it, with no dead letter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from online_models.config import parse_config
from online_models.pipeline import EmbeddedRunner, Pipeline

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
BLOCKS = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", README, flags=re.S)]
CONFIGS = [b for b in BLOCKS if isinstance(b, dict) and "models" in b]
EVENT = orjson.loads(re.search(r"```json\n(\{\"event_id\": \"e-1\", \"ts\".*?)```", README, flags=re.S)[1])


def events_like_the_example(n: int) -> list[dict[str, Any]]:
    """The example event, then events of the same shape: other amounts, countries, keys, labels."""
    countries = ("FR", "DE", "GB")
    return [EVENT] + [
        {**EVENT, "event_id": f"e-{i}", "key": f"user-{i % 5}", "ts": 1_767_225_600_000 + 1000 * i,
         "features": {"amount": 10.0 + i % 17, "country": countries[i % 3], "new": i % 4 == 0}, "label": i % 3 == 0}
        for i in range(2, n)
    ]  # fmt: skip


def test_the_readme_has_configuration_examples() -> None:
    assert len(CONFIGS) >= 3 and EVENT["features"] == {"amount": 12.5, "country": "FR", "new": True}


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_every_model_of_a_readme_example_learns_the_example_events(index: int) -> None:
    config = parse_config(CONFIGS[index])
    runner = EmbeddedRunner(Pipeline(config))
    letters = [d for e in events_like_the_example(300) for d in runner.process(orjson.dumps(e)).dead_letters]
    assert letters == []
    for model in runner.learner.models:
        assert (model.labeled, model.failures) == (299, {}), model.name
    for window in config.features.windows:  # the documented features are there, for each key
        assert all(window.feature(s) in runner.features.vectors[f"user-{k}"] for s in window.stats for k in range(5))
