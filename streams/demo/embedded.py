"""The embedded run: the engine's pipeline steps in one process, no Kafka or Redis.

Used by ``make run`` (``streamwise run``) and ``streamwise evaluate``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from online_models.alerts import Alert
from online_models.config import StreamwiseConfig
from online_models.datasets import EVENT, LABEL, json_object, synthetic_events, with_delayed_labels
from online_models.events import Origin
from online_models.pipeline import EmbeddedRunner, Pipeline, ProcessResult

Message = tuple[str, bytes]  # (EVENT or LABEL, the message bytes)


@dataclass
class EmbeddedReport:
    """What an embedded run read and produced, and each model's report at its end.

    Examples
    --------
    >>> from collections import Counter
    >>> from datetime import UTC, datetime
    >>> from online_models.events import DeadLetter
    >>> from online_models.pipeline import ProcessResult
    >>> letter = DeadLetter("invalid_json", "unexpected character", b"{oops", None, datetime(2026, 1, 1, tzinfo=UTC))
    >>> report = EmbeddedReport(events=2)
    >>> report.add(ProcessResult(dead_letters=[letter]))
    >>> report.add(ProcessResult(expired=Counter({"nb": 1})))
    >>> report.to_dict()
    {'events': 2, 'labels': 0, 'dead_letters': {'invalid_json': 1}, 'expired': {'nb': 1}, 'alerts': [], 'models': {}}
    """

    events: int = 0
    labels: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    expired: dict[str, int] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)

    def add(self, result: ProcessResult) -> None:
        """Add the dead letters, expired predictions and alerts of one processed message."""
        for letter in result.dead_letters:
            self.dead_letters[letter.reason] = self.dead_letters.get(letter.reason, 0) + 1
        for model, count in result.expired.items():
            self.expired[model] = self.expired.get(model, 0) + count
        self.alerts.extend(result.alerts)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a dict for JSON."""
        # vars, not asdict: a shallow dict, no deep copy of the models' reports or of the alerts redone below
        return {**vars(self), "alerts": [alert.to_dict() for alert in self.alerts]}


def events_only(messages: Iterable[bytes]) -> Iterator[Message]:
    """Return ``messages`` as event messages (``EVENT``), for a run without labels.

    Examples
    --------
    >>> list(events_only([b'{"event_id": "e1"}', b"not json"]))
    [('event', b'{"event_id": "e1"}'), ('event', b'not json')]
    """
    return ((EVENT, data) for data in messages)


def labels_late(lines: Iterable[bytes], delay: int) -> Iterator[Message]:
    """Return the events of ``lines`` with each inline label sent ``delay`` events later (River's ``delay``).

    A line that is no labeled event goes as it is (a bad one becomes its dead letter).

    Examples
    --------
    >>> lines = [b'{"event_id": "e1", "features": {"x": 1}, "label": true}', b"oops",
    ...          b'{"event_id": "e2", "features": {"x": 2}, "label": false}']
    >>> [(kind, orjson.loads(data).get("label") if data != b"oops" else "oops") for kind, data in labels_late(lines, 1)]
    [('event', None), ('label', True), ('event', 'oops'), ('event', None), ('label', False)]
    """
    waiting: deque[tuple[int, bytes]] = deque()
    for i, line in enumerate(lines):
        while waiting and waiting[0][0] + delay <= i:
            yield LABEL, waiting.popleft()[1]
        event = json_object(line)
        if event is None or event.get("label") is None or "event_id" not in event:
            yield EVENT, line
            continue
        label = {"event_id": event["event_id"], "label": event.pop("label")}
        waiting.append((i, orjson.dumps({**label, "ts": event["ts"]} if "ts" in event else label)))
        yield EVENT, orjson.dumps(event)
    yield from ((LABEL, label) for _, label in waiting)


