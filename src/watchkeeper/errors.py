"""One exception tree for the whole node.

Every error a user can cause or meet is one of these. Each carries a stable machine code, an
HTTP status and structured fields (where: file, line, object, field, setting...), so the web
layer renders it as RFC 9457 problem+json and the CLI prints one clear line, both from the
same object. Nothing else should reach a user: unexpected exceptions are wrapped as
``InternalError`` by the entry points, and only ``--debug`` shows their traceback.

    WatchkeeperError
    ├── ConfigError                 bad setting (names the setting and what is expected)
    ├── StorageError                database unreachable or failed (URL without password)
    ├── InvalidInput                bad argument or record (names the field / location)
    ├── NotFound                    unknown id, user, peer...
    ├── Conflict                    already exists; would overwrite
    ├── AuthError
    │   ├── Unauthenticated         no, bad, expired or revoked credentials (401)
    │   └── Forbidden               authenticated but lacking a role (403)
    ├── IntegrityError              tampering found (audit chain, hashes)
    ├── RemoteError                 a partner's server failed, refused or is unreachable
    └── InternalError               anything unexpected, without its traceback
"""

from __future__ import annotations

from typing import Any


class WatchkeeperError(Exception):
    """Base of every error a user may see; ``fields`` say where and what."""

    code = "error"
    status = 500
    title = "Error"

    def __init__(self, message: str, *, code: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields: dict[str, Any] = fields

    def __str__(self) -> str:
        return self.message


class ConfigError(WatchkeeperError):
    """A setting has an invalid value; ``setting`` names it."""

    code = "config.invalid"
    status = 500
    title = "Invalid configuration"


class StorageError(WatchkeeperError):
    """The database cannot be reached or refused an operation."""

    code = "storage.unavailable"
    status = 503
    title = "Storage unavailable"


class InvalidInput(WatchkeeperError):
    """A request, argument or record is not acceptable."""

    code = "input.invalid"
    status = 422
    title = "Invalid input"


class NotFound(WatchkeeperError):
    """The named thing does not exist."""

    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(WatchkeeperError):
    """The action would clash with what exists (duplicate, overwrite)."""

    code = "conflict"
    status = 409
    title = "Conflict"


class AuthError(WatchkeeperError):
    """Base of authentication and authorisation failures."""

    code = "auth.failed"
    status = 401
    title = "Authentication failed"


class Unauthenticated(AuthError):
    """Missing, unknown, expired or revoked credentials."""

    code = "auth.unauthenticated"
    status = 401
    title = "Not authenticated"


class Forbidden(AuthError):
    """The caller is known but has none of the roles the action needs."""

    code = "auth.forbidden"
    status = 403
    title = "Forbidden"


class IntegrityError(WatchkeeperError):
    """Stored data fails verification (hash chain broken, digest mismatch)."""

    code = "integrity.failed"
    status = 500
    title = "Integrity check failed"


class RemoteError(WatchkeeperError):
    """A partner's server (TAXII, MISP feed) could not be reached, or failed or refused a
    request; ``url`` names it and ``http_status`` gives its answer when there was one."""

    code = "remote.failed"
    status = 502
    title = "Partner server failed"


class InternalError(WatchkeeperError):
    """An unexpected failure; details go to the log, not to the user."""

    code = "internal"
    status = 500
    title = "Internal error"
