"""Helpers of the CLI tests: running ``watchkeeper`` in-process and registering partners.

Happy paths go through ``CliRunner`` against the click group; exit codes and error lines go
through :func:`watchkeeper.cli.main`, the real entry point that turns exceptions into one line
on stderr and an exit code (0 ok, 1 failed or found a problem, 2 usage or invalid input).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from watchkeeper.cli import cli
from watchkeeper.security.keys import public_key_text


@dataclass(frozen=True)
class Outcome:
    """What one run of ``main`` did."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


Run = Callable[..., Outcome]


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """Run the click group in-process; exceptions are not swallowed."""
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def ok(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """Run a command that must succeed."""
    result = invoke(*args, env=env)
    assert result.exit_code == 0, f"{args} exited {result.exit_code}:\n{result.output}"
    return result


def ok_json(*args: str, env: dict[str, str | None] | None = None) -> Any:
    """Run a ``--json`` command that must succeed; stdout must be exactly one JSON document."""
    return json.loads(ok(*args, "--json", env=env).stdout)


def public_key(kind: str = "ed25519") -> str:
    """Base64 of a fresh raw public key."""
    key = Ed25519PrivateKey.generate() if kind == "ed25519" else X25519PrivateKey.generate()
    return public_key_text(key)


def add_peer(code: str = "QA-NCSA", *, key: str | None = None) -> str:
    """Register a partner through the CLI; returns its signing public key."""
    key = key or public_key()
    ok(
        "peer",
        "add",
        code,
        "--url",
        "https://qa.example.org/",
        "--country",
        code[:2],
        "--public-key",
        key,
        "--encryption-key",
        public_key("x25519"),
        "--name",
        "Qatar NCSA",
    )
    return key
