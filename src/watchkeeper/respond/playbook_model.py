"""What a playbook is once loaded: the shapes the loader produces and the runner executes.

A playbook file (YAML) is parsed and validated into these frozen objects; nothing downstream
reads YAML. Every object remembers the file and line it came from, so the runner's errors can
point back to the source a person edits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

StepKind = Literal["action", "condition", "approval", "wait", "foreach", "parallel"]
OnError = Literal["fail", "continue"]  # or "goto:<step id>", checked by the loader
Status = Literal["draft", "active", "disabled"]


@dataclass(frozen=True)
class Where:
    """A place in a playbook file."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Trigger:
    """The events that start a run: a type (``detect.alert``; ``*`` wildcards allowed) and an
    optional filter expression over the event (``event.payload.severity == 'high'``)."""

    event: str
    filter: str | None = None
    where: Where | None = None


@dataclass(frozen=True)
class Approval:
    """Who must agree before the run goes on: ``quorum`` of the people holding ``roles`` or
    named in ``users`` (the run's requester never counts), within ``ttl_seconds`` (0: the
    node's ``respond_approval_ttl_seconds``); when that passes, ``escalate_to`` (roles) are
    asked too and the clock restarts once, then the step fails as timed out."""

    quorum: int = 1
    roles: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    ttl_seconds: float = 0.0
    escalate_to: tuple[str, ...] = ()
    prompt: str = ""


@dataclass(frozen=True)
class Step:
    """One step. ``inputs`` values may be templates (``"{{ event.payload.host }}"``) rendered
    by the expression language; ``when`` is an expression that must hold for the step to run.

    - action: ``action`` names a registered action, called with the rendered ``inputs``;
      ``side_effects`` says whether it changes anything outside the run (then it runs once,
      under an idempotency key, even across a crash and a retry).
    - condition: ``expression`` chooses ``then`` or ``otherwise`` (step ids to go to).
    - approval: waits for ``approval``.
    - wait: waits ``seconds`` (durably: a restart does not shorten or lengthen it).
    - foreach: runs ``steps`` once per item of the ``items`` expression (``item`` in scope).
    - parallel: runs ``steps`` side by side; the step ends when all have ended.
    ``output`` names the variable the step's result is published as (default: the step id).
    """

    id: str
    kind: StepKind
    name: str = ""
    action: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    when: str | None = None
    expression: str | None = None
    then: str | None = None
    otherwise: str | None = None
    approval: Approval | None = None
    seconds: float | None = None
    items: str | None = None
    steps: tuple[Step, ...] = ()
    retries: int = 0
    retry_delay_seconds: float = 5.0
    timeout_seconds: float = 300.0
    on_error: str = "fail"
    side_effects: bool = False
    output: str | None = None
    where: Where | None = None


@dataclass(frozen=True)
class Playbook:
    """A named, versioned playbook. ``version`` is a content hash of the source, so a run
    records exactly which text it followed; ``status`` decides whether triggers start it."""

    name: str
    title: str
    description: str
    trigger: Trigger | None
    steps: tuple[Step, ...]
    version: str
    status: Status = "draft"
    max_concurrent_runs: int = 10
    timeout_seconds: float = 86400.0  # the whole run; the watchdog ends it past this
    source: str = ""  # the YAML text
    file: str = ""
    builtin: bool = False
    # plain values the expressions see as ``vars.<name>`` (the run's ``set_variable`` adds more)
    vars: dict[str, Any] = field(default_factory=dict)
