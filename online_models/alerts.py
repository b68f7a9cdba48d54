"""Drift alerts, the records of ``drift.alerts``, and the gate that merges and rate-limits them.

>>> from datetime import UTC, datetime
>>> alert = Alert("ht", "concept_drift", "ddm", None, "e-17", 17, datetime(2026, 1, 1, tzinfo=UTC), {})
>>> alert.alert_id == Alert("ht", "concept_drift", "ddm", None, "e-17", 17, alert.ts, {}).alert_id
True
>>> gate = AlertGate(cooldown_events=100, max_per_minute=60)
>>> gate.admit(alert) is not None, gate.admit(replace(alert, event_id="e-18", events_seen=18))
(True, None)
>>> gate.admit(replace(alert, event_id="e-200", events_seen=200)).details["merged"]
1
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from online_models.events import _format_ts, _parse_ts


@dataclass(frozen=True, slots=True)
class Alert:
    """A detector fired. ``model`` is None for data drift (an input shared by every model).

    Examples
    --------
    >>> from datetime import UTC
    >>> ts = datetime(2026, 1, 1, tzinfo=UTC)
    >>> alert = Alert(None, "data_drift", "chi2", "country", "e-9", 9, ts, {"p_value": 1.5e-05})
    >>> alert.describe()
    '2026-01-01T00:00:00.000+00:00 data_drift      feature=country detector=chi2 event=e-9 seen=9 p_value=1.5e-05'
    >>> Alert.from_json(alert.to_json()) == alert
    True
    """

    model: str | None
    kind: str
    detector: str
    feature: str | None
    event_id: str
    events_seen: int
    ts: datetime
    details: dict[str, Any]
    action: str | None = None

    @property
    def alert_id(self) -> str:
        """Deterministic: the same detector firing on the same event gives the same id."""
        parts = (self.model or "", self.kind, self.detector, self.feature or "", self.event_id)
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]

    @property
    def source(self) -> tuple[str | None, str, str, str | None]:
        """The detector instance that fired: repeats of one source are merged."""
        return (self.model, self.kind, self.detector, self.feature)

    def to_dict(self) -> dict[str, Any]:
        """Return the record of ``drift.alerts`` as a dict, with its ``alert_id``."""
        return {"alert_id": self.alert_id, **asdict(self), "ts": _format_ts(self.ts)}

    def to_json(self) -> bytes:
        """Encode the record of ``drift.alerts``."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_NON_STR_KEYS)

    @classmethod
    def from_json(cls, data: bytes) -> Alert:
        """Decode a record of ``drift.alerts``."""
        obj = orjson.loads(data)
        return cls(
            obj["model"],
            obj["kind"],
            obj["detector"],
            obj["feature"],
            obj["event_id"],
            obj["events_seen"],
            _parse_ts(obj["ts"], None),
            obj["details"],
            obj["action"],
        )

    def describe(self) -> str:
        """One human-readable line, as ``streamwise alerts tail`` prints it."""
        where = f"model={self.model}" if self.model else f"feature={self.feature}"
        stats = " ".join(f"{k}={_short(v)}" for k, v in self.details.items())
        action = f" action={self.action}" if self.action else ""
        return (
            f"{_format_ts(self.ts)} {self.kind:<15} {where} detector={self.detector} "
            f"event={self.event_id} seen={self.events_seen}{action} {stats}"
        )


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass
class AlertGate:
    """Merges repeats of one detector within ``cooldown_events`` and caps alerts per minute.

    Positions are the learner's event counts and time is the events' own time, so the same stream
    gives the same alerts. Alerts that carry a policy action are never rate-limited (an action is
    always reported); they are still merged, and a merged alert triggers no action.

    Examples
    --------
    >>> from datetime import UTC
    >>> gate = AlertGate(cooldown_events=0, max_per_minute=1)
    >>> ts = datetime(2026, 1, 1, tzinfo=UTC)
    >>> alerts = [Alert("lr", "concept_drift", "ddm", None, f"e{i}", i, ts, {}) for i in range(3)]
    >>> gate.admit(alerts[0]) is not None, gate.admit(alerts[1]), gate.admit(alerts[2], has_action=True) is not None
    (True, None, True)
    >>> gate.suppressed  # the second one: over the rate, and without an action
    1
    """

    cooldown_events: int = 1000
    max_per_minute: int = 60
    merged: int = 0
    suppressed: int = 0
    _last: dict[tuple[Any, ...], int] = field(default_factory=dict)
    _pending_merges: dict[tuple[Any, ...], int] = field(default_factory=dict)
    _tokens: float = -1.0
    _refilled_at: float = 0.0

    def admit(self, alert: Alert, *, has_action: bool = False) -> Alert | None:
        """Return the alert to publish (with ``details.merged``), or None when merged or over the rate."""
        source = alert.source
        last = self._last.get(source)
        if last is not None and alert.events_seen - last < self.cooldown_events:
            self.merged += 1
            self._pending_merges[source] = self._pending_merges.get(source, 0) + 1
            return None
        if not has_action and not self._take_token(alert.ts.timestamp()):
            self.suppressed += 1
            return None
        self._last[source] = alert.events_seen
        merged = self._pending_merges.pop(source, 0)
        return replace(alert, details={**alert.details, "merged": merged})

    def _take_token(self, now: float) -> bool:
        if self._tokens < 0:
            self._tokens, self._refilled_at = float(self.max_per_minute), now
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(float(self.max_per_minute), self._tokens + elapsed * self.max_per_minute / 60.0)
        self._refilled_at = max(self._refilled_at, now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
