"""Actions that hand work to other areas through the event log, and the run's own helpers.

Sharing with partners, evidence preservation and cooperation requests are done by their areas;
a playbook asks for them with an event carrying its inputs (``respond.share``,
``evidence.preserve.requested``, ``cooperation.request.drafted``), committed with the step.
Also here: ``set_variable``, ``wait`` (a short pause; a durable one is a wait step) and
``extract_observables`` (URLs, domains, IPs and e-mail addresses from text or an .eml file).
"""

from __future__ import annotations

import re
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from watchkeeper.bus import emit
from watchkeeper.core import guess, refang
from watchkeeper.errors import InvalidInput
from watchkeeper.respond.actions import ActionContext, ActionSpec

MAX_EML_BYTES = 25 * 1024 * 1024
MAX_PAUSE_SECONDS = 60.0


class _Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestIn(_Inputs):
    """Free-form inputs passed on in the event (the receiving area checks them)."""

    model_config = ConfigDict(extra="allow")


class SetVariableIn(_Inputs):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: Any = None


class WaitIn(_Inputs):
    seconds: float = Field(ge=0, le=MAX_PAUSE_SECONDS)


class ExtractIn(_Inputs):
    text: str | None = None
    eml_path: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ExtractIn:
        if (self.text is None) == (self.eml_path is None):
            raise ValueError("give exactly one of text or eml_path")
        return self


def _requester(event_type: str) -> Any:
    def run(ctx: ActionContext, inputs: RequestIn) -> dict[str, Any]:
        payload = {**inputs.model_dump(), "run_id": ctx.run_id, "case_id": ctx.case_id}
        event = emit(ctx.db(), type=event_type, actor=ctx.actor, payload=payload,
                     subject=ctx.case_id, clock=ctx.clock)  # fmt: skip
        return {"event": event_type, "event_seq": event.seq}

    return run


def _set_variable(ctx: ActionContext, inputs: SetVariableIn) -> dict[str, Any]:
    ctx.vars[inputs.name] = inputs.value
    return {"name": inputs.name, "value": inputs.value}


def _pause(ctx: ActionContext, inputs: WaitIn) -> dict[str, Any]:
    time.sleep(min(inputs.seconds, ctx.timeout))
    return {"waited": inputs.seconds}


_URL = re.compile(r"\b(?:https?|hxxps?|ftp)://[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"\b(?:\d{1,3}(?:\.|\[\.\])){3}\d{1,3}\b")
_DOMAIN = re.compile(r"\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.|\[\.\]))+"
                     r"[A-Za-z]{2,24}\b")  # fmt: skip
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def _message_text(path: Path) -> str:
    if not path.is_file():
        raise InvalidInput(f"eml_path: no such file {path.name}", field="eml_path")
    if path.stat().st_size > MAX_EML_BYTES:
        raise InvalidInput(f"eml_path: {path.name} is larger than 25 MiB", field="eml_path")
    with path.open("rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle)
    assert isinstance(message, EmailMessage)
    parts = [str(message.get("subject", "")), str(message.get("from", "")),
             str(message.get("reply-to", ""))]  # fmt: skip
    for part in message.walk():
        if part.get_content_maintype() == "text" and not part.is_attachment():
            try:
                content = part.get_content()
            except (LookupError, ValueError):
                raw = part.get_payload(decode=True)
                content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            text = str(content)
            if part.get_content_subtype() == "html":
                parts.extend(_HREF.findall(text))
            parts.append(text)
    return "\n".join(parts)


def extract(text: str) -> dict[str, list[str]]:
    """URLs, domains, IPv4 addresses and e-mail addresses named in ``text`` (refanged,
    normalised, each once, in order of appearance)."""
    found: dict[str, list[str]] = {"urls": [], "domains": [], "ips": [], "emails": []}
    plain = refang(text)

    def keep(bucket: str, raw: str, kinds: tuple[str, ...]) -> None:
        observable = guess(refang(raw.rstrip(".,;:!?")))
        if (observable is not None and observable.kind in kinds
                and observable.value not in found[bucket]):  # fmt: skip
            found[bucket].append(observable.value)

    for raw in _URL.findall(plain):
        keep("urls", raw, ("url",))
        host = raw.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
        keep("domains", host.rsplit(":", 1)[0], ("domain",))
        keep("ips", host.rsplit(":", 1)[0], ("ipv4",))
    for raw in _EMAIL.findall(plain):
        keep("emails", raw, ("email",))
        keep("domains", raw.rsplit("@", 1)[1], ("domain",))
    stripped = _EMAIL.sub(" ", _URL.sub(" ", plain))
    for raw in _IPV4.findall(stripped):
        keep("ips", raw, ("ipv4",))
    for raw in _DOMAIN.findall(stripped):
        keep("domains", raw, ("domain",))
    return found


def _extract(ctx: ActionContext, inputs: ExtractIn) -> dict[str, list[str]]:
    text = inputs.text if inputs.text is not None else _message_text(Path(str(inputs.eml_path)))
    return extract(text)


EVENT_ACTIONS = (
    ActionSpec("share_to_peers", RequestIn, _requester("respond.share"), side_effects=True,
               local=True, description="Ask the federation area to share (event respond.share)."),
    ActionSpec("preserve_evidence", RequestIn, _requester("evidence.preserve.requested"),
               side_effects=True, local=True,
               description="Ask for evidence preservation (event evidence.preserve.requested)."),
    ActionSpec("draft_cooperation_request", RequestIn, _requester("cooperation.request.drafted"),
               side_effects=True, local=True,
               description="Draft a cooperation request (event cooperation.request.drafted)."),
    ActionSpec("set_variable", SetVariableIn, _set_variable, side_effects=False, local=True,
               description="Set a run variable (vars.NAME in later steps)."),
    ActionSpec("wait", WaitIn, _pause, side_effects=False, local=False,
               description="Pause up to 60 s (durable waits: a wait step)."),
    ActionSpec("extract_observables", ExtractIn, _extract, side_effects=False, local=True,
               description="URLs, domains, IPs, e-mail addresses from text or an .eml file."),
)  # fmt: skip
