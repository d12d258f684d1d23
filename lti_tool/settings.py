"""One typed settings object, read from ``ADAPTIVE_LTI_*`` environment variables.

Every key is documented in ``config/example.env``; keep the two in step.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(RuntimeError):
    """The configuration cannot run; the message says which keys to fix."""


DEFAULT_INSTANCE = Path.cwd() / "instance"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ADAPTIVE_LTI_",
        env_file=None,
        extra="ignore",
        validate_default=True,
        env_ignore_empty=True,  # ADAPTIVE_LTI_X= (compose's ${X:-}) means unset, never "the empty token"
    )

    env: Literal["development", "production", "test"] = "development"
    instance_path: Path = Field(default=DEFAULT_INSTANCE)
    database_url: str | None = None
    base_url: str = "http://localhost:5000"
    secret_key: SecretStr | None = None
    redis_url: str | None = None
    jobs_backend: Literal["inline", "celery"] | None = None
    log_level: str = "INFO"
    log_json: bool | None = None

    # LTI launch policy
    jwt_leeway_seconds: int = Field(default=5, ge=0, le=60)
    jwks_refetch_cooldown_seconds: int = Field(default=60, ge=0)
    jwks_cache_seconds: int = Field(default=3600, ge=0)
    login_state_ttl_seconds: int = Field(default=600, ge=30)
    session_token_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    key_retire_after_days: int = Field(default=30, ge=1)
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    # Admin pages (/admin): token required in production; without one they are open only in development.
    admin_token: SecretStr | None = None
    # /metrics: when set, scrapers send "Authorization: Bearer <token>"; without it /metrics is open only outside
    # production (in production it answers 404 until a token is set).
    metrics_token: SecretStr | None = None
    tool_title: str = "Adaptive practice"

    # Grades
    grade_max_attempts: int = Field(default=12, ge=1)
    grade_backoff_base_seconds: float = Field(default=2.0, gt=0)
    grade_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    grade_lease_seconds: float = Field(default=60.0, gt=0)
    jobs_sweep_seconds: float = Field(default=30.0, ge=0)
    roster_sync_interval_seconds: int = Field(default=6 * 3600, ge=0)

    # Practice
    kt_registry: Path | None = None  # root of the per-bank registries (banks/<id>-<slug>/); None: <instance>/models
    practice_mastery_threshold: float = Field(default=0.8, gt=0, le=1)  # when an activity sets none
    practice_band: str = "0.6-0.8"  # target predicted success of the next item

    @field_validator("secret_key", "admin_token", "metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """A blank secret is no secret: an empty admin token must keep /admin closed, not open it to everyone."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(text, str) and not text.strip() else value

    @field_validator("practice_band")
    @classmethod
    def _band(cls, value: str) -> str:
        """"low-high", two probabilities with low < high (the next item's predicted success is kept in it)."""
        try:
            low, high = (float(x) for x in value.split("-"))
        except ValueError:
            raise ValueError("expected LOW-HIGH such as 0.6-0.8") from None
        if not 0 <= low < high <= 1:
            raise ValueError("expected LOW-HIGH with 0 <= LOW < HIGH <= 1")
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    # ---- derived -------------------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def https(self) -> bool:
        return urlparse(self.base_url).scheme == "https"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.instance_path / 'adaptive-lti.db').resolve()}"

    @property
    def resolved_jobs_backend(self) -> str:
        if self.jobs_backend:
            return self.jobs_backend
        return "celery" if self.redis_url else "inline"

    @property
    def json_logs(self) -> bool:
        return self.is_production if self.log_json is None else self.log_json

    def secret(self) -> str:
        """The secret key; in development one is generated once and kept in the instance folder."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.is_production:
            raise ConfigError("ADAPTIVE_LTI_SECRET_KEY is required in production")
        path = self.instance_path / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.instance_path.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.write_text(value)
        path.chmod(0o600)
        return value

    def check(self) -> None:
        """Refuse to run production with missing or unsafe keys; a clear message lists all of them."""
        if not self.is_production:
            return
        problems = []
        if not self.database_url:
            problems.append("ADAPTIVE_LTI_DATABASE_URL is required (PostgreSQL in production)")
        if self.secret_key is None:
            problems.append("ADAPTIVE_LTI_SECRET_KEY is required")
        elif len(self.secret_key.get_secret_value()) < 32:
            problems.append("ADAPTIVE_LTI_SECRET_KEY must be at least 32 characters")
        for key, token in (("ADMIN_TOKEN", self.admin_token), ("METRICS_TOKEN", self.metrics_token)):
            if token is not None and len(token.get_secret_value()) < 16:
                problems.append(f"ADAPTIVE_LTI_{key} must be at least 16 characters (or unset: the page is then off)")
        if not self.https:
            problems.append(f"ADAPTIVE_LTI_BASE_URL must be https in production (got {self.base_url!r})")
        if problems:
            raise ConfigError("Refusing to start in production:\n  - " + "\n  - ".join(problems))


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment (and ``overrides``), checked; a bad value is a :class:`ConfigError`
    naming the variable, never a traceback."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "ADAPTIVE_LTI_" + "_".join(str(part) for part in err["loc"]).upper()
            given = f" (got {err['input']!r})" if isinstance(err.get("input"), str | int | float) else ""
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}: {message}{given}")
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems)) from None
    settings.check()
    return settings