def by_time(events: Iterable[bytes], labels: Iterable[bytes]) -> Iterator[Message]:
    """Return events and labels from two files in the order of their ``ts`` (an event first at the same ms).

    Each file is read in its order; a line without a ``ts`` keeps the time of the line before it.

    Examples
    --------
    >>> events = [b'{"event_id": "e1", "ts": 10}', b'{"event_id": "e2", "ts": 20}']
    >>> labels = [b'{"event_id": "e1", "label": true, "ts": 15}']
    >>> [(kind, orjson.loads(data)["event_id"]) for kind, data in by_time(events, labels)]
    [('event', 'e1'), ('label', 'e1'), ('event', 'e2')]
    """
    merged = heapq.merge(_timed(events, 0), _timed(labels, 1))
    return ((LABEL if order else EVENT, line) for _, order, _, line in merged)


def _timed(lines: Iterable[bytes], order: int) -> Iterator[tuple[int, int, int, bytes]]:
    ts = -1
    for i, line in enumerate(lines):
        found = (json_object(line) or {}).get("ts")
        ts = found if isinstance(found, int) and not isinstance(found, bool) else ts
        yield ts, order, i, line


def synthetic_messages(name: str, n: int, seed: int, label_delay: int) -> Iterator[Message]:
    """Return ``n`` events of the synthetic stream ``name``, each label ``label_delay`` events late (0: inline).

    Examples
    --------
    >>> [(kind, orjson.loads(data)["event_id"]) for kind, data in synthetic_messages("agrawal", 2, 7, label_delay=1)]
    [('event', 'agrawal-7-00000000'), ('label', 'agrawal-7-00000000'), ('event', 'agrawal-7-00000001'), ...]
    >>> [(kind, orjson.loads(data)["label"]) for kind, data in synthetic_messages("agrawal", 2, 7, label_delay=0)]
    [('event', 1), ('event', 1)]
    """
    events = synthetic_events(name, n, seed)
    if label_delay == 0:
        return ((EVENT, orjson.dumps(e)) for e in events)
    return ((kind, orjson.dumps(m)) for kind, m in with_delayed_labels(events, label_delay))


def run_embedded(
    config: StreamwiseConfig,
    messages: Iterable[Message],
    *,
    source: str = "embedded",
    on_result: Callable[[EmbeddedRunner, ProcessResult], None] | None = None,
) -> tuple[EmbeddedReport, EmbeddedRunner]:
    """Run every event through validate -> features -> learn, join every label, report per model.

    Examples
    --------
    >>> from online_models.config import parse_config
    >>> config = parse_config({"models": [{"name": "nb", "recipe": "naive_bayes", "task": "binary"}]})
    >>> report, runner = run_embedded(config, synthetic_messages("agrawal", 50, seed=7, label_delay=5))
    >>> report.events, report.labels, report.dead_letters
    (50, 50, {})
    >>> report.models["nb"]["labeled"], sorted(report.models["nb"]["metrics"])
    (50, ['Accuracy', 'F1', 'LogLoss', 'ROCAUC'])
    """
    runner = EmbeddedRunner(Pipeline(config))
    report = EmbeddedReport()
    for offset, (kind, data) in enumerate(messages):
        origin = Origin(f"{source}.{kind}", 0, offset)
        if kind == LABEL:
            result = runner.process_label(data, origin)
            report.labels += 1
        else:
            result = runner.process(data, origin)
            report.events += 1
        report.add(result)
        if on_result is not None:
            on_result(runner, result)
    report.models = {model.name: model.report() for model in runner.learner.models}
    return report, runner


def write_report(report: EmbeddedReport, path: Path) -> None:
    """Write ``report`` to ``path`` as indented JSON, making its folder if needed.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "reports" / "run.json"   # its folder is made
    ...     write_report(EmbeddedReport(events=3, labels=3), path)
    ...     for line in path.read_text().splitlines()[:3]:
    ...         print(line)
    {
      "events": 3,
      "labels": 3,
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2))
