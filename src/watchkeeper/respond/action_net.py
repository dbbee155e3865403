"""Actions that leave the node: webhook and e-mail notifications, allow-listed HTTP requests.

They run in a worker thread under the step's timeout and also set their own socket timeouts,
so a target that hangs costs one timed-out attempt, never a stuck run. Each request carries the
step's idempotency key (``Idempotency-Key`` header, ``Message-ID`` of mail): if the node dies
after sending but before recording the step, the resent request names the same key and the
receiver can drop the duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from fnmatch import fnmatch
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.errors import InvalidInput, RemoteError
from watchkeeper.respond.actions import ActionContext, ActionSpec

SIGNATURE_HEADER = "X-Watchkeeper-Signature"
MAX_RESPONSE_CHARS = 20000


class _Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookIn(_Inputs):
    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")
    payload: Any = None


class EmailIn(_Inputs):
    to: list[str] = Field(min_length=1, max_length=100)
    subject: str = Field(min_length=1, max_length=500)
    body: str = Field("", max_length=100000)


class HttpIn(_Inputs):
    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json")
    body: str | None = None


def signature(secret: bytes, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the HMAC-SHA256 of the body in hex."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _answer(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise RemoteError(
            f"{response.request.method} {_safe(str(response.request.url))} answered "
            f"HTTP {response.status_code}",
            status_code=response.status_code,
        )
    return {"status": response.status_code, "body": response.text[:MAX_RESPONSE_CHARS]}


def _safe(url: str) -> str:
    """The URL without credentials or query (kept out of errors and logs)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


def _post(url: str, *, content: bytes, headers: dict[str, str], timeout: float) -> httpx.Response:
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            return client.post(url, content=content, headers=headers)
    except httpx.TimeoutException:
        raise RemoteError(f"POST {_safe(url)} timed out after {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise RemoteError(f"POST {_safe(url)} failed: {type(exc).__name__}") from None


def _webhook(ctx: ActionContext, inputs: WebhookIn) -> dict[str, Any]:
    body = orjson.dumps(
        {"run_id": ctx.run_id, "step": ctx.step_path, "payload": inputs.payload},
        option=orjson.OPT_SORT_KEYS,
    )
    headers = {"Content-Type": "application/json", "Idempotency-Key": ctx.idempotency_key}
    secret = ctx.settings.respond_webhook_secret
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature(secret.get_secret_value().encode(), body)
    return _answer(_post(inputs.url, content=body, headers=headers, timeout=ctx.timeout))


def _email(ctx: ActionContext, inputs: EmailIn) -> dict[str, Any]:
    message = EmailMessage()
    message["From"] = ctx.settings.respond_smtp_from
    message["To"] = ", ".join(inputs.to)
    message["Subject"] = inputs.subject
    domain = ctx.settings.respond_smtp_from.rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:32]
    message["Message-ID"] = make_msgid(idstring=digest, domain=domain)
    message["X-Idempotency-Key"] = ctx.idempotency_key
    message.set_content(inputs.body)
    host, port = ctx.settings.respond_smtp_host, ctx.settings.respond_smtp_port
    try:
        with smtplib.SMTP(host, port, timeout=ctx.timeout) as smtp:
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise RemoteError(f"SMTP {host}:{port} failed: {type(exc).__name__}: {exc}") from None
    return {
        "sent_to": [a for a in inputs.to if a not in refused],
        "message_id": message["Message-ID"],
    }


def host_allowed(url: str, allowed: list[str]) -> bool:
    """Whether the URL's host is on the allow-list (exact names, ``*.`` patterns)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return bool(host) and any(fnmatch(host, pattern.lower()) for pattern in allowed)


def _http(ctx: ActionContext, inputs: HttpIn) -> dict[str, Any]:
    allowed = ctx.settings.respond_http_allow_hosts
    if not host_allowed(inputs.url, allowed):
        host = urlsplit(inputs.url).hostname or "?"
        raise InvalidInput(
            f"url: host {host} is not in respond_http_allow_hosts "
            f"({', '.join(allowed) or 'empty'}); request refused",
            field="url",
        )
    headers = {**inputs.headers, "Idempotency-Key": ctx.idempotency_key}
    try:
        with httpx.Client(timeout=ctx.timeout, follow_redirects=False) as client:
            response = client.request(
                inputs.method, inputs.url, headers=headers, json=inputs.json_body,
                content=inputs.body.encode() if inputs.body is not None else None,
            )  # fmt: skip
    except httpx.TimeoutException:
        raise RemoteError(f"{inputs.method} {_safe(inputs.url)} timed out") from None
    except httpx.HTTPError as exc:
        raise RemoteError(
            f"{inputs.method} {_safe(inputs.url)} failed: {type(exc).__name__}"
        ) from None
    return _answer(response)


NET_ACTIONS = (
    ActionSpec("notify_webhook", WebhookIn, _webhook, side_effects=True, local=False,
               description="POST JSON to a webhook, signed with HMAC-SHA256."),
    ActionSpec("notify_email", EmailIn, _email, side_effects=True, local=False,
               description="Send an e-mail over SMTP."),
    ActionSpec("http_request", HttpIn, _http, side_effects=True, local=False,
               description="An HTTP request to a host of respond_http_allow_hosts."),
)  # fmt: skip
