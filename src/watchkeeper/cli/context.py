"""What every command gets: settings and a node built on first use, and the CLI's principal."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

import click

from watchkeeper.config import Settings, load_settings
from watchkeeper.node import Node
from watchkeeper.security import Principal, cli_principal


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
