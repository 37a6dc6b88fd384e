"""Saved logins: which server to talk to and the session token to present, per profile.

Profiles live in one JSON file in the user's configuration directory (platformdirs; on Linux
``$XDG_CONFIG_HOME/source-vault/profiles.json``), created mode 0600 in a 0700 directory and
replaced atomically. A profile holds the server URL, the username and the session token with
its expiry; never a passphrase. ``VAULT_SERVER`` and ``VAULT_TOKEN`` override what a profile
says, so scripts can run without one.

Beside the profiles the file keeps, per server and username, the device token of the last
login. It outlives logging out: it is what lets a correct login from this machine through while
others at the same address are being throttled.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import platformdirs

from vault import crypto
from vault.crypto import PrivateKey
from vault.errors import AuthenticationFailed, IntegrityError, InvalidInput

__all__ = [
    "DEFAULT",
    "Profile",
    "Target",
    "config_dir",
    "device_token",
    "load",
    "load_all",
    "open_key",
    "remember_device",
    "remove",
    "resolve",
    "save",
    "seal_key",
    "write_private",
]

DEFAULT = "default"
_FILE = "profiles.json"


@dataclass(frozen=True)
class Profile:
    name: str
    server: str
    username: str
    token: str
    expires_at: str  # ISO 8601, as the server gave it
    # An end-to-end session's private key, sealed under its token (docs/cli.md, "End-to-end
    # sessions"), with the account id and key id it opens for; empty for a server-side one.
    user_id: str = ""
    key_id: str = ""
    sealed_key: str = ""

    @property
    def end_to_end(self) -> bool:
        return bool(self.sealed_key)

    @property
    def expired(self) -> bool:
        try:
            expiry = datetime.fromisoformat(self.expires_at.replace("Z", "+00:00"))
        except ValueError:
            return True
        return expiry <= datetime.now(UTC)


@dataclass(frozen=True)
class Target:
    """Where a review command sends its requests and with which credential."""

    server: str
    token: str
    profile: str | None  # None when both came from the environment
    key: PrivateKey | None = None  # an end-to-end session's, opened


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    override = environ.get("VAULT_CONFIG_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir("source-vault", appauthor=False))


def _path(environ: Mapping[str, str]) -> Path:
    return config_dir(environ) / _FILE


def _read(environ: Mapping[str, str]) -> dict[str, Any]:
    path = _path(environ)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the saved logins in {path}: {exc}") from None
    return raw if isinstance(raw, dict) else {}


def _devices(environ: Mapping[str, str]) -> dict[str, str]:
    devices = _read(environ).get("devices", {})
    if not isinstance(devices, dict):
        return {}
    return {str(k): str(v) for k, v in devices.items()}


def _device_key(server: str, username: str) -> str:
    return f"{username}@{server.rstrip('/')}"


def device_token(server: str, username: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The device token the server gave at this machine's last login as ``username``."""
    return _devices(environ).get(_device_key(server, username))


def remember_device(
    server: str, username: str, token: str, environ: Mapping[str, str] = os.environ
) -> None:
    devices = _devices(environ)
    devices[_device_key(server, username)] = token
    _write(load_all(environ), environ, devices=devices)


def load_all(environ: Mapping[str, str] = os.environ) -> dict[str, Profile]:
    raw = _read(environ)
    profiles = raw.get("profiles", {})
    found = {}
    for name, fields in profiles.items():
        try:
            found[name] = Profile(
                name=name,
                **{k: str(fields[k]) for k in _FIELDS},
                **{k: str(fields.get(k) or "") for k in _KEY_FIELDS},
            )
        except (KeyError, TypeError):
            continue  # a damaged entry is as good as no login
    return found


_FIELDS = ("server", "username", "token", "expires_at")
_KEY_FIELDS = ("user_id", "key_id", "sealed_key")


def load(name: str, environ: Mapping[str, str] = os.environ) -> Profile | None:
    return load_all(environ).get(name)


def _write(
    profiles: dict[str, Profile],
    environ: Mapping[str, str],
    *,
    devices: dict[str, str] | None = None,
) -> None:
    directory = config_dir(environ)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    body: dict[str, Any] = {
        "profiles": {
            # A server-side session's profile has no key fields at all.
            name: {
                k: v for k, v in asdict(p).items() if k != "name" and (v or k not in _KEY_FIELDS)
            }
            for name, p in sorted(profiles.items())
        },
        "devices": dict(sorted((_devices(environ) if devices is None else devices).items())),
    }
    write_private(directory / _FILE, body)


def write_private(path: Path, body: Mapping[str, Any]) -> None:
    """Write ``body`` as JSON to ``path``, readable by this user only, in one step."""
    # mkstemp creates the file 0600 before anything is written to it; rename replaces the old
    # file in one step, so a crash leaves either the old contents or the new ones.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(body, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def save(profile: Profile, environ: Mapping[str, str] = os.environ) -> Path:
    profiles = load_all(environ)
    profiles[profile.name] = profile
    _write(profiles, environ)
    return _path(environ)


def remove(name: str, environ: Mapping[str, str] = os.environ) -> Profile | None:
    profiles = load_all(environ)
    removed = profiles.pop(name, None)
    if removed is not None:
        _write(profiles, environ)
    return removed


def resolve(name: str | None, environ: Mapping[str, str] = os.environ) -> Target:
    """The server and token for a review command: the environment first, then the profile
    (``--profile``, else ``VAULT_PROFILE``, else ``default``)."""
    chosen = name or environ.get("VAULT_PROFILE") or DEFAULT
    server, token = environ.get("VAULT_SERVER"), environ.get("VAULT_TOKEN")
    profile = None if (server and token) else load(chosen, environ)
    if profile is not None and not token and profile.expired:
        raise AuthenticationFailed(
            f"the session of profile '{chosen}' has expired: run `vault login` again"
        )
    server = server or (profile.server if profile else None)
    token = token or (profile.token if profile else None)
    if not server or not token:
        raise AuthenticationFailed(
            f"not logged in (profile '{chosen}'): run `vault login --server URL --username NAME`"
            " or set VAULT_SERVER and VAULT_TOKEN"
        )
    key = None
    if profile is not None and profile.end_to_end and token == profile.token:
        key = open_key(profile)
    return Target(server.rstrip("/"), token, None if profile is None else chosen, key)


def seal_key(token: str, key: PrivateKey, user_id: UUID) -> str:
    """An end-to-end session's private key as its profile keeps it: sealed under the session
    token, so that it opens only while the profile holds the token (and is gone with it)."""
    return base64.b64encode(crypto.seal_with_token(token, key, credential_id=user_id)).decode()


def open_key(profile: Profile) -> PrivateKey:
    try:
        return crypto.open_with_token(
            profile.token,
            base64.b64decode(profile.sealed_key, validate=True),
            credential_id=UUID(profile.user_id),
            key_id=profile.key_id,
        )
    except (ValueError, IntegrityError):
        raise InvalidInput(
            f"the key saved in profile '{profile.name}' does not open: run `vault login` again"
        ) from None
