"""Drift detection: River detectors on a model's prequential errors and on the input features.

Concept drift watches a model's errors: 0/1 errors of a classifier (DDM, EDDM, HDDM_A, HDDM_W,
FHDDM) or absolute errors of a regressor (ADWIN, Page-Hinkley). Data drift watches each input:
a River detector on every numeric feature, and a chi-square test of category frequencies between
a reference window and the recent window for every categorical (string or bool) feature, so a
changed input distribution is reported before any label arrives.

A monitor returns :class:`Signal` objects; the learner turns them into alerts and actions.

>>> monitor = ConceptMonitor("hddm_a")
>>> errors = [0.0] * 1000 + [1.0, 0.0] * 1000   # no errors, then every other answer wrong
>>> [(i, s.kind) for i, e in enumerate(errors) for s in monitor.update(e)]
[(1010, 'concept_warning'), (1014, 'concept_drift')]
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from river import drift
from scipy.stats import chi2_contingency

from online_models.exceptions import ConfigError

BINARY_DETECTORS: dict[str, Callable[..., Any]] = {
    "ddm": drift.binary.DDM,
    "eddm": drift.binary.EDDM,
    "hddm_a": drift.binary.HDDMA,
    "hddm_w": drift.binary.HDDMW,
    "fhddm": drift.binary.FHDDM,
}
CONTINUOUS_DETECTORS: dict[str, Callable[..., Any]] = {
    "adwin": drift.ADWIN,
    "page_hinkley": drift.PageHinkley,
    "kswin": drift.KSWIN,
}
REGRESSION_DETECTORS = ("adwin", "page_hinkley")
# River's FHDDM flags a *drop* of its input's mean (MOA feeds it 1 for a correct prediction),
# so it gets correctness where the others get errors.
_FEEDS_CORRECTNESS = {"fhddm"}
REARM_WARNING_AFTER = 500
OTHER = "__other__"
MIN_CELL = 10  # both windows together: about 5 expected in each


def build_detector(name: str, params: dict[str, Any] | None = None) -> Any:
    """Build a River drift detector by its config name; ConfigError for an unknown name or parameter."""
    factory = BINARY_DETECTORS.get(name) or CONTINUOUS_DETECTORS.get(name)
    if factory is None:
        known = ", ".join([*BINARY_DETECTORS, *CONTINUOUS_DETECTORS])
        raise ConfigError("detector", f"unknown detector {name!r}; known: {known}")
    params = dict(params or {})
    if name == "kswin":
        params.setdefault("seed", 42)  # KSWIN samples at random: seeded, it is reproducible
    try:
        return factory(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError("params", f"{factory.__name__} rejected them: {exc}") from None


@dataclass(frozen=True, slots=True)
class Signal:
    """A detector's finding on one update: its kind and the statistics behind it."""

    kind: str
    detector: str
    details: dict[str, Any]
    feature: str | None = None


class _RunningMean:
    """For alert details: the mean of the last ``window`` values, and of the values before them.

    The values before them go back to the last reset.
    """

    def __init__(self, window: int) -> None:
        self.recent: deque[float] = deque(maxlen=window)
        self.total = 0.0
        self.n = 0

    def add(self, value: float) -> None:
        self.recent.append(value)
        self.total += value
        self.n += 1

    def summary(self, name: str) -> dict[str, Any]:
        recent_sum, recent_n = sum(self.recent), len(self.recent)
        before_n = self.n - recent_n
        before = (self.total - recent_sum) / before_n if before_n else 0.0
        recent = recent_sum / recent_n if recent_n else 0.0
        return {f"{name}_before": before, f"{name}_recent": recent, "n": self.n}

    def reset(self) -> None:
        self.total, self.n = 0.0, 0
        self.recent.clear()


