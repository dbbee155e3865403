"""Settings: one typed object from env ``WATCHKEEPER_*``, then ``watchkeeper.toml``, then defaults.

The TOML file is looked up as ``$WATCHKEEPER_CONFIG`` or ``./watchkeeper.toml``. Every field has
help text, shown by ``watchkeeper config show`` beside its effective value and where the value
came from; secrets are masked there and in every log line.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from watchkeeper.errors import ConfigError

ENV_PREFIX = "WATCHKEEPER_"
CONFIG_FILE_ENV = "WATCHKEEPER_CONFIG"
DEFAULT_CONFIG_FILE = "watchkeeper.toml"
# Days an indicator of each value kind stays useful without a new sighting: addresses are
# reassigned within weeks, domains and URLs last longer, a file hash never changes meaning.
DEFAULT_LIFETIMES: dict[str, float] = {
    "ipv4": 30, "ipv6": 30, "cidr4": 90, "cidr6": 90, "url": 60, "domain": 180,
    "email": 180, "md5": 3650, "sha1": 3650, "sha256": 3650, "sha512": 3650,
    "asn": 365, "mac": 365, "default": 365,
}  # fmt: skip


def config_file_path() -> Path:
    """The TOML file settings are read from (it need not exist)."""
    return Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))


class Settings(BaseSettings):
    """Everything a node needs to start. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, frozen=True
    )

    data_dir: Path = Field(
        Path("watchkeeper-data"),
        description="Directory holding the SQLite database, node keys and the evidence vault.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the database; default: SQLite file in data_dir. "
        "PostgreSQL: postgresql+psycopg://user:password@host:5432/name",
    )
    host: str = Field("127.0.0.1", description="Address `watchkeeper serve` listens on.")
    port: int = Field(8470, ge=1, le=65535, description="TCP port `watchkeeper serve` uses.")
    public_url: str | None = Field(
        None, description="URL partners use to reach this node (default: http://host:port)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severity written to the log."
    )
    token_default_expiry_days: int = Field(
        90, ge=1, le=3650, description="Lifetime of a new API token unless --expires is given."
    )
    session_hours: int = Field(
        12, ge=1, le=168, description="Lifetime of a UI login session, in hours."
    )
    cookie_secure: bool = Field(
        False, description="Mark the UI session cookie Secure (set true behind HTTPS)."
    )
    bus_max_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description="Deliveries of one event to a failing subscriber before it is dead-lettered.",
    )
    bus_backoff_seconds: float = Field(
        1.0, ge=0.0, le=3600.0, description="First retry delay; doubles on each failure."
    )
    bus_poll_seconds: float = Field(
        0.5, gt=0.0, le=60.0, description="How often the in-process dispatcher looks for events."
    )
    nats_url: str | None = Field(
        None, description="NATS JetStream URL; when set, serve relays the event log to it."
    )
    nats_stream: str = Field(
        "WATCHKEEPER_EVENTS", description="JetStream stream that receives the event log."
    )
    nats_subject: str = Field(
        "watchkeeper.events",
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="Subject prefix of relayed events (<prefix>.<event type>); distinct per "
        "node when several nodes share one NATS cluster.",
    )

    tls_certfile: Path | None = Field(
        None,
        description="PEM certificate (chain) `serve` presents for HTTPS, with tls_keyfile; "
        "TLS 1.2 or later. Without them `serve` speaks plain HTTP (behind a TLS proxy).",
    )
    tls_keyfile: Path | None = Field(None, description="PEM private key of tls_certfile.")
    taxii_max_content_length: int = Field(
        32 * 1024**2,
        ge=1024,
        le=1024**3,
        description="Largest request body the TAXII server accepts, in bytes (its API roots' "
        "max_content_length); a larger one is refused with 413 before it is read.",
    )
    taxii_unsigned_peer_writes: bool = Field(
        False,
        description="Let partner-node accounts add and delete TAXII objects without signing "
        "their requests with their node key (third-party TAXII clients cannot sign). Off: a "
        "partner's unsigned POST or DELETE is refused with 401; signed requests (and signed "
        "reads) are always verified, and forged or replayed ones refused and audited.",
    )

    intel_source_reliability: dict[str, int] = Field(
        default_factory=dict,
        description="Reliability (0-100) of intelligence sources, by provenance source "
        '("feed:abuse") or prefix ("peer:"); the longest matching key wins, unknown '
        "sources get intel_default_reliability. An indicator takes its best source's.",
    )
    intel_default_reliability: int = Field(
        50, ge=0, le=100, description="Reliability of a source intel_source_reliability omits."
    )
    intel_lifetimes: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_LIFETIMES),
        description="Days an indicator stays scored, per value kind (ipv4, cidr4, domain, url, "
        "email, md5, sha256...; 'default' for the others) unless it has valid_until; "
        "keys given here override the built-in table.",
    )
    intel_decay_speed: float = Field(
        0.3,
        gt=0.0,
        le=10.0,
        description="Decay speed of the polynomial decay score = base * (1 - (t/lifetime)^"
        "(1/speed)): below 1 the score holds, then falls near the end of the lifetime; "
        "above 1 it falls early.",
    )
    intel_sighting_bonus: float = Field(
        5.0, ge=0.0, le=100.0, description="Base score points added per recent sighting."
    )
    intel_sighting_cap: float = Field(
        25.0, ge=0.0, le=100.0, description="Most points sightings add to the base score."
    )
    intel_false_positive_factor: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Factor applied to the base score per false-positive report.",
    )
    intel_trusted_reporters: list[str] = Field(
        default_factory=lambda: ["local:"],
        description="Provenance sources (or prefixes) whose false-positive reports set the "
        "score to 0; default: this node's own analysts (local:).",
    )

    intel_common_threshold: int = Field(
        50,
        ge=1,
        le=1_000_000,
        description="A value carried by more than this many current intelligence objects is "
        "marked common in look-ups (a correlation too broad to mean much); the look-up page "
        "then lists only its first objects.",
    )

    sync_interval_seconds: float = Field(
        300.0,
        ge=1.0,
        le=86400.0,
        description="How often `watchkeeper serve` runs each healthy sync link (pulls from and "
        "pushes to partners' TAXII collections).",
    )
    sync_backoff_seconds: float = Field(
        60.0,
        ge=0.0,
        le=86400.0,
        description="Delay before retrying a sync link after a failure; doubles with each "
        "further failure, up to sync_backoff_max_seconds.",
    )
    sync_backoff_max_seconds: float = Field(
        21600.0, ge=0.0, le=604800.0, description="Longest delay between retries of a sync link."
    )
    sync_page_size: int = Field(
        1000, ge=1, le=10000, description="Objects asked for or sent per TAXII request."
    )
    sync_max_pages: int = Field(
        100,
        ge=1,
        le=100000,
        description="Pages one run of a sync link moves before the other links get their turn "
        "(the link goes on at the next pass, from its cursor).",
    )
    sync_timeout_seconds: float = Field(
        60.0, gt=0.0, le=3600.0, description="Timeout of one HTTP request to a partner's server."
    )

    detect_alert_window_minutes: int = Field(
        60,
        ge=1,
        le=10080,
        description="Hits of the same indicator, rule or analytic on the same host within one "
        "window of this many minutes count towards one alert.",
    )
    detect_retain: bool = Field(
        True,
        description="Keep the telemetry detection reads as Parquet day partitions in "
        "data_dir/telemetry, so indicators that arrive later can search it (retro-hunt).",
    )
    detect_retention_days: int = Field(
        30, ge=1, le=3650, description="Days of telemetry kept for retro-hunts."
    )
    detect_index_rebuild_minutes: float = Field(
        15.0,
        ge=0.1,
        le=1440.0,
        description="The indicator index takes in new intelligence incrementally; it is "
        "compiled afresh after this many minutes (scores decay with time).",
    )
    detect_rules_dir: Path | None = Field(
        None,
        description="Directory of Sigma rules `detect run` and `detect serve` evaluate by "
        "default; default: data_dir/rules/sigma when it exists.",
    )

    respond_webhook_secret: SecretStr | None = Field(
        None,
        description="Key of the HMAC-SHA256 signature (header X-Watchkeeper-Signature) on "
        "webhook notifications sent by playbooks; never logged.",
    )
    respond_smtp_host: str = Field("localhost", description="SMTP server of e-mail notifications.")
    respond_smtp_port: int = Field(25, ge=1, le=65535, description="Port of respond_smtp_host.")
    respond_smtp_from: str = Field(
        "watchkeeper@localhost", description="Sender address of e-mail notifications."
    )
    respond_http_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts a playbook's http_request action may call (exact names; "
        "'*.example.org' for subdomains); any other URL is refused.",
    )
    respond_max_concurrent_runs: int = Field(
        1000,
        ge=1,
        le=100000,
        description="Runs in progress at once over all playbooks (each playbook also has its "
        "own max_concurrent_runs); more wait queued.",
    )
    respond_approval_ttl_seconds: float = Field(
        3600.0,
        gt=0.0,
        le=30 * 86400.0,
        description="How long an approval waits before escalation when its step does not say.",
    )
    respond_runner_poll_seconds: float = Field(
        1.0, gt=0.0, le=60.0, description="How often the playbook runner looks for due runs."
    )

    cooperation_retry_seconds: float = Field(
        30.0,
        ge=0.0,
        le=86400.0,
        description="Delay before sending a cooperation message again after its partner node "
        "could not be reached or failed; doubles with each further failure, up to "
        "cooperation_retry_max_seconds.",
    )
    cooperation_retry_max_seconds: float = Field(
        3600.0,
        ge=0.0,
        le=604800.0,
        description="Longest delay between two attempts at a cooperation message; also the "
        "wait after a partner refused one (the refusal is shown on the message).",
    )
    cooperation_max_message_bytes: int = Field(
        4 * 1024**2,
        ge=1024,
        le=256 * 1024**2,
        description="Largest signed cooperation message a node sends or accepts (bytes); "
        "evidence travels apart, in sealed packages.",
    )
    cooperation_poll_seconds: float = Field(
        0.1,
        gt=0.0,
        le=60.0,
        description="How often a serving node looks for cooperation messages due for delivery "
        "(one indexed query; a message to an online partner leaves within this time).",
    )
    cooperation_timeout_seconds: float = Field(
        30.0, gt=0.0, le=3600.0, description="Timeout of one delivery to a partner's inbox."
    )
    cooperation_alarm_days: int = Field(
        7,
        ge=0,
        le=365,
        description="Days before a preservation, a domestic preservation order or the follow-up "
        "request of a preservation falls due that an alarm is raised (to the person on duty).",
    )
    cooperation_unanswered_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Days after sending a request without an answer from the partner that an "
        "'unanswered' alarm is raised.",
    )

    @field_validator("tls_keyfile")
    @classmethod
    def _tls_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (info.data.get("tls_certfile") is None) != (value is None):
            raise ValueError("tls_certfile and tls_keyfile are given together or not at all")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if not raw.startswith(("sqlite", "postgresql")):
            raise ValueError("expected a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("intel_lifetimes")
    @classmethod
    def _complete_lifetimes(cls, value: dict[str, float]) -> dict[str, float]:
        if any(days <= 0 for days in value.values()):
            raise ValueError("lifetimes are positive numbers of days")
        return {**DEFAULT_LIFETIMES, **value}

    @field_validator("intel_source_reliability")
    @classmethod
    def _reliability_range(cls, value: dict[str, int]) -> dict[str, int]:
        if any(not 0 <= level <= 100 for level in value.values()):
            raise ValueError("reliability is 0 to 100")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return (init_settings, env_settings, toml)

    @property
    def effective_database_url(self) -> str:
        """The database URL in force: the configured one or SQLite in the data dir."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'watchkeeper.db').as_posix()}"

    @property
    def effective_public_url(self) -> str:
        """The base URL of this node as partners should see it."""
        scheme = "https" if self.tls_certfile is not None else "http"
        return self.public_url or f"{scheme}://{self.host}:{self.port}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings; a validation failure becomes a ``ConfigError`` naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        env_name = ENV_PREFIX + name.upper()
        raise ConfigError(
            f"invalid setting {name} ({env_name}): {first['msg']}",
            setting=name,
            expected=first["msg"],
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"cannot read {config_file_path()}: {exc}", file=str(config_file_path())
        ) from None


def describe_settings(settings: Settings) -> list[dict[str, Any]]:
    """Each setting with its effective value (secrets masked), source and help text."""
    toml_values: dict[str, Any] = {}
    path = config_file_path()
    if path.is_file():
        with path.open("rb") as handle:
            toml_values = tomllib.load(handle)
    rows = []
    for name, field in Settings.model_fields.items():
        env_name = ENV_PREFIX + name.upper()
        if any(key.upper() == env_name for key in os.environ):
            source = f"env {env_name}"
        elif name in toml_values:
            source = str(path)
        else:
            source = "default"
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            # URLs keep their host (the password is masked); other secrets are never shown.
            shown: Any = mask_url(secret) if "://" in secret else "***"
        elif isinstance(value, Path):
            shown = str(value)
        else:
            shown = value
        rows.append(
            {"name": name, "value": shown, "source": source, "help": field.description or ""}
        )
    return rows


def mask_url(url: str) -> str:
    """Hide the password of a URL (``user:***@host``) so it can be printed or logged."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user, has_password, _ = creds.partition(":")
    return f"{scheme}://{user}:***@{host}" if has_password else url
