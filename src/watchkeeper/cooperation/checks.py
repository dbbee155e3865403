"""The checks before a request leaves: the convention's required contents, and what gets
requests refused in practice.

Each problem names the article (or the practice) behind it, so a drafter sees *why*, and the
rules come from the instrument pack, so legal staff correct them as data. Two stages:
``validate`` (the request itself: contents, applicability, offence basis, language, quality)
and ``approve`` (the people: the legal screen and the four-eyes rule). A request is sent
only when both pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.cooperation.instruments import Instrument, RequestTypeRule
from watchkeeper.cooperation.models import CoopRequest
from watchkeeper.cooperation.parties import applicability
from watchkeeper.cooperation.states import get_state
from watchkeeper.errors import NotFound

DATA_TYPES = frozenset(
    {
        "preservation",
        "traffic-disclosure",
        "stored-data",
        "real-time-traffic",
        "interception",
        "emergency-data",
    }
)
"""Request types that ask for data, hence need the data sought described."""

TIMED_KINDS = frozenset({"ip", "account", "email", "phone", "url"})
"""Identifiers that name a subscriber only at a moment (dynamic addresses, recycled accounts)."""


@dataclass(frozen=True)
class Problem:
    """One reason the request cannot go as it is."""

    stage: str
    code: str
    message: str
    field: str | None = None
    article: str | None = None
    severity: str = "error"

    def document(self) -> dict[str, Any]:
        """The problem as JSON."""
        return asdict(self)


def _aware(text: str | None) -> datetime | None:
    """``text`` as an aware time, or None when absent, unreadable or without an offset."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _contents(request: CoopRequest, rule: RequestTypeRule) -> list[Problem]:
    problems: list[Problem] = []
    service_only = "service" in str(request.contents.get("assistance-sought", "")).lower()
    for item in rule.contents:
        value = str(request.contents.get(item.key) or "").strip()
        if value:
            continue
        if item.required == "unless-service" and service_only:
            continue
        severity = "warning" if item.required == "where-possible" else "error"
        problems.append(
            Problem(
                "validate",
                "missing-item",
                f"missing {item.label} (Art. {item.article})",
                field=f"contents.{item.key}",
                article=item.article,
                severity=severity,
            )
        )
    if rule.period_required:
        period = request.period or {}
        start, end = _aware(period.get("from")), _aware(period.get("until"))
        if start is None or end is None or end <= start:
            problems.append(
                Problem(
                    "validate",
                    "period",
                    f"{rule.label} needs the period (from and until, with UTC offsets) "
                    f"(Art. {rule.article})",
                    field="period",
                    article=rule.article,
                )
            )
        if not str(period.get("justification") or "").strip():
            problems.append(
                Problem(
                    "validate",
                    "period-justification",
                    f"{rule.label} needs the reason for the period's length (Art. {rule.article})",
                    field="period.justification",
                    article=rule.article,
                )
            )
    return problems


def _offence(request: CoopRequest, instrument: Instrument) -> list[Problem]:
    offence = request.offence or {}
    basis = str(offence.get("basis") or "")
    serious = instrument.serious_crime_min_years
    if basis in instrument.offences:
        return []
    if basis == "serious-crime":
        years = offence.get("max_penalty_years")
        if years is not None and float(years) >= serious.years:
            return []
        return [
            Problem(
                "validate",
                "serious-crime",
                f"a serious crime is punishable by at least {serious.years} years "
                f"(Art. {serious.article}); give max_penalty_years (now {years})",
                field="offence.max_penalty_years",
                article=serious.article,
            )
        ]
    valid = ", ".join([*instrument.offences, "serious-crime"])
    return [
        Problem(
            "validate",
            "offence-basis",
            f"offence basis {basis or '(none)'!r} is neither a convention offence nor a "
            f"serious crime; the convention covers only these (Art. 35(1)); use one of: {valid}",
            field="offence.basis",
            article="35(1)",
        )
    ]


def _applies(
    session: Session, request: CoopRequest, instrument: Instrument, on: date
) -> list[Problem]:
    result = applicability(
        session, instrument=instrument, a=request.requesting_state, b=request.requested_state, on=on
    )
    if result.applies:
        return []
    return [
        Problem(
            "validate",
            "not-applicable",
            f"{instrument.short} does not apply between {request.requesting_state} and "
            f"{request.requested_state} on {on}: " + "; ".join(result.reasons),
            field="requested_state",
            article=instrument.entry_into_force.article,
        )
    ]


