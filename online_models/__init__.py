"""Streamwise's ML core: River recipes, prequential evaluation, features and the pipeline.

Plain Python: it imports neither Faust, Kafka clients nor FastAPI, so every step that decides a
prediction or a metric can be driven by a test with a list of dicts.
"""

from online_models.config import ModelSpec, StreamwiseConfig, load_config, parse_config
from online_models.evaluation import ModelAnswer, PrequentialModel
from online_models.events import DeadLetter, FeatureVector, Origin, Prediction, RawEvent, parse_raw_event
from online_models.exceptions import ConfigError, InvalidEventError, ModelError, StreamwiseError
from online_models.intake import Intake
from online_models.learner import Learner, LearnResult
from online_models.pipeline import EmbeddedRunner, Pipeline

__all__ = [
    "ConfigError",
    "DeadLetter",
    "EmbeddedRunner",
    "FeatureVector",
    "Intake",
    "InvalidEventError",
    "LearnResult",
    "Learner",
    "ModelAnswer",
    "ModelError",
    "ModelSpec",
    "Origin",
    "Pipeline",
    "Prediction",
    "PrequentialModel",
    "RawEvent",
    "StreamwiseConfig",
    "StreamwiseError",
    "load_config",
    "parse_config",
    "parse_raw_event",
]
