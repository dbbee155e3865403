"""What every command gets: settings and a node built on first use, and the CLI's principal."""

from __future__ import annotations

import functools
import getpass
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

import click

from watchkeeper.config import Settings, load_settings
from watchkeeper.errors import ConfigError, StorageError, WatchkeeperError
from watchkeeper.node import Node
from watchkeeper.security import Principal, cli_principal, record

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class CliContext:
    """Lazily built settings and node; closed when the command ends."""

    debug: bool = False
    _settings: Settings | None = None
    _node: Node | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """Effective settings (``ConfigError`` naming the setting if one is invalid)."""
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    def node(self, *, migrate: bool = True) -> Node:
        """The node, with its database checked and migrated."""
        if self._node is None:
            self._node = Node(self.settings).start(migrate=migrate)
        return self._node

    @property
    def principal(self) -> Principal:
        """The local operator."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "operator"
        return cli_principal(user)

    def close(self) -> None:
        """Release the node's connections."""
        if self._node is not None:
            self._node.close()
            self._node = None


pass_cli = click.make_pass_decorator(CliContext)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def audit_failures(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record a refused change in the audit ledger before the error reaches the user.

    Successful changes are audited by their use case; this covers the attempts that fail
    (unknown role, duplicate, bad key...). An unreachable database cannot be written to, so
    storage errors are only reported.
    """

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(command)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return command(*args, **kwargs)
            except (StorageError, ConfigError):
                raise
            except WatchkeeperError as exc:
                state = click.get_current_context().find_object(CliContext)
                if state is not None:
                    _record_failure(state, action, exc)
                raise

        return wrapper

    return decorate


def _record_failure(state: CliContext, action: str, exc: WatchkeeperError) -> None:
    try:
        node = state.node()
        with node.database.transaction() as session:
            record(
                session,
                clock=node.clock,
                actor=state.principal.actor,
                action=action,
                outcome="failed",
                detail={"code": exc.code, "error": exc.message},
            )
    except Exception:  # the original error matters more than a failed audit write
        log.warning("could not audit the failed %s", action, exc_info=True)
