"""API settings, read from the environment (prefix ``STREAMWISE_``) once, at start-up."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STREAMWISE_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_namespace: str = "streamwise"
