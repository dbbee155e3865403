"""API throughput: authenticated GET against a real uvicorn server on loopback, concurrency 32.

A ``watchkeeper serve`` process runs on a throwaway SQLite node. A small keep-alive HTTP/1.1
client (asyncio streams, so the load generator costs little) keeps 32 connections busy for a
fixed time on ``GET /api/v1/whoami`` with a bearer token (token lookup, role check, JSON).
Baseline, measured in the same run: an empty FastAPI endpoint served by uvicorn the same way,
the floor of any FastAPI service on this machine. ``/healthz`` is reported against it too.
Environment: WK_BENCH_SECONDS (default 5), WK_BENCH_CONCURRENCY (default 32).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from watchkeeper.config import load_settings
from watchkeeper.node import Node
from watchkeeper.security import add_user, create_token, parse_duration

SECONDS = float(os.environ.get("WK_BENCH_SECONDS", "5"))
CONCURRENCY = int(os.environ.get("WK_BENCH_CONCURRENCY", "32"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _connection(
    port: int, request: bytes, deadline: float, latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != b"200":
                errors.append(status.decode())
    finally:
        writer.close()


async def _load(port: int, path: str, headers: dict[str, str]) -> dict[str, float]:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    warmup: list[float] = []
    await asyncio.gather(
        *(
            _connection(port, request, time.perf_counter() + 0.5, warmup, [])
            for _ in range(CONCURRENCY)
        )
    )
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(port, request, started + SECONDS, latencies, errors)
            for _ in range(CONCURRENCY)
        )
    )
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{path}: {len(errors)} non-200 answers, e.g. {errors[0]}")
    cuts = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / elapsed, "p50": cuts[49] * 1000, "p99": cuts[98] * 1000}


FLOOR_APP = """
import sys, uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/healthz")
async def empty() -> dict[str, str]:
    return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _serve(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"{' '.join(command[:4])} did not start")


def _measure(
    command: list[str], env: dict[str, str], paths: dict[str, dict[str, str]]
) -> list[dict[str, float]]:
    port = _free_port()
    server = _serve([*command, str(port)], env, port)
    try:
        return [asyncio.run(_load(port, path, headers)) for path, headers in paths.items()]
    finally:
        server.terminate()
        server.wait(timeout=20)


def _line(metric: str, value: float, unit: str, baseline: float) -> None:
    record = {
        "bench": "api",
        "metric": metric,
        "value": round(value, 2),
        "unit": unit,
        "baseline": round(baseline, 2),
        "ratio": round(value / baseline, 3),
    }
    print(json.dumps(record), flush=True)


def main() -> None:
    """Measure and print the figures."""
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        node = Node(load_settings(data_dir=data, database_url=None)).start()
        with node.database.transaction() as session:
            add_user(session, clock=node.clock, actor="bench", name="bench", roles=["analyst"])
            secret = create_token(
                session,
                clock=node.clock,
                actor="bench",
                user_name="bench",
                expires_in=parse_duration("1d"),
            ).secret
        node.close()
        [floor] = _measure([sys.executable, "-c", FLOOR_APP], dict(os.environ), {"/healthz": {}})
        env = {**os.environ, "WATCHKEEPER_DATA_DIR": str(data), "WATCHKEEPER_LOG_LEVEL": "warning"}
        env.pop("WATCHKEEPER_DATABASE_URL", None)
        health, auth = _measure(
            [sys.executable, "-m", "watchkeeper", "serve", "--port"],
            env,
            {"/healthz": {}, "/api/v1/whoami": {"Authorization": f"Bearer {secret}"}},
        )
    print(
        f"# concurrency {CONCURRENCY}, {SECONDS:g} s per endpoint; "
        "baseline: empty FastAPI endpoint on uvicorn",
        file=sys.stderr,
    )
    _line("authenticated_get_throughput", auth["rps"], "req/s", floor["rps"])
    _line("authenticated_get_p50", auth["p50"], "ms", floor["p50"])
    _line("authenticated_get_p99", auth["p99"], "ms", floor["p99"])
    _line("healthz_throughput", health["rps"], "req/s", floor["rps"])


if __name__ == "__main__":
    main()
