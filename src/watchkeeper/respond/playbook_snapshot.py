"""A playbook as JSON and back, kept in each run.

A run follows the playbook text it started with, even if the file is edited, disabled or
removed while the run waits for an approval: the runner reads the snapshot, never the store.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from watchkeeper.respond.playbook_model import Approval, Playbook, Step, Trigger, Where


def snapshot(playbook: Playbook) -> dict[str, Any]:
    """The playbook as a JSON-ready dict (without its source text: the version names it)."""
    document = asdict(playbook)
    document.pop("source", None)
    return document


def _where(value: dict[str, Any] | None) -> Where | None:
    return Where(file=value["file"], line=value["line"]) if value else None


def _step(value: dict[str, Any]) -> Step:
    approval = value.get("approval")
    return Step(
        id=value["id"],
        kind=value["kind"],
        name=value.get("name", ""),
        action=value.get("action"),
        inputs=dict(value.get("inputs") or {}),
        when=value.get("when"),
        expression=value.get("expression"),
        then=value.get("then"),
        otherwise=value.get("otherwise"),
        approval=Approval(
            quorum=approval["quorum"],
            roles=tuple(approval["roles"]),
            users=tuple(approval["users"]),
            ttl_seconds=approval["ttl_seconds"],
            escalate_to=tuple(approval["escalate_to"]),
            prompt=approval.get("prompt", ""),
        )
        if approval
        else None,
        seconds=value.get("seconds"),
        items=value.get("items"),
        steps=tuple(_step(inner) for inner in value.get("steps") or ()),
        retries=value.get("retries", 0),
        retry_delay_seconds=value.get("retry_delay_seconds", 5.0),
        timeout_seconds=value.get("timeout_seconds", 300.0),
        on_error=value.get("on_error", "fail"),
        side_effects=value.get("side_effects", False),
        output=value.get("output"),
        where=_where(value.get("where")),
    )


def restore(document: dict[str, Any]) -> Playbook:
    """The playbook a snapshot was taken of."""
    trigger = document.get("trigger")
    return Playbook(
        name=document["name"],
        title=document.get("title", ""),
        description=document.get("description", ""),
        trigger=Trigger(
            event=trigger["event"], filter=trigger.get("filter"), where=_where(trigger.get("where"))
        )
        if trigger
        else None,
        steps=tuple(_step(step) for step in document.get("steps") or ()),
        version=document["version"],
        status=document.get("status", "draft"),
        max_concurrent_runs=document.get("max_concurrent_runs", 10),
        timeout_seconds=document.get("timeout_seconds", 86400.0),
        file=document.get("file", ""),
        builtin=document.get("builtin", False),
        vars=dict(document.get("vars") or {}),
    )
