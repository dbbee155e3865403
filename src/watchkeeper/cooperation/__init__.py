"""International cooperation under the UN Convention against Cybercrime: instrument packs
(the law as data), the states registry, requests with their state machines and checks, the
24/7 inbox and duty roster, deadlines, and signed messages between nodes."""

from watchkeeper.cooperation.checks import Problem, blocking, check_request
from watchkeeper.cooperation.deadlines import Alarm, deadline_rows, run_deadlines, scan_deadlines
from watchkeeper.cooperation.decisions import DECISIONS, check_ground, consult, decide
from watchkeeper.cooperation.documents import (
    LANGUAGES,
    document_hash,
    pdf_available,
    render_request_html,
    render_request_pdf,
)
from watchkeeper.cooperation.inbox import inbox_page, inbox_row
from watchkeeper.cooperation.inbox_messages import import_messages, receive_message
from watchkeeper.cooperation.incoming import (
    acknowledge,
    advance,
    check_incoming,
    preserve,
    renew_order,
)
from watchkeeper.cooperation.instruments import Instrument, get_instrument, load_instruments
from watchkeeper.cooperation.machines import MACHINES, next_states
from watchkeeper.cooperation.models import CoopRequest, CoopRequestEvent, RosterShift
from watchkeeper.cooperation.outgoing import (
    SCREEN_CHECKS,
    approve_request,
    record_oral,
    screen_request,
    send_request,
    submit_request,
    validate_request,
    withdraw_request,
)
from watchkeeper.cooperation.parties import Applicability, applicability, in_force_date
from watchkeeper.cooperation.request_fields import RequestFields, parse_fields, read_fields
from watchkeeper.cooperation.requests import (
    find_request,
    list_requests,
    new_request,
    request_document,
    timeline,
    update_request,
)
from watchkeeper.cooperation.results import accept_results, send_results
from watchkeeper.cooperation.roster import (
    add_shift,
    list_shifts,
    next_on_duty,
    on_duty,
    remove_shift,
    shift_document,
)
from watchkeeper.cooperation.states import (
    get_state,
    list_states,
    seed_states,
    set_state,
    state_document,
)
from watchkeeper.cooperation.transport import (
    DeliveryReport,
    deliver_due,
    export_messages,
    list_messages,
    mark_exported,
    message_document,
    outbox_status,
    queue_message,
)

__all__ = [
    "DECISIONS",
    "LANGUAGES",
    "MACHINES",
    "SCREEN_CHECKS",
    "Alarm",
    "Applicability",
    "CoopRequest",
    "CoopRequestEvent",
    "DeliveryReport",
    "Instrument",
    "Problem",
    "RequestFields",
    "RosterShift",
    "accept_results",
    "acknowledge",
    "add_shift",
    "advance",
    "applicability",
    "approve_request",
    "blocking",
    "check_ground",
    "check_incoming",
    "check_request",
    "consult",
    "deadline_rows",
    "decide",
    "deliver_due",
    "document_hash",
    "export_messages",
    "find_request",
    "get_instrument",
    "get_state",
    "import_messages",
    "in_force_date",
    "inbox_page",
    "inbox_row",
    "list_messages",
    "list_requests",
    "list_shifts",
    "list_states",
    "load_instruments",
    "mark_exported",
    "message_document",
    "new_request",
    "next_on_duty",
    "next_states",
    "on_duty",
    "outbox_status",
    "parse_fields",
    "pdf_available",
    "preserve",
    "queue_message",
    "read_fields",
    "receive_message",
    "record_oral",
    "remove_shift",
    "render_request_html",
    "render_request_pdf",
    "renew_order",
    "request_document",
    "run_deadlines",
    "scan_deadlines",
    "screen_request",
    "seed_states",
    "send_request",
    "send_results",
    "set_state",
    "shift_document",
    "state_document",
    "submit_request",
    "timeline",
    "update_request",
    "validate_request",
    "withdraw_request",
]
