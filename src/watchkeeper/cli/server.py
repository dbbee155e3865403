"""``serve`` and ``demo`` commands."""

from __future__ import annotations

import gc
import signal
import sys
from pathlib import Path
from typing import Any

import click

from watchkeeper.cli.context import CliContext, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, print_table
from watchkeeper.errors import ConfigError
from watchkeeper.node import Node

# The web stack and the demo are imported by the commands that need them: every other
# command starts faster without them.
DEMO_DIR = Path("watchkeeper-demo")


def _tls(node: Node) -> dict[str, Any]:
    """uvicorn's TLS options when a certificate is configured (TLS 1.2 at least: Python's
    server contexts refuse older versions)."""
    settings = node.settings
    if settings.tls_certfile is None or settings.tls_keyfile is None:
        return {}
    for name, path in (
        ("tls_certfile", settings.tls_certfile),
        ("tls_keyfile", settings.tls_keyfile),
    ):
        if not path.is_file():
            raise ConfigError(f"{name}: no file {path}", setting=name)
    return {"ssl_certfile": str(settings.tls_certfile), "ssl_keyfile": str(settings.tls_keyfile)}


def run_server(node: Node, *, host: str, port: int) -> None:
    """Serve API, UI and workers until SIGINT/SIGTERM, then stop gracefully."""
    import uvicorn

    from watchkeeper.web import create_app

    app = create_app(node=node, workers=True)
    # What is alive once the app is built lives as long as the process: keep it out of the
    # cyclic collector, whose full passes over it paused requests for ~100 ms (a TAXII page
    # takes ~15 ms; benchmarks/taxii.py).
    gc.collect()
    gc.freeze()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal; without a handler of
    # ours that would kill the process with status 143 instead of ending it cleanly with 0.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=node.settings.log_level,
            timeout_graceful_shutdown=10,
            server_header=False,
            **_tls(node),
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: setting host).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="TCP port.")
@pass_cli
def serve(cli: CliContext, host: str | None, port: int | None) -> None:
    """Run the API, the UI and the workers (migrates the database first)."""
    node = cli.node()
    host = host or node.settings.host
    port = port or node.settings.port
    scheme = "https" if node.settings.tls_certfile is not None else "http"
    message(f"serving on {scheme}://{host}:{port} (database {node.database.masked_url})")
    run_server(node, host=host, port=port)


@click.command()
@click.option(
    "--check", is_flag=True, help="Run the scripted demo without serving; exit 1 if any step fails."
)
@click.option(
    "--dir",
    "directory",
    default=str(DEMO_DIR),
    type=click.Path(path_type=Path),
    help="Where the demo node lives.",
)
@click.option("--port", default=8470, type=click.IntRange(1, 65535), help="TCP port to serve.")
@json_option
def demo(check: bool, directory: Path, port: int, as_json: bool) -> None:
    """Build the demo node (re-runnable), then serve it and print the URL and login."""
    from watchkeeper.demo import build_demo, check_demo, share_when_serving

    result = build_demo(directory=directory, port=port)
    try:
        if check and result.ok:
            check_demo(result)
        if as_json:
            print_json(
                {
                    "ok": result.ok,
                    "directory": str(directory),
                    "steps": [
                        {"name": s.name, "ok": s.ok, "detail": s.detail} for s in result.steps
                    ],
                }
            )
        else:
            print_table(
                [
                    {"step": s.name, "ok": "ok" if s.ok else "FAILED", "detail": s.detail}
                    for s in result.steps
                ],
                ["step", "ok", "detail"],
                title=f"demo node in {directory}",
            )
        if not result.ok:
            failed = [s.name for s in result.steps if not s.ok]
            message(f"demo FAILED at: {', '.join(failed)}")
            raise SystemExit(1)
        if check:
            message(f"demo check passed: {len(result.steps)} steps")
            return
        url = f"http://127.0.0.1:{port}/"
        message(
            f"\nWatchkeeper demo at {url}\n  UI login: admin / {result.admin_password}\n"
            f"  API token (admin): {result.token}\nPress Ctrl+C to stop."
        )
        share_when_serving(result, base_url=url.rstrip("/"), report=message)
        run_server(result.node, host="127.0.0.1", port=port)
    finally:
        result.node.close()
