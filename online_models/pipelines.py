"""Declarative River pipelines: a model's steps as YAML data, built into River's own objects.

A pipeline is a list of steps, composed as River's ``|`` composes them. A step is one of:

- ``linear_model.LogisticRegression``, or ``{class: linear_model.LogisticRegression, params: {l2: 0.01}}``:
  a River class (its path under ``river.``) with its parameters;
- ``{select: [amount, country]}``: ``compose.Select`` of those features;
- ``{select_type: number}`` (or ``bool``, ``str``): ``compose.SelectType``, the features of a type
  (``number`` is ``numbers.Number``: numbers and bools);
- ``{union: [STEPS, STEPS, ...]}``: ``compose.TransformerUnion`` (River's ``+``) of sub-pipelines,
  each a list of steps or one step.

A parameter whose value is a mapping with a ``class`` key is built as a River object (an optimizer,
a loss), one with a ``pipeline`` key as a pipeline (a Hoeffding tree's ``leaf_model``). Only
classes of River's own modules are built: a path names a module under ``river.`` and a class
defined there (not in the modules that read data: ``datasets``, ``stream``...); nothing else is
ever imported. Parameters are checked against River's signatures,
and every error names its field (``pipeline[1].params.l2``).

>>> model = build([
...     {"union": [[{"select_type": "number"}, "preprocessing.StandardScaler"],
...                [{"select_type": "str"}, "preprocessing.OneHotEncoder"]]},
...     {"class": "linear_model.LogisticRegression", "params": {"l2": 0.01}},
... ])
>>> import numbers
>>> from river import compose, linear_model, preprocessing
>>> python = (
...     (compose.SelectType(numbers.Number) | preprocessing.StandardScaler())
...     + (compose.SelectType(str) | preprocessing.OneHotEncoder())
... ) | linear_model.LogisticRegression(l2=0.01)
>>> repr(model) == repr(python)
True
>>> build([{"class": "linear_model.LogisticRegression", "params": {"l3": 1}}])
Traceback (most recent call last):
...
online_models.exceptions.ConfigError: pipeline[0].params.l3: not a parameter of LogisticRegression; ...
"""

from __future__ import annotations

import importlib
import inspect
import numbers
import re
from typing import Any

from river import base, compose

from online_models.exceptions import ConfigError

Step = str | dict[str, Any]
TYPES: dict[str, type] = {"number": numbers.Number, "bool": bool, "str": str}
KINDS = ("class", "select", "select_type", "union")
# River modules whose classes read files or the network, or evaluate models: never built from a config.
NOT_STEPS = frozenset({"api", "checks", "compat", "datasets", "evaluate", "stream"})
# module path (lower case, under river.) then a class name: ``linear_model.LogisticRegression``
_PATH = re.compile(r"^(?P<module>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)\.(?P<name>[A-Z][A-Za-z0-9_]*)$")


def build(steps: Any, field: str = "pipeline") -> base.Estimator:
    """Build the River object of a list of steps: the step itself when there is one, else a Pipeline."""
    if not isinstance(steps, list) or not steps:
        raise ConfigError(field, "a pipeline is a non-empty list of steps")
    built = [step(s, f"{field}[{i}]") for i, s in enumerate(steps)]
    for i, obj in enumerate(built[:-1]):
        if not isinstance(obj, base.Transformer):
            name = type(obj).__name__
            raise ConfigError(f"{field}[{i}]", f"{name} is not a transformer: only the last step may learn")
    return built[0] if len(built) == 1 else compose.Pipeline(*built)


def step(spec: Any, field: str) -> base.Estimator:
    """Build the River object of one step."""
    built: base.Estimator
    if isinstance(spec, str):
        built = river_object(spec, {}, field, class_field=field)
        return built
    kinds = [k for k in KINDS if isinstance(spec, dict) and k in spec]
    if len(kinds) != 1:
        raise ConfigError(field, f"a step is a River class path or a mapping with one of {', '.join(KINDS)}")
    kind = kinds[0]
    extra = sorted(set(spec) - ({"class", "params"} if kind == "class" else {kind}))
    if extra:
        raise ConfigError(f"{field}.{extra[0]}", f"not a field of a {kind} step")
    value = spec[kind]
    if kind == "class":
        built = river_object(value, spec.get("params") or {}, field, class_field=f"{field}.class")
        return built
    if kind == "select":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{field}.select", "a feature name or a list of them")
        return compose.Select(*names)
    if kind == "select_type":
        if value not in TYPES:
            raise ConfigError(f"{field}.select_type", f"one of {', '.join(TYPES)}, not {value!r}")
        return compose.SelectType(TYPES[value])
    return _union(value, f"{field}.union")