class ConceptMonitor:
    """A drift detector on one model's prequential errors (0/1, or absolute for a regressor).

    For a regressor only a rise of the errors is a drift: a fall (a model still warming up) is
    not reported, and Page-Hinkley watches upward changes unless its ``mode`` says otherwise.

    Examples
    --------
    >>> monitor = ConceptMonitor("adwin")  # on the absolute errors of a regressor
    >>> rising = [0.1] * 500 + [2.0] * 200
    >>> [(i, s.kind) for i, e in enumerate(rising) for s in monitor.update(e)]
    [(511, 'concept_drift')]
    >>> monitor = ConceptMonitor("adwin")
    >>> [s for e in [2.0] * 500 + [0.1] * 200 for s in monitor.update(e)]  # the errors fell: no harm
    []
    """

    def __init__(self, detector: str, params: dict[str, Any] | None = None, window: int = 100) -> None:
        self.detector = detector
        self.params = dict(params or {})
        self.window = window
        params = dict(self.params)
        if detector == "page_hinkley":
            params.setdefault("mode", "up")  # rising errors are the drift that hurts
        self._detector = build_detector(detector, params)
        self._binary = detector in BINARY_DETECTORS
        self._has_warning = hasattr(self._detector, "warning_detected")
        self._in_warning = False
        self._calm = 0
        self._errors = _RunningMean(window)

    def _rose(self, details: dict[str, Any]) -> bool:
        return bool(details["n"] > self.window and details["abs_error_recent"] > details["abs_error_before"])

    def _input(self, error: float) -> float:
        if not self._binary:
            return error
        return int(error == 0) if self.detector in _FEEDS_CORRECTNESS else int(error != 0)

    def update(self, error: float) -> list[Signal]:
        """Feed one error; a warning is signalled when it starts, a drift when it is confirmed.

        Detectors flicker in and out of their warning zone; a warning is signalled again only
        after a drift or ``REARM_WARNING_AFTER`` updates out of the zone.
        """
        self._errors.add(error)
        self._detector.update(self._input(error))
        metric = "error_rate" if self._binary else "abs_error"
        if self._detector.drift_detected:
            details = self._errors.summary(metric)
            self._errors.reset()
            if not self._binary and not self._rose(details):
                return []  # the errors fell, or a model is still warming up: a change, but no harm
            self._in_warning = False
            return [Signal("concept_drift", self.detector, details)]
        if not (self._has_warning and self._detector.warning_detected):
            self._calm += 1
            if self._calm >= REARM_WARNING_AFTER:
                self._in_warning = False
            return []
        self._calm = 0
        if not self._in_warning:
            self._in_warning = True
            return [Signal("concept_warning", self.detector, self._errors.summary(metric))]
        return []


class NumericFeatureMonitor:
    """A River detector on the values of one numeric feature.

    Examples
    --------
    >>> monitor = NumericFeatureMonitor("amount", "page_hinkley", {})
    >>> signals = [(i, monitor.update(value)) for i, value in enumerate([10.0] * 300 + [30.0] * 100)]
    >>> [(i, s.kind, s.feature, s.details["mean_before"]) for i, s in signals if s is not None]
    [(302, 'data_drift', 'amount', 10.0)]
    """

    def __init__(self, feature: str, detector: str, params: dict[str, Any], window: int = 100) -> None:
        self.feature = feature
        self.detector = detector
        self._detector = build_detector(detector, params)
        self._values = _RunningMean(window)

    def update(self, value: float) -> Signal | None:
        """Feed one value of the feature; return a ``data_drift`` signal when the detector fires, else None."""
        self._values.add(value)
        self._detector.update(value)
        if not self._detector.drift_detected:
            return None
        details = self._values.summary("mean")
        self._values.reset()
        return Signal("data_drift", self.detector, details, self.feature)


