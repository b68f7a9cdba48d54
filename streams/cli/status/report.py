"""What ``streamwise status`` reports: its processes, sections and report.

Also the pure helpers that make its rows (tested in tests/unit/streams/cli/test_status.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.prometheus import partition_lag


@dataclass(frozen=True, slots=True)
class Process:
    """A process of the local stack: its address, its pid when ours and alive, whether it answers, its log.

    Examples
    --------
    >>> worker = Process("worker", "http://127.0.0.1:9464/metrics", pid=4242, answers=False, log="logs/worker.log")
    >>> worker.state   # ours and alive, but silent
    'not answering'
    >>> Process("kafka", "127.0.0.1:9092", pid=None, answers=True, log="logs/kafka").state   # not started by us
    'external'
    >>> Process("kafka", "127.0.0.1:9092", pid=7, answers=True, log="logs/kafka").to_dict()
    {'name': 'kafka', 'address': '127.0.0.1:9092', 'pid': 7, 'answers': True, 'log': 'logs/kafka', 'state': 'running'}
    """

    name: str
    address: str
    pid: int | None  # from its pid file, when that process is alive
    answers: bool
    log: str

    @property
    def state(self) -> str:
        """Return the process's state (see ``process_state``)."""
        return process_state(self.pid, self.answers)

    def to_dict(self) -> dict[str, Any]:
        """Return the process as a JSON-ready dict, with its state."""
        return {**asdict(self), "state": self.state}


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """The worker group's committed offset on a partition of an input topic, and its watermarks.

    Examples
    --------
    >>> PartitionLag("events.raw", 0, committed=120, low=0, high=150).lag
    30
    >>> PartitionLag("events.raw", 1, committed=None, low=20, high=150).to_dict()   # from the low watermark
    {'topic': 'events.raw', 'partition': 1, 'committed': None, 'low': 20, 'high': 150, 'lag': 130}
    """

    topic: str
    partition: int
    committed: int | None  # the group's committed offset (None: nothing committed yet)
    low: int
    high: int

    @property
    def lag(self) -> int:
        """Return the messages not consumed yet (``partition_lag``), 0 when unknown."""
        return partition_lag(self.high, self.committed, self.low) or 0

    def to_dict(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dict, with its lag."""
        return {**asdict(self), "lag": self.lag}


@dataclass
class Section:
    """One part of the report: its rows, or why it could not be read.

    Examples
    --------
    >>> Section(rows=[{"model": "lr", "champion": 2}]).to_dict()
    {'ok': True, 'error': None, 'note': None, 'rows': [{'model': 'lr', 'champion': 2}]}
    >>> Section(error="Redis: connection refused").to_dict()["ok"]
    False
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the section as a JSON-ready dict, ``ok`` when it could be read."""
        return {"ok": self.error is None, "error": self.error, "note": self.note, "rows": self.rows}


@dataclass
class Report:
    """Everything ``streamwise status`` shows: the local processes, then one section per part read.

    Examples
    --------
    >>> worker = Process("worker", "http://127.0.0.1:9464/metrics", pid=12, answers=True, log="logs/worker.log")
    >>> lag = Section(rows=[PartitionLag("events.raw", 0, 120, 0, 150).to_dict()])
    >>> report = Report([worker], "streamwise", lag, models=Section(), live=Section(), alerts=Section())
    >>> report.ok
    True
    >>> report.alerts = Section(error="Redis: connection refused")   # one section could not be read
    >>> report.ok
    False
    >>> data = report.to_dict()
    >>> data["lag"]["group"], data["lag"]["rows"][0]["lag"], data["alerts"]["error"]
    ('streamwise', 30, 'Redis: connection refused')
    """

    processes: list[Process]
    group: str
    lag: Section
    models: Section
    live: Section
    alerts: Section
    parts: Section = field(default_factory=Section)  # dead letters and waiting labels per partition

    @property
    def ok(self) -> bool:
        """Return whether every process answers and every section could be read."""
        sections = (self.lag, self.models, self.live, self.alerts, self.parts)
        return all(p.answers for p in self.processes) and all(s.error is None for s in sections)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict (what ``--json`` prints)."""
        return {
            "ok": self.ok,
            "processes": [p.to_dict() for p in self.processes],
            "lag": {"group": self.group, **self.lag.to_dict()},
            "models": self.models.to_dict(),
            "live": self.live.to_dict(),
            "alerts": self.alerts.to_dict(),
            "partitions": self.parts.to_dict(),
        }


def process_state(pid: int | None, answers: bool) -> str:
    """Return the state of a process from its pid (ours and alive) and whether it answers.

    The states: running (ours and answering), not answering (ours, alive, silent), external
    (answering, not started by the stack scripts), stopped.

    Examples
    --------
    >>> process_state(4242, True), process_state(4242, False), process_state(None, True), process_state(None, False)
    ('running', 'not answering', 'external', 'stopped')
    """
    if pid is not None:
        return "running" if answers else "not answering"
    return "external" if answers else "stopped"


def lag_rows(
    committed: Mapping[tuple[str, int], int | None], watermarks: Mapping[tuple[str, int], tuple[int, int]]
) -> list[PartitionLag]:
    """Return one row per partition with known watermarks, in topic and partition order.

    A committed offset below zero (librdkafka's OFFSET_INVALID) means nothing committed.

    Examples
    --------
    >>> committed = {("events.raw", 0): 120, ("events.raw", 1): -1001}
    >>> watermarks = {("events.raw", 1): (0, 40), ("events.raw", 0): (0, 150), ("events.labels", 0): (0, 7)}
    >>> [(row.topic, row.partition, row.committed, row.lag) for row in lag_rows(committed, watermarks)]
    [('events.labels', 0, None, 7), ('events.raw', 0, 120, 30), ('events.raw', 1, None, 40)]
    """
    rows = []
    for (topic, partition), (low, high) in sorted(watermarks.items()):
        offset = committed.get((topic, partition))
        rows.append(PartitionLag(topic, partition, offset if offset is not None and offset >= 0 else None, low, high))
    return rows


def format_age(seconds: float) -> str:
    """Format ``seconds`` as a short age: 4s, 3m12s, 2h05m, 3d04h.

    Examples
    --------
    >>> format_age(4.7), format_age(192), format_age(7_500), format_age(273_600), format_age(-3)
    ('4s', '3m12s', '2h05m', '3d04h', '0s')
    """
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def age_of(timestamp: str | None, now: datetime) -> str:
    """Return the ``format_age`` of an ISO-8601 time at ``now`` (``-`` when absent or unreadable).

    A time without a timezone is taken as UTC.

    Examples
    --------
    >>> now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    >>> age_of("2026-01-01T11:56:48+00:00", now), age_of("2026-01-01T11:59:30", now)
    ('3m12s', '30s')
    >>> age_of(None, now), age_of("yesterday", now)
    ('-', '-')
    """
    if not timestamp:
        return "-"
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return format_age((now - then).total_seconds())


def format_metrics(metrics: Mapping[str, float], limit: int = 3) -> str:
    """Format the first ``limit`` metrics as ``name=value`` (four decimals), two spaces apart.

    Examples
    --------
    >>> format_metrics({"Accuracy": 0.91234, "F1": 0.5, "ROCAUC": 1.0, "LogLoss": 0.3})
    'Accuracy=0.9123  F1=0.5000  ROCAUC=1.0000'
    """
    return "  ".join(f"{name}={value:.4f}" for name, value in list(metrics.items())[:limit])


def format_failures(failures: Mapping[str, int]) -> str:
    """Format the events a model could not take, per stage and exception (``learn: TypeError x6000``).

    Gives '-' for none.

    Examples
    --------
    >>> format_failures({"learn: TypeError": 6000, "predict: ValueError": 2})
    'learn: TypeError x6000  predict: ValueError x2'
    >>> format_failures({})
    '-'
    """
    return "  ".join(f"{reason} x{count}" for reason, count in failures.items()) or "-"


def format_versions(versions: Iterable[int]) -> str:
    """Format the kept versions compactly: ``1-3,7,9-10`` ('-' for none).

    Examples
    --------
    >>> format_versions([9, 1, 2, 3, 7, 10, 3]), format_versions([])
    ('1-3,7,9-10', '-')
    """
    ordered = sorted(set(versions))
    runs: list[tuple[int, int]] = []
    for v in ordered:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs) or "-"


def model_row(name: str, champion: Mapping[str, Any] | None, versions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return the row of a model of the registry: its champion and the versions it keeps.

    Examples
    --------
    >>> versions = [{"version": 1, "created_at": "t1", "reason": "every_events"}, {"version": 3, "reason": "shutdown"}]
    >>> row = model_row("lr", {"version": 1, "candidate": "lr", "pinned": True}, versions)
    >>> row["champion"], row["pinned"], row["versions"], row["newest"], row["newest_reason"]
    (1, True, [1, 3], 3, 'shutdown')
    >>> row = model_row("ht", None, [])   # nothing in the registry yet
    >>> row["champion"], row["versions"], row["newest"]
    (None, [], None)
    """
    newest = versions[-1] if versions else {}
    return {
        "model": name,
        "champion": champion.get("version") if champion else None,
        "candidate": champion.get("candidate") if champion else None,
        "pinned": bool(champion.get("pinned")) if champion else False,
        "versions": [int(m["version"]) for m in versions],
        "newest": newest.get("version"),
        "newest_at": newest.get("created_at"),
        "newest_reason": newest.get("reason"),
    }
