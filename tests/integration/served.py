"""Real ``watchkeeper serve`` processes for the integration tests: a folder, a free port, the
environment that points the process at them, and starting and stopping it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

START_TIMEOUT = 30.0


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServedProcess:
    """One node served in its own process. Subclasses are dataclasses that give ``code``,
    ``folder``, ``port`` and ``process``, and may add to :attr:`env`."""

    code: str
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The node's settings: its own folder and database, no configuration file."""
        return {
            "WATCHKEEPER_DATA_DIR": str(self.folder / "data"),
            "WATCHKEEPER_DATABASE_URL": f"sqlite:///{(self.folder / 'node.db').as_posix()}",
            "WATCHKEEPER_CONFIG": str(self.folder / "absent.toml"),
            "WATCHKEEPER_LOG_LEVEL": "warning",
        }

    def refuse(self, message: str) -> NoReturn:
        """What a test does when the node will not serve: fail (a subclass may skip)."""
        pytest.fail(message)

    def start(self) -> None:
        """Serve, and wait until ``/healthz`` answers; its log goes to ``serve.log``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        env.update(self.env)
        log = (self.folder / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "watchkeeper", "serve", "--port", str(self.port)],
            env=env,
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.refuse(f"{self.code}: serve exited with {code}: {self.log()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        self.refuse(f"{self.code}: serve did not answer within {START_TIMEOUT} s: {self.log()}")

    def stop(self) -> None:
        """Stop as an operator would (SIGTERM), killing it only if it will not stop."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        """The end of what the process wrote to its log."""
        path = self.folder / "serve.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""
