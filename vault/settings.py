"""Settings from an environment mapping and an optional TOML file.

Precedence, highest first: explicit overrides (command-line flags), ``VAULT_*`` environment
variables, the TOML file named by ``VAULT_CONFIG`` (or passed in), the defaults. Nothing is read
at import time: callers pass the environment in, so tests never depend on the process's.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from vault.crypto import DEFAULT_SEGMENT_SIZE, Argon2Params
from vault.errors import InvalidInput

__all__ = ["Settings"]

_PREFIX = "VAULT_"
# S3's bucket naming rules (3-63 characters, lower case, digits, dots and hyphens).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Settings:
    """Everything the core needs to open a vault. See ``docs/operations.md`` for each key."""

    data_dir: Path = Path("vault-data")
    database_url: str | None = None
    # Connections each server process keeps open, may open beyond that under load, and waits
    # for when all are busy (docs/deployment.md sizes them against PostgreSQL's max_connections).
    database_pool_size: int = 5
    database_max_overflow: int = 10
    database_pool_timeout_seconds: int = 30
    # Blobs in an S3-compatible bucket instead of ``data_dir/blobs`` (docs/operations.md,
    # "Object storage"); credentials come from the standard AWS sources, never from here.
    blob_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    segment_size: int = DEFAULT_SEGMENT_SIZE
    argon2_memory_kib: int = Argon2Params.memory_kib
    argon2_time_cost: int = Argon2Params.time_cost
    argon2_lanes: int = Argon2Params.lanes
    recovery_shares: int = 3
    recovery_threshold: int = 2
    totp_required_roles: str = "editor,admin"
    end_to_end_only_roles: str = ""
    enrolment_hours: int = 24
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    token_max_days: int = 365
    max_upload_bytes: int = 2 << 30
    max_json_bytes: int = 1 << 20
    kdf_concurrency: int = 4
    log_client_addresses: bool = False
    log_seal_key_file: str | None = None
    log_checkpoint_file: str | None = None
    log_origin: str | None = None
    redaction_self_approval: bool = False
    max_export_bytes: int = 256 << 20
    export_dpi: int = 200
    # Login throttling and proxies (docs/security-model.md, "Login throttling").
    address_free_failures: int = 20
    device_days: int = 90
    trusted_proxies: str = ""
    min_free_bytes: int = 256 << 20
    # Against clients that stall or flood (api.limits, api.protocol, docs/operations.md).
    request_head_seconds: int = 20
    request_idle_seconds: int = 30
    body_grace_seconds: int = 20
    body_min_bytes_per_second: int = 1024
    max_concurrent_uploads: int = 16
    # On SIGTERM, `vault serve` stops taking requests and lets those in flight finish for this
    # long; an upload still running then is cut off and leaves nothing (docs/deployment.md).
    shutdown_grace_seconds: int = 30
    max_concurrent_uploads_per_user: int = 4
    # `vault serve` runs retention this often (0: never; docs/operations.md, "Retention").
    retention_interval_minutes: int = 0
    extra: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def argon2(self) -> Argon2Params:
        return Argon2Params(
            memory_kib=self.argon2_memory_kib,
            time_cost=self.argon2_time_cost,
            lanes=self.argon2_lanes,
        )

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded default: SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vault.db').absolute()}"

    @property
    def seal_key_path(self) -> Path:
        """Where the key that seals the access log's signing key lives (outside the database)."""
        if self.log_seal_key_file:
            return Path(self.log_seal_key_file)
        return self.data_dir / "log-seal.key"

    @property
    def checkpoint_pin_path(self) -> Path:
        """Where the newest checkpoint this server signed is pinned, outside the database:
        beside the seal key, so that replicas that share the key file share this one too."""
        if self.log_checkpoint_file:
            return Path(self.log_checkpoint_file)
        return self.seal_key_path.with_name("log-checkpoint")

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def s3_location(self) -> tuple[str, str] | None:
        """The bucket and key prefix ``blob_url`` names (``s3://bucket/prefix``), or ``None``
        when blobs stay in the local ``blob_dir``."""
        if not self.blob_url:
            return None
        scheme, sep, rest = self.blob_url.partition("://")
        bucket, _, prefix = rest.partition("/")
        if scheme != "s3" or not sep or not _BUCKET.match(bucket):
            raise InvalidInput("blob_url must be s3://bucket or s3://bucket/prefix")
        prefix = prefix.strip("/")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            raise InvalidInput("blob_url: the prefix must be plain names separated by /")
        return bucket, prefix

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str],
        *,
        config_file: Path | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings from ``environ`` (``VAULT_DATA_DIR``, ``VAULT_DATABASE_URL``, ...)."""
        values: dict[str, Any] = {}
        known = {f.name for f in fields(cls) if f.name != "extra"}
        path = config_file
        if path is None and _PREFIX + "CONFIG" in environ:
            path = Path(environ[_PREFIX + "CONFIG"])
        if path is not None:
            from_file = _read_toml(path)
            unknown = sorted(set(from_file) - known)
            if unknown:
                raise InvalidInput(f"configuration file {path}: unknown setting {unknown[0]}")
            values.update(from_file)
        extra: dict[str, str] = {}
        for key, raw in environ.items():
            if not key.startswith(_PREFIX) or key == _PREFIX + "CONFIG":
                continue
            name = key[len(_PREFIX) :].lower()
            if name in known:
                values[name] = raw
            else:
                extra[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**{k: _coerce(k, v) for k, v in values.items()}, extra=extra)
        settings.validate()
        return settings

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: _coerce(k, v) for k, v in overrides.items() if v is not None})

    def validate(self) -> None:
        self.argon2  # noqa: B018 - constructing the parameters checks them against the floor
        if not 1 <= self.recovery_threshold <= self.recovery_shares <= 16:
            raise InvalidInput("recovery shares: need 1 <= threshold <= shares <= 16")
        if self.recovery_threshold == 1 and self.recovery_shares != 1:
            raise InvalidInput("recovery shares: a threshold of 1 allows only one share (SLIP-39)")
        if not 16 <= self.segment_size <= 64 << 20:
            raise InvalidInput("segment_size must be between 16 bytes and 64 MiB")
        for name in _POSITIVE:
            if getattr(self, name) < 1:
                raise InvalidInput(f"setting {name} must be at least 1")
        if not 0 <= self.database_max_overflow <= 1000:
            raise InvalidInput("database_max_overflow must be between 0 and 1000")
        if not 0 <= self.retention_interval_minutes <= 7 * 24 * 60:
            raise InvalidInput("retention_interval_minutes must be between 0 (off) and 10080")
        if not 72 <= self.export_dpi <= 600:
            raise InvalidInput("export_dpi must be between 72 and 600")
        self.proxy_networks  # noqa: B018 - parsing the addresses checks them
        self.s3_location  # noqa: B018 - parsing the URL checks it

    @property
    def proxy_networks(self) -> list[str]:
        """The addresses or networks whose forwarded client address and scheme are believed."""
        found = [item.strip() for item in self.trusted_proxies.split(",") if item.strip()]
        for item in found:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise InvalidInput(
                    "trusted_proxies: each entry must be an IP address or network (CIDR)"
                ) from None
        return found

    @property
    def totp_roles(self) -> frozenset[str]:
        return frozenset(r for r in self.totp_required_roles.split(",") if r)

    @property
    def end_to_end_roles(self) -> frozenset[str]:
        return frozenset(r for r in self.end_to_end_only_roles.split(",") if r)


_INT_FIELDS = {
    "shutdown_grace_seconds",
    "database_pool_size",
    "database_max_overflow",
    "database_pool_timeout_seconds",
    "segment_size",
    "argon2_memory_kib",
    "argon2_time_cost",
    "argon2_lanes",
    "recovery_shares",
    "recovery_threshold",
    "enrolment_hours",
    "session_idle_minutes",
    "session_max_hours",
    "token_max_days",
    "max_upload_bytes",
    "max_json_bytes",
    "kdf_concurrency",
    "max_export_bytes",
    "export_dpi",
    "address_free_failures",
    "device_days",
    "min_free_bytes",
    "request_head_seconds",
    "request_idle_seconds",
    "body_grace_seconds",
    "body_min_bytes_per_second",
    "max_concurrent_uploads",
    "max_concurrent_uploads_per_user",
    "retention_interval_minutes",
}
_BOOL_FIELDS = {"log_client_addresses", "redaction_self_approval"}
_POSITIVE = sorted(
    _INT_FIELDS
    - {
        "segment_size",
        "argon2_memory_kib",
        "argon2_time_cost",
        "retention_interval_minutes",
        "database_max_overflow",
    }
)


def _coerce(name: str, value: Any) -> Any:
    if name == "data_dir":
        return Path(value)
    if name in _BOOL_FIELDS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise InvalidInput(f"setting {name} must be true or false")
        return text in ("1", "true", "yes", "on")
    if name in ("totp_required_roles", "end_to_end_only_roles"):
        roles = [r.strip() for r in str(value).split(",") if r.strip()]
        unknown = sorted(set(roles) - {"admin", "editor", "journalist"})
        if unknown:
            raise InvalidInput(f"setting {name}: unknown role {unknown[0]}")
        return ",".join(roles)
    if name in _INT_FIELDS:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"setting {name} must be a whole number") from None
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InvalidInput(f"configuration file {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"configuration file {path} cannot be read: {exc}") from None
    section = data.get("vault", data)
    if not isinstance(section, dict):
        raise InvalidInput(f"configuration file {path}: [vault] must be a table")
    return dict(section)