class CategoricalFeatureMonitor:
    """A chi-square test of category frequencies: reference window against the recent window.

    The first ``window`` values form the reference. Every ``window // 4`` values after that the
    recent ``window`` values are compared with it; on a drift the recent window becomes the
    new reference, so one change is reported once.

    Examples
    --------
    >>> monitor = CategoricalFeatureMonitor("country", window=100)
    >>> values = ["FR", "DE"] * 100 + ["US"] * 100  # the first 100 values are the reference
    >>> signals = [(i, monitor.update(value)) for i, value in enumerate(values)]
    >>> [(i, s.details["recent"]) for i, s in signals if s is not None]
    [(224, {'DE': 0.38, 'FR': 0.37, 'US': 0.25})]
    """

    detector = "chi2"

    def __init__(self, feature: str, window: int = 500, p_value: float = 0.0001, max_categories: int = 100) -> None:
        self.feature = feature
        self.window = window
        self.p_value = p_value
        self.max_categories = max_categories
        self.reference: Counter[str] = Counter()
        self.recent: deque[str] = deque(maxlen=window)
        self._since_check = 0

    def update(self, value: str) -> Signal | None:
        """Feed one value of the feature; return a ``data_drift`` signal when a test finds a change, else None."""
        if sum(self.reference.values()) < self.window:
            self.reference[value] += 1
            return None
        self.recent.append(value)
        self._since_check += 1
        if len(self.recent) < self.window or self._since_check < max(1, self.window // 4):
            return None
        self._since_check = 0
        return self._test()

    def _test(self) -> Signal | None:
        # Rare categories are pooled (chi-square needs about 5 expected per cell), and past
        # ``max_categories`` so are the rarer ones. They are picked on both windows' counts
        # together, which treats the windows alike and so does not bias the test.
        recent_raw = Counter(self.recent)
        combined = self.reference + recent_raw
        kept = {c for c, n in combined.most_common(self.max_categories) if n >= MIN_CELL}
        reference, recent = _pool(self.reference, kept), _pool(recent_raw, kept)
        categories = sorted(set(reference) | set(recent))
        if len(categories) < 2:
            return None
        table = [[reference[c] for c in categories], [recent[c] for c in categories]]
        statistic, p_value, _, _ = chi2_contingency(table)
        if p_value >= self.p_value:
            return None
        details = {
            "statistic": float(statistic),
            "p_value": float(p_value),
            "reference": _frequencies(reference),
            "recent": _frequencies(recent),
        }
        self.reference = Counter(self.recent)
        self.recent.clear()
        return Signal("data_drift", self.detector, details, self.feature)


def _pool(counts: Counter[str], kept: set[str]) -> Counter[str]:
    pooled: Counter[str] = Counter()
    for category, n in counts.items():
        pooled[category if category in kept else OTHER] += n
    return pooled


def _frequencies(counts: Counter[str], top: int = 10) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {str(k): round(v / total, 4) for k, v in counts.most_common(top)}


@dataclass
class DataDriftMonitor:
    """One monitor per input feature, created when the feature is first seen.

    A feature's kind is fixed by its first value: numbers (not bools) get ``detector``, strings
    and bools the chi-square test; values of the other kind are ignored. At most
    ``max_features`` features are watched, so an input with ever-new names cannot grow it.

    Examples
    --------
    >>> monitor = DataDriftMonitor(categorical_window=100)
    >>> events = [{"amount": 10.0, "country": "FR"}] * 200 + [{"amount": 10.0, "country": "US"}] * 100
    >>> [(i, s.feature, s.detector) for i, x in enumerate(events) for s in monitor.update(x)]
    [(224, 'country', 'chi2')]
    """

    detector: str = "adwin"
    params: dict[str, Any] = field(default_factory=dict)
    features: list[str] | None = None
    categorical_window: int = 500
    categorical_p_value: float = 0.0001
    max_features: int = 256
    _numeric: dict[str, NumericFeatureMonitor] = field(default_factory=dict)
    _categorical: dict[str, CategoricalFeatureMonitor] = field(default_factory=dict)

    def update(self, x: dict[str, Any]) -> list[Signal]:
        """Feed one event's inputs; return the signals of the features found drifting."""
        signals = []
        for name, value in x.items():
            signal = self._update_one(name, value)
            if signal is not None:
                signals.append(signal)
        return signals

    def _update_one(self, name: str, value: Any) -> Signal | None:
        numeric = self._numeric.get(name)
        if numeric is not None:
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            return numeric.update(float(value)) if is_number else None
        categorical = self._categorical.get(name)
        if categorical is not None:
            return categorical.update(str(value)) if isinstance(value, str | bool) else None
        if not self._watch(name):
            return None
        if isinstance(value, str | bool):
            self._categorical[name] = CategoricalFeatureMonitor(name, self.categorical_window, self.categorical_p_value)
        else:
            self._numeric[name] = NumericFeatureMonitor(name, self.detector, self.params)
        return self._update_one(name, value)

    def _watch(self, name: str) -> bool:
        if self.features is not None and name not in self.features:
            return False
        return len(self._numeric) + len(self._categorical) < self.max_features
