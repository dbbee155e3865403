"""Case actions: open or change a case, add observables and notes, merge alerts into it.

They call the cases use cases in the step's transaction, so the case change and the step's
completion commit together (a crash leaves neither). ``case_id`` defaults to the run's case:
the one a ``create_case`` step opened, or the one named by the triggering event.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.errors import InvalidInput
from watchkeeper.respond.actions import ActionContext, ActionSpec


class _Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateCaseIn(_Inputs):
    title: str = Field(min_length=1, max_length=300)
    severity: str | None = None
    tlp: str | None = None
    description: str = ""
    template: str | None = None
    alert_ids: list[str] = Field(default_factory=list)
    parent_id: str | None = None
    campaign: str | None = None


class UpdateCaseIn(_Inputs):
    case_id: str | None = None
    title: str | None = None
    description: str | None = None
    severity: str | None = None
    tlp: str | None = None
    pap: str | None = None


class ObservableIn(_Inputs):
    case_id: str | None = None
    kind: str = Field(min_length=1, max_length=40)
    value: str = Field(min_length=1, max_length=2000)
    ioc: bool = False
    tlp: str | None = None
    note: str = ""


class NoteIn(_Inputs):
    case_id: str | None = None
    text: str = Field(min_length=1, max_length=20000)


class MergeIn(_Inputs):
    case_id: str | None = None
    alert_ids: list[str] = Field(min_length=1)


def _case(ctx: ActionContext, given: str | None) -> str:
    case_id = given or ctx.case_id
    if not case_id:
        raise InvalidInput("case_id: no case given and the run has none yet", field="case_id")
    return case_id


def _create_case(ctx: ActionContext, inputs: CreateCaseIn) -> dict[str, Any]:
    from watchkeeper.respond.cases import open_case

    case = open_case(
        ctx.db(), clock=ctx.clock, actor=ctx.actor, title=inputs.title,
        severity=inputs.severity, tlp=inputs.tlp, description=inputs.description,
        template=inputs.template, alert_ids=tuple(inputs.alert_ids), parent_id=inputs.parent_id,
        campaign=inputs.campaign,
    )  # fmt: skip
    ctx.case_id = str(case["id"])
    return case


def _update_case(ctx: ActionContext, inputs: UpdateCaseIn) -> Any:
    from watchkeeper.respond.cases import update_case

    changes = inputs.model_dump(exclude={"case_id"}, exclude_none=True)
    return update_case(
        ctx.db(), clock=ctx.clock, actor=ctx.actor, case_id=_case(ctx, inputs.case_id), **changes
    )


def _add_observable(ctx: ActionContext, inputs: ObservableIn) -> Any:
    from watchkeeper.respond.cases import add_observable

    return add_observable(
        ctx.db(), clock=ctx.clock, actor=ctx.actor, case_id=_case(ctx, inputs.case_id),
        kind=inputs.kind, value=inputs.value, ioc=inputs.ioc, tlp=inputs.tlp, note=inputs.note,
    )  # fmt: skip


def _add_note(ctx: ActionContext, inputs: NoteIn) -> Any:
    from watchkeeper.respond.cases import add_note

    return add_note(
        ctx.db(), clock=ctx.clock, actor=ctx.actor, case_id=_case(ctx, inputs.case_id),
        text=inputs.text,
    )  # fmt: skip


def _merge_alerts(ctx: ActionContext, inputs: MergeIn) -> Any:
    from watchkeeper.respond.cases import merge_alerts

    return merge_alerts(
        ctx.db(), clock=ctx.clock, actor=ctx.actor, case_id=_case(ctx, inputs.case_id),
        alert_ids=inputs.alert_ids,
    )  # fmt: skip


CASE_ACTIONS = (
    ActionSpec("create_case", CreateCaseIn, _create_case, side_effects=True, local=True,
               description="Open a case (it becomes the run's case)."),
    ActionSpec("update_case", UpdateCaseIn, _update_case, side_effects=True, local=True,
               description="Change a case's fields (status, severity, assignee...)."),
    ActionSpec("add_observable", ObservableIn, _add_observable, side_effects=True, local=True,
               description="Add an observable to a case."),
    ActionSpec("add_note", NoteIn, _add_note, side_effects=True, local=True,
               description="Add a note to a case."),
    ActionSpec("merge_alerts", MergeIn, _merge_alerts, side_effects=True, local=True,
               description="Merge alerts into a case."),
)  # fmt: skip