def _language(session: Session, request: CoopRequest) -> list[Problem]:
    try:
        state = get_state(session, request.requested_state)
    except NotFound:
        return []  # the applicability check explains an unknown state
    accepted = [code.lower() for code in state.languages or []]
    if not accepted or request.language.lower() in accepted:
        return []
    return [
        Problem(
            "validate",
            "language",
            f"{request.requested_state} accepts requests in {', '.join(accepted)}, not "
            f"{request.language} (Art. 40(14))",
            field="language",
            article="40(14)",
        )
    ]


def _quality(request: CoopRequest, rule: RequestTypeRule, instrument: Instrument) -> list[Problem]:
    """The usual reasons for refusal that a form can prevent (SIRIUS practice, not law)."""
    problems: list[Problem] = []
    if rule.key in DATA_TYPES and not request.data:
        problems.append(
            Problem(
                "validate",
                "no-data",
                "describe the data sought (category, identifiers, time range)",
                field="data",
            )
        )
    serious_years = instrument.serious_crime_min_years.years
    years = (request.offence or {}).get("max_penalty_years")
    for index, entry in enumerate(request.data or []):
        where = f"data[{index}]"
        category = str(entry.get("category") or "")
        if rule.data_categories and category not in rule.data_categories:
            problems.append(
                Problem(
                    "validate",
                    "category",
                    f"{where}: {rule.label} concerns {', '.join(rule.data_categories)} data, "
                    f"not {category} (Art. {rule.article})",
                    field=f"{where}.category",
                    article=rule.article,
                )
            )
        if category == "content" and (years is None or float(years) < serious_years):
            problems.append(
                Problem(
                    "validate",
                    "category-threshold",
                    f"{where}: content data is asked only for a serious offence; give the "
                    f"maximum penalty (at least {serious_years} years)",
                    field="offence.max_penalty_years",
                )
            )
        if not entry.get("identifiers"):
            problems.append(
                Problem(
                    "validate",
                    "no-identifier",
                    f"{where}: name at least one identifier",
                    field=f"{where}.identifiers",
                )
            )
        for position, identifier in enumerate(entry.get("identifiers") or []):
            if identifier.get("kind") not in TIMED_KINDS:
                continue
            if _aware(identifier.get("timestamp")) is None and not (
                identifier.get("timestamp") and identifier.get("timezone")
            ):
                problems.append(
                    Problem(
                        "validate",
                        "identifier-time",
                        f"{where}.identifiers[{position}] {identifier.get('value')!r}: give the "
                        "time of use with its time zone (an address or account names a "
                        "subscriber only at a moment)",
                        field=f"{where}.identifiers[{position}].timestamp",
                    )
                )
        span = entry.get("time_range") or {}
        start, end = _aware(span.get("from")), _aware(span.get("until"))
        if start is None or end is None or end <= start:
            problems.append(
                Problem(
                    "validate",
                    "time-range",
                    f"{where}: give a bounded time range (from and until with UTC offsets, "
                    "from before until)",
                    field=f"{where}.time_range",
                )
            )
    return problems


def _people(request: CoopRequest) -> list[Problem]:
    problems: list[Problem] = []
    screen = request.screen or {}
    if not screen.get("by"):
        problems.append(
            Problem(
                "approve",
                "screen",
                "the human-rights and data-protection screen is not signed off by a legal "
                "reviewer (Arts 6, 24, 36, 40(22))",
                field="screen",
                article="24",
            )
        )
    if not request.approver:
        problems.append(
            Problem("approve", "approval", "no approver yet (four-eyes rule)", field="approver")
        )
    elif request.approver == request.author:
        problems.append(
            Problem(
                "approve",
                "four-eyes",
                "the author cannot approve their own request",
                field="approver",
            )
        )
    return problems


def check_request(
    session: Session, *, request: CoopRequest, instrument: Instrument, on: date
) -> list[Problem]:
    """Every problem of ``request`` (both stages), in the order a drafter fixes them."""
    rule = instrument.request_type(request.type)
    return [
        *_contents(request, rule),
        *_applies(session, request, instrument, on),
        *_offence(request, instrument),
        *_language(session, request),
        *_quality(request, rule, instrument),
        *_people(request),
    ]


def blocking(problems: list[Problem], *stages: str) -> list[Problem]:
    """The errors (not warnings) of the given stages."""
    return [p for p in problems if p.severity == "error" and p.stage in stages]
