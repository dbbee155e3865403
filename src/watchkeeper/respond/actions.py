"""The action registry: name -> what a playbook's action step may call.

An action declares its inputs (a pydantic model: unknown or ill-typed inputs are refused with
the field named), whether it has side effects (then the runner makes it happen once, under the
step's idempotency key) and whether it is local: a local action works in the database, inside
the transaction that completes its step, so its effect and the step's completion commit
together; any other action (HTTP, SMTP) runs in a worker thread under the step's timeout and
never sees a session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from watchkeeper.config import Settings
from watchkeeper.core import Clock
from watchkeeper.errors import InvalidInput, NotFound


@dataclass
class ActionContext:
    """What an action may use: the run it acts for, its key, and (local actions) the session.

    ``vars`` and ``case_id`` may be changed by local actions: the runner stores them on the run
    in the same transaction.
    """

    clock: Clock
    settings: Settings
    actor: str
    run_id: str
    step_path: str
    idempotency_key: str
    timeout: float
    event: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    case_id: str | None = None
    session: Session | None = None

    def db(self) -> Session:
        """The step's session (local actions only)."""
        if self.session is None:
            raise RuntimeError("this action is not local: it has no database session")
        return self.session


ActionFunction = Callable[[ActionContext, Any], Any]


@dataclass(frozen=True)
class ActionSpec:
    """One action: its inputs model, what it does, and how the runner must call it."""

    name: str
    inputs: type[BaseModel]
    run: ActionFunction
    side_effects: bool
    local: bool
    description: str = ""

    def parse(self, values: dict[str, Any], *, where: str = "") -> BaseModel:
        """Validate rendered inputs; ``InvalidInput`` names the action, field and step."""
        try:
            return self.inputs.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(part) for part in first["loc"]) or "inputs"
            place = f"{where}: " if where else ""
            raise InvalidInput(
                f"{place}action {self.name} input {name}: {first['msg']}",
                field=name,
                action=self.name,
            ) from None


class ActionRegistry:
    """Actions by name; built-ins come from :func:`default_actions`, extensions add theirs."""

    def __init__(self, specs: Iterable[ActionSpec] = ()) -> None:
        self._specs: dict[str, ActionSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ActionSpec, *, replace: bool = False) -> None:
        """Add ``spec`` (``replace`` to override one of the same name, as tests do)."""
        if spec.name in self._specs and not replace:
            raise InvalidInput(f"action {spec.name!r} is already registered", action=spec.name)
        self._specs[spec.name] = spec

    def get(self, name: str) -> ActionSpec:
        """The action called ``name``; ``NotFound`` lists the known ones."""
        try:
            return self._specs[name]
        except KeyError:
            raise NotFound(
                f"unknown action {name!r}; known actions: {', '.join(sorted(self._specs))}",
                action=name,
            ) from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


def default_actions() -> ActionRegistry:
    """A registry with every built-in action."""
    from watchkeeper.respond.action_cases import CASE_ACTIONS
    from watchkeeper.respond.action_events import EVENT_ACTIONS
    from watchkeeper.respond.action_intel import INTEL_ACTIONS
    from watchkeeper.respond.action_net import NET_ACTIONS

    return ActionRegistry((*CASE_ACTIONS, *INTEL_ACTIONS, *EVENT_ACTIONS, *NET_ACTIONS))
