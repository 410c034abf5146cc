"""The one settings object: flags override environment variables, which override defaults (DESIGN.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from promptshelf.errors import InvalidArgumentError
from promptshelf.model import validate_label

BackendName = Literal["sqlite", "postgres", "posthog", "statsig"]


def default_db_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "promptshelf" / "prompts.db"


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _check_label(label: str) -> str:
    """A label setting must be a valid label name; ``latest`` is accepted (it is the default label)."""
    try:
        return validate_label(label, allow_latest=True)
    except InvalidArgumentError as exc:
        raise PydanticCustomError("invalid_label", "{reason}", {"reason": exc.message}) from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMPTSHELF_", extra="ignore", populate_by_name=True)

    backend: BackendName = "sqlite"
    db: Path = Field(default_factory=default_db_path)
    # A secret: a libpq URL may carry a password, which must never reach a log or an error message.
    database_url: SecretStr | None = None
    pool_min_size: int = Field(default=1, ge=0, le=1000)
    """Connections the PostgreSQL pool keeps open when idle."""
    pool_max_size: int = Field(default=10, ge=1, le=1000)
    pool_timeout: float = Field(default=5.0, gt=0, le=3600, allow_inf_nan=False)
    """Seconds a request waits for a PostgreSQL connection (and a connection attempt may take) before it
    is answered ``unavailable``."""
    label: str = "latest"
    read_only: bool = False
    allow_labels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    protected_labels: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["production"])
    cache_ttl: float = Field(default=60.0, ge=0)
    poll_interval: float | None = Field(default=None, gt=0)

    token: SecretStr | None = None
    read_token: SecretStr | None = None

    # HTTP resource limits: one caller must not be able to use up what every other caller needs.
    max_sessions_per_token: int = Field(default=100, ge=1)
    session_idle_timeout: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    header_timeout: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    body_timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    max_connections: int = Field(default=500, ge=1)

    posthog_host: str = Field(default="https://us.posthog.com", validation_alias="POSTHOG_HOST")
    posthog_project_id: str | None = Field(default=None, validation_alias="POSTHOG_PROJECT_ID")
    posthog_personal_api_key: SecretStr | None = Field(
        default=None, validation_alias="POSTHOG_PERSONAL_API_KEY"
    )

    statsig_api_url: str = Field(default="https://statsigapi.net", validation_alias="STATSIG_API_URL")
    statsig_console_api_key: SecretStr | None = Field(
        default=None, validation_alias="STATSIG_CONSOLE_API_KEY"
    )
    statsig_respect_review_settings: bool = Field(
        default=False, validation_alias="PROMPTSHELF_STATSIG_RESPECT_REVIEW_SETTINGS"
    )

    @field_validator("allow_labels", "protected_labels", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("label")
    @classmethod
    def _valid_label(cls, value: str) -> str:
        return _check_label(value)

    @field_validator("allow_labels", "protected_labels")
    @classmethod
    def _valid_labels(cls, value: list[str]) -> list[str]:
        return [_check_label(label) for label in value]

    @model_validator(mode="after")
    def _postgres_needs_a_database(self) -> Settings:
        if self.backend == "postgres" and self.database_url is None:
            raise PydanticCustomError(
                "database_url_missing",
                "--backend postgres needs --database-url or PROMPTSHELF_DATABASE_URL "
                "(postgresql://USER@HOST:PORT/DATABASE)",
            )
        if self.pool_min_size > self.pool_max_size:
            raise PydanticCustomError(
                "pool_sizes",
                "pool_min_size ({min}) is larger than pool_max_size ({max})",
                {"min": self.pool_min_size, "max": self.pool_max_size},
            )
        return self

    @property
    def effective_poll_interval(self) -> float:
        if self.poll_interval is not None:
            return self.poll_interval
        # PostgreSQL stores also wake on NOTIFY at once; the 1-s poll is their safety net.
        return 1.0 if self.backend in ("sqlite", "postgres") else 30.0