def _union(members: Any, field: str) -> base.Transformer:
    if not isinstance(members, list) or len(members) < 2:
        raise ConfigError(field, "a union takes a list of at least two sub-pipelines")
    built = [(build if isinstance(m, list) else step)(m, f"{field}[{j}]") for j, m in enumerate(members)]
    for j, obj in enumerate(built):
        if not isinstance(obj, base.Transformer):
            raise ConfigError(f"{field}[{j}]", f"{type(obj).__name__} is not a transformer")
    return compose.TransformerUnion(*built)


def river_class(path: Any, field: str = "class") -> type:
    """Return the River class at ``path`` (``linear_model.LogisticRegression``); imports only ``river.*``."""
    match = _PATH.match(path) if isinstance(path, str) else None
    if match is None:
        raise ConfigError(field, f"{path!r} is not a River class path such as linear_model.LogisticRegression")
    module_name = f"river.{match['module']}"
    if match["module"].split(".")[0] in NOT_STEPS:  # not even imported
        raise ConfigError(field, f"{path!r} reads data or runs an evaluation: it is not a pipeline step")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ConfigError(field, f"unknown River class {path!r}: there is no module {module_name}") from None
    cls = getattr(module, match["name"], None)
    # A name a River module imported from elsewhere is not a River class: it is never built.
    if not (inspect.isclass(cls) and cls.__module__.startswith("river.")):
        raise ConfigError(field, f"unknown River class {path!r}")
    if cls.__module__.split(".")[1] in NOT_STEPS:
        raise ConfigError(field, f"{path!r} reads data or runs an evaluation: it is not a pipeline step")
    return cls


def river_object(path: Any, params: Any, field: str, class_field: str) -> Any:
    """Build an instance of the River class at ``path``, its params checked against its signature."""
    cls = river_class(path, class_field)
    if not isinstance(params, dict):
        raise ConfigError(f"{field}.params", "a mapping of parameter names to values")
    signature = inspect.signature(cls)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for name in params:
        if name not in signature.parameters and not takes_any:
            known = ", ".join(signature.parameters) or "none"
            raise ConfigError(f"{field}.params.{name}", f"not a parameter of {cls.__name__}; it takes {known}")
    values = {name: _value(v, f"{field}.params.{name}") for name, v in params.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{field}.params", f"{cls.__name__} rejected them: {exc}") from None


def _value(value: Any, field: str) -> Any:
    """Return a parameter's value: built as a River object or pipeline when it is one, else as given."""
    if isinstance(value, dict) and "class" in value:
        return step(value, field)
    if isinstance(value, dict) and set(value) == {"pipeline"}:
        return build(value["pipeline"], f"{field}.pipeline")
    if isinstance(value, list):
        return [_value(v, f"{field}[{i}]") for i, v in enumerate(value)]
    return value


def final_estimator(model: base.Estimator) -> base.Estimator:
    """Return the learning estimator of a model: the last step of a pipeline, or the model itself."""
    if isinstance(model, compose.Pipeline):
        last: base.Estimator = list(model.steps.values())[-1]
        return last
    return model


def check_task(model: base.Estimator, task: str, field: str = "pipeline") -> None:
    """Raise ConfigError unless the model's last step can do ``task``."""
    final = final_estimator(model)
    name = type(final).__name__
    if task in ("binary", "multiclass") and not isinstance(final, base.Classifier):
        raise ConfigError(field, f"{name} is not a classifier: task {task} needs one as the last step")
    if task == "multiclass" and not getattr(final, "_multiclass", False):
        raise ConfigError(field, f"{name} is a binary classifier: task multiclass needs a multiclass one")
    if task == "regression" and not isinstance(final, base.Regressor):
        raise ConfigError(field, f"{name} is not a regressor: task regression needs one as the last step")
    if task == "anomaly" and not isinstance(final, base.AnomalyDetector):
        raise ConfigError(field, f"{name} is not an anomaly detector: task anomaly needs one as the last step")
