"""The embedded driver: the same pipeline steps as the agents, in one process, no Kafka or Redis.

Used by ``make run`` (``streamwise run``) and ``streamwise evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from online_models.config import StreamwiseConfig
from online_models.events import Origin
from online_models.pipeline import EmbeddedRunner, Pipeline


@dataclass
class EmbeddedReport:
    events: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "dead_letters": self.dead_letters, "models": self.models}


def read_jsonl(path: Path) -> Iterator[bytes]:
    """Raw event bytes, one per non-blank line of a JSONL file."""
    with path.open("rb") as lines:
        for line in lines:
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line


def run_embedded(
    config: StreamwiseConfig,
    messages: Iterable[bytes],
    *,
    source: str = "embedded",
    on_event: Callable[[EmbeddedRunner], None] | None = None,
) -> tuple[EmbeddedReport, EmbeddedRunner]:
    """Run every message through validate -> features -> learn and report per model."""
    runner = EmbeddedRunner(Pipeline(config))
    report = EmbeddedReport()
    for offset, data in enumerate(messages):
        result = runner.process(data, Origin(source, 0, offset))
        report.events += 1
        for letter in result.dead_letters:
            report.dead_letters[letter.reason] = report.dead_letters.get(letter.reason, 0) + 1
        if on_event is not None:
            on_event(runner)
    report.models = {model.name: model.report() for model in runner.learner.models}
    return report, runner


def write_report(report: EmbeddedReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2))
