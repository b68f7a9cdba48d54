"""Thin Faust agents: decode, call one pure step of online_models.pipeline, send."""
